//! The RPCs the server answers, dispatched on the constructor ID of the
//! request. Each returns the encoded result, or an RPC error.

pub(crate) mod auth;
mod channels;
mod chat_info;
mod contacts;
mod dialogs;
mod forward;
mod groups;
mod media;
pub(crate) mod messages;
mod reactions;

use crate::layer::{self, Codec};
use crate::tl_build;
use crate::Inner;
use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// An RPC error: its code and message, such as (400, `PHONE_CODE_INVALID`).
pub type RpcError = (i32, String);
pub type Reply = Result<Vec<u8>, RpcError>;

pub(crate) fn error(code: i32, message: &str) -> RpcError {
    (code, message.to_owned())
}

/// The rest of a buffer, for the query inside `invokeWithLayer` and
/// `initConnection`.
pub struct Rest(pub Vec<u8>);

impl Deserializable for Rest {
    fn deserialize(buf: &mut tl::deserialize::Cursor) -> tl::deserialize::Result<Self> {
        let mut out = Vec::new();
        buf.read_to_end(&mut out)?;
        Ok(Rest(out))
    }
}

/// What a call knows of its connection.
pub struct Caller {
    pub conn: u64,
    /// The DC this connection came to.
    pub dc: i32,
    pub key_id: [u8; 8],
    pub user: Option<i64>,
    /// The layer the client declared, shared with the connection's pushes.
    pub layer: Arc<AtomicI32>,
}

impl Caller {
    /// What a call knows before the client said anything.
    pub fn new(conn: u64, dc: i32, key_id: [u8; 8]) -> Self {
        Caller {
            conn,
            dc,
            key_id,
            user: None,
            layer: Arc::new(AtomicI32::new(layer::SERVER_LAYER)),
        }
    }

    /// How to re-encode for this client, if its layer is not the server's.
    pub fn codec(&self) -> Option<Codec> {
        Codec::for_layer(self.layer.load(Ordering::Relaxed))
    }
}

fn parse<T: Deserializable>(body: &[u8]) -> Result<T, RpcError> {
    T::from_bytes(&body[4..]).map_err(|_| error(400, "INPUT_REQUEST_INVALID"))
}

fn id<T: Identifiable>() -> u32 {
    T::CONSTRUCTOR_ID
}

/// Answers one request body, at the layer the client declared.
pub fn handle(server: &Inner, caller: &mut Caller, body: &[u8]) -> Reply {
    use tl::functions as f;
    let ctor = crate::service::constructor(body);
    // Wrappers first: the query inside is what is answered. Both are the
    // same at every layer.
    if ctor == id::<f::InvokeWithLayer<Rest>>() {
        let wrapped: f::InvokeWithLayer<Rest> = parse(body)?;
        if layer::schema(wrapped.layer).is_none() {
            tracing::warn!(
                "a client asked for layer {}, which this server lacks",
                wrapped.layer
            );
            return Err(error(400, "LAYER_INVALID"));
        }
        caller.layer.store(wrapped.layer, Ordering::Relaxed);
        return handle(server, caller, &wrapped.query.0);
    }
    if ctor == id::<f::InitConnection<Rest>>() {
        let wrapped: f::InitConnection<Rest> = parse(body)?;
        return handle(server, caller, &wrapped.query.0);
    }
    let Some(codec) = caller.codec() else {
        return answer(server, caller, body);
    };
    let request = codec.request(body).map_err(|e| {
        tracing::warn!(
            "a request at layer {} cannot be read: {}",
            caller.layer.load(Ordering::Relaxed),
            e.0
        );
        error(400, "INPUT_REQUEST_INVALID")
    })?;
    let reply = answer(server, caller, &request)?;
    let function = crate::service::constructor(&request);
    codec.answer(function, &reply).map_err(|e| {
        tracing::warn!(
            "an answer cannot be written at layer {}: {}",
            caller.layer.load(Ordering::Relaxed),
            e.0
        );
        error(500, "INTERNAL")
    })
}

