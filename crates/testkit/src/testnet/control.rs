//! The test network's control API: the test plays the remote side through
//! it, sending remote events, holding deliveries, opening portals and
//! setting a login's connection state.

use super::Hold;
use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use causeway_core::chat_info::ChatInfo;
use causeway_core::ids::{LoginId, PartId, PortalKey, RemoteMessageId};
use causeway_core::login_state::LoginState;
use causeway_core::network::*;
use causeway_core::remote::{text_content, RemoteEvent};
use causeway_core::Bridge;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::watch;

pub(super) fn router(
    bridge: Bridge,
    hold: watch::Sender<Hold>,
    history: super::History,
    directory: super::Directory,
) -> Router {
    Router::new()
        .route("/remote/event", post(control_event))
        .route("/remote/hold", post(control_hold))
        .route("/remote/portal", post(control_portal))
        .route("/remote/login-state", post(control_login_state))
        .route("/remote/chat-info", post(control_chat_info))
        .route("/remote/history", post(control_history))
        .route("/remote/directory", post(control_directory))
        .with_state(Control {
            bridge,
            hold,
            history,
            directory,
        })
}

#[derive(Clone)]
struct Control {
    bridge: Bridge,
    hold: watch::Sender<Hold>,
    history: super::History,
    directory: super::Directory,
}

/// A remote event as the test describes it.
#[derive(Deserialize)]
struct ControlEvent {
    portal: String,
    kind: String,
    sender: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    text: String,
    #[serde(default)]
    target: String,
    #[serde(default)]
    reply_to: Option<String>,
    /// Queue without waiting for delivery, as a busy network would.
    #[serde(default)]
    queue_only: bool,
    /// The sender is this login's own account (sent from their phone).
    #[serde(default)]
    own_login: Option<String>,
}

async fn control_event(
    State(control): State<Control>,
    Json(event): Json<ControlEvent>,
) -> Json<Value> {
    let sender = GhostInfo {
        id: event.sender.as_str().into(),
        displayname: Some(event.sender.clone()),
        avatar_mxc: None,
        avatar_id: None,
        own_login: event.own_login.as_deref().map(LoginId::from),
    };
    let remote = match event.kind.as_str() {
        "message" => RemoteEvent::Message {
            id: event.id.as_str().into(),
            sender,
            parts: vec![(PartId::default(), text_content("m.text", &event.text, None))],
            timestamp: None,
            reply_to: event.reply_to.map(RemoteMessageId),
        },
        "edit" => RemoteEvent::Edit {
            target: event.target.as_str().into(),
            edit_id: event.id.as_str().into(),
            sender,
            content: text_content("m.text", &event.text, None),
            timestamp: None,
        },
        "reaction" => RemoteEvent::Reaction {
            target: event.target.as_str().into(),
            sender,
            emoji: event.text,
            timestamp: None,
        },
        "unreact" => RemoteEvent::ReactionRemove {
            target: event.target.as_str().into(),
            sender,
            emoji: event.text,
        },
        "delete" => RemoteEvent::MessageRemove {
            target: event.target.as_str().into(),
            sender,
        },
        other => return Json(json!({ "error": format!("unknown kind {other}") })),
    };
    let key = PortalKey::shared(event.portal);
    let result = if event.queue_only {
        control.bridge.queue_remote(&key, remote).await
    } else {
        control.bridge.send_remote(&key, remote).await
    };
    Json(match result {
        Ok(()) => json!({ "ok": true }),
        Err(err) => json!({ "error": format!("{err:#}") }),
    })
}

/// `{"hold": true|false}` holds or releases every portal's messages; with
/// `"portal"`, only that portal's; with `"confirmations": true`, the
/// network's confirmations that it took what it was sent.
async fn control_hold(State(control): State<Control>, Json(body): Json<Value>) -> Json<Value> {
    let on = body.get("hold").and_then(Value::as_bool).unwrap_or(false);
    let confirmations = body.get("confirmations").and_then(Value::as_bool) == Some(true);
    let portal = body
        .get("portal")
        .and_then(Value::as_str)
        .map(str::to_owned);
    control.hold.send_modify(|hold| match portal {
        _ if confirmations => hold.confirmations = on,
        Some(portal) if on => drop(hold.portals.insert(portal)),
        Some(portal) => drop(hold.portals.remove(&portal)),
        None => hold.all = on,
    });
    Json(json!({ "ok": true }))
}

