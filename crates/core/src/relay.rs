//! Relay mode: a sender whose permission is `relay` gets no remote account
//! of their own. Their messages go out as the network's bot, each prefixed
//! with who wrote it, as `bridge.relay.message_formats` says (the mautrix
//! bridges' `relay.message_formats`, with `{displayname}` and `{message}`).

use crate::format::escape_html;
use crate::matrix_event::MatrixMessage;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Clone, Debug, Deserialize, Serialize)]
pub struct RelayConfig {
    /// One template per msgtype; `m.text`'s for any msgtype not listed.
    #[serde(default = "default_formats")]
    pub message_formats: BTreeMap<String, String>,
}

impl Default for RelayConfig {
    fn default() -> Self {
        Self {
            message_formats: default_formats(),
        }
    }
}

fn default_formats() -> BTreeMap<String, String> {
    [
        ("m.text", "{displayname}: {message}"),
        ("m.notice", "{displayname}: {message}"),
        ("m.emote", "* {displayname} {message}"),
        ("m.file", "{displayname} sent a file: {message}"),
        ("m.image", "{displayname} sent an image: {message}"),
        ("m.audio", "{displayname} sent an audio file: {message}"),
        ("m.video", "{displayname} sent a video: {message}"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect()
}

impl RelayConfig {
    /// Rewrites `message` as the bot will send it: body and HTML through the
    /// template, an emote as plain text (the bot is not the one acting), and
    /// `relayed` set so the network sends it as its bot.
    pub(crate) fn apply(&self, message: &mut MatrixMessage, displayname: &str) {
        let Some(template) = self
            .message_formats
            .get(&message.msgtype)
            .or_else(|| self.message_formats.get("m.text"))
        else {
            message.relayed = true;
            return;
        };
        let fill = |name: &str, text: &str| {
            // One pass, so a display name holding `{message}` stays a name.
            template
                .split("{message}")
                .map(|part| part.replace("{displayname}", name))
                .collect::<Vec<_>>()
                .join(text)
        };
        let html = message
            .html
            .clone()
            .unwrap_or_else(|| escape_html(&message.body).replace('\n', "<br>"));
        message.html = Some(fill(&escape_html(displayname), &html));
        message.body = fill(displayname, &message.body);
        if message.msgtype == "m.emote" {
            message.msgtype = "m.text".into();
        }
        message.relayed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::matrix_event::MatrixEventMeta;

    fn message(msgtype: &str, body: &str) -> MatrixMessage {
        MatrixMessage {
            meta: MatrixEventMeta::default(),
            msgtype: msgtype.into(),
            body: body.into(),
            html: None,
            url: None,
            reply_to: None,
            content: ruma::events::room::message::RoomMessageEventContent::text_plain(body),
            relayed: false,
        }
    }

    #[test]
    fn relayed_text_names_its_sender_in_body_and_escaped_html() {
        let mut m = message("m.text", "hi <all>");
        RelayConfig::default().apply(&mut m, "Bo<b>b");
        assert!(m.relayed);
        assert_eq!(m.body, "Bo<b>b: hi <all>");
        assert_eq!(m.html.as_deref(), Some("Bo&lt;b&gt;b: hi &lt;all&gt;"));
    }

    #[test]
    fn a_relayed_emote_becomes_text_that_says_who_acts() {
        let mut m = message("m.emote", "waves");
        RelayConfig::default().apply(&mut m, "Bob");
        assert_eq!(
            (m.msgtype.as_str(), m.body.as_str()),
            ("m.text", "* Bob waves")
        );
    }

    #[test]
    fn a_display_name_with_placeholders_is_not_expanded() {
        let mut m = message("m.text", "x");
        RelayConfig::default().apply(&mut m, "{message}{displayname}");
        assert_eq!(m.body, "{message}{displayname}: x");
    }

    #[test]
    fn unknown_msgtypes_use_the_text_template() {
        let mut m = message("m.location", "geo");
        let mut config = RelayConfig::default();
        config
            .message_formats
            .insert("m.text".into(), "[{displayname}] {message}".into());
        config.apply(&mut m, "Bob");
        assert_eq!(m.body, "[Bob] geo");
    }
}
