//! Portal commands of account networks. `set-relay` and `unset-relay`: a
//! room moderator lets their own login carry the messages of room members
//! who have no login in that chat, each under the sender's name
//! (`bridge.relay`). `delete-portal` and `delete-all-portals` clean rooms
//! up and forget them.

use crate::commands::{Command, CommandContext, CommandError, CommandResult};
use crate::permissions::Level;
use crate::store::PortalRow;
use ruma::OwnedRoomId;

pub(crate) fn commands() -> Vec<Command> {
    vec![
        Command::new(
            "set-relay",
            "Portals",
            "<room ID or alias>",
            "Send the messages of members without a login in that chat through your login, under their names.",
            Level::User,
            set_relay,
        ),
        Command::new(
            "unset-relay",
            "Portals",
            "<room ID or alias>",
            "Stop relaying in that chat.",
            Level::User,
            unset_relay,
        ),
        Command::new(
            "delete-portal",
            "Portals",
            "<room ID or alias>",
            "Remove everyone from that chat's room and forget it; the chat itself stays.",
            Level::User,
            delete_portal,
        ),
        Command::new(
            "delete-all-portals",
            "Portals",
            "",
            "Leave every room of your logins' chats; rooms nobody else bridges are deleted.",
            Level::User,
            delete_all_portals,
        ),
    ]
}

/// The portal named by the command's argument, once the caller is shown to
/// be a moderator there (or a bridge admin).
async fn portal_moderated_by_caller(
    ctx: &CommandContext,
) -> Result<(OwnedRoomId, PortalRow), CommandError> {
    let [target] = ctx.args.as_slice() else {
        return Err(ctx.usage_error("Say which room."));
    };
    let bridge = &ctx.bridge;
    let room = if target.starts_with('#') {
        bridge
            .homeserver()
            .resolve_alias(bridge.bot(), target)
            .await
            .map_err(|e| {
                ctx.usage_error(format!("`{target}` is not an alias I can resolve: {e}."))
            })?
    } else {
        OwnedRoomId::try_from(target.as_str()).map_err(|_| {
            ctx.usage_error(format!(
                "`{target}` is not a room: give its ID (`!…`) or an alias (`#…`)."
            ))
        })?
    };
    let Some(portal) = bridge.store().portal_by_room(room.as_str()).await? else {
        return Err(ctx.usage_error(format!("{room} is not a bridged chat.")));
    };
    let moderator = bridge
        .homeserver()
        .is_moderator(bridge.bot(), &room, &ctx.sender)
        .await
        .map_err(anyhow::Error::from)?;
    if ctx.level < Level::Admin && !moderator {
        return Err(ctx.usage_error(format!(
            "You need power level 50 in {room} to change its relay."
        )));
    }
    Ok((room, portal))
}

async fn set_relay(ctx: CommandContext) -> CommandResult {
    let (room, portal) = portal_moderated_by_caller(&ctx).await?;
    let store = ctx.bridge.store();
    let Some(login) = ctx.bridge.login_in_portal(&portal, &ctx.sender).await? else {
        return Err(ctx.usage_error(format!(
            "None of your logins is in the chat of {room}, so it cannot relay there."
        )));
    };
    store
        .set_relay_login(&portal.key, Some(&login.login_id))
        .await?;
    ctx.reply(&format!(
        "Messages in {room} from members without a login there now go through your login `{}`, under their names.",
        login.login_id
    ))
    .await?;
    Ok(())
}

async fn unset_relay(ctx: CommandContext) -> CommandResult {
    let (room, portal) = portal_moderated_by_caller(&ctx).await?;
    ctx.bridge
        .store()
        .set_relay_login(&portal.key, None)
        .await?;
    ctx.reply(&format!("{room} has no relay now.")).await?;
    Ok(())
}

async fn delete_portal(ctx: CommandContext) -> CommandResult {
    let (room, portal) = portal_moderated_by_caller(&ctx).await?;
    ctx.bridge.delete_portal_room(&portal).await?;
    ctx.reply(&format!("Deleted the portal {room}.")).await?;
    Ok(())
}

async fn delete_all_portals(ctx: CommandContext) -> CommandResult {
    let bridge = &ctx.bridge;
    let logins = bridge
        .store()
        .logins_of(bridge.secrets(), &ctx.sender)
        .await?;
    let (mut deleted, mut left) = (0, 0);
    for login in &logins {
        for key in bridge.store().portals_of_login(&login.login_id).await? {
            match bridge
                .leave_portal(&key, &login.login_id, &ctx.sender)
                .await?
            {
                crate::portal_cleanup::Left::Deleted => deleted += 1,
                crate::portal_cleanup::Left::Stays => left += 1,
            }
        }
    }
    ctx.reply(&format!(
        "Deleted {deleted} portal room(s); left {left} that others still bridge."
    ))
    .await?;
    Ok(())
}
