//! `!plumb` and `!unlink`: bridging a channel into an existing room.

use crate::commands::{network_name, unknown_network};
use crate::network::{channel_portal, IrcNetwork};
use crate::params::is_channel;
use causeway_core::commands::{Command, CommandContext, CommandError, CommandResult};
use causeway_core::network::PortalInfo;
use causeway_core::permissions::Level;
use causeway_core::Bridge;

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    let (plumb_net, unlink_net) = (network.clone(), network.clone());
    vec![
        Command::new(
            "plumb",
            "Management",
            "!room network #channel",
            "Bridge a channel into an existing room. Invite the bot to the room first.",
            Level::Admin,
            move |ctx| plumb(plumb_net.clone(), ctx),
        ),
        Command::new(
            "unlink",
            "Management",
            "!room network #channel",
            "Unlink a channel from a room. Needs moderator power in the room, or bridge admin.",
            Level::User,
            move |ctx| unlink(unlink_net.clone(), ctx),
        ),
    ]
}

/// `!room network #channel`, checked.
fn arguments(
    network: &IrcNetwork,
    ctx: &CommandContext,
) -> Result<(String, String, String), CommandError> {
    let [room, net, channel] = ctx.args.as_slice() else {
        return Err(ctx.usage_error("Say the room ID, the network and the channel."));
    };
    if Bridge::parse_room(room).is_err() {
        return Err(ctx.usage_error(format!(
            "`{room}` is not a room ID: room IDs start with `!`."
        )));
    }
    if network.network(net).is_err() {
        return Err(unknown_network(network, ctx, net));
    }
    if !is_channel(channel) {
        return Err(ctx.usage_error(format!(
            "`{channel}` is not a channel name: channels start with # or &."
        )));
    }
    Ok((room.clone(), net.clone(), channel.clone()))
}

async fn plumb(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (room, net, channel) = arguments(&network, &ctx)?;
    let bridge = network.bridge()?;
    let room_id = Bridge::parse_room(&room)?;
    if bridge
        .homeserver()
        .joined_members(bridge.bot(), &room_id)
        .await
        .is_err()
    {
        return Err(ctx.usage_error(format!(
            "I am not in {room}: invite {} to it first.",
            bridge.bot()
        )));
    }
    let key = channel_portal(&net, &channel);
    if let Some(existing) = bridge
        .store()
        .get_portal(&key)
        .await?
        .and_then(|p| p.room_id)
    {
        return Err(ctx.usage_error(format!(
            "{channel} is already bridged to {existing}; `!unlink` it there first."
        )));
    }
    if bridge.store().portal_by_room(&room).await?.is_some() {
        return Err(ctx.usage_error(format!("{room} is already bridged to something else.")));
    }
    let bot = network.bot(&net)?;
    let info = PortalInfo {
        key: key.clone(),
        name: Some(channel.clone()),
        metadata: serde_json::json!({ "network": net }),
        ..Default::default()
    };
    // The room first, so that nothing said in the channel once the bot is
    // there is dropped; undone if the channel will not have the bot.
    bridge.plumb_portal(&info, &room).await?;
    if let Err(err) = network.join_channel(&bot, &net, &channel).await {
        bridge.unlink_portal(&key).await?;
        return Err(err.into());
    }
    network.sync_members_when_bridged(&net, &channel);
    network.join_room_members(&net, &channel, &room);
    ctx.reply(&format!(
        "Bridged {room} to {channel} on {}.",
        network_name(&network, &net)
    ))
    .await?;
    Ok(())
}

async fn unlink(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (room, net, channel) = arguments(&network, &ctx)?;
    let bridge = network.bridge()?;
    let key = channel_portal(&net, &channel);
    let portal = bridge.store().get_portal(&key).await?;
    if portal.as_ref().and_then(|p| p.room_id.as_deref()) != Some(room.as_str()) {
        return Err(ctx.usage_error(format!(
            "{room} is not bridged to {channel} on {}.",
            network_name(&network, &net)
        )));
    }
    let room_id = Bridge::parse_room(&room)?;
    if ctx.level < Level::Admin
        && !bridge
            .homeserver()
            .is_moderator(bridge.bot(), &room_id, &ctx.sender)
            .await
            .map_err(anyhow::Error::from)?
    {
        return Err(ctx.usage_error(format!(
            "You need power level 50 in {room}, or to be a bridge admin, to unlink it."
        )));
    }
    bridge.unlink_portal(&key).await?;
    if let Ok(bot) = network.bot(&net) {
        bot.send(
            irc::client::prelude::Command::PART(
                channel.clone(),
                Some("unlinked from Matrix".into()),
            )
            .into(),
        )
        .await?;
    }
    ctx.reply(&format!(
        "Unlinked {room} from {channel} on {}.",
        network_name(&network, &net)
    ))
    .await?;
    Ok(())
}
