//! The bot-command framework: registration, parsing, permission checks,
//! generated help, and replies that say how to do it right.

use crate::bridge::Bridge;
use crate::permissions::Level;
use futures_core_shim::BoxFuture;
use std::sync::Arc;

pub use causeway_text::command_line::{parse_command, ParsedCommand};

/// Why a command did not run.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// The arguments were wrong: the reply shows this and the usage.
    #[error("{0}")]
    Usage(String),
    /// The command ran and failed.
    #[error(transparent)]
    Failed(#[from] anyhow::Error),
}

pub type CommandResult = Result<(), CommandError>;
type Handler = Arc<dyn Fn(CommandContext) -> BoxFuture<CommandResult> + Send + Sync>;

/// One bot command.
#[derive(Clone)]
pub struct Command {
    pub name: &'static str,
    pub aliases: &'static [&'static str],
    /// Help groups commands by section, like "Authentication".
    pub section: &'static str,
    /// Argument synopsis, such as `[network] #channel [key]`.
    pub usage: &'static str,
    pub description: &'static str,
    pub level: Level,
    /// Also taken in portal rooms (prefixed), where other text is bridged.
    pub in_portals: bool,
    handler: Handler,
}

impl Command {
    pub fn new<F, Fut>(
        name: &'static str,
        section: &'static str,
        usage: &'static str,
        description: &'static str,
        level: Level,
        handler: F,
    ) -> Self
    where
        F: Fn(CommandContext) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = CommandResult> + Send + 'static,
    {
        Self {
            name,
            aliases: &[],
            section,
            usage,
            description,
            level,
            in_portals: false,
            handler: Arc::new(move |ctx| Box::pin(handler(ctx))),
        }
    }

    pub fn with_aliases(mut self, aliases: &'static [&'static str]) -> Self {
        self.aliases = aliases;
        self
    }

    /// Makes the command work in portal rooms too, such as `unbridge`.
    pub fn in_portals(mut self) -> Self {
        self.in_portals = true;
        self
    }

    fn matches(&self, word: &str) -> bool {
        self.name.eq_ignore_ascii_case(word)
            || self.aliases.iter().any(|a| a.eq_ignore_ascii_case(word))
    }
}

/// What a command handler gets: who asked, where, and the arguments.
#[derive(Clone)]
pub struct CommandContext {
    pub bridge: Bridge,
    pub sender: String,
    pub room_id: String,
    pub event_id: String,
    pub level: Level,
    pub command: &'static str,
    pub usage: &'static str,
    pub args: Vec<String>,
}

impl CommandContext {
    /// Replies in the command's room, as a notice rendered from markdown.
    pub async fn reply(&self, markdown: &str) -> anyhow::Result<()> {
        self.bridge.bot_notice(&self.room_id, markdown).await
    }

    /// A usage error for this command.
    pub fn usage_error(&self, what: impl Into<String>) -> CommandError {
        CommandError::Usage(what.into())
    }

    /// How this command is typed, with the configured prefix.
    pub fn synopsis(&self) -> String {
        format!(
            "{}{} {}",
            self.bridge.command_prefix(),
            self.command,
            self.usage
        )
        .trim_end()
        .to_owned()
    }
}

/// The registered commands of one bridge.
#[derive(Clone, Default)]
pub struct CommandRegistry {
    commands: Vec<Command>,
}

impl CommandRegistry {
    pub fn new(commands: Vec<Command>) -> Self {
        Self { commands }
    }

    pub fn find(&self, word: &str) -> Option<&Command> {
        self.commands.iter().find(|c| c.matches(word))
    }

    /// The command a message in a portal room runs, if it is one: prefixed,
    /// and naming a command that works in portals. Anything else in a
    /// portal is conversation, and is bridged.
    pub fn parse_in_portal(&self, body: &str, prefix: &str) -> Option<ParsedCommand> {
        parse_command(body, prefix).filter(|p| self.find(&p.word).is_some_and(|c| c.in_portals))
    }

