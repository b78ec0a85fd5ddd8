//! Runs login processes in the management room, one per user at a time.

use crate::bridge::Bridge;
use crate::login::{FieldKind, InputField, LoginProcess, LoginStep, NewLogin};
use crate::store::LoginRow;
use anyhow::Result;
use dashmap::DashMap;
use ruma::{EventId, RoomId};
use serde_json::json;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use tokio::sync::Mutex;
use tokio::task::JoinHandle;

struct Session {
    process: Box<dyn LoginProcess>,
    room_id: String,
    fields: VecDeque<InputField>,
    collected: HashMap<String, String>,
    /// The QR image event, edited in place when the code is refreshed.
    qr_event: Option<String>,
}

#[derive(Default)]
pub(crate) struct ActiveLogins {
    sessions: DashMap<String, Arc<Mutex<Session>>>,
    waiters: DashMap<String, JoinHandle<()>>,
}

/// Starts a login for `user` with a flow; replies in `room`. `answer`,
/// when given (`login phone +4412345678`), answers the flow's first
/// question, which is then not asked.
pub(crate) async fn start(
    bridge: &Bridge,
    user: &str,
    room: &str,
    flow_id: &str,
    answer: Option<String>,
) -> Result<()> {
    cancel_quietly(bridge, user).await;
    let mut process = bridge.network().create_login(user, flow_id).await?;
    let mut step = process.start().await?;
    if let (Some(answer), LoginStep::UserInput { fields, .. }) = (answer, &step) {
        if let [only] = fields.as_slice() {
            step = process
                .submit(HashMap::from([(only.id.to_owned(), answer)]))
                .await?;
        }
    }
    let session = Arc::new(Mutex::new(Session {
        process,
        room_id: room.to_owned(),
        fields: VecDeque::new(),
        collected: HashMap::new(),
        qr_event: None,
    }));
    bridge
        .inner()
        .logins
        .sessions
        .insert(user.to_owned(), session.clone());
    let mut guard = session.lock().await;
    apply_step(bridge, user, &mut guard, &session, step).await
}

pub(crate) fn awaiting_input(bridge: &Bridge, user: &str) -> bool {
    bridge
        .inner()
        .logins
        .sessions
        .get(user)
        .is_some_and(|s| s.try_lock().map(|s| !s.fields.is_empty()).unwrap_or(false))
}

/// Feeds a message to the field the login is waiting for.
pub(crate) async fn input(
    bridge: &Bridge,
    user: &str,
    room: &str,
    event_id: &str,
    text: &str,
) -> Result<()> {
    let Some(session) = bridge.inner().logins.sessions.get(user).map(|s| s.clone()) else {
        return Ok(());
    };
    let mut guard = session.lock().await;
    let Some(field) = guard.fields.pop_front() else {
        return Ok(());
    };
    if field.kind == FieldKind::Password {
        let room_id = RoomId::parse(room)?;
        let event = EventId::parse(event_id)?;
        let txn = format!("cwredact{}", event_id.trim_start_matches('$'));
        if let Err(err) = bridge
            .homeserver()
            .redact(bridge.bot(), &room_id, &event, &txn, Some("password"))
            .await
        {
            tracing::warn!(%err, "cannot redact a password message");
            bridge
                .bot_notice(
                    room,
                    "I could not delete your password message: please delete it yourself.",
                )
                .await?;
        }
    }
    guard
        .collected
        .insert(field.id.to_owned(), text.trim().to_owned());
    if let Some(next) = guard.fields.front() {
        let prompt = prompt_for(next);
        drop(guard);
        return bridge.bot_notice(room, &prompt).await;
    }
    let input = std::mem::take(&mut guard.collected);
    let step = match guard.process.submit(input).await {
        Ok(step) => step,
        Err(err) => {
            drop(guard);
            end(bridge, user);
            return bridge
                .bot_notice(
                    room,
                    &format!("Login failed: {err:#}\n\nSend `login` to start again."),
                )
                .await;
        }
    };
    apply_step(bridge, user, &mut guard, &session, step).await
}

/// Cancels the user's login, if any, and says so.
pub(crate) async fn cancel(bridge: &Bridge, user: &str, room: &str) -> Result<()> {
    let reply = if cancel_quietly(bridge, user).await {
        "Login cancelled."
    } else {
        "There is no login in progress to cancel."
    };
    bridge.bot_notice(room, reply).await
}

async fn cancel_quietly(bridge: &Bridge, user: &str) -> bool {
    if let Some((_, waiter)) = bridge.inner().logins.waiters.remove(user) {
        waiter.abort();
    }
    let Some((_, session)) = bridge.inner().logins.sessions.remove(user) else {
        return false;
    };
    session.lock().await.process.cancel().await;
    true
}

fn end(bridge: &Bridge, user: &str) {
    bridge.inner().logins.sessions.remove(user);
    bridge.inner().logins.waiters.remove(user);
}

fn prompt_for(field: &InputField) -> String {
    match field.kind {
        FieldKind::PhoneNumber => format!(
            "Send your {} in international format, like `+4412345678`.",
            field.name
        ),
        FieldKind::Password => format!(
            "Send your {}. I will delete the message after reading it.",
            field.name
        ),
        _ => format!("Send your {}.", field.name),
    }
}

