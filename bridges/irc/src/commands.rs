//! The IRC bridge's bot commands, as the user guide describes them.

use crate::network::IrcNetwork;
use causeway_core::commands::{Command, CommandContext, CommandError, CommandResult};
use causeway_core::permissions::Level;

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    let join_net = network.clone();
    vec![Command::new(
        "join",
        "Actions",
        "[network] #channel [key]",
        "Join a channel (with an optional key) and get invited to its room.",
        Level::User,
        move |ctx| join(join_net.clone(), ctx),
    )]
}

/// Splits `[network] rest...`: the network may be left out when there is one.
fn network_and_rest(
    network: &IrcNetwork,
    ctx: &CommandContext,
) -> Result<(String, Vec<String>), CommandError> {
    let first = ctx
        .args
        .first()
        .ok_or_else(|| ctx.usage_error("Say which channel."))?;
    if first.starts_with(['#', '&']) {
        let only = network.default_network().ok_or_else(|| {
            let ids: Vec<&str> = network
                .inner
                .config
                .networks
                .keys()
                .map(String::as_str)
                .collect();
            ctx.usage_error(format!(
                "Several networks are bridged; say which: {}.",
                ids.join(", ")
            ))
        })?;
        return Ok((only.to_owned(), ctx.args.clone()));
    }
    network
        .network(first)
        .map_err(|e| ctx.usage_error(format!("{e:#}.")))?;
    Ok((first.clone(), ctx.args[1..].to_vec()))
}

async fn join(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, rest) = network_and_rest(&network, &ctx)?;
    let channel = rest
        .first()
        .ok_or_else(|| ctx.usage_error("Say which channel."))?;
    if !crate::network::is_channel(channel) {
        return Err(ctx.usage_error(format!(
            "`{channel}` is not a channel name: channels start with # or &."
        )));
    }
    let portal = network
        .channel_portal(
            &net,
            channel,
            rest.get(1).map(String::as_str),
            vec![ctx.sender.clone()],
        )
        .await?;
    let name = network.network(&net).map(|n| n.name.clone()).unwrap_or(net);
    ctx.reply(&format!(
        "Joined {channel} on {name}. I invited you to its room ({}).",
        portal.room_id.unwrap_or_default()
    ))
    .await?;
    Ok(())
}
