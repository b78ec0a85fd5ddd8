//! Portal lifecycle: creating a portal's room once, with bridge info state,
//! alias and power levels, under one lock per portal key.

use crate::bridge::Bridge;
use crate::chat_info::ChatKind;
use crate::homeserver::{power_level_override, raw_content};
use crate::ids::{LoginId, PortalKey};
use crate::network::{GhostInfo, PortalInfo};
use crate::store::PortalRow;
use anyhow::{Context, Result};
use ruma::api::client::room::create_room;
use ruma::api::client::room::create_room::v3::RoomPreset;
use ruma::{RoomAliasId, RoomId, UserId};
use serde_json::{json, Value};
use std::sync::Arc;

impl Bridge {
    /// Finds the portal's room or creates it, then invites `info.invite`.
    pub async fn ensure_portal_room(&self, info: &PortalInfo) -> Result<PortalRow> {
        let lock = self
            .inner()
            .portal_locks
            .entry(info.key.clone())
            .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
            .clone();
        let _guard = lock.lock().await;
        // A login new to the portal (since start) has its user invited; a
        // busy chat's every message does not invite again.
        let fresh = match &info.login {
            Some(login) => self.store().add_portal_login(&info.key, login).await?,
            None => true,
        };
        if let Some(row) = self.store().get_portal(&info.key).await? {
            if row.room_id.is_some() && !fresh {
                return Ok(row);
            }
            if let Some(room_id) = &row.room_id {
                let room = Bridge::parse_room(room_id)?;
                let inviter = self.room_actor(&row).await?;
                for user in &info.invite {
                    let user = UserId::parse(user.as_str())?;
                    if let Err(err) = self.homeserver().invite(&inviter, &room, &user).await {
                        // Already joined or invited is fine; anything else is reported.
                        if err.errcode() != Some("M_FORBIDDEN") {
                            return Err(err).context("cannot invite the user to the portal");
                        }
                    }
                }
                return Ok(row);
            }
        }
        self.create_portal_room(info).await
    }

    /// Binds an existing room to a portal (plumbing), with bridge info state.
    pub async fn plumb_portal(&self, info: &PortalInfo, room_id: &str) -> Result<PortalRow> {
        let room = Bridge::parse_room(room_id)?;
        self.ensure_joined(&room, self.bot()).await?;
        // The room is marked first: if the bot may not, nothing is half done.
        for (event_type, content) in
            self.bridge_info_state(&info.key, info.name.as_deref(), &portal_metadata(info))
        {
            let sent = self
                .homeserver()
                .send_state(
                    self.bot(),
                    &room,
                    event_type,
                    &self.bridge_state_key(&info.key),
                    &content,
                    None,
                )
                .await;
            match sent {
                Err(err) if err.errcode() == Some("M_FORBIDDEN") => {
                    anyhow::bail!("I may not mark {room_id} as bridged: give {} power level 50 there and try again", self.bot())
                }
                other => other?,
            };
        }
        let row = PortalRow {
            key: info.key.clone(),
            room_id: Some(room_id.to_owned()),
            name: info.name.clone(),
            topic: info.topic.clone(),
            plumbed: true,
            metadata: portal_metadata(info),
        };
        self.store().put_portal(&row).await?;
        Ok(row)
    }

    /// Unbinds a portal from its room, removing the bridge info state.
    pub async fn unlink_portal(&self, key: &PortalKey) -> Result<()> {
        if let Some(row) = self.store().get_portal(key).await? {
            if let Some(room) = row.room_id.as_deref().map(Bridge::parse_room).transpose()? {
                for event_type in ["m.bridge", "uk.half-shot.bridge"] {
                    if let Err(err) = self
                        .homeserver()
                        .send_state(
                            self.bot(),
                            &room,
                            event_type,
                            &self.bridge_state_key(key),
                            // Empty state content: the bridge info is withdrawn.
                            &json!({}),
                            None,
                        )
                        .await
                    {
                        tracing::warn!(%err, "cannot clear bridge info state while unlinking");
                    }
                }
            }
        }
        self.store().delete_portal(key).await
    }

    /// Whether a portal has its room yet. Typing, receipts and chat changes
    /// go only to rooms that exist: they open none.
    pub async fn has_room(&self, key: &PortalKey) -> Result<bool> {
        Ok(self
            .store()
            .get_portal(key)
            .await?
            .is_some_and(|p| p.room_id.is_some()))
    }

