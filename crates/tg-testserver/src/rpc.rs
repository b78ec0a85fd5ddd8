//! The RPCs the server answers, dispatched on the constructor ID of the
//! request. Each returns the encoded result, or an RPC error.

use crate::state::{PendingCode, SentCode, State, CODE_LIFETIME};
use crate::tl_build::{self, now};
use crate::Inner;
use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};
use std::time::Instant;

/// An RPC error: its code and message, such as (400, `PHONE_CODE_INVALID`).
pub type RpcError = (i32, String);
pub type Reply = Result<Vec<u8>, RpcError>;

fn error(code: i32, message: &str) -> RpcError {
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
    pub key_id: [u8; 8],
    pub user: Option<i64>,
}

fn parse<T: Deserializable>(body: &[u8]) -> Result<T, RpcError> {
    T::from_bytes(&body[4..]).map_err(|_| error(400, "INPUT_REQUEST_INVALID"))
}

fn id<T: Identifiable>() -> u32 {
    T::CONSTRUCTOR_ID
}

/// Answers one request body.
pub fn handle(server: &Inner, caller: &mut Caller, body: &[u8]) -> Reply {
    use tl::functions as f;
    let ctor = crate::service::constructor(body);
    // Wrappers first: the query inside is what is answered.
    if ctor == id::<f::InvokeWithLayer<Rest>>() {
        let wrapped: f::InvokeWithLayer<Rest> = parse(body)?;
        return handle(server, caller, &wrapped.query.0);
    }
    if ctor == id::<f::InitConnection<Rest>>() {
        let wrapped: f::InitConnection<Rest> = parse(body)?;
        return handle(server, caller, &wrapped.query.0);
    }
    let mut state = server.state.lock().map_err(|_| error(500, "INTERNAL"))?;
    if let Some(seconds) = state.flood_waits.get(&ctor) {
        return Err(error(420, &format!("FLOOD_WAIT_{seconds}")));
    }
    // Whom the key is logged in as now: a revocation takes effect at once.
    caller.user = state.keys.get(&caller.key_id).and_then(|k| k.user);
    match ctor {
        c if c == id::<f::help::GetConfig>() => Ok(tl_build::config(server.port).to_bytes()),
        c if c == id::<f::auth::SendCode>() => send_code(&mut state, parse(body)?),
        c if c == id::<f::auth::SignIn>() => sign_in(server, &mut state, caller, parse(body)?),
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
            check_password(&mut state, caller, parse(body)?)
        }
        c if c == id::<f::updates::GetState>() => {
            let user = logged_in(caller)?;
            Ok(tl_build::updates_state(state.pts(user)).to_bytes())
        }
        c if c == id::<f::updates::GetDifference>() => {
            let user = logged_in(caller)?;
            let request: f::updates::GetDifference = parse(body)?;
            Ok(difference(&state, user, request.pts).to_bytes())
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
            let user = logged_in(caller)?;
            send_message(&mut state, caller, user, parse(body)?)
        }
        other => {
            tracing::info!("not implemented: constructor {other:#010x}");
            Err(error(400, "METHOD_NOT_IMPLEMENTED"))
        }
    }
}

fn logged_in(caller: &Caller) -> Result<i64, RpcError> {
    caller
        .user
        .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))
}

fn send_code(state: &mut State, request: tl::functions::auth::SendCode) -> Reply {
    let Some(account) = state.account_by_phone(&request.phone_number) else {
        return Err(error(400, "PHONE_NUMBER_INVALID"));
    };
    let phone = account.spec.phone.clone();
    let code = format!("{:05}", rand::random::<u32>() % 100_000);
    let hash = format!("{:016x}", rand::random::<u64>());
    state.codes.insert(
        phone.clone(),
        PendingCode {
            hash: hash.clone(),
            code: code.clone(),
            issued: Instant::now(),
        },
    );
    state.sent_codes.push(SentCode { phone, code });
    Ok(tl::enums::auth::SentCode::Code(tl::types::auth::SentCode {
        r#type: tl::enums::auth::SentCodeType::App(tl::types::auth::SentCodeTypeApp { length: 5 }),
        phone_code_hash: hash,
        next_type: None,
        timeout: None,
    })
    .to_bytes())
}

fn sign_in(
    server: &Inner,
    state: &mut State,
    caller: &mut Caller,
    request: tl::functions::auth::SignIn,
) -> Reply {
    let Some(account) = state.account_by_phone(&request.phone_number) else {
        return Err(error(400, "PHONE_NUMBER_INVALID"));
    };
    let (user, phone, has_password) = (
        account.id,
        account.spec.phone.clone(),
        account.spec.password.is_some(),
    );
    let pending = state
        .codes
        .get(&phone)
        .filter(|p| p.hash == request.phone_code_hash)
        .ok_or_else(|| error(400, "PHONE_CODE_EXPIRED"))?;
    if pending.issued.elapsed() > CODE_LIFETIME || server.expired_codes() {
        return Err(error(400, "PHONE_CODE_EXPIRED"));
    }
    if request.phone_code.as_deref() != Some(pending.code.as_str()) {
        return Err(error(400, "PHONE_CODE_INVALID"));
    }
    state.codes.remove(&phone);
    if has_password {
        if let Some(entry) = state.keys.get_mut(&caller.key_id) {
            entry.password_pending = Some(user);
        }
        return Err(error(401, "SESSION_PASSWORD_NEEDED"));
    }
    Ok(authorize(state, caller, user))
}

