//! IRC nick mentions as Matrix pills, and the per-user `!feature` switches
//! (only `mentions` for now, as in the anchor bridge).
//!
//! When an IRC user writes a connected Matrix user's nick, the Matrix user
//! should be notified: the nick becomes a pill and the event lists them in
//! `m.mentions`. A user who finds that noisy turns it off with
//! `!feature mentions false`.

use crate::commands::command;
use crate::network::IrcNetwork;
use anyhow::Result;
use causeway_core::commands::{Command, CommandContext, CommandResult};
use causeway_core::format::{escape_html, mention_pill};
use serde_json::Value;

/// Features a user can switch, with what each does and its default.
const FEATURES: &[(&str, &str, bool)] = &[(
    "mentions",
    "your IRC nick in a message becomes a mention that notifies you",
    true,
)];

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    vec![command(
        network,
        "feature",
        "Info",
        "feature-name [true|false|default]",
        "Turn a feature on or off for your account, or back to the default. Without a value, show it.",
        feature,
    )]
}

async fn feature(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let names = || {
        FEATURES
            .iter()
            .map(|(name, what, _)| format!("`{name}`: {what}"))
            .collect::<Vec<_>>()
            .join("; ")
    };
    let Some(name) = ctx.args.first().map(|n| n.to_ascii_lowercase()) else {
        return Err(ctx.usage_error(format!("Name a feature. Features: {}.", names())));
    };
    let Some(&(name, _, default)) = FEATURES.iter().find(|(n, _, _)| *n == name) else {
        return Err(ctx.usage_error(format!(
            "There is no feature `{name}`. Features: {}.",
            names()
        )));
    };
    let value = match ctx.args.get(1).map(|v| v.to_ascii_lowercase()).as_deref() {
        None => {
            let current = network.feature(&ctx.sender, name).await?;
            let shown = match current {
                Some(on) => (if on { "on" } else { "off" }).to_owned(),
                None => format!("{} (the default)", if default { "on" } else { "off" }),
            };
            ctx.reply(&format!("`{name}` is {shown} for you.")).await?;
            return Ok(());
        }
        Some("true" | "on") => Some(true),
        Some("false" | "off") => Some(false),
        Some("default") => None,
        Some(other) => {
            return Err(ctx.usage_error(format!(
                "`{other}` is not a value: say true, false or default."
            )))
        }
    };
    network.set_feature(&ctx.sender, name, value).await?;
    let effective = value.unwrap_or(default);
    ctx.reply(&format!(
        "`{name}` is now {} for you{}.",
        if effective { "on" } else { "off" },
        if value.is_none() {
            " (the default)"
        } else {
            ""
        }
    ))
    .await?;
    Ok(())
}

impl IrcNetwork {
    /// A user's choice for a feature; `None` when they left it at the default.
    pub(crate) async fn feature(&self, mxid: &str, name: &str) -> Result<Option<bool>> {
        let user = self.bridge()?.store().get_user(mxid).await?;
        Ok(user.and_then(|u| {
            u.settings
                .pointer(&format!("/irc_features/{name}"))
                .and_then(Value::as_bool)
        }))
    }

    async fn set_feature(&self, mxid: &str, name: &str, value: Option<bool>) -> Result<()> {
        self.put_user_setting(mxid, "irc_features", name, value.map(Value::Bool))
            .await?;
        if name == "mentions" {
            match value {
                Some(false) => self.inner.mentions_off.insert(mxid.to_owned()),
                _ => self.inner.mentions_off.remove(mxid).is_some(),
            };
        }
        Ok(())
    }

    /// Remembers a user's mentions choice when they connect, so messages
    /// need no database read.
    pub(crate) async fn load_features(&self, mxid: &str) -> Result<()> {
        if self.feature(mxid, "mentions").await? == Some(false) {
            self.inner.mentions_off.insert(mxid.to_owned());
        }
        Ok(())
    }

    /// Connected Matrix users on `network` who want their nick as a pill.
    pub(crate) fn mentionable(&self, network: &str) -> Vec<(String, String)> {
        let Some(state) = self.state(network) else {
            return Vec::new();
        };
        state
            .puppets()
            .into_iter()
            .filter(|(mxid, _)| !self.inner.mentions_off.contains(mxid))
            .map(|(mxid, conn)| (conn.nick(), mxid))
            .collect()
    }
}

