//! The commands every bridge gets from the core.

use crate::commands::{Command, CommandContext, CommandError, CommandResult};
use crate::network::Network;
use crate::permissions::Level;

/// The bot's commands: the core's that fit the network, less those it
/// hides, and the network's own.
pub(crate) fn all_commands(network: &dyn Network) -> Vec<Command> {
    let hidden = network.hidden_commands();
    let mut commands = core_commands(network);
    commands.retain(|c| !hidden.contains(&c.name));
    commands.extend(network.commands());
    commands
}

fn core_commands(network: &dyn Network) -> Vec<Command> {
    let mut commands = vec![
        Command::new(
            "help",
            "General",
            "",
            "Show the commands you may use.",
            Level::Relay,
            help,
        ),
        // Named as the user guide names it; `version` is what mautrix
        // bridges call it, so that works too.
        Command::new(
            "bridgeversion",
            "General",
            "",
            "Show the bridge's name and version.",
            Level::Relay,
            version,
        )
        .with_aliases(&["version"]),
    ];
    if !network.login_flows().is_empty() {
        commands.extend([
            Command::new(
                "login",
                "Authentication",
                "[flow] [answer]",
                "Log in to the remote network; the answer, if given, is the flow's first (like `login phone +4412345678`).",
                Level::User,
                login,
            ),
            Command::new(
                "cancel",
                "Authentication",
                "",
                "Cancel the login in progress.",
                Level::User,
                cancel,
            ),
            Command::new(
                "list-logins",
                "Authentication",
                "",
                "List your remote accounts.",
                Level::User,
                list_logins,
            ),
            Command::new(
                "logout",
                "Authentication",
                "[login ID]",
                "Log out of a remote account.",
                Level::User,
                logout,
            ),
            Command::new(
                "delete-session",
                "Authentication",
                "[login ID]",
                "Forget a login here without logging it out on the remote network.",
                Level::User,
                delete_session,
            ),
            Command::new(
                "ping",
                "Authentication",
                "",
                "Show whether each of your logins is connected, and since when.",
                Level::User,
                ping,
            ),
        ]);
    }
    if crate::plumbing::supported(network) {
        commands.extend(crate::plumbing::commands());
    }
    if network.account_shaped() {
        commands.extend(crate::portal_commands::commands());
        if network.contacts().is_some() {
            commands.extend(crate::contact_commands::commands());
        }
    }
    commands
}

async fn help(ctx: CommandContext) -> CommandResult {
    let text = ctx
        .bridge
        .commands()
        .help(ctx.bridge.command_prefix(), ctx.level);
    ctx.reply(&text).await?;
    Ok(())
}

async fn version(ctx: CommandContext) -> CommandResult {
    let info = ctx.bridge.network().info();
    ctx.reply(&format!(
        "Causeway {} bridge {} (core {})",
        info.name,
        info.version,
        env!("CARGO_PKG_VERSION")
    ))
    .await?;
    Ok(())
}

async fn login(ctx: CommandContext) -> CommandResult {
    let flows = ctx.bridge.network().login_flows();
    let flow = match ctx.args.first() {
        Some(wanted) => flows
            .iter()
            .find(|f| f.id.eq_ignore_ascii_case(wanted))
            .ok_or_else(|| {
                let ids: Vec<_> = flows.iter().map(|f| format!("`{}`", f.id)).collect();
                CommandError::Usage(format!(
                    "There is no login flow `{wanted}`. Choose one of: {}.",
                    ids.join(", ")
                ))
            })?,
        None => flows
            .first()
            .ok_or_else(|| CommandError::Usage("This bridge has no login flows.".into()))?,
    };
    // `login phone +4412345678`: the rest answers the flow's first question.
    let answer = (ctx.args.len() > 1).then(|| ctx.args[1..].join(" "));
    crate::login_runner::start(&ctx.bridge, &ctx.sender, &ctx.room_id, flow.id, answer).await?;
    Ok(())
}

async fn cancel(ctx: CommandContext) -> CommandResult {
    crate::login_runner::cancel(&ctx.bridge, &ctx.sender, &ctx.room_id).await?;
    Ok(())
}

/// The user's logins; with none, they are told how to add one.
async fn logins_or_hint(
    ctx: &CommandContext,
) -> anyhow::Result<Option<Vec<crate::store::LoginRow>>> {
    let logins = ctx
        .bridge
        .store()
        .logins_of(ctx.bridge.secrets(), &ctx.sender)
        .await?;
    if logins.is_empty() {
        ctx.reply("You have no logins. Send `login` to add one.")
            .await?;
        return Ok(None);
    }
    Ok(Some(logins))
}