/// Creates a portal for a chat and invites a Matrix user, as a network does
/// when a remote chat becomes active.
async fn control_portal(State(control): State<Control>, Json(body): Json<Value>) -> Json<Value> {
    let id = body
        .get("portal")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let invite = body
        .get("invite")
        .and_then(Value::as_str)
        .map(|u| vec![u.to_owned()])
        .unwrap_or_default();
    let info = PortalInfo {
        key: PortalKey::shared(id),
        name: Some(format!("Test chat {id}")),
        invite,
        ..Default::default()
    };
    Json(match control.bridge.ensure_portal_room(&info).await {
        Ok(row) => json!({ "room_id": row.room_id }),
        Err(err) => json!({ "error": format!("{err:#}") }),
    })
}

/// Reports a login's state as the network would: `{"login", "state",
/// "message"}` with a state named as in `ping`.
async fn control_login_state(
    State(control): State<Control>,
    Json(body): Json<Value>,
) -> Json<Value> {
    let wanted = body["state"].as_str().unwrap_or_default();
    let Some(state) = LoginState::ALL.into_iter().find(|s| s.as_str() == wanted) else {
        return Json(json!({ "error": format!("no state {wanted}") }));
    };
    let logins = control
        .bridge
        .store()
        .all_logins(control.bridge.secrets())
        .await
        .unwrap_or_default();
    let Some(login) = logins
        .iter()
        .find(|l| Some(l.login_id.as_str()) == body["login"].as_str())
    else {
        return Json(json!({ "error": "no such login" }));
    };
    let message = body["message"].as_str().map(str::to_owned);
    control
        .bridge
        .report_login_state(login, state, message)
        .await;
    Json(json!({ "ok": true }))
}

/// A chat's info as the network reports it: `{"portal", "info"}`, queued
/// through the portal's outbox like any remote event.
#[derive(Deserialize)]
struct ControlChatInfo {
    portal: String,
    info: ChatInfo,
}

async fn control_chat_info(
    State(control): State<Control>,
    Json(body): Json<ControlChatInfo>,
) -> Json<Value> {
    let key = PortalKey::shared(body.portal.as_str());
    Json(
        match control
            .bridge
            .queue_remote(&key, RemoteEvent::ChatInfo(body.info))
            .await
        {
            Ok(()) => json!({ "ok": true }),
            Err(err) => json!({ "error": format!("{err:#}") }),
        },
    )
}

/// One message of a chat's history on the "remote server".
#[derive(Clone, Debug, Deserialize)]
pub(super) struct HistoryItem {
    pub id: String,
    sender: String,
    text: String,
    timestamp: i64,
}

impl HistoryItem {
    pub(super) fn message(&self) -> HistoryMessage {
        HistoryMessage {
            id: RemoteMessageId(self.id.clone()),
            sender: GhostInfo {
                id: self.sender.as_str().into(),
                displayname: Some(self.sender.clone()),
                ..Default::default()
            },
            parts: vec![(PartId::default(), text_content("m.text", &self.text, None))],
            timestamp: self.timestamp,
            reply_to: None,
        }
    }
}

/// Sets a chat's whole history on the "remote server": `{"portal",
/// "messages": [{"id", "sender", "text", "timestamp"}], "overlapping"}`,
/// oldest first.
#[derive(Deserialize)]
struct ControlHistory {
    portal: String,
    #[serde(flatten)]
    history: ChatHistory,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ChatHistory {
    pub messages: Vec<HistoryItem>,
    /// Pages ignore the cursor and repeat what was fetched before.
    #[serde(default)]
    pub overlapping: bool,
}

async fn control_history(
    State(control): State<Control>,
    Json(body): Json<ControlHistory>,
) -> Json<Value> {
    match control.history.lock() {
        Ok(mut history) => {
            history.insert(body.portal, body.history);
            Json(json!({ "ok": true }))
        }
        Err(_) => Json(json!({ "error": "history lock poisoned" })),
    }
}

/// Every login's contacts and chats on the "remote server": `{"contacts":
/// [{"id", "name", "phone"}], "chats": [{"id", "name", "direct",
/// "last_activity"}]}`.
#[derive(Clone, Debug, Default, Deserialize)]
pub(super) struct DirectoryItems {
    #[serde(default)]
    pub contacts: Vec<ContactItem>,
    #[serde(default)]
    pub chats: Vec<ChatItem>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ContactItem {
    pub id: String,
    pub name: String,
    pub phone: String,
    #[serde(default)]
    pub avatar: Option<String>,
}

#[derive(Clone, Debug, Deserialize)]
pub(super) struct ChatItem {
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub direct: bool,
    pub last_activity: Option<i64>,
}

async fn control_directory(
    State(control): State<Control>,
    Json(body): Json<DirectoryItems>,
) -> Json<Value> {
    match control.directory.lock() {
        Ok(mut directory) => {
            *directory = body;
            Json(json!({ "ok": true }))
        }
        Err(_) => Json(json!({ "error": "directory lock poisoned" })),
    }
}