/// Turns `users`' nicks (nick, MXID) in the text into pills. Returns the
/// HTML, if there is any, and the MXIDs mentioned.
pub fn add_pills(
    plain: &str,
    html: Option<String>,
    users: &[(String, String)],
) -> (Option<String>, Vec<String>) {
    // Runs for every IRC line, with every connected user: look each nick up
    // among the line's words rather than search the line once per user.
    let words: std::collections::HashSet<String> = plain
        .split(|c| !is_nick_char(c))
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let named: Vec<&(String, String)> = users
        .iter()
        .filter(|(nick, _)| !nick.is_empty() && words.contains(&nick.to_ascii_lowercase()))
        .collect();
    if named.is_empty() {
        return (html, Vec::new());
    }
    let mut html = html.unwrap_or_else(|| escape_html(plain));
    let mut mentioned = Vec::new();
    for (nick, mxid) in named {
        let pill = mention_pill(mxid, nick);
        html = replace_outside_tags(&html, &escape_html(nick), &pill);
        mentioned.push(mxid.clone());
    }
    (Some(html), mentioned)
}

fn is_nick_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "[]\\`_^{|}-".contains(c)
}

/// Where `nick` appears in `text` as a whole word, ignoring ASCII case.
fn find_nick(text: &str, nick: &str) -> Option<usize> {
    let lower = text.to_ascii_lowercase();
    let wanted = nick.to_ascii_lowercase();
    let mut from = 0;
    while let Some(found) = lower[from..].find(&wanted) {
        let start = from + found;
        let end = start + wanted.len();
        let before = text[..start].chars().next_back();
        let after = text[end..].chars().next();
        if !before.is_some_and(is_nick_char) && !after.is_some_and(is_nick_char) {
            return Some(start);
        }
        from = end;
    }
    None
}

/// Replaces whole-word `nick` in the text between tags, never inside a tag
/// or an existing link.
fn replace_outside_tags(html: &str, nick: &str, pill: &str) -> String {
    let mut out = String::with_capacity(html.len() + pill.len());
    let mut rest = html;
    let mut in_link = false;
    while !rest.is_empty() {
        let text_end = rest.find('<').unwrap_or(rest.len());
        let mut text = &rest[..text_end];
        while let Some(at) = find_nick(text, nick).filter(|_| !in_link) {
            out.push_str(&text[..at]);
            out.push_str(pill);
            text = &text[at + nick.len()..];
        }
        out.push_str(text);
        rest = &rest[text_end..];
        if let Some(tag_end) = rest.find('>') {
            let tag = &rest[..=tag_end];
            if tag.starts_with("<a ") {
                in_link = true;
            } else if tag == "</a>" {
                in_link = false;
            }
            out.push_str(tag);
            rest = &rest[tag_end + 1..];
        } else {
            out.push_str(rest);
            break;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alice() -> Vec<(String, String)> {
        vec![("alice[m]".into(), "@alice:hs".into())]
    }

    #[test]
    fn a_nick_becomes_a_pill_and_a_mention() {
        let (html, mentioned) = add_pills("hi ALICE[m]: look <here>", None, &alice());
        assert_eq!(
            html.as_deref(),
            Some("hi <a href=\"https://matrix.to/#/@alice:hs\">alice[m]</a>: look &lt;here&gt;")
        );
        assert_eq!(mentioned, ["@alice:hs"]);
    }

    #[test]
    fn only_whole_nicks_outside_tags_count() {
        let users = vec![("b".to_owned(), "@b:hs".to_owned())];
        let (html, mentioned) = add_pills("bob b", Some("<b>bob</b> b".into()), &users);
        assert_eq!(
            html.as_deref(),
            Some("<b>bob</b> <a href=\"https://matrix.to/#/@b:hs\">b</a>")
        );
        assert_eq!(mentioned, ["@b:hs"]);
        assert_eq!(add_pills("alice[m]x", None, &alice()), (None, vec![]));
    }
}