    /// Help listing only what a user at `level` may run, grouped by section.
    pub fn help(&self, prefix: &str, level: Level) -> String {
        let mut sections: Vec<&str> = Vec::new();
        for c in &self.commands {
            if level >= c.level && !sections.contains(&c.section) {
                sections.push(c.section);
            }
        }
        let mut out = String::new();
        for section in sections {
            out.push_str(&format!("**{section}**\n\n"));
            for c in self
                .commands
                .iter()
                .filter(|c| c.section == section && level >= c.level)
            {
                let synopsis = format!("{prefix}{} {}", c.name, c.usage);
                out.push_str(&format!("* `{}`: {}\n", synopsis.trim_end(), c.description));
            }
            out.push('\n');
        }
        out.trim_end().to_owned()
    }

    /// Runs a parsed command and replies with what went wrong, if anything.
    pub async fn dispatch(
        &self,
        bridge: &Bridge,
        sender: &str,
        room_id: &str,
        event_id: &str,
        parsed: ParsedCommand,
    ) -> anyhow::Result<()> {
        let prefix = bridge.command_prefix().to_owned();
        let level = bridge.permission_of(sender);
        let Some(command) = self.find(&parsed.word).filter(|c| level >= c.level) else {
            let known = self.find(&parsed.word).is_some();
            let reply = if known {
                format!("You do not have permission to use `{prefix}{}`. Send `{prefix}help` to see the commands you may use.", parsed.word)
            } else {
                format!("Unknown command `{prefix}{}`. Send `{prefix}help` to see the available commands.", parsed.word)
            };
            return bridge.bot_notice(room_id, &reply).await;
        };
        metrics::counter!("causeway_commands_total", "command" => command.name).increment(1);
        let ctx = CommandContext {
            bridge: bridge.clone(),
            sender: sender.to_owned(),
            room_id: room_id.to_owned(),
            event_id: event_id.to_owned(),
            level,
            command: command.name,
            usage: command.usage,
            args: parsed.args,
        };
        let synopsis = ctx.synopsis();
        match (command.handler)(ctx).await {
            Ok(()) => Ok(()),
            Err(CommandError::Usage(what)) => {
                bridge
                    .bot_notice(room_id, &format!("{what}\n\nUsage: `{synopsis}`"))
                    .await
            }
            Err(CommandError::Failed(err)) => {
                tracing::warn!(command = command.name, sender, "command failed: {err:#}");
                bridge
                    .bot_notice(
                        room_id,
                        &format!(
                            "`{prefix}{}` failed: {}",
                            command.name,
                            crate::format::escape_markdown(&format!("{err:#}"))
                        ),
                    )
                    .await
            }
        }
    }
}

/// A boxed future, without pulling in the futures crate for one alias.
mod futures_core_shim {
    pub type BoxFuture<T> =
        std::pin::Pin<Box<dyn std::future::Future<Output = T> + Send + 'static>>;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registry() -> CommandRegistry {
        let noop = |_ctx: CommandContext| async { Ok(()) };
        CommandRegistry::new(vec![
            Command::new(
                "join",
                "Actions",
                "[network] #channel [key]",
                "Join a channel",
                Level::User,
                noop,
            ),
            Command::new(
                "plumb",
                "Management",
                "!room network #channel",
                "Bridge a room",
                Level::Admin,
                noop,
            ),
            Command::new("help", "General", "", "Show this help", Level::Relay, noop)
                .with_aliases(&["h"]),
        ])
    }

    #[test]
    fn help_shows_only_what_the_user_may_run() {
        let r = registry();
        let user_help = r.help("!", Level::User);
        assert!(user_help.contains("`!join [network] #channel [key]`"));
        assert!(!user_help.contains("plumb"));
        let admin_help = r.help("!", Level::Admin);
        assert!(admin_help.contains("**Management**") && admin_help.contains("`!plumb"));
    }

    #[test]
    fn aliases_and_case_find_commands() {
        let r = registry();
        assert_eq!(r.find("H").map(|c| c.name), Some("help"));
        assert_eq!(r.find("JOIN").map(|c| c.name), Some("join"));
        assert!(r.find("nope").is_none());
    }
}
