//! Contacts, chats and bridging over the provisioning API: list contacts,
//! resolve an identifier, start a chat, and bridge or unbridge an existing
//! room. Each acts through one of the caller's logins: the one named by
//! `?login_id=`, else their first.

use super::auth::Caller;
use super::failed;
use crate::appservice::errors::{Empty, MatrixError};
use crate::bridge::Bridge;
use crate::network::{Contact, ContactHandling};
use crate::plumbing::{RefusalKind, Refused};
use crate::store::LoginRow;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

#[derive(Deserialize)]
pub(super) struct LoginQuery {
    login_id: Option<String>,
}

/// The caller's login named `login_id`, or their first.
pub(super) async fn caller_login(
    bridge: &Bridge,
    caller: &Caller,
    login_id: Option<&str>,
) -> Result<LoginRow, MatrixError> {
    let logins = bridge
        .store()
        .logins_of(bridge.secrets(), caller.mxid.as_str())
        .await
        .map_err(failed)?;
    match login_id {
        Some(id) => logins
            .into_iter()
            .find(|l| l.login_id.as_str() == id)
            .ok_or_else(|| MatrixError::not_found(format!("you have no login {id:?}"))),
        None => logins.into_iter().next().ok_or_else(|| {
            MatrixError::new(
                StatusCode::FORBIDDEN,
                "M_FORBIDDEN",
                "you are not logged in",
            )
        }),
    }
}

async fn login_and_contacts<'a>(
    bridge: &'a Bridge,
    caller: &Caller,
    query: &LoginQuery,
) -> Result<(LoginRow, &'a dyn ContactHandling), MatrixError> {
    let Some(contacts) = bridge.network().contacts() else {
        return Err(MatrixError::unrecognized());
    };
    let login = caller_login(bridge, caller, query.login_id.as_deref()).await?;
    Ok((login, contacts))
}

#[derive(Serialize)]
pub(super) struct ContactBody {
    id: String,
    name: Option<String>,
    identifier: String,
    /// The contact's ghost, for a client to show or invite.
    mxid: Option<String>,
}

impl ContactBody {
    fn new(bridge: &Bridge, contact: Contact) -> Self {
        Self {
            mxid: bridge.ghost_mxid(&contact.ghost.id).ok().map(String::from),
            id: contact.ghost.id.to_string(),
            name: contact.ghost.displayname,
            identifier: contact.identifier,
        }
    }
}

#[derive(Serialize)]
pub(super) struct Contacts {
    contacts: Vec<ContactBody>,
}

pub(super) async fn contacts(
    State(bridge): State<Bridge>,
    caller: Caller,
    Query(query): Query<LoginQuery>,
) -> Result<Json<Contacts>, MatrixError> {
    let (login, contacts) = login_and_contacts(&bridge, &caller, &query).await?;
    let listed = contacts.list_contacts(&login).await.map_err(failed)?;
    Ok(Json(Contacts {
        contacts: listed
            .into_iter()
            .map(|c| ContactBody::new(&bridge, c))
            .collect(),
    }))
}

async fn resolved(
    bridge: &Bridge,
    caller: &Caller,
    query: &LoginQuery,
    identifier: &str,
) -> Result<(LoginRow, Contact), MatrixError> {
    let (login, contacts) = login_and_contacts(bridge, caller, query).await?;
    let contact = contacts
        .resolve_identifier(&login, identifier)
        .await
        .map_err(failed)?
        .ok_or_else(|| MatrixError::not_found(format!("nobody has {identifier:?}")))?;
    Ok((login, contact))
}

pub(super) async fn resolve(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(identifier): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Json<ContactBody>, MatrixError> {
    let (_, contact) = resolved(&bridge, &caller, &query, &identifier).await?;
    Ok(Json(ContactBody::new(&bridge, contact)))
}

#[derive(Serialize)]
pub(super) struct ChatStarted {
    room_id: String,
    contact: ContactBody,
}

pub(super) async fn start_chat(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(identifier): Path<String>,
    Query(query): Query<LoginQuery>,
) -> Result<Json<ChatStarted>, MatrixError> {
    let (login, contact) = resolved(&bridge, &caller, &query, &identifier).await?;
    let portal = bridge
        .open_dm(caller.mxid.as_str(), &login, &contact)
        .await
        .map_err(failed)?;
    Ok(Json(ChatStarted {
        room_id: portal.room_id.unwrap_or_default(),
        contact: ContactBody::new(&bridge, contact),
    }))
}

#[derive(Deserialize)]
pub(super) struct BridgeBody {
    chat_id: String,
}

#[derive(Serialize)]
pub(super) struct Bridged {
    room_id: String,
    chat_id: String,
    name: Option<String>,
}

fn parse_room(room_id: &str) -> Result<ruma::OwnedRoomId, MatrixError> {
    Bridge::parse_room(room_id).map_err(|_| {
        MatrixError::new(
            StatusCode::BAD_REQUEST,
            "M_INVALID_PARAM",
            format!("{room_id:?} is not a room ID"),
        )
    })
}

fn refusal(refused: Refused) -> MatrixError {
    let (status, errcode) = match refused.kind {
        RefusalKind::Forbidden => (StatusCode::FORBIDDEN, "M_FORBIDDEN"),
        RefusalKind::NotFound => (StatusCode::NOT_FOUND, "M_NOT_FOUND"),
        RefusalKind::Conflict => (StatusCode::CONFLICT, "M_BAD_STATE"),
    };
    MatrixError::new(status, errcode, refused.message)
}

pub(super) async fn bridge_room(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(room_id): Path<String>,
    Json(body): Json<BridgeBody>,
) -> Result<Json<Bridged>, MatrixError> {
    let room = parse_room(&room_id)?;
    let portal = bridge
        .bridge_chat(caller.mxid.as_str(), &room, &body.chat_id)
        .await
        .map_err(failed)?
        .map_err(refusal)?;
    Ok(Json(Bridged {
        room_id,
        chat_id: portal.key.id.to_string(),
        name: portal.name,
    }))
}

pub(super) async fn unbridge_room(
    State(bridge): State<Bridge>,
    caller: Caller,
    Path(room_id): Path<String>,
) -> Result<Json<Empty>, MatrixError> {
    let room = parse_room(&room_id)?;
    bridge
        .unbridge_room(caller.mxid.as_str(), &room)
        .await
        .map_err(failed)?
        .map_err(refusal)?;
    Ok(Json(Empty {}))
}
