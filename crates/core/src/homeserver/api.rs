//! The client-server endpoints the bridge uses, as typed methods.

use super::{enc, send_once, Homeserver, HsError, Retry};
use reqwest::Method;
use ruma::{EventId, OwnedEventId, OwnedRoomId, RoomAliasId, RoomId, UserId};
use serde_json::{json, Value};

fn parse<T: TryFrom<String>>(value: &Value, field: &str) -> Result<T, HsError> {
    let raw = value
        .get(field)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_owned();
    T::try_from(raw.clone()).map_err(|_| {
        HsError::Transport(format!(
            "the homeserver answered without a valid {field}: {raw:?}"
        ))
    })
}

impl Homeserver {
    /// The spec versions the server supports. Sent without a token: it
    /// needs none, and a server refuses any request with a token it does not
    /// know, which would hide whether it is reachable at all.
    pub async fn versions(&self) -> Result<Value, HsError> {
        send_once(
            self.http
                .get(format!("{}/_matrix/client/versions", self.base)),
        )
        .await
    }

    pub async fn whoami(&self) -> Result<String, HsError> {
        let v = self
            .call(
                Method::GET,
                "/_matrix/client/v3/account/whoami",
                &[],
                None,
                None,
                Retry::ONCE,
            )
            .await?;
        Ok(v.get("user_id")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned())
    }

    /// Asks the homeserver to ping us back (MSC2659); returns its round trip.
    pub async fn ping_appservice(
        &self,
        appservice_id: &str,
        transaction_id: &str,
    ) -> Result<u64, HsError> {
        let body = json!({ "transaction_id": transaction_id });
        let path = format!("/_matrix/client/v1/appservice/{}/ping", enc(appservice_id));
        let v = self
            .call(Method::POST, &path, &[], Some(&body), None, Retry::ONCE)
            .await?;
        Ok(v.get("duration_ms").and_then(Value::as_u64).unwrap_or(0))
    }

    /// The room version the server creates rooms with.
    pub async fn default_room_version(&self) -> Result<String, HsError> {
        let v = self
            .call(
                Method::GET,
                "/_matrix/client/v3/capabilities",
                &[],
                None,
                None,
                Retry::SHORT,
            )
            .await?;
        Ok(v.pointer("/capabilities/m.room_versions/default")
            .and_then(Value::as_str)
            .unwrap_or("10")
            .to_owned())
    }

    /// Registers a ghost in the appservice namespace; one that exists is fine.
    pub async fn register(&self, localpart: &str) -> Result<(), HsError> {
        let body = json!({ "type": "m.login.application_service", "username": localpart, "inhibit_login": true });
        match self
            .call(
                Method::POST,
                "/_matrix/client/v3/register",
                &[],
                Some(&body),
                None,
                Retry::SHORT,
            )
            .await
        {
            Err(e) if e.errcode() == Some("M_USER_IN_USE") => Ok(()),
            other => other.map(drop),
        }
    }

    /// A user's display name, if they set one.
    pub async fn get_displayname(&self, user: &UserId) -> Result<Option<String>, HsError> {
        self.profile_field(user, "displayname").await
    }

    /// A user's avatar, if they set one.
    pub async fn get_avatar_url(&self, user: &UserId) -> Result<Option<String>, HsError> {
        self.profile_field(user, "avatar_url").await
    }

    /// Whether a user has a profile, which every registered user has: a DM
    /// with someone who does not exist should fail before it is made.
    pub async fn user_exists(&self, user: &UserId) -> Result<bool, HsError> {
        Ok(self.profile(user).await?.is_some())
    }

    async fn profile_field(&self, user: &UserId, field: &str) -> Result<Option<String>, HsError> {
        let profile = self.profile(user).await?;
        Ok(profile
            .as_ref()
            .and_then(|p| p.get(field))
            .and_then(Value::as_str)
            .map(str::to_owned))
    }

    /// A user's whole profile; `None` when the homeserver knows no such user.
    async fn profile(&self, user: &UserId) -> Result<Option<Value>, HsError> {
        let path = format!("/_matrix/client/v3/profile/{}", enc(user.as_str()));
        match self
            .call(Method::GET, &path, &[], None, None, Retry::SHORT)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(e) if e.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub async fn set_displayname(&self, user: &UserId, name: &str) -> Result<(), HsError> {
        self.set_profile_field(user, "displayname", name).await
    }

    pub async fn set_avatar_url(&self, user: &UserId, mxc: &str) -> Result<(), HsError> {
        self.set_profile_field(user, "avatar_url", mxc).await
    }

    async fn set_profile_field(
        &self,
        user: &UserId,
        field: &str,
        value: &str,
    ) -> Result<(), HsError> {
        let path = format!("/_matrix/client/v3/profile/{}/{field}", enc(user.as_str()));
        let body = json!({ field: value });
        self.call(
            Method::PUT,
            &path,
            &[],
            Some(&body),
            Some(user.as_str()),
            Retry::SHORT,
        )
        .await
        .map(drop)
    }

    /// Uploads media as `user`; returns its `mxc://` URI.
    pub async fn upload(
        &self,
        user: &UserId,
        bytes: Vec<u8>,
        content_type: &str,
        filename: &str,
    ) -> Result<String, HsError> {
        let request = self
            .http
            .post(format!("{}/_matrix/media/v3/upload", self.base))
            .bearer_auth(&self.as_token)
            .query(&[("user_id", user.as_str()), ("filename", filename)])
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes);
        let value = send_once(request).await?;
        parse::<String>(&value, "content_uri")
    }

