//! Logins over the provisioning API: list the flows, start one, answer its
//! steps (fields to fill in, a QR code to wait on), cancel it; list and log
//! out the caller's logins. The same `LoginProcess` runs as for the
//! management room; only the way its steps are shown differs.

use super::auth::Caller;
use super::{bad_request, failed};
use crate::appservice::errors::{Empty, MatrixError};
use crate::bridge::Bridge;
use crate::login::{FieldKind, LoginProcess, LoginStep};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use dashmap::DashMap;
use ruma::OwnedUserId;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::sync::Mutex;

/// Login processes started through the API, by process ID, with the user
/// each belongs to.
#[derive(Default)]
pub(crate) struct LoginProcesses(DashMap<String, (OwnedUserId, Arc<Mutex<Process>>)>);

pub(crate) struct Process {
    process: Box<dyn LoginProcess>,
    /// The field IDs the current step asks for; empty while a code is shown.
    fields: Vec<&'static str>,
}

#[derive(Serialize)]
pub(super) struct Flows {
    flows: Vec<FlowBody>,
}

#[derive(Serialize)]
struct FlowBody {
    id: &'static str,
    name: &'static str,
    description: &'static str,
}

/// A login process's current step, as the API shows it.
#[derive(Serialize)]
pub(super) struct StepReply {
    process_id: String,
    step: StepBody,
}

#[derive(Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum StepBody {
    UserInput {
        instructions: String,
        fields: Vec<FieldBody>,
    },
    DisplayQr {
        instructions: String,
        data: String,
    },
    DisplayCode {
        instructions: String,
        code: String,
    },
    Complete {
        login_id: String,
        remote_name: String,
        message: String,
    },
}

#[derive(Serialize)]
struct FieldBody {
    id: &'static str,
    name: &'static str,
    kind: &'static str,
}

fn kind_name(kind: FieldKind) -> &'static str {
    match kind {
        FieldKind::Text => "text",
        FieldKind::PhoneNumber => "phone_number",
        FieldKind::Code => "code",
        FieldKind::Password => "password",
    }
}

pub(super) async fn flows(State(bridge): State<Bridge>, _caller: Caller) -> Json<Flows> {
    let flows = bridge
        .network()
        .login_flows()
        .into_iter()
        .map(|f| FlowBody {
            id: f.id,
            name: f.name,
            description: f.description,
        })
        .collect();
    Json(Flows { flows })
}

pub(super) async fn start(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(flow_id): Path<String>,
) -> Result<Json<StepReply>, MatrixError> {
    if !bridge
        .network()
        .login_flows()
        .iter()
        .any(|f| f.id == flow_id)
    {
        return Err(MatrixError::not_found(format!("no login flow {flow_id:?}")));
    }
    let mut process = bridge
        .network()
        .create_login(caller.mxid.as_str(), &flow_id)
        .await
        .map_err(failed)?;
    let step = process.start().await.map_err(login_failed)?;
    let process_id = crate::registration::random_token();
    let entry = Arc::new(Mutex::new(Process {
        process,
        fields: Vec::new(),
    }));
    bridge
        .inner()
        .provisioned
        .0
        .insert(process_id.clone(), (caller.mxid.clone(), entry.clone()));
    let mut process = entry.lock().await;
    advance(&bridge, &caller, &process_id, &mut process, step).await
}

#[derive(Deserialize)]
pub(super) struct InputBody {
    fields: HashMap<String, String>,
}

pub(super) async fn input(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(process_id): Path<String>,
    Json(body): Json<InputBody>,
) -> Result<Json<StepReply>, MatrixError> {
    let entry = owned_process(&bridge, &caller, &process_id)?;
    let mut process = entry.lock().await;
    if process.fields.is_empty() {
        return Err(bad_state("this step takes no input: wait on it"));
    }
    let missing: Vec<&str> = process
        .fields
        .iter()
        .copied()
        .filter(|f| !body.fields.contains_key(*f))
        .collect();
    if !missing.is_empty() {
        return Err(bad_request(format!(
            "missing fields: {}",
            missing.join(", ")
        )));
    }
    let step = process.process.submit(body.fields).await;
    let step = step.map_err(|err| {
        forget(&bridge, &process_id);
        login_failed(err)
    })?;
    advance(&bridge, &caller, &process_id, &mut process, step).await
}