fn apply_step<'a>(
    bridge: &'a Bridge,
    user: &'a str,
    session: &'a mut Session,
    handle: &'a Arc<Mutex<Session>>,
    step: LoginStep,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<()>> + Send + 'a>> {
    Box::pin(async move {
        let room = session.room_id.clone();
        match step {
            LoginStep::UserInput {
                instructions,
                fields,
            } => {
                session.fields = fields.into();
                let prompt = session.fields.front().map(prompt_for).unwrap_or_default();
                bridge
                    .bot_notice(
                        &room,
                        &format!("{instructions}\n\n{prompt}\n\nSend `cancel` to stop."),
                    )
                    .await
            }
            LoginStep::DisplayQr { instructions, data } => {
                show_qr(bridge, session, &instructions, &data).await?;
                wait_remote(bridge, user, handle);
                Ok(())
            }
            LoginStep::DisplayCode { instructions, code } => {
                bridge
                    .bot_notice(
                        &room,
                        &format!("{instructions}\n\n`{code}`\n\nSend `cancel` to stop."),
                    )
                    .await?;
                wait_remote(bridge, user, handle);
                Ok(())
            }
            LoginStep::Complete { login, message } => {
                end(bridge, user);
                // The code did its work: nobody else should scan it now.
                if let Some(qr) = session.qr_event.take() {
                    redact_qr(bridge, &room, &qr).await;
                }
                bridge
                    .add_login(user, login, Some((&room, &message)))
                    .await?;
                Ok(())
            }
        }
    })
}

/// Waits, in the background, for the remote side to use the code shown;
/// its next step is applied when it comes.
fn wait_remote(bridge: &Bridge, user: &str, handle: &Arc<Mutex<Session>>) {
    let (bridge2, user2, handle2) = (bridge.clone(), user.to_owned(), handle.clone());
    let waiter = tokio::spawn(async move {
        let mut guard = handle2.lock().await;
        let result = match guard.process.wait().await {
            Ok(step) => apply_step(&bridge2, &user2, &mut guard, &handle2, step).await,
            Err(err) => {
                end(&bridge2, &user2);
                bridge2
                    .bot_notice(
                        &guard.room_id,
                        &format!("Login failed: {err:#}\n\nSend `login` to start again."),
                    )
                    .await
            }
        };
        if let Err(err) = result {
            tracing::warn!("login step failed: {err:#}");
        }
    });
    bridge
        .inner()
        .logins
        .waiters
        .insert(user.to_owned(), waiter);
}

async fn redact_qr(bridge: &Bridge, room: &str, event: &str) {
    let (Ok(room_id), Ok(event_id)) = (RoomId::parse(room), EventId::parse(event)) else {
        return;
    };
    let txn = format!("cwredact{}", event.trim_start_matches('$'));
    if let Err(err) = bridge
        .homeserver()
        .redact(bridge.bot(), &room_id, &event_id, &txn, Some("logged in"))
        .await
    {
        tracing::warn!(%err, "cannot redact a used login QR code");
    }
}

impl Bridge {
    /// Stores a finished login of `user`'s, says `notice` in its room if
    /// given, connects it and makes rooms for its recent chats. The
    /// management room and the provisioning API both end here.
    pub(crate) async fn add_login(
        &self,
        user: &str,
        login: NewLogin,
        notice: Option<(&str, &str)>,
    ) -> Result<LoginRow> {
        let row = LoginRow {
            login_id: login.login_id,
            mxid: user.to_owned(),
            remote_name: login.remote_name,
            secret: login.secret,
            metadata: login.metadata,
        };
        self.store().put_login(self.secrets(), &row).await?;
        if let Some((room, message)) = notice {
            self.bot_notice(room, message).await?;
        }
        // A failure is told by the login's state, in the management room.
        self.connect_login(&row).await;
        if let Err(err) = self.sync_chats(&row).await {
            tracing::warn!(login = %row.login_id, "cannot sync a new login's chats: {err:#}");
        }
        Ok(row)
    }

    /// Forgets a login here, after logging it out remotely if `remote`.
    pub(crate) async fn remove_login(&self, login: &LoginRow, remote: bool) -> Result<()> {
        if remote {
            self.network().logout(login).await?;
        } else {
            self.network().disconnect_login(login).await;
        }
        self.store().delete_login(&login.login_id).await?;
        self.forget_login_state(&login.login_id);
        Ok(())
    }
}

async fn show_qr(
    bridge: &Bridge,
    session: &mut Session,
    instructions: &str,
    data: &str,
) -> Result<()> {
    let png = crate::login::qr_png(data)?;
    let size = png.len();
    let mxc = bridge
        .homeserver()
        .upload(bridge.bot(), png, "image/png", "login-qr.png")
        .await?;
    // Event content as sent: the QR image, and below its replacement.
    // The body is the code itself, for clients that show no image.
    let image = json!({ "msgtype": "m.image", "body": data, "filename": "login-qr.png", "url": mxc, "info": { "mimetype": "image/png", "size": size } });
    let content = match &session.qr_event {
        None => {
            bridge
                .bot_notice(
                    &session.room_id,
                    &format!("{instructions}\n\nSend `cancel` to stop."),
                )
                .await?;
            image
        }
        Some(previous) => {
            let mut edit = image.clone();
            edit["m.new_content"] = image;
            edit["m.relates_to"] = json!({ "rel_type": "m.replace", "event_id": previous });
            edit
        }
    };
    let event_id = bridge.bot_send(&session.room_id, &content).await?;
    session.qr_event.get_or_insert(event_id.to_string());
    Ok(())
}