    /// Downloads media through the authenticated media API. Only `mxc://`
    /// URIs are accepted, so media is only ever fetched from the homeserver.
    pub async fn download(&self, mxc: &str) -> Result<(Vec<u8>, Option<String>), HsError> {
        let path = super::media::download_path(mxc)?;
        self.get_bytes(&path, Retry::SHORT).await
    }

    /// Creates a room as `creator` with the given `/createRoom` body.
    pub async fn create_room(
        &self,
        creator: &UserId,
        body: &Value,
    ) -> Result<OwnedRoomId, HsError> {
        let v = self
            .call(
                Method::POST,
                "/_matrix/client/v3/createRoom",
                &[],
                Some(body),
                Some(creator.as_str()),
                Retry::SHORT,
            )
            .await?;
        parse(&v, "room_id")
    }

    /// Joins a room by ID or alias.
    pub async fn join(&self, user: &UserId, room: &str) -> Result<OwnedRoomId, HsError> {
        let path = format!("/_matrix/client/v3/join/{}", enc(room));
        let v = self
            .call(
                Method::POST,
                &path,
                &[],
                Some(&json!({})),
                Some(user.as_str()),
                Retry::SHORT,
            )
            .await?;
        parse(&v, "room_id")
    }

    pub async fn invite(&self, by: &UserId, room: &RoomId, user: &UserId) -> Result<(), HsError> {
        self.membership(by, room, "invite", json!({ "user_id": user }))
            .await
    }

    pub async fn leave(
        &self,
        user: &UserId,
        room: &RoomId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        self.membership(user, room, "leave", json!({ "reason": reason }))
            .await
    }

    pub async fn kick(
        &self,
        by: &UserId,
        room: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        self.membership(
            by,
            room,
            "kick",
            json!({ "user_id": user, "reason": reason }),
        )
        .await
    }

    pub async fn ban(
        &self,
        by: &UserId,
        room: &RoomId,
        user: &UserId,
        reason: Option<&str>,
    ) -> Result<(), HsError> {
        self.membership(
            by,
            room,
            "ban",
            json!({ "user_id": user, "reason": reason }),
        )
        .await
    }

