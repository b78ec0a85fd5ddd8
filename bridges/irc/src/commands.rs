//! The IRC bridge's bot commands, as the user guide describes them.

use crate::network::{channel_portal, IrcNetwork};
use crate::params::is_channel;
use causeway_core::commands::{Command, CommandContext, CommandError, CommandResult};
use causeway_core::format::escape_markdown;
use causeway_core::permissions::Level;
use irc::client::prelude::{Command as IrcCommand, Response};
use std::future::Future;

/// Registers a command whose handler gets the network too.
pub(crate) fn command<F, Fut>(
    network: &IrcNetwork,
    name: &'static str,
    section: &'static str,
    usage: &'static str,
    description: &'static str,
    handler: F,
) -> Command
where
    F: Fn(IrcNetwork, CommandContext) -> Fut + Send + Sync + Copy + 'static,
    Fut: Future<Output = CommandResult> + Send + 'static,
{
    let network = network.clone();
    Command::new(name, section, usage, description, Level::User, move |ctx| {
        handler(network.clone(), ctx)
    })
}

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    vec![
        command(
            network,
            "join",
            "Actions",
            "[network] #channel [key]",
            "Join a channel (with an optional key) and get invited to its room.",
            join,
        ),
        command(
            network,
            "nick",
            "Actions",
            "[network] [DesiredNick]",
            "Change your nick. With no nick, show your current one.",
            nick,
        ),
        command(
            network,
            "quit",
            "Actions",
            "",
            "Leave all bridged channels, on all networks, and remove your connections.",
            quit,
        ),
        command(
            network,
            "cmd",
            "Actions",
            "[network] COMMAND [arg0 [arg1 [...]]]",
            "Send a raw IRC command (upper case). It gets no reply.",
            raw_command,
        ),
        command(
            network,
            "listrooms",
            "Info",
            "[network]",
            "List your joined channels and the rooms they are bridged into.",
            listrooms,
        ),
        command(
            network,
            "whois",
            "Info",
            "[network] NickName|@alice:example.org",
            "Look up an IRC nick, or the IRC connection of a Matrix user.",
            whois,
        ),
    ]
}

/// The reply to a network name that names none.
pub(crate) fn unknown_network(
    network: &IrcNetwork,
    ctx: &CommandContext,
    name: &str,
) -> CommandError {
    ctx.usage_error(format!(
        "There is no IRC network `{name}`; the networks are: {}.",
        networks(network)
    ))
}

/// Splits `[network] rest...`. The network may be left out when there is
/// only one; with more arguments than the command `takes`, the first must
/// name a network.
pub(crate) fn network_and_rest(
    network: &IrcNetwork,
    ctx: &CommandContext,
    takes: usize,
    looks_like_arg: impl Fn(&str) -> bool,
) -> Result<(String, Vec<String>), CommandError> {
    match ctx.args.first() {
        Some(first) if network.inner.config.networks.contains_key(first.as_str()) => {
            Ok((first.clone(), ctx.args[1..].to_vec()))
        }
        Some(first) if ctx.args.len() > takes || !looks_like_arg(first) => {
            Err(unknown_network(network, ctx, first))
        }
        _ => {
            let only = network.default_network().ok_or_else(|| {
                ctx.usage_error(format!(
                    "Several networks are bridged; say which: {}.",
                    networks(network)
                ))
            })?;
            Ok((only.to_owned(), ctx.args.clone()))
        }
    }
}

pub(crate) fn networks(network: &IrcNetwork) -> String {
    network
        .inner
        .config
        .networks
        .keys()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(", ")
}

pub(crate) fn network_name(network: &IrcNetwork, id: &str) -> String {
    network
        .network(id)
        .map(|n| n.name.clone())
        .unwrap_or_else(|_| id.to_owned())
}

async fn join(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, rest) = network_and_rest(&network, &ctx, 2, |a| a.starts_with(['#', '&']))?;
    let channel = rest
        .first()
        .ok_or_else(|| ctx.usage_error("Say which channel."))?;
    if !is_channel(channel) {
        return Err(ctx.usage_error(format!(
            "`{}` is not a channel name: channels start with # or &, and have no spaces, commas, colons or control characters.",
            channel.escape_default()
        )));
    }
    if let Some(key) = rest.get(1) {
        crate::params::check_key(key).map_err(|e| ctx.usage_error(e))?;
    }
    // A channel bridged already (a mapping, a plumb) is open to everyone.
    let bridged = network
        .bridge()?
        .store()
        .get_portal(&channel_portal(&net, channel))
        .await?
        .is_some_and(|p| p.room_id.is_some());
    if !bridged {
        network
            .network(&net)?
            .dynamic_channels
            .permits(channel)
            .map_err(|e| ctx.usage_error(e))?;
    }
    let portal = network
        .channel_portal(
            &net,
            channel,
            rest.get(1).map(String::as_str),
            vec![ctx.sender.clone()],
        )
        .await?;
    ctx.reply(&format!(
        "Joined {channel} on {}. I invited you to its room ({}).",
        network_name(&network, &net),
        portal.room_id.unwrap_or_default()
    ))
    .await?;
    Ok(())
}