async fn list_logins(ctx: CommandContext) -> CommandResult {
    let Some(logins) = logins_or_hint(&ctx).await? else {
        return Ok(());
    };
    let lines: Vec<String> = logins
        .iter()
        .map(|l| format!("* `{}`: {}", l.login_id, l.remote_name))
        .collect();
    ctx.reply(&format!("Your logins:\n\n{}", lines.join("\n")))
        .await?;
    Ok(())
}

/// The login a command names, or the user's only one.
async fn named_login(ctx: &CommandContext) -> Result<crate::store::LoginRow, CommandError> {
    let logins = ctx
        .bridge
        .store()
        .logins_of(ctx.bridge.secrets(), &ctx.sender)
        .await?;
    match (ctx.args.first(), logins.as_slice()) {
        (Some(id), _) => logins
            .iter()
            .find(|l| l.login_id.as_str() == id)
            .cloned()
            .ok_or_else(|| ctx.usage_error(format!("You have no login `{id}`."))),
        (None, [only]) => Ok(only.clone()),
        (None, []) => Err(ctx.usage_error("You have no logins.")),
        (None, _) => {
            Err(ctx.usage_error("You have several logins: say which one (see `list-logins`)."))
        }
    }
}

async fn logout(ctx: CommandContext) -> CommandResult {
    let target = named_login(&ctx).await?;
    ctx.bridge.remove_login(&target, true).await?;
    ctx.reply(&format!("Logged out of `{}`.", target.login_id))
        .await?;
    Ok(())
}

/// Forgets a login here only: the remote side still has the session (a
/// linked device stays listed on the phone), for when logging out there
/// fails or is not wanted.
async fn delete_session(ctx: CommandContext) -> CommandResult {
    let target = named_login(&ctx).await?;
    ctx.bridge.remove_login(&target, false).await?;
    ctx.reply(&format!(
        "Forgot `{}` here; it was not logged out on {}.",
        target.login_id,
        ctx.bridge.network().info().name
    ))
    .await?;
    Ok(())
}

async fn ping(ctx: CommandContext) -> CommandResult {
    let Some(logins) = logins_or_hint(&ctx).await? else {
        return Ok(());
    };
    let lines: Vec<String> = logins
        .iter()
        .map(|login| {
            let state = match ctx.bridge.login_status(&login.login_id) {
                Some(status) => {
                    let mut line = format!(
                        "{} for {}",
                        status.state.as_str(),
                        crate::format::human_duration(status.since.elapsed().as_secs())
                    );
                    if let Some(message) = &status.message {
                        line.push_str(&format!(": {}", crate::format::escape_markdown(message)));
                    }
                    line
                }
                None => "not connected since the bridge started".to_owned(),
            };
            format!(
                "* `{}` ({}): {state}",
                login.login_id,
                crate::format::escape_markdown(&login.remote_name)
            )
        })
        .collect();
    ctx.reply(&format!("Your logins:\n\n{}", lines.join("\n")))
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::network::NetworkInfo;

    /// An account network with contacts that hides `set-relay`.
    struct NoRelay;

    #[async_trait::async_trait]
    impl Network for NoRelay {
        fn info(&self) -> NetworkInfo {
            NetworkInfo {
                name: "No relay",
                id: "norelay",
                version: "0",
                default_username_template: "norelay_{id}",
                default_alias_template: "norelay_{id}",
                default_command_prefix: "",
                default_bot_username: "norelaybot",
                default_displayname_template: "{name}",
                default_port: 0,
                example_config: "",
                icon: &[],
                single_threaded: false,
            }
        }
        async fn start(&self, _bridge: crate::Bridge) -> anyhow::Result<()> {
            Ok(())
        }
        fn account_shaped(&self) -> bool {
            true
        }
        fn hidden_commands(&self) -> &'static [&'static str] {
            &["set-relay", "unset-relay"]
        }
        fn commands(&self) -> Vec<Command> {
            vec![Command::new(
                "own",
                "Chats",
                "",
                "A command of its own.",
                Level::User,
                |_| async { Ok(()) },
            )]
        }
        async fn handle_matrix_message(
            &self,
            _portal: &crate::store::PortalRow,
            _message: &crate::matrix_event::MatrixMessage,
        ) -> anyhow::Result<Option<crate::ids::RemoteMessageId>> {
            Ok(None)
        }
    }

    #[test]
    fn a_network_hides_core_commands_it_does_not_support_and_adds_its_own() {
        let names: Vec<&str> = all_commands(&NoRelay).iter().map(|c| c.name).collect();
        assert!(!names.contains(&"set-relay") && !names.contains(&"unset-relay"));
        assert!(names.contains(&"delete-portal") && names.contains(&"own"));
        // Without contacts, nothing that needs them is offered.
        assert!(!names.contains(&"pm") && !names.contains(&"bridge"));
    }
}
