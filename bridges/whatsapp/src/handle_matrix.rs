//! What Matrix users send, to WhatsApp, through their login in the chat.
//! Each message's WhatsApp ID is derived from its Matrix event ID, so a
//! send repeated after a crash is the same message to WhatsApp, not a
//! second one.

use crate::chat_info::{jid_of, message_id, own_jid, split_message_id};
use crate::msgconv::{media_to_whatsapp, text_to_whatsapp};
use crate::network::WhatsAppNetwork;
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::{MatrixMessage, MatrixReceipt, MatrixTyping};
use causeway_core::network::{ReceiptHandling, TypingHandling};
use causeway_core::store::{LoginRow, PortalRow};
use sha2::{Digest, Sha256};
use whatsapp_rust::send::SendOptions;
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::waproto::whatsapp as wa;

/// The WhatsApp ID of a Matrix event's message: shaped like the IDs
/// WhatsApp Web gives (`3EB0` and hex), and the same every time. (A Matrix
/// event holds at most 64 KiB, so its text always fits WhatsApp's 65,536
/// characters: one event is one message.)
pub(crate) fn outgoing_id(event_id: &str) -> String {
    let digest = Sha256::digest(event_id);
    format!("3EB0{}", hex::encode_upper(&digest[..9]))
}

pub async fn message(
    network: &WhatsAppNetwork,
    portal: &PortalRow,
    message: &MatrixMessage,
) -> Result<Option<RemoteMessageId>> {
    if message.relayed {
        bail!("WhatsApp has no relay account: log in with `login` to send here");
    }
    let sender = message
        .meta
        .login
        .as_ref()
        .context("no WhatsApp login carries this message")?;
    let login = network
        .bridge()?
        .store()
        .get_login(network.bridge()?.secrets(), &sender.login_id)
        .await?
        .context("the login is gone")?;
    let chat = jid_of(portal)?;
    let client = network.client(&login.login_id)?;
    if message.url.is_some() {
        let Some(file) = media_to_whatsapp::file_of(message) else {
            bail!("WhatsApp has no kind of message for this file");
        };
        let mut outgoing = media_to_whatsapp::message(
            network.bridge()?,
            &client.client,
            &file,
            media_to_whatsapp::caption(message),
            network.config().max_file_bytes,
        )
        .await?;
        if let Some(context) = reply_context(message) {
            use whatsapp_rust::wacore::proto_helpers::MessageExt;
            outgoing.set_context_info(context);
        }
        let options = SendOptions::default().with_message_id(outgoing_id(&message.meta.event_id));
        let sent = client
            .client
            .send_message_with_options(chat.clone(), outgoing, options)
            .await
            .map_err(|e| anyhow::anyhow!("WhatsApp did not take the file: {e}"))?;
        return Ok(Some(message_id(&chat, &own_jid(&login), &sent.message_id)));
    }
    let text = text_of(network, &login, message)?;
    let outgoing = whatsapp_message(text.text, reply_context(message), &text.mentions);
    let options = SendOptions::default().with_message_id(outgoing_id(&message.meta.event_id));
    let sent = client
        .client
        .send_message_with_options(chat.clone(), outgoing, options)
        .await
        .map_err(|e| anyhow::anyhow!("WhatsApp did not take the message: {e}"))?;
    Ok(Some(message_id(&chat, &own_jid(&login), &sent.message_id)))
}

/// The message's text in WhatsApp's formatting, and the JIDs it mentions.
struct Text {
    text: String,
    mentions: Vec<String>,
}