/// Waits on a displayed code until it is scanned (the login completes) or
/// replaced by a fresh one.
pub(super) async fn wait(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(process_id): Path<String>,
) -> Result<Json<StepReply>, MatrixError> {
    let entry = owned_process(&bridge, &caller, &process_id)?;
    let mut process = entry.lock().await;
    if !process.fields.is_empty() {
        return Err(bad_state("this step waits for input: send the fields"));
    }
    let step = process.process.wait().await.map_err(|err| {
        forget(&bridge, &process_id);
        login_failed(err)
    })?;
    if !bridge.inner().provisioned.0.contains_key(&process_id) {
        // Cancelled while waiting.
        process.process.cancel().await;
        return Err(MatrixError::not_found("the login was cancelled"));
    }
    advance(&bridge, &caller, &process_id, &mut process, step).await
}

pub(super) async fn cancel(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(process_id): Path<String>,
) -> Result<Json<Empty>, MatrixError> {
    let entry = owned_process(&bridge, &caller, &process_id)?;
    forget(&bridge, &process_id);
    // A wait in progress holds the process; it ends it when it returns.
    if let Ok(mut process) = entry.try_lock() {
        process.process.cancel().await;
    }
    Ok(Json(Empty {}))
}

/// Shows a step; a completed login is stored and connected.
async fn advance(
    bridge: &Bridge,
    caller: &Caller,
    process_id: &str,
    process: &mut Process,
    step: LoginStep,
) -> Result<Json<StepReply>, MatrixError> {
    let step = match step {
        LoginStep::UserInput {
            instructions,
            fields,
        } => {
            process.fields = fields.iter().map(|f| f.id).collect();
            StepBody::UserInput {
                instructions,
                fields: fields
                    .iter()
                    .map(|f| FieldBody {
                        id: f.id,
                        name: f.name,
                        kind: kind_name(f.kind),
                    })
                    .collect(),
            }
        }
        LoginStep::DisplayQr { instructions, data } => {
            process.fields.clear();
            StepBody::DisplayQr { instructions, data }
        }
        LoginStep::DisplayCode { instructions, code } => {
            process.fields.clear();
            StepBody::DisplayCode { instructions, code }
        }
        LoginStep::Complete { login, message } => {
            forget(bridge, process_id);
            let row = bridge
                .add_login(caller.mxid.as_str(), login, None)
                .await
                .map_err(failed)?;
            StepBody::Complete {
                login_id: row.login_id.to_string(),
                remote_name: row.remote_name,
                message,
            }
        }
    };
    Ok(Json(StepReply {
        process_id: process_id.to_owned(),
        step,
    }))
}

/// The caller's own process: another user's is as good as missing.
fn owned_process(
    bridge: &Bridge,
    caller: &Caller,
    process_id: &str,
) -> Result<Arc<Mutex<Process>>, MatrixError> {
    bridge
        .inner()
        .provisioned
        .0
        .get(process_id)
        .filter(|entry| entry.0 == caller.mxid)
        .map(|entry| entry.1.clone())
        .ok_or_else(|| MatrixError::not_found("no such login process"))
}

fn forget(bridge: &Bridge, process_id: &str) {
    bridge.inner().provisioned.0.remove(process_id);
}

fn bad_state(message: &str) -> MatrixError {
    MatrixError::new(StatusCode::CONFLICT, "M_BAD_STATE", message)
}

fn login_failed(err: anyhow::Error) -> MatrixError {
    MatrixError::new(
        StatusCode::FORBIDDEN,
        "M_FORBIDDEN",
        format!("login failed: {err:#}"),
    )
}

#[derive(Serialize)]
pub(super) struct Logins {
    logins: Vec<LoginBody>,
}

#[derive(Serialize)]
struct LoginBody {
    id: String,
    remote_name: String,
    /// `CONNECTED`, `BAD_CREDENTIALS`…; `UNKNOWN` before the first report.
    state: &'static str,
    message: Option<String>,
    /// How long the login has been in that state.
    state_seconds: Option<u64>,
}

pub(super) async fn list(
    State(bridge): State<Bridge>,
    caller: Caller,
) -> Result<Json<Logins>, MatrixError> {
    let rows = bridge
        .store()
        .logins_of(bridge.secrets(), caller.mxid.as_str())
        .await
        .map_err(failed)?;
    let logins = rows
        .into_iter()
        .map(|row| {
            let status = bridge.login_status(&row.login_id);
            LoginBody {
                id: row.login_id.to_string(),
                remote_name: row.remote_name,
                state: status.as_ref().map_or("UNKNOWN", |s| s.state.as_str()),
                message: status.as_ref().and_then(|s| s.message.clone()),
                state_seconds: status.map(|s| s.since.elapsed().as_secs()),
            }
        })
        .collect();
    Ok(Json(Logins { logins }))
}

pub(super) async fn logout(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(login_id): Path<String>,
) -> Result<Json<Empty>, MatrixError> {
    let login = super::chats::caller_login(&bridge, &caller, Some(&login_id)).await?;
    bridge.remove_login(&login, true).await.map_err(failed)?;
    Ok(Json(Empty {}))
}