    /// The portal key of an account network's chat seen through `login`: a
    /// DM belongs to its login; a group is shared by every login in it,
    /// unless `bridge.split_portals` gives each login its own.
    pub fn chat_portal_key(&self, chat: &str, login: &LoginId, direct: bool) -> PortalKey {
        if direct || self.config().bridge.split_portals {
            PortalKey::for_login(chat, login.clone())
        } else {
            PortalKey::shared(chat)
        }
    }

    /// The user that acts for the bridge in a portal: the DM ghost, or the bot.
    pub(crate) async fn room_actor(&self, row: &PortalRow) -> Result<ruma::OwnedUserId> {
        match row.metadata.get("direct_with").and_then(Value::as_str) {
            Some(remote) => self.ghost_mxid(&remote.into()),
            None => Ok(self.bot().to_owned()),
        }
    }

    fn bridge_state_key(&self, key: &PortalKey) -> String {
        format!(
            "causeway://{}/{}",
            self.network().info().id,
            urlencoding::encode(key.id.as_str())
        )
    }

    /// Sends the bridge info again, after the chat's name changed.
    pub(crate) async fn update_bridge_info(&self, row: &PortalRow, room: &RoomId) -> Result<()> {
        let state_key = self.bridge_state_key(&row.key);
        for (event_type, content) in
            self.bridge_info_state(&row.key, row.name.as_deref(), &row.metadata)
        {
            self.homeserver()
                .send_state(self.bot(), room, event_type, &state_key, &content, None)
                .await?;
        }
        Ok(())
    }

    /// MSC2346 bridge info, under its stable-to-be and its legacy type:
    /// the network with its icon, and the chat with its name and kind.
    fn bridge_info_state(
        &self,
        key: &PortalKey,
        name: Option<&str>,
        metadata: &Value,
    ) -> Vec<(&'static str, Value)> {
        let info = self.network().info();
        // MSC2346 state content, which ruma has no type for.
        let mut content = json!({
            "bridgebot": self.bot(),
            "creator": self.bot(),
            "protocol": { "id": info.id, "displayname": info.name },
            "channel": { "id": key.id, "displayname": name.unwrap_or(key.id.as_str()) },
        });
        if let Some(icon) = self.inner().network_icon.get() {
            content["protocol"]["avatar_url"] = json!(icon);
        }
        if let Some(receiver) = &key.receiver {
            content["channel"]["receiver"] = json!(receiver);
        }
        // The room types mautrix bridges set, which clients read to tell
        // DMs, groups and broadcast channels apart.
        if let Some(kind) = chat_kind(metadata) {
            content["com.beeper.room_type.v2"] = json!(kind);
            if kind == ChatKind::Direct {
                content["com.beeper.room_type"] = json!("dm");
            }
        }
        vec![
            ("m.bridge", content.clone()),
            ("uk.half-shot.bridge", content),
        ]
    }