    async fn membership(
        &self,
        by: &UserId,
        room: &RoomId,
        action: &str,
        mut body: Value,
    ) -> Result<(), HsError> {
        if let Some(obj) = body.as_object_mut() {
            obj.retain(|_, v| !v.is_null());
        }
        let path = format!("/_matrix/client/v3/rooms/{}/{action}", enc(room.as_str()));
        self.call(
            Method::POST,
            &path,
            &[],
            Some(&body),
            Some(by.as_str()),
            Retry::SHORT,
        )
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
        let path = format!(
            "/_matrix/client/v3/rooms/{}/send/{}/{}",
            enc(room.as_str()),
            enc(event_type),
            enc(txn_id)
        );
        let query: Vec<(&str, String)> = ts.map(|ts| ("ts", ts.to_string())).into_iter().collect();
        let v = self
            .call(
                Method::PUT,
                &path,
                &query,
                Some(content),
                Some(user.as_str()),
                retry,
            )
            .await?;
        parse(&v, "event_id")
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
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room.as_str()),
            enc(event_type),
            enc(state_key)
        );
        let query: Vec<(&str, String)> = ts.map(|ts| ("ts", ts.to_string())).into_iter().collect();
        let v = self
            .call(
                Method::PUT,
                &path,
                &query,
                Some(content),
                Some(user.as_str()),
                Retry::SHORT,
            )
            .await?;
        parse(&v, "event_id")
    }

    pub async fn redact(
        &self,
        user: &UserId,
        room: &RoomId,
        event: &EventId,
        txn_id: &str,
        reason: Option<&str>,
    ) -> Result<OwnedEventId, HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/redact/{}/{}",
            enc(room.as_str()),
            enc(event.as_str()),
            enc(txn_id)
        );
        let body = reason
            .map(|r| json!({ "reason": r }))
            .unwrap_or_else(|| json!({}));
        let v = self
            .call(
                Method::PUT,
                &path,
                &[],
                Some(&body),
                Some(user.as_str()),
                Retry::FOREVER,
            )
            .await?;
        parse(&v, "event_id")
    }

    pub async fn typing(
        &self,
        user: &UserId,
        room: &RoomId,
        typing: bool,
        timeout_ms: u64,
    ) -> Result<(), HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/typing/{}",
            enc(room.as_str()),
            enc(user.as_str())
        );
        let body = if typing {
            json!({ "typing": true, "timeout": timeout_ms })
        } else {
            json!({ "typing": false })
        };
        self.call(
            Method::PUT,
            &path,
            &[],
            Some(&body),
            Some(user.as_str()),
            Retry::ONCE,
        )
        .await
        .map(drop)
    }

    pub async fn read_receipt(
        &self,
        user: &UserId,
        room: &RoomId,
        event: &EventId,
    ) -> Result<(), HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/receipt/m.read/{}",
            enc(room.as_str()),
            enc(event.as_str())
        );
        self.call(
            Method::POST,
            &path,
            &[],
            Some(&json!({})),
            Some(user.as_str()),
            Retry::SHORT,
        )
        .await
        .map(drop)
    }

    pub async fn set_alias(&self, alias: &RoomAliasId, room: &RoomId) -> Result<(), HsError> {
        let path = format!("/_matrix/client/v3/directory/room/{}", enc(alias.as_str()));
        self.call(
            Method::PUT,
            &path,
            &[],
            Some(&json!({ "room_id": room })),
            None,
            Retry::SHORT,
        )
        .await
        .map(drop)
    }

    /// One state event's content; `None` when the room has none.
    pub async fn state_event(
        &self,
        user: &UserId,
        room: &RoomId,
        event_type: &str,
        state_key: &str,
    ) -> Result<Option<Value>, HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/state/{}/{}",
            enc(room.as_str()),
            enc(event_type),
            enc(state_key)
        );
        match self.get_as(user, &path).await {
            Ok(content) => Ok(Some(content)),
            Err(err) if err.errcode() == Some("M_NOT_FOUND") => Ok(None),
            Err(err) => Err(err),
        }
    }

    /// A GET as `user`, retried briefly.
    async fn get_as(&self, user: &UserId, path: &str) -> Result<Value, HsError> {
        self.call(
            Method::GET,
            path,
            &[],
            None,
            Some(user.as_str()),
            Retry::SHORT,
        )
        .await
    }

    /// The latest `limit` timeline events of a room, newest first.
    pub async fn recent_events(
        &self,
        user: &UserId,
        room: &RoomId,
        limit: u32,
    ) -> Result<Vec<Value>, HsError> {
        let path = format!("/_matrix/client/v3/rooms/{}/messages", enc(room.as_str()));
        let v = self
            .call(
                Method::GET,
                &path,
                &[("dir", "b".to_owned()), ("limit", limit.to_string())],
                None,
                Some(user.as_str()),
                Retry::SHORT,
            )
            .await?;
        Ok(chunk(&v))
    }

    /// A room's whole current state, as full events.
    pub async fn room_state(&self, user: &UserId, room: &RoomId) -> Result<Vec<Value>, HsError> {
        let path = format!("/_matrix/client/v3/rooms/{}/state", enc(room.as_str()));
        let v = self.get_as(user, &path).await?;
        Ok(v.as_array().cloned().unwrap_or_default())
    }

    /// The joined members with their display names in the room.
    pub async fn joined_members_named(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<Vec<(String, Option<String>)>, HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            enc(room.as_str())
        );
        let v = self.get_as(user, &path).await?;
        Ok(v.get("joined")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(id, member)| {
                        let name = member.get("display_name").and_then(Value::as_str);
                        (id.clone(), name.map(str::to_owned))
                    })
                    .collect()
            })
            .unwrap_or_default())
    }

    /// The room an alias points at.
    pub async fn resolve_alias(&self, user: &UserId, alias: &str) -> Result<OwnedRoomId, HsError> {
        let path = format!("/_matrix/client/v3/directory/room/{}", enc(alias));
        let v = self.get_as(user, &path).await?;
        v.get("room_id")
            .and_then(Value::as_str)
            .and_then(|r| RoomId::parse(r).ok())
            .ok_or_else(|| HsError::from_body(502, b"no room_id in the directory answer"))
    }

    /// One page of the homeserver's public room directory.
    pub async fn public_rooms(&self, user: &UserId, limit: u32) -> Result<Vec<Value>, HsError> {
        let limit = limit.to_string();
        let v = self
            .call(
                Method::GET,
                "/_matrix/client/v3/publicRooms",
                &[("limit", limit)],
                None,
                Some(user.as_str()),
                Retry::SHORT,
            )
            .await?;
        Ok(chunk(&v))
    }

    pub async fn joined_members(
        &self,
        user: &UserId,
        room: &RoomId,
    ) -> Result<Vec<String>, HsError> {
        let path = format!(
            "/_matrix/client/v3/rooms/{}/joined_members",
            enc(room.as_str())
        );
        let v = self.get_as(user, &path).await?;
        Ok(v.get("joined")
            .and_then(Value::as_object)
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default())
    }
}

/// The `chunk` list of a paginated answer.
fn chunk(v: &Value) -> Vec<Value> {
    v.get("chunk")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}
