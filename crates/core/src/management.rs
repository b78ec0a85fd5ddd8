//! Rooms that are no portal: the bot's DMs (management rooms), invites of
//! the bot and of ghosts, and the commands typed there.

use crate::bridge::Bridge;
use crate::commands::parse_command;
use crate::matrix_event::{MatrixEventMeta, Membership};
use crate::matrix_handler::parse_membership;
use crate::network::GhostInfo;
use crate::permissions::Level;
use crate::store::{PortalRow, UserRow};
use anyhow::Result;
use ruma::api::client::room::create_room;
use ruma::api::client::room::create_room::v3::RoomPreset;
use ruma::events::{
    AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent, MessageLikeEvent, StateEvent,
};
use ruma::UserId;
use serde_json::json;

pub(crate) async fn handle_non_portal_event(
    bridge: &Bridge,
    event: &AnyTimelineEvent,
    meta: MatrixEventMeta,
) -> Result<()> {
    match event {
        AnyTimelineEvent::State(AnyStateEvent::RoomMember(StateEvent::Original(member))) => {
            match parse_membership(member) {
                Some((target, Membership::Invite)) if target == bridge.bot().as_str() => {
                    let is_direct = member.content.is_direct.unwrap_or(false);
                    handle_bot_invite(bridge, is_direct, &meta).await
                }
                Some((target, Membership::Invite)) => match bridge.ghost_remote_id(&target) {
                    Some(ghost) => handle_ghost_invite(bridge, &meta, &target, ghost).await,
                    None => Ok(()),
                },
                _ => Ok(()),
            }
        }
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
            MessageLikeEvent::Original(message),
        )) if !bridge.is_bridge_user(&meta.sender) => {
            handle_message(bridge, message.content.body(), &meta).await
        }
        _ => Ok(()),
    }
}

async fn handle_bot_invite(bridge: &Bridge, is_direct: bool, meta: &MatrixEventMeta) -> Result<()> {
    let room = Bridge::parse_room(&meta.room_id)?;
    let level = bridge.permission_of(&meta.sender);
    bridge.ensure_joined(&room, bridge.bot()).await?;
    if level < Level::User {
        let domain = &bridge.config().homeserver.domain;
        bridge
            .bot_notice(&meta.room_id, &format!("Sorry, you are not allowed to use this bridge. Ask the administrator of {domain} to give you access."))
            .await?;
        bridge
            .homeserver()
            .leave(bridge.bot(), &room, Some("not allowed to use this bridge"))
            .await?;
        bridge.forget_joined(&room, bridge.bot());
        return Ok(());
    }
    if !is_direct {
        // Invited into an ordinary room, for plumbing: stay quiet until asked.
        return Ok(());
    }
    let mut user = bridge
        .store()
        .get_user(&meta.sender)
        .await?
        .unwrap_or(UserRow {
            mxid: meta.sender.clone(),
            ..Default::default()
        });
    user.management_room = Some(meta.room_id.clone());
    bridge.store().put_user(&user).await?;
    let info = bridge.network().info();
    let prefix = bridge.command_prefix();
    let welcome = format!(
        "Hello, I am the {} bridge bot. This room is now your management room. Send `{prefix}help` for the commands.\n\n{}",
        info.name,
        bridge.commands().help(prefix, level)
    );
    bridge.bot_notice(&meta.room_id, &welcome).await
}