    async fn create_portal_room(&self, info: &PortalInfo) -> Result<PortalRow> {
        let version = self.room_version().await;
        let creator = match &info.direct_with {
            Some(remote) => {
                self.ensure_ghost(&GhostInfo {
                    id: remote.clone(),
                    ..Default::default()
                })
                .await?
            }
            None => self.bot().to_owned(),
        };
        let metadata = portal_metadata(info);
        let state_key = self.bridge_state_key(&info.key);
        let mut request = create_room::v3::Request::new();
        request.initial_state = self
            .bridge_info_state(&info.key, info.name.as_deref(), &metadata)
            .into_iter()
            .map(|(event_type, content)| {
                raw_content(
                    &json!({ "type": event_type, "state_key": state_key, "content": content }),
                )
            })
            .collect::<Result<_, _>>()?;
        let mut invite: Vec<String> = info.invite.clone();
        if info.direct_with.is_some() {
            invite.push(self.bot().to_string());
        }
        // A DM's invitees become creators too under the v12 rules (the
        // trusted_private_chat preset), and creators may not be listed.
        let v12_dm = info.direct_with.is_some()
            && crate::homeserver::is_privileged_creator_version(&version);
        let users: Vec<(&str, i64)> = [(creator.as_str(), 100), (self.bot().as_str(), 100)]
            .into_iter()
            .filter(|(user, _)| !(v12_dm && invite.iter().any(|i| i == user)))
            .collect();
        // Reached through an alias, a portal must be joinable by whoever resolves it.
        request.preset = Some(match (&info.direct_with, &info.alias_id) {
            (Some(_), _) => RoomPreset::TrustedPrivateChat,
            (None, Some(_)) => RoomPreset::PublicChat,
            (None, None) => RoomPreset::PrivateChat,
        });
        request.is_direct = info.direct_with.is_some();
        request.invite = invite
            .iter()
            .map(|user| ruma::OwnedUserId::try_from(user.as_str()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot invite {invite:?} to portal {}", info.key))?;
        request.power_level_content_override = Some(raw_content(&power_level_override(
            &version,
            creator.as_str(),
            &users,
        ))?);
        request.name = info.name.clone();
        // A DM looks like the other side: their name, unless the network
        // named the chat, and their avatar.
        if let Some(remote) = &info.direct_with {
            if let Some(ghost) = self.store().get_ghost(remote).await? {
                if request.name.is_none() {
                    request.name = ghost.displayname.clone();
                }
                if let Some(mxc) = ghost.avatar_mxc {
                    // State content as sent.
                    let avatar = json!({ "type": "m.room.avatar", "state_key": "", "content": { "url": mxc } });
                    request.initial_state.push(raw_content(&avatar)?);
                }
            }
        }
        request.topic = info.topic.clone();
        request.room_alias_name = info
            .alias_id
            .as_ref()
            .map(|alias_id| self.alias_localpart(alias_id));
        let room_id = self
            .homeserver()
            .create_room(&creator, request)
            .await
            .with_context(|| format!("cannot create the room for portal {}", info.key))?;
        let row = PortalRow {
            key: info.key.clone(),
            room_id: Some(room_id.to_string()),
            name: info.name.clone(),
            topic: info.topic.clone(),
            plumbed: false,
            metadata,
        };
        self.store().put_portal(&row).await?;
        self.inner().joined.insert(&room_id, &creator);
        if info.direct_with.is_some() {
            self.ensure_joined(&room_id, self.bot()).await?;
        }
        tracing::info!(portal = %info.key, room = %room_id, "created portal room");
        if let Some(login) = &info.login {
            if let Some(login) = self.store().get_login(self.secrets(), login).await? {
                self.spawn_chat_info(row.clone(), login.clone());
                self.spawn_backfill(info.key.clone(), login, crate::backfill::Occasion::Created);
            }
        }
        metrics::counter!("causeway_portals_created_total").increment(1);
        Ok(row)
    }

    /// Publishes an alias for a room, for portals made before their alias.
    pub async fn publish_alias(&self, alias_id: &str, room_id: &RoomId) -> Result<()> {
        let alias = RoomAliasId::parse(format!(
            "#{}:{}",
            self.alias_localpart(alias_id),
            self.config().homeserver.domain
        ))?;
        self.homeserver().set_alias(&alias, room_id).await?;
        Ok(())
    }
}

/// Sets one user's power level in a room, by the bot. Does nothing when it
/// is already that, or when it is above `unless_above`; the default level
/// is stored as no entry, as clients do.
pub(crate) async fn set_power_level(
    bridge: &Bridge,
    room: &RoomId,
    user: &str,
    level: i64,
    unless_above: Option<i64>,
) -> Result<()> {
    let hs = bridge.homeserver();
    let mut levels = hs
        .state_event(bridge.bot(), room, "m.room.power_levels", "")
        .await?
        // Power levels stay JSON: every field the room has is sent back unchanged.
        .unwrap_or_else(|| serde_json::json!({}));
    let default = levels["users_default"].as_i64().unwrap_or(0);
    let current = levels["users"][user].as_i64().unwrap_or(default);
    if current == level || unless_above.is_some_and(|cap| current > cap) {
        return Ok(());
    }
    if !levels["users"].is_object() {
        levels["users"] = serde_json::json!({});
    }
    if let Some(users) = levels["users"].as_object_mut() {
        if level == default {
            users.remove(user);
        } else {
            users.insert(user.to_owned(), level.into());
        }
    }
    hs.send_state(bridge.bot(), room, "m.room.power_levels", "", &levels, None)
        .await?;
    Ok(())
}

/// The metadata a new portal row gets: the network's, plus whom a DM is
/// with and what kind of chat it is.
fn portal_metadata(info: &PortalInfo) -> Value {
    let mut metadata = info.metadata.clone();
    if !metadata.is_object() {
        // The portal's metadata column: network-owned JSON.
        metadata = json!({});
    }
    if let Some(remote) = &info.direct_with {
        metadata["direct_with"] = json!(remote);
    }
    if let Some(kind) = info
        .kind
        .or(info.direct_with.as_ref().map(|_| ChatKind::Direct))
    {
        metadata["chat_kind"] = json!(kind);
    }
    metadata
}

/// The kind of chat a portal row records, if any.
pub(crate) fn chat_kind(metadata: &Value) -> Option<ChatKind> {
    serde_json::from_value(metadata.get("chat_kind")?.clone()).ok()
}