/// Answers one request at the server's layer.
fn answer(server: &Inner, caller: &mut Caller, body: &[u8]) -> Reply {
    use tl::functions as f;
    let ctor = crate::service::constructor(body);
    let mut state = server.state.lock().map_err(|_| error(500, "INTERNAL"))?;
    if let Some(seconds) = state.flood_waits.get(&ctor) {
        return Err(error(420, &format!("FLOOD_WAIT_{seconds}")));
    }
    // Whom the key is logged in as now: a revocation takes effect at once.
    let entry = state.keys.get(&caller.key_id);
    if entry.is_some_and(|k| k.duplicated) {
        return Err(error(406, "AUTH_KEY_DUPLICATED"));
    }
    caller.user = entry.and_then(|k| k.user);
    match ctor {
        c if c == id::<f::help::GetConfig>() => {
            Ok(tl_build::config(caller.dc, &server.ports).to_bytes())
        }
        c if c == id::<f::auth::SendCode>() => auth::send_code(&mut state, caller, parse(body)?),
        c if c == id::<f::auth::ImportBotAuthorization>() => {
            auth::bot_sign_in(&mut state, caller, parse(body)?)
        }
        c if c == id::<f::auth::SignIn>() => {
            auth::sign_in(server, &mut state, caller, parse(body)?)
        }
        c if c == id::<f::auth::LogOut>() => {
            let user = logged_in(caller)?;
            if let Some(entry) = state.keys.get_mut(&caller.key_id) {
                entry.user = None;
            }
            state
                .pushers
                .entry(user)
                .or_default()
                .retain(|p| p.conn != caller.conn);
            Ok(tl::enums::auth::LoggedOut::Out(tl::types::auth::LoggedOut {
                future_auth_token: None,
            })
            .to_bytes())
        }
        c if c == id::<f::account::GetPassword>() => {
            let entry = state
                .keys
                .get_mut(&caller.key_id)
                .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))?;
            let challenge = crate::two_factor::Challenge::new();
            entry.challenge = Some(challenge.clone());
            Ok(challenge.password(None).to_bytes())
        }
        c if c == id::<f::auth::CheckPassword>() => {
            auth::check_password(&mut state, caller, parse(body)?)
        }
        c if c == id::<f::auth::ExportLoginToken>() => auth::export_login_token(&mut state, caller),
        c if c == id::<f::auth::AcceptLoginToken>() => {
            auth::accept_login_token(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::updates::GetState>() => {
            let user = logged_in(caller)?;
            Ok(state.update_state(user).to_bytes())
        }
        c if c == id::<f::updates::GetDifference>() => {
            let user = logged_in(caller)?;
            let request: f::updates::GetDifference = parse(body)?;
            Ok(messages::difference(&state, user, request.pts, request.qts).to_bytes())
        }
        c if c == id::<f::users::GetUsers>() => {
            let user = logged_in(caller)?;
            let request: f::users::GetUsers = parse(body)?;
            let users: Vec<tl::enums::User> = request
                .id
                .iter()
                .filter_map(|input| match input {
                    tl::enums::InputUser::UserSelf => Some(user),
                    tl::enums::InputUser::User(u) => Some(u.user_id),
                    _ => None,
                })
                .filter_map(|id| state.account(id))
                .map(|account| tl_build::user(account, user))
                .collect();
            Ok(users.to_bytes())
        }
        c if c == id::<f::contacts::ResolveUsername>() => {
            let user = logged_in(caller)?;
            let request: f::contacts::ResolveUsername = parse(body)?;
            let wanted = request.username.trim_start_matches('@').to_lowercase();
            let account = state
                .accounts
                .iter()
                .find(|a| a.spec.username.as_deref().map(str::to_lowercase) == Some(wanted.clone()))
                .ok_or_else(|| error(400, "USERNAME_NOT_OCCUPIED"))?;
            Ok(
                tl::enums::contacts::ResolvedPeer::Peer(tl::types::contacts::ResolvedPeer {
                    peer: tl_build::peer_user(account.id),
                    chats: Vec::new(),
                    users: vec![tl_build::user(account, user)],
                })
                .to_bytes(),
            )
        }
        c if c == id::<f::messages::SendMessage>() => {
            let request: f::messages::SendMessage = parse(body)?;
            send(&mut state, caller, request.into())
        }
        c if c == id::<f::messages::ForwardMessages>() => {
            forward::forward(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::EditPhoto>() => {
            let request: f::channels::EditPhoto = parse(body)?;
            let user = logged_in(caller)?;
            let (id, hash) = channels::input_channel(&request.channel)?;
            let photo = media::chat_photo(&mut state, user, request.photo)?;
            chat_info::set_channel_photo(&mut state, user, id, hash, photo)
        }
        c if c == id::<f::messages::SendMedia>() => {
            let draft = media::send_media(&mut state, logged_in(caller)?, parse(body)?)?;
            send(&mut state, caller, draft)
        }
        c if c == id::<f::upload::SaveFilePart>() => {
            let part: f::upload::SaveFilePart = parse(body)?;
            media::save_part(
                &mut state,
                logged_in(caller)?,
                part.file_id,
                part.file_part,
                part.bytes,
            )
        }
        c if c == id::<f::upload::SaveBigFilePart>() => {
            let part: f::upload::SaveBigFilePart = parse(body)?;
            media::save_part(
                &mut state,
                logged_in(caller)?,
                part.file_id,
                part.file_part,
                part.bytes,
            )
        }
        c if c == id::<f::upload::GetFile>() => {
            logged_in(caller)?;
            media::get_file(&state, parse(body)?)
        }
        c if c == id::<f::channels::CreateChannel>() => {
            channels::create(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::InviteToChannel>() => {
            channels::invite(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::JoinChannel>() => {
            channels::join(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::updates::GetChannelDifference>() => {
            channels::difference(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::EditMessage>() => {
            messages::edit(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::DeleteMessages>() => {
            messages::delete(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::ReadHistory>() => {
            messages::read(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::SetTyping>() => {
            messages::typing(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::contacts::ImportContacts>() => {
            contacts::import(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::contacts::ResolvePhone>() => {
            contacts::resolve_phone(&state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::contacts::GetContacts>() => contacts::list(&state, logged_in(caller)?),
        c if c == id::<f::contacts::Search>() => {
            contacts::search(&state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::CreateChat>() => {
            groups::create(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::DeleteChatUser>() => {
            groups::delete_user(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::EditBanned>() => {
            chat_info::ban(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::EditChatTitle>() => {
            groups::edit_title(&mut state, caller, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::users::GetFullUser>() => {
            chat_info::full_user(&state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::GetFullChat>() => {
            chat_info::full_chat(&state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::GetFullChannel>() => {
            chat_info::full_channel(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::GetParticipants>() => {
            chat_info::participants(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::EditChatAbout>() => {
            chat_info::edit_about(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::channels::EditTitle>() => {
            chat_info::edit_channel_title(&mut state, logged_in(caller)?, parse(body)?)
        }
        c if c == id::<f::messages::GetDialogs>() => dialogs::dialogs(&state, logged_in(caller)?),
        c if c == id::<f::messages::GetHistory>() => {
            let request: f::messages::GetHistory = parse(body)?;
            match &request.peer {
                tl::enums::InputPeer::Channel(c) => channels::history(
                    &state,
                    logged_in(caller)?,
                    c.channel_id,
                    request.offset_id,
                    request.limit,
                ),
                _ => dialogs::history(&state, logged_in(caller)?, request),
            }
        }
        c if c == id::<f::messages::SendReaction>() => {
            reactions::react(&mut state, logged_in(caller)?, parse(body)?)
        }
        other => {
            tracing::info!("not implemented: constructor {other:#010x}");
            Err(error(400, "METHOD_NOT_IMPLEMENTED"))
        }
    }
}

pub(crate) fn logged_in(caller: &Caller) -> Result<i64, RpcError> {
    caller
        .user
        .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))
}

/// A message to any chat: a channel keeps one copy, others one per member.
///
/// A random ID is used once: a client that sends again after losing the
/// answer (a dropped connection) gets `RANDOM_ID_DUPLICATE`, as Telegram
/// answers, and nothing is sent twice.
fn send(state: &mut crate::state::State, caller: &Caller, draft: messages::Draft) -> Reply {
    let user = logged_in(caller)?;
    if !state.random_ids.insert((user, draft.random_id)) {
        return Err(error(500, "RANDOM_ID_DUPLICATE"));
    }
    match &draft.peer {
        tl::enums::InputPeer::Channel(c) => {
            let (id, hash) = (c.channel_id, c.access_hash);
            channels::send(state, caller, user, id, hash, draft)
        }
        _ => messages::send(state, caller, user, draft),
    }
}
