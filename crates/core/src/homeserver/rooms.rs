//! Rooms: creating and joining them, membership, sending, state and reading
//! back what is in them.
//!
//! Event contents go in as JSON values: the bridge builds them for the
//! homeserver as they are, including fields ruma has no type for (MSC2346
//! bridge info, edits of any message kind). Everything else is typed.

use super::request::path_segment;
use super::{Homeserver, HsError, Retry};
use ruma::api::client::alias::{create_alias, get_alias};
use ruma::api::client::directory::get_public_rooms;
use ruma::api::client::membership::join_room_by_id_or_alias;
use ruma::api::client::membership::{ban_user, invite_user, joined_members, kick_user, leave_room};
use ruma::api::client::message::{get_message_events, send_message_event};
use ruma::api::client::receipt::create_receipt;
use ruma::api::client::redact::redact_event;
use ruma::api::client::room::create_room;
use ruma::api::client::state::{get_state_event_for_key, get_state_events, send_state_event};
use ruma::api::client::typing::create_typing_event::{self, v3::Typing};
use ruma::api::Direction;
use ruma::directory::PublicRoomsChunk;
use ruma::events::{AnyStateEvent, AnyTimelineEvent};
use ruma::serde::Raw;
use ruma::{
    EventId, MilliSecondsSinceUnixEpoch, OwnedEventId, OwnedRoomId, OwnedRoomOrAliasId,
    OwnedTransactionId, OwnedUserId, RoomAliasId, RoomId, UInt, UserId,
};
use serde_json::Value;
use std::time::Duration;

/// JSON the bridge built, as ruma's raw type `T` for a request field.
pub fn raw_content<T>(content: &Value) -> Result<Raw<T>, HsError> {
    serde_json::value::to_raw_value(content)
        .map(Raw::from_json)
        .map_err(|e| HsError::Request {
            endpoint: "event content".into(),
            detail: e.to_string(),
        })
}

/// A remote timestamp for timestamp massaging, when it is a valid one.
fn massaged(ts: Option<i64>) -> Option<MilliSecondsSinceUnixEpoch> {
    ts.and_then(|ts| UInt::try_from(ts).ok())
        .map(MilliSecondsSinceUnixEpoch)
}

/// The request that sends a message event; its ID is `txn_id`.
pub(super) fn message_request(
    room: &RoomId,
    event_type: &str,
    txn_id: &str,
    content: &Value,
    ts: Option<i64>,
) -> Result<send_message_event::v3::Request, HsError> {
    let mut request = send_message_event::v3::Request::new_raw(
        room.to_owned(),
        OwnedTransactionId::from(path_segment(txn_id)),
        path_segment(event_type).into(),
        raw_content(content)?,
    );
    request.timestamp = massaged(ts);
    Ok(request)
}

impl Homeserver {
    /// Creates a room as `creator`.
    pub async fn create_room(
        &self,
        creator: &UserId,
        request: create_room::v3::Request,
    ) -> Result<OwnedRoomId, HsError> {
        let response = self.request(request, Some(creator), Retry::SHORT).await?;
        Ok(response.room_id)
    }