async fn nick(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    if ctx.args.is_empty() {
        let mut lines = Vec::new();
        for id in network.inner.config.networks.keys() {
            let current = match network.state(id).and_then(|s| s.puppet(&ctx.sender)) {
                Some(conn) => format!("`{}`", conn.nick()),
                None => match network.stored_nick(id, &ctx.sender).await? {
                    Some(chosen) => format!("`{chosen}` (not connected)"),
                    None => "not connected yet".to_owned(),
                },
            };
            lines.push(format!("* {}: {current}", network_name(&network, id)));
        }
        ctx.reply(&format!(
            "Your nicks:\n\n{}\n\nTo change one, send `{}`.",
            lines.join("\n"),
            ctx.synopsis()
        ))
        .await?;
        return Ok(());
    }
    let (net, rest) = network_and_rest(&network, &ctx, 1, |_| true)?;
    let Some(wanted) = rest.first() else {
        let current = network
            .state(&net)
            .and_then(|s| s.puppet(&ctx.sender))
            .map(|c| c.nick());
        ctx.reply(&format!(
            "Your nick on {}: {}",
            network_name(&network, &net),
            current.unwrap_or_else(|| "not connected yet".into())
        ))
        .await?;
        return Ok(());
    };
    if rest.len() > 1 || wanted.contains(['\r', '\n', '\0', ' ']) {
        return Err(ctx.usage_error("A nick is one word."));
    }
    let connected = network.state(&net).and_then(|s| s.live_puppet(&ctx.sender));
    let Some(puppet) = connected else {
        // Not connected (perhaps because the old nick is taken): connect
        // with the new one.
        if !crate::nick::is_valid(wanted) {
            return Err(ctx.usage_error(format!("`{wanted}` is not a valid IRC nick.")));
        }
        network.store_nick(&net, &ctx.sender, wanted).await?;
        let puppet = network.puppet(&net, &ctx.sender).await?;
        ctx.reply(&format!(
            "Connected to {} as `{}`.",
            network_name(&network, &net),
            puppet.nick()
        ))
        .await?;
        return Ok(());
    };
    let old = puppet.nick();
    puppet.change_nick(wanted).await?;
    network.puppet_renamed(&net, &old, &puppet.nick());
    network
        .store_nick(&net, &ctx.sender, &puppet.nick())
        .await?;
    ctx.reply(&format!(
        "Your nick on {} is now `{}`.",
        network_name(&network, &net),
        puppet.nick()
    ))
    .await?;
    Ok(())
}

async fn quit(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let bridge = network.bridge()?;
    let user = causeway_core::ruma_user_id(&ctx.sender)?;
    let mut left = Vec::new();
    for id in network.inner.config.networks.keys() {
        let Some(channels) = network
            .drop_puppet(id, &ctx.sender, "left the bridge")
            .await
        else {
            continue;
        };
        for channel in channels {
            if let Some(room) = bridge
                .store()
                .get_portal(&channel_portal(id, &channel))
                .await?
                .and_then(|p| p.room_id)
            {
                let room = causeway_core::Bridge::parse_room(&room)?;
                if let Err(err) = bridge
                    .homeserver()
                    .kick(bridge.bot(), &room, &user, Some("You quit IRC with !quit"))
                    .await
                {
                    tracing::warn!(%err, "cannot remove the user from a channel room");
                }
            }
            left.push(format!("{channel} ({})", network_name(&network, id)));
        }
    }
    let reply = if left.is_empty() {
        "You were not connected to any IRC network.".to_owned()
    } else {
        format!("Disconnected. You left: {}.", left.join(", "))
    };
    ctx.reply(&reply).await?;
    Ok(())
}

/// Raw commands that would break the bridge's own handling of the
/// connection, or that have their own bridge command.
const DENIED_COMMANDS: &[&str] = &[
    "PASS",
    "USER",
    "NICK",
    "QUIT",
    "CAP",
    "AUTHENTICATE",
    "SERVICE",
    "SERVER",
    "SQUIT",
    "PONG",
    "PING",
    "WEBIRC",
];