fn text_of(network: &WhatsAppNetwork, login: &LoginRow, message: &MatrixMessage) -> Result<Text> {
    let bridge = network.bridge()?;
    let own = own_jid(login);
    let number_of = |mxid: &str| -> Option<String> {
        if mxid == login.mxid {
            return Some(own.user.to_string());
        }
        bridge.ghost_remote_id(mxid).map(|id| id.0)
    };
    let mention = |mxid: &str, label: &str| match number_of(mxid) {
        Some(number) => format!("@{number}"),
        None => label.to_owned(),
    };
    let converted = text_to_whatsapp::convert(&message.body, message.html.as_deref(), &mention);
    let mut text = converted.text;
    if message.msgtype == "m.emote" {
        text = format!("_* {text}_");
    }
    let mentions = converted
        .mentions
        .iter()
        .filter_map(|mxid| number_of(mxid))
        .map(|number| format!("{number}@s.whatsapp.net"))
        .collect();
    Ok(Text { text, mentions })
}

/// What a reply quotes: the original's ID and author.
fn reply_context(message: &MatrixMessage) -> Option<wa::ContextInfo> {
    let row = message.reply_to.as_ref()?;
    let (_, author, id) = split_message_id(&row.remote_id)?;
    Some(wa::ContextInfo {
        stanza_id: Some(id.to_owned()),
        participant: Some(author.to_non_ad_string()),
        quoted_message: whatsapp_rust::waproto::buffa::MessageField::some(wa::Message {
            conversation: Some(String::new()),
            ..Default::default()
        }),
        ..Default::default()
    })
}

fn whatsapp_message(
    text: String,
    context: Option<wa::ContextInfo>,
    mentions: &[String],
) -> wa::Message {
    if context.is_none() && mentions.is_empty() {
        return wa::Message {
            conversation: Some(text),
            ..Default::default()
        };
    }
    let mut context = context.unwrap_or_default();
    context.mentioned_jid = mentions.to_vec();
    wa::Message {
        extended_text_message: whatsapp_rust::waproto::buffa::MessageField::some(
            wa::message::ExtendedTextMessage {
                text: Some(text),
                context_info: whatsapp_rust::waproto::buffa::MessageField::some(context),
                ..Default::default()
            },
        ),
        ..Default::default()
    }
}

#[async_trait]
impl TypingHandling for WhatsAppNetwork {
    async fn handle_matrix_typing(&self, portal: &PortalRow, typing: &MatrixTyping) -> Result<()> {
        let bridge = self.bridge()?;
        let chat = jid_of(portal)?;
        for user in &typing.typing {
            if let Some(login) = bridge.login_in_portal(portal, user).await? {
                let client = self.client(&login.login_id)?;
                client
                    .client
                    .chatstate()
                    .send_composing(&chat)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ReceiptHandling for WhatsAppNetwork {
    async fn handle_matrix_receipt(
        &self,
        portal: &PortalRow,
        receipt: &MatrixReceipt,
    ) -> Result<()> {
        let bridge = self.bridge()?;
        let Some(login) = bridge.login_in_portal(portal, &receipt.user).await? else {
            return Ok(());
        };
        let Some((chat, author, id)) = split_message_id(&receipt.target.remote_id) else {
            return Ok(());
        };
        // Only others' messages are read; one's own are read already.
        if author.user == own_jid(&login).user {
            return Ok(());
        }
        let client = self.client(&login.login_id)?;
        let sender = chat.is_group().then_some(&author);
        client.client.mark_as_read(&chat, sender, &[id]).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_outgoing_id_is_the_same_for_the_same_event_only() {
        let a = outgoing_id("$event:example.org");
        assert_eq!(a, outgoing_id("$event:example.org"));
        assert_ne!(a, outgoing_id("$other:example.org"));
        assert!(a.starts_with("3EB0") && a.len() == 22);
    }

    #[test]
    fn a_mention_makes_an_extended_text_with_its_jid() {
        let got = whatsapp_message("hi @1555".into(), None, &["1555@s.whatsapp.net".into()]);
        let extended = got.extended_text_message.as_option().unwrap();
        assert_eq!(
            extended.context_info.as_option().unwrap().mentioned_jid,
            ["1555@s.whatsapp.net"]
        );
    }
}
