//! The authentication commands: a stored password and username, and
//! reconnecting to use them.

use crate::commands::{command, network_and_rest, network_name};
use crate::credentials::is_valid_username;
use crate::network::IrcNetwork;
use causeway_core::commands::{Command, CommandContext, CommandResult};

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    vec![
        command(
            network,
            "storepass",
            "Authentication",
            "[network] passw0rd",
            "Store a NickServ password (or user:password), encrypted.",
            storepass,
        ),
        command(
            network,
            "removepass",
            "Authentication",
            "[network]",
            "Remove a stored password.",
            removepass,
        ),
        command(
            network,
            "username",
            "Authentication",
            "[network] username",
            "Store a username to use for future connections.",
            username,
        ),
        command(
            network,
            "reconnect",
            "Authentication",
            "[network]",
            "Reconnect to an IRC network, rejoining your channels.",
            reconnect,
        ),
    ]
}

async fn storepass(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    // The password may hold spaces: everything after the network is it.
    let (net, rest) = network_and_rest(&network, &ctx, usize::MAX, |_| true)?;
    let secret = rest.join(" ");
    if secret.is_empty() {
        return Err(ctx.usage_error("Say the password."));
    }
    crate::params::check_password(&secret).map_err(|e| ctx.usage_error(e))?;
    // This message holds a password: take it out of the room first.
    let bridge = network.bridge()?;
    let room = causeway_core::Bridge::parse_room(&ctx.room_id)?;
    let event = causeway_core::ruma_event_id(&ctx.event_id)?;
    let txn = format!("cwredact{}", ctx.event_id.trim_start_matches('$'));
    if let Err(err) = bridge
        .homeserver()
        .redact(
            bridge.bot(),
            &room,
            &event,
            &txn,
            Some("contains a password"),
        )
        .await
    {
        tracing::warn!(%err, "cannot redact a !storepass message");
        ctx.reply("I could not delete your message with the password: please delete it yourself.")
            .await?;
    }
    let mut credentials = network.credentials(&net, &ctx.sender).await?;
    match secret.split_once(':') {
        Some((user, password)) if is_valid_username(user) => {
            credentials.username = Some(user.to_owned());
            credentials.password = Some(password.to_owned());
        }
        _ => credentials.password = Some(secret),
    }
    network
        .save_credentials(&net, &ctx.sender, &credentials)
        .await?;
    ctx.reply(&format!(
        "Stored your password for {}, encrypted. Send `!reconnect` to use it now.",
        network_name(&network, &net)
    ))
    .await?;
    Ok(())
}

async fn removepass(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, _) = network_and_rest(&network, &ctx, 0, |_| false)?;
    let mut credentials = network.credentials(&net, &ctx.sender).await?;
    let had = credentials.password.take().is_some();
    network
        .save_credentials(&net, &ctx.sender, &credentials)
        .await?;
    let reply = if had {
        format!(
            "Removed your password for {}. Send `!reconnect` to connect without it.",
            network_name(&network, &net)
        )
    } else {
        format!(
            "You had no password stored for {}.",
            network_name(&network, &net)
        )
    };
    ctx.reply(&reply).await?;
    Ok(())
}

async fn username(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, rest) = network_and_rest(&network, &ctx, 1, |_| true)?;
    let Some(name) = rest.first() else {
        return Err(ctx.usage_error("Say the username."));
    };
    if !is_valid_username(name) {
        return Err(ctx.usage_error(format!(
            "`{name}` is not a valid username: use up to 10 letters, digits, _ or -."
        )));
    }
    let mut credentials = network.credentials(&net, &ctx.sender).await?;
    credentials.username = Some(name.clone());
    network
        .save_credentials(&net, &ctx.sender, &credentials)
        .await?;
    ctx.reply(&format!("Your username on {} will be `{name}` from your next connection. Send `!reconnect` to use it now.", network_name(&network, &net))).await?;
    Ok(())
}

async fn reconnect(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, _) = network_and_rest(&network, &ctx, 0, |_| false)?;
    let channels = network
        .drop_puppet(&net, &ctx.sender, "reconnecting")
        .await
        .unwrap_or_default();
    let conn = network.puppet(&net, &ctx.sender).await?;
    // One channel after another, so a reconnect is never a flood.
    let mut failed = Vec::new();
    for channel in &channels {
        if let Err(err) = network.join_channel(&conn, &net, channel).await {
            failed.push(format!("{channel} ({err:#})"));
        }
    }
    let mut reply = format!(
        "Reconnected to {} as `{}`.",
        network_name(&network, &net),
        conn.nick()
    );
    if let Some(account) = conn.account() {
        reply.push_str(&format!(" Logged in as `{account}` with SASL."));
    }
    if !failed.is_empty() {
        reply.push_str(&format!(" Could not rejoin: {}.", failed.join(", ")));
    }
    ctx.reply(&reply).await?;
    Ok(())
}