fn check_password(
    state: &mut State,
    caller: &mut Caller,
    request: tl::functions::auth::CheckPassword,
) -> Reply {
    let tl::enums::InputCheckPasswordSrp::Srp(answer) = request.password else {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    };
    let entry = state
        .keys
        .get(&caller.key_id)
        .ok_or_else(|| error(401, "AUTH_KEY_UNREGISTERED"))?;
    let (Some(user), Some(challenge)) = (entry.password_pending, entry.challenge.clone()) else {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    };
    let password = state
        .account(user)
        .and_then(|a| a.spec.password.clone())
        .unwrap_or_default();
    if challenge.srp_id != answer.srp_id || !challenge.verify(&password, &answer.a, &answer.m1) {
        return Err(error(400, "PASSWORD_HASH_INVALID"));
    }
    Ok(authorize(state, caller, user))
}

/// Binds the caller's key to `user`: the login is done.
pub fn authorize(state: &mut State, caller: &mut Caller, user: i64) -> Vec<u8> {
    if let Some(entry) = state.keys.get_mut(&caller.key_id) {
        entry.user = Some(user);
        entry.password_pending = None;
    }
    caller.user = Some(user);
    let account = state.account(user).map(|a| tl_build::user(a, user));
    tl::enums::auth::Authorization::Authorization(tl::types::auth::Authorization {
        setup_password_required: false,
        otherwise_relogin_days: None,
        tmp_sessions: None,
        future_auth_token: None,
        user: account.unwrap_or(tl::enums::User::Empty(tl::types::UserEmpty { id: user })),
    })
    .to_bytes()
}

/// Messages after `pts` in the user's box, with the state they lead to.
fn difference(state: &State, user: i64, pts: i32) -> tl::enums::updates::Difference {
    let new_messages: Vec<tl::enums::Message> = state
        .boxes
        .get(&user)
        .map(|b| {
            b.log
                .iter()
                .filter(|(p, _)| *p > pts)
                .map(|(_, m)| m.clone())
                .collect()
        })
        .unwrap_or_default();
    if new_messages.is_empty() {
        return tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
            date: now(),
            seq: 0,
        });
    }
    tl::enums::updates::Difference::Difference(tl::types::updates::Difference {
        new_messages,
        new_encrypted_messages: Vec::new(),
        other_updates: Vec::new(),
        chats: Vec::new(),
        users: state
            .accounts
            .iter()
            .map(|a| tl_build::user(a, user))
            .collect(),
        state: tl_build::updates_state(state.pts(user)),
    })
}

fn send_message(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::SendMessage,
) -> Reply {
    let to = match request.peer {
        tl::enums::InputPeer::User(peer) => peer.user_id,
        tl::enums::InputPeer::PeerSelf => user,
        _ => return Err(error(400, "PEER_ID_INVALID")),
    };
    if state.account(to).is_none() {
        return Err(error(400, "PEER_ID_INVALID"));
    }
    let date = now();
    let text = request.message;
    let (pts, own) = state.log_message(user, |id| {
        tl_build::private_message(id, true, user, to, &text, date)
    });
    let users = |state: &State, viewer: i64| -> Vec<tl::enums::User> {
        [user, to]
            .iter()
            .filter_map(|id| state.account(*id))
            .map(|a| tl_build::user(a, viewer))
            .collect()
    };
    let new_message = |message, pts| {
        tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
            message,
            pts,
            pts_count: 1,
        })
    };
    let result = tl::enums::Updates::Updates(tl::types::Updates {
        updates: vec![
            tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                id: own_id(&own),
                random_id: request.random_id,
            }),
            new_message(own.clone(), pts),
        ],
        users: users(state, user),
        chats: Vec::new(),
        date,
        seq: 0,
    });
    // The sender's other connections see it too.
    let echo = tl::enums::Updates::Updates(tl::types::Updates {
        updates: vec![new_message(own, pts)],
        users: users(state, user),
        chats: Vec::new(),
        date,
        seq: 0,
    });
    state.push(user, Some(caller.conn), echo.to_bytes());
    if to != user {
        let (their_pts, theirs) = state.log_message(to, |id| {
            tl_build::private_message(id, false, user, user, &text, date)
        });
        let push = tl::enums::Updates::Updates(tl::types::Updates {
            updates: vec![new_message(theirs, their_pts)],
            users: users(state, to),
            chats: Vec::new(),
            date,
            seq: 0,
        });
        state.push(to, None, push.to_bytes());
    }
    Ok(result.to_bytes())
}

fn own_id(message: &tl::enums::Message) -> i32 {
    match message {
        tl::enums::Message::Message(m) => m.id,
        tl::enums::Message::Service(m) => m.id,
        tl::enums::Message::Empty(m) => m.id,
    }
}