    /// Joins a room by ID or alias.
    pub async fn join(&self, user: &UserId, room: &str) -> Result<OwnedRoomId, HsError> {
        let target =
            OwnedRoomOrAliasId::try_from(path_segment(room)).map_err(|e| HsError::Request {
                endpoint: "membership::join_room_by_id_or_alias".into(),
                detail: format!("{room:?} is no room ID or alias: {e}"),
            })?;
        let request = join_room_by_id_or_alias::v3::Request::new(target);
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.room_id)
    }

    pub async fn invite(&self, by: &UserId, room: &RoomId, user: &UserId) -> Result<(), HsError> {
        let recipient = invite_user::v3::InviteUserId::new(user.to_owned());
        let request = invite_user::v3::Request::new(room.to_owned(), recipient.into());
        self.request(request, Some(by), Retry::SHORT)
            .await
            .map(drop)
    }

    pub async fn leave(
        &self,
        user: &UserId,
        room: &RoomId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        let mut request = leave_room::v3::Request::new(room.to_owned());
        request.reason = reason.map(str::to_owned);
        self.request(request, Some(user), Retry::SHORT)
            .await
            .map(drop)
    }

    pub async fn kick(
        &self,
        by: &UserId,
        room: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        let mut request = kick_user::v3::Request::new(room.to_owned(), user.to_owned());
        request.reason = reason.map(str::to_owned);
        self.request(request, Some(by), Retry::SHORT)
            .await
            .map(drop)
    }

    pub async fn ban(
        &self,
        by: &UserId,
        room: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        let mut request = ban_user::v3::Request::new(room.to_owned(), user.to_owned());
        request.reason = reason.map(str::to_owned);
        self.request(request, Some(by), Retry::SHORT)
            .await
            .map(drop)
    }

    /// Sends a message event. `txn_id` should come from [`crate::ids::send_txn_id`]
    /// for remote messages; `ts` backdates it to the remote timestamp.
    #[allow(clippy::too_many_arguments)]
    pub async fn send(
        &self,
        user: &UserId,
        room: &RoomId,
        event_type: &str,
        txn_id: &str,
        content: &Value,
        ts: Option<i64>,
        retry: Retry,
    ) -> Result<OwnedEventId, HsError> {
        let request = message_request(room, event_type, txn_id, content, ts)?;
        let response = self.request(request, Some(user), retry).await?;
        Ok(response.event_id)
    }

    pub async fn send_state(
        &self,
        user: &UserId,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
        content: &Value,
        ts: Option<i64>,
    ) -> Result<OwnedEventId, HsError> {
        let mut request = send_state_event::v3::Request::new_raw(
            room.to_owned(),
            path_segment(event_type).into(),
            path_segment(state_key),
            raw_content(content)?,
        );
        request.timestamp = massaged(ts);
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.event_id)
    }

    pub async fn redact(
        &self,
        user: &UserId,
        room: &RoomId,
        event: &EventId,
        txn_id: &str,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, HsError> {
        let mut request = redact_event::v3::Request::new(
            room.to_owned(),
            event.to_owned(),
            OwnedTransactionId::from(path_segment(txn_id)),
        );
        request.reason = reason.map(str::to_owned);
        let response = self.request(request, Some(user), Retry::FOREVER).await?;
        Ok(response.event_id)
    }

    pub async fn typing(
        &self,
        user: &UserId,
        room: &RoomId,
        typing: bool,
        timeout_ms: u64,
    ) -> Result<(), HsError> {
        let state = if typing {
            Typing::Yes(create_typing_event::v3::TypingInfo::new(
                Duration::from_millis(timeout_ms),
            ))
        } else {
            Typing::No
        };
        let request =
            create_typing_event::v3::Request::new(user.to_owned(), room.to_owned(), state);
        self.request(request, Some(user), Retry::ONCE)
            .await
            .map(drop)
    }

    pub async fn read_receipt(
        &self,
        user: &UserId,
        room: &RoomId,
        event: &EventId,
    ) -> Result<(), HsError> {
        let request = create_receipt::v3::Request::new(
            room.to_owned(),
            create_receipt::v3::ReceiptType::Read,
            event.to_owned(),
        );
        self.request(request, Some(user), Retry::SHORT)
            .await
            .map(drop)
    }

    pub async fn set_alias(&self, alias: &RoomAliasId, room: &RoomId) -> Result<(), HsError> {
        let alias =
            RoomAliasId::parse(path_segment(alias.as_str())).map_err(|e| HsError::Request {
                endpoint: "alias::create_alias".into(),
                detail: format!("{alias} is no room alias: {e}"),
            })?;
        let request = create_alias::v3::Request::new(alias, room.to_owned());
        self.request(request, None, Retry::SHORT).await.map(drop)
    }

    /// The room an alias points at.
    pub async fn resolve_alias(&self, user: &UserId, alias: &str) -> Result<OwnedRoomId, HsError> {
        let alias = RoomAliasId::parse(path_segment(alias)).map_err(|e| HsError::Request {
            endpoint: "alias::get_alias".into(),
            detail: format!("{alias:?} is no room alias: {e}"),
        })?;
        let request = get_alias::v3::Request::new(alias);
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.room_id)
    }

    /// One state event's content, as the room holds it (every field kept,
    /// so that a change sent back loses none); `None` when there is none.
    pub async fn state_event(
        &self,
        user: &UserId,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, HsError> {
        let request = get_state_event_for_key::v3::Request::new(
            room.to_owned(),
            path_segment(event_type).into(),
            path_segment(state_key),
        );
        match self.request(request, Some(user), Retry::SHORT).await {
            Ok(response) => serde_json::from_str(response.event_or_content.get())
                .map(Some)
                .map_err(|e| HsError::Malformed {
                    endpoint: "state::get_state_event_for_key".into(),
                    detail: e.to_string(),
                }),
            Err(err) if err.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// The latest `limit` timeline events of a room, newest first.
    pub async fn recent_events(
        &self,
        user: &UserId,
        room: &RoomId,
        limit: u32,
    ) -> Result<Vec<Raw<AnyTimelineEvent>>, HsError> {
        let mut request =
            get_message_events::v3::Request::new(room.to_owned(), Direction::Backward);
        request.limit = UInt::from(limit);
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.chunk)
    }

    /// A room's whole current state, as full events.
    pub async fn room_state(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<Vec<Raw<AnyStateEvent>>, HsError> {
        let request = get_state_events::v3::Request::new(room.to_owned());
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.room_state)
    }

    /// The joined members of a room with their display names.
    pub async fn joined_members_named(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<Vec<(OwnedUserId, Option<String>)>, HsError> {
        let request = joined_members::v3::Request::new(room.to_owned());
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response
            .joined
            .into_iter()
            .map(|(id, member)| (id, member.display_name))
            .collect())
    }

    /// The joined members of a room.
    pub async fn joined_members(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<Vec<OwnedUserId>, HsError> {
        let named = self.joined_members_named(user, room).await?;
        Ok(named.into_iter().map(|(id, _)| id).collect())
    }

    /// One page of the homeserver's public room directory.
    pub async fn public_rooms(
        &self,
        user: &UserId,
        limit: u32,
    ) -> Result<Vec<PublicRoomsChunk>, HsError> {
        let mut request = get_public_rooms::v3::Request::new();
        request.limit = Some(UInt::from(limit));
        let response = self.request(request, Some(user), Retry::SHORT).await?;
        Ok(response.chunk)
    }
}
