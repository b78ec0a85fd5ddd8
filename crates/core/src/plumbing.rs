//! `bridge <chat id>` and `unbridge`: a remote chat bridged into an existing
//! Matrix room, and unbridged again. IRC's `!plumb` and `!unlink`,
//! generalised. The checks are the same everywhere: the caller has power
//! level 50 in the room (or is a bridge admin), the bot is in the room and
//! may mark it with `m.bridge`, and the caller may reach the chat: on an
//! account network, one of their logins is in it; elsewhere the network's
//! `PlumbHandling` decides. The commands and the provisioning API share
//! these two functions.

use crate::bridge::Bridge;
use crate::commands::{Command, CommandContext, CommandError, CommandResult};
use crate::network::PortalInfo;
use crate::permissions::Level;
use crate::store::PortalRow;
use anyhow::Result;
use ruma::RoomId;

/// Why a bridge or unbridge request was turned down, in words for the
/// user, and of what kind, for the provisioning API's status code.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    pub kind: RefusalKind,
    pub message: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RefusalKind {
    /// The caller lacks the power or the login it takes.
    Forbidden,
    /// No such chat, or the room is no portal.
    NotFound,
    /// The room or the chat is bridged already.
    Conflict,
}

impl Refused {
    fn new(kind: RefusalKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

/// Whether this network can bridge its chats into existing rooms: through
/// its own `PlumbHandling`, or as an account network that lists chats.
pub(crate) fn supported(network: &dyn crate::network::Network) -> bool {
    network.plumbing().is_some() || (network.account_shaped() && network.contacts().is_some())
}

pub(crate) fn commands() -> Vec<Command> {
    vec![
        Command::new(
            "bridge",
            "Portals",
            "<chat ID>",
            "Run in an existing room: bridge a chat into it. Needs power level 50 there, and the bot invited.",
            Level::User,
            bridge_command,
        )
        .in_portals(),
        Command::new(
            "unbridge",
            "Portals",
            "",
            "Run in a bridged room: stop bridging it. The room stays.",
            Level::User,
            unbridge_command,
        )
        .in_portals(),
    ]
}

async fn bridge_command(ctx: CommandContext) -> CommandResult {
    let [chat_id] = ctx.args.as_slice() else {
        return Err(ctx.usage_error("Say which chat, by its ID (`list groups` shows them)."));
    };
    let room = Bridge::parse_room(&ctx.room_id)?;
    match ctx.bridge.bridge_chat(&ctx.sender, &room, chat_id).await? {
        Ok(portal) => {
            let name = portal.name.as_deref().unwrap_or(chat_id);
            ctx.reply(&format!("Bridged this room to {name}.")).await?;
            Ok(())
        }
        Err(refused) => Err(CommandError::Usage(refused.message)),
    }
}

async fn unbridge_command(ctx: CommandContext) -> CommandResult {
    let room = Bridge::parse_room(&ctx.room_id)?;
    match ctx.bridge.unbridge_room(&ctx.sender, &room).await? {
        Ok(portal) => {
            let name = portal.name.as_deref().unwrap_or(portal.key.id.as_str());
            ctx.reply(&format!("This room is no longer bridged to {name}."))
                .await?;
            Ok(())
        }
        Err(refused) => Err(CommandError::Usage(refused.message)),
    }
}

impl Bridge {
    /// Bridges a remote chat into an existing room on `user`'s behalf.
    pub async fn bridge_chat(
        &self,
        user: &str,
        room: &RoomId,
        chat_id: &str,
    ) -> Result<Result<PortalRow, Refused>> {
        if let Some(existing) = self.store().portal_by_room(room.as_str()).await? {
            let name = existing.name.unwrap_or(existing.key.id.0);
            return Ok(Err(Refused::new(
                RefusalKind::Conflict,
                format!("{room} is bridged to {name} already: `unbridge` it first."),
            )));
        }
        if self
            .store()
            .user_by_management_room(room.as_str())
            .await?
            .is_some()
        {
            return Ok(Err(Refused::new(
                RefusalKind::Conflict,
                "This is a management room: run `bridge` in the room to bridge into.",
            )));
        }
        if let Err(refused) = self.check_room_moderator(user, room).await? {
            return Ok(Err(refused));
        }
        let info = match self.plumb_target(user, chat_id).await? {
            Ok(info) => info,
            Err(refused) => return Ok(Err(refused)),
        };
        if let Some(other) = self
            .store()
            .get_portal(&info.key)
            .await?
            .and_then(|p| p.room_id)
        {
            return Ok(Err(Refused::new(
                RefusalKind::Conflict,
                format!("That chat is bridged to {other} already: `unbridge` or `delete-portal` it there first."),
            )));
        }
        let portal = match self.plumb_portal(&info, room.as_str()).await {
            Ok(portal) => portal,
            Err(err) => {
                return Ok(Err(Refused::new(
                    RefusalKind::Forbidden,
                    format!("{err:#}"),
                )))
            }
        };
        if let Some(login) = &info.login {
            self.store().add_portal_login(&info.key, login).await?;
        }
        if let Some(plumbing) = self.network().plumbing() {
            if let Err(err) = plumbing.bridged(&portal).await {
                // Nothing half done: the room goes back to how it was.
                self.unlink_portal(&portal.key).await?;
                return Err(err);
            }
        }
        Ok(Ok(portal))
    }

    /// Unbridges a plumbed room on `user`'s behalf; the room stays.
    pub async fn unbridge_room(
        &self,
        user: &str,
        room: &RoomId,
    ) -> Result<Result<PortalRow, Refused>> {
        let Some(portal) = self.store().portal_by_room(room.as_str()).await? else {
            return Ok(Err(Refused::new(
                RefusalKind::NotFound,
                format!("{room} is not bridged."),
            )));
        };
        if !portal.plumbed {
            return Ok(Err(Refused::new(
                RefusalKind::Conflict,
                "The bridge made this room for its chat: `delete-portal` removes it.",
            )));
        }
        if let Err(refused) = self.check_room_moderator(user, room).await? {
            return Ok(Err(refused));
        }
        if let Some(plumbing) = self.network().plumbing() {
            plumbing.unbridged(&portal).await?;
        }
        self.unlink_portal(&portal.key).await?;
        Ok(Ok(portal))
    }

    /// The bot is in the room and `user` has power level 50 there, or is a
    /// bridge admin.
    async fn check_room_moderator(&self, user: &str, room: &RoomId) -> Result<Result<(), Refused>> {
        if self
            .homeserver()
            .joined_members(self.bot(), room)
            .await
            .is_err()
        {
            return Ok(Err(Refused::new(
                RefusalKind::Forbidden,
                format!("I am not in {room}: invite {} to it first.", self.bot()),
            )));
        }
        if self.permission_of(user) >= Level::Admin
            || self
                .homeserver()
                .is_moderator(self.bot(), room, user)
                .await?
        {
            return Ok(Ok(()));
        }
        Ok(Err(Refused::new(
            RefusalKind::Forbidden,
            format!("You need power level 50 in {room}, or to be a bridge admin."),
        )))
    }

    /// The portal of the chat `user` asked for, if they can reach it.
    async fn plumb_target(&self, user: &str, chat_id: &str) -> Result<Result<PortalInfo, Refused>> {
        if let Some(plumbing) = self.network().plumbing() {
            return Ok(plumbing
                .plumb_target(user, chat_id)
                .await?
                .map_err(|why| Refused::new(RefusalKind::NotFound, why)));
        }
        let Some(contacts) = self.network().contacts() else {
            return Ok(Err(Refused::new(
                RefusalKind::NotFound,
                "This bridge cannot bridge chats into existing rooms.",
            )));
        };
        let logins = self.store().logins_of(self.secrets(), user).await?;
        if logins.is_empty() {
            return Ok(Err(Refused::new(
                RefusalKind::Forbidden,
                "You are not logged in: send `login` to the bot first.",
            )));
        }
        for login in &logins {
            if let Some(mut info) = contacts.chat_portal(login, chat_id).await? {
                info.login = Some(login.login_id.clone());
                return Ok(Ok(info));
            }
        }
        Ok(Err(Refused::new(
            RefusalKind::NotFound,
            format!("None of your logins is in a chat `{chat_id}`: `list groups` shows yours."),
        )))
    }
}