async fn handle_ghost_invite(
    bridge: &Bridge,
    meta: &MatrixEventMeta,
    ghost_mxid: &str,
    ghost: crate::ids::RemoteUserId,
) -> Result<()> {
    let room = Bridge::parse_room(&meta.room_id)?;
    let ghost_user = UserId::parse(ghost_mxid)?;
    let refuse = |why: String| {
        let (room, ghost_user) = (room.clone(), ghost_user.clone());
        async move {
            bridge
                .ensure_ghost(&GhostInfo {
                    id: bridge.ghost_remote_id(ghost_mxid).unwrap_or_default(),
                    ..Default::default()
                })
                .await?;
            bridge.homeserver().join(&ghost_user, room.as_str()).await?;
            let txn = format!("cwrefuse{}", crate::registration::random_token());
            // Event content as sent.
            let content = json!({ "msgtype": "m.notice", "body": why });
            bridge
                .homeserver()
                .send(
                    &ghost_user,
                    &room,
                    "m.room.message",
                    &txn,
                    &content,
                    None,
                    crate::homeserver::Retry::SHORT,
                )
                .await?;
            bridge.homeserver().leave(&ghost_user, &room, None).await?;
            anyhow::Ok(())
        }
    };
    if bridge.permission_of(&meta.sender) < Level::User {
        return refuse("You are not allowed to start chats through this bridge.".into()).await;
    }
    let Some(handler) = bridge.network().membership() else {
        return refuse("This bridge cannot start private chats.".into()).await;
    };
    match handler
        .handle_ghost_invite(&meta.sender, &ghost, &meta.room_id)
        .await
    {
        Ok(Some(info)) => {
            bridge
                .ensure_ghost(&GhostInfo {
                    id: ghost.clone(),
                    ..Default::default()
                })
                .await?;
            bridge.homeserver().join(&ghost_user, room.as_str()).await?;
            bridge.inner().joined.insert(&room, &ghost_user);
            // The portal's metadata column: network-owned JSON.
            let mut metadata = if info.metadata.is_object() {
                info.metadata.clone()
            } else {
                json!({})
            };
            metadata["direct_with"] = json!(ghost);
            let row = PortalRow {
                key: info.key,
                room_id: Some(meta.room_id.clone()),
                name: info.name,
                topic: info.topic,
                plumbed: false,
                metadata,
            };
            bridge.store().put_portal(&row).await
        }
        Ok(None) => refuse(format!("{} cannot be reached for a private chat.", ghost)).await,
        Err(err) => refuse(format!("Cannot start a private chat: {err:#}")).await,
    }
}

async fn handle_message(bridge: &Bridge, body: &str, meta: &MatrixEventMeta) -> Result<()> {
    let prefix = bridge.command_prefix().to_owned();
    let is_management = bridge
        .store()
        .user_by_management_room(&meta.room_id)
        .await?
        .as_deref()
        == Some(meta.sender.as_str());
    let parsed = if is_management {
        parse_command(body, &prefix).or_else(|| {
            if prefix.is_empty() {
                None
            } else {
                parse_command(body, "")
            }
        })
    } else {
        // Elsewhere, only prefixed text counts as a command.
        parse_command(body, &bridge.room_command_prefix())
    };
    let is_cancel = parsed
        .as_ref()
        .is_some_and(|p| p.word.eq_ignore_ascii_case("cancel"));
    if is_management && !is_cancel && crate::login_runner::awaiting_input(bridge, &meta.sender) {
        return crate::login_runner::input(
            bridge,
            &meta.sender,
            &meta.room_id,
            &meta.event_id,
            body,
        )
        .await;
    }
    let Some(parsed) = parsed else { return Ok(()) };
    bridge
        .commands()
        .dispatch(bridge, &meta.sender, &meta.room_id, &meta.event_id, parsed)
        .await
}

impl Bridge {
    /// The user's management room. A user who never messaged the bot gets
    /// one created and is invited to it, so the network can tell them about
    /// their connection (a nick taken, a login refused) instead of failing
    /// silently. `name` names a new room.
    pub async fn ensure_management_room(&self, mxid: &str, name: &str) -> Result<String> {
        let _one_at_a_time = self.inner().management_rooms.lock().await;
        let mut user = self.store().get_user(mxid).await?.unwrap_or(UserRow {
            mxid: mxid.to_owned(),
            ..Default::default()
        });
        if let Some(room) = &user.management_room {
            return Ok(room.clone());
        }
        let mut request = create_room::v3::Request::new();
        request.preset = Some(RoomPreset::TrustedPrivateChat);
        request.is_direct = true;
        request.invite = vec![ruma::OwnedUserId::try_from(mxid)?];
        request.name = Some(name.to_owned());
        let room = self.homeserver().create_room(self.bot(), request).await?;
        user.management_room = Some(room.to_string());
        self.store().put_user(&user).await?;
        let prefix = self.command_prefix();
        self.bot_notice(
            room.as_str(),
            &format!("This is your management room for the bridge. Send `{prefix}help` for the commands."),
        )
        .await?;
        Ok(room.to_string())
    }
}