async fn raw_command(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    // Any number of arguments: only a known network name is taken as one.
    let (net, rest) = network_and_rest(&network, &ctx, usize::MAX, |_| true)?;
    let Some(verb) = rest.first() else {
        return Err(ctx.usage_error("Say which command."));
    };
    if verb.is_empty() || !verb.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(ctx.usage_error(format!(
            "`{verb}` is not an IRC command: commands are upper-case letters, like `AWAY`."
        )));
    }
    if DENIED_COMMANDS.contains(&verb.as_str()) {
        return Err(ctx.usage_error(format!(
            "`{verb}` cannot be sent raw; use the bridge's own commands (`!nick`, `!quit`, …)."
        )));
    }
    let args = &rest[1..];
    if args.iter().any(|a| a.contains(['\r', '\n', '\0'])) {
        return Err(ctx.usage_error("Arguments cannot contain line breaks."));
    }
    let line = std::iter::once(verb.as_str())
        .chain(args.iter().map(String::as_str))
        .collect::<Vec<_>>()
        .join(" ");
    let message: irc::proto::Message = line
        .parse()
        .map_err(|e| ctx.usage_error(format!("That is not a valid IRC line: {e}.")))?;
    network
        .puppet(&net, &ctx.sender)
        .await?
        .send(message)
        .await?;
    Ok(())
}

async fn listrooms(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let bridge = network.bridge()?;
    let wanted: Vec<String> = match ctx.args.first() {
        Some(id) => {
            network
                .network(id)
                .map_err(|e| ctx.usage_error(format!("{e:#}.")))?;
            vec![id.clone()]
        }
        None => network.inner.config.networks.keys().cloned().collect(),
    };
    let mut lines = Vec::new();
    for id in wanted {
        let Some(conn) = network.state(&id).and_then(|s| s.puppet(&ctx.sender)) else {
            lines.push(format!(
                "* {}: you are not connected",
                network_name(&network, &id)
            ));
            continue;
        };
        for channel in conn.channels() {
            let room = bridge
                .store()
                .get_portal(&channel_portal(&id, &channel))
                .await?
                .and_then(|p| p.room_id);
            let link = room
                .map(|r| format!("https://matrix.to/#/{r}"))
                .unwrap_or_else(|| "not bridged".into());
            lines.push(format!(
                "* {channel} on {}: {link}",
                network_name(&network, &id)
            ));
        }
    }
    let reply = if lines.is_empty() {
        "You are in no channels.".to_owned()
    } else {
        format!("Your channels:\n\n{}", lines.join("\n"))
    };
    ctx.reply(&reply).await?;
    Ok(())
}

async fn whois(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, rest) = network_and_rest(&network, &ctx, 1, |_| true)?;
    let who = rest
        .first()
        .ok_or_else(|| ctx.usage_error("Say whom to look up."))?;
    if who.starts_with('@') {
        let reply = match network.state(&net).and_then(|s| s.puppet(who)) {
            Some(conn) => format!(
                "{who} is connected to {} as `{}`.",
                network_name(&network, &net),
                conn.nick()
            ),
            None => format!(
                "{who} is not connected to {}.",
                network_name(&network, &net)
            ),
        };
        ctx.reply(&reply).await?;
        return Ok(());
    }
    crate::params::check_target(who).map_err(|e| ctx.usage_error(e))?;
    let bot = network.bot(&net)?;
    let replies = bot
        .request(IrcCommand::WHOIS(None, who.clone()).into(), |m| {
            matches!(
                &m.command,
                IrcCommand::Response(Response::RPL_ENDOFWHOIS | Response::ERR_NOSUCHNICK, _)
            )
        })
        .await?;
    // Everything below comes from the IRC server: text, never markup.
    let mut lines = Vec::new();
    for reply in &replies {
        let IrcCommand::Response(code, args) = &reply.command else {
            continue;
        };
        let arg = |n: usize| escape_markdown(args.get(n).map(String::as_str).unwrap_or_default());
        let last = escape_markdown(args.last().map(String::as_str).unwrap_or_default());
        match code {
            Response::RPL_WHOISUSER => {
                lines.push(format!("{} is {}@{} ({last})", arg(1), arg(2), arg(3)))
            }
            Response::RPL_WHOISCHANNELS => lines.push(format!("on channels: {last}")),
            Response::RPL_WHOISSERVER => lines.push(format!("using server {}", arg(2))),
            Response::RPL_AWAY => lines.push(format!("away: {last}")),
            Response::RPL_WHOISIDLE => lines.push(format!("idle for {} s", arg(2))),
            Response::ERR_NOSUCHNICK => lines.push(format!(
                "There is no `{who}` on {}.",
                network_name(&network, &net)
            )),
            _ => {}
        }
    }
    ctx.reply(&lines.join("\n")).await?;
    Ok(())
}
