//! What Matrix users send, to Telegram, through their login in the chat.

use crate::msgconv::{media_to_telegram, text_to_telegram};
use crate::network::TelegramNetwork;
use crate::send::{Outgoing, Sent};
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::{
    MatrixEdit, MatrixMessage, MatrixReceipt, MatrixRedaction, MatrixTyping, RedactionTarget,
};
use causeway_core::network::{EditHandling, ReceiptHandling, RedactionHandling, TypingHandling};
use causeway_core::store::PortalRow;
use grammers_client::message::InputMessage;
use grammers_client::tl;

pub async fn message(
    network: &TelegramNetwork,
    portal: &PortalRow,
    message: &MatrixMessage,
) -> Result<Option<RemoteMessageId>> {
    let login = message
        .meta
        .login
        .as_ref()
        .context("no Telegram login carries this message")?;
    let client = network.client(&login.login_id)?;
    let peer = crate::chat_info::peer_of(portal)?;
    let chat = crate::chat_info::chat_key(peer.id);
    let reply_to = match &message.reply_to {
        Some(row) => Some(message_id(&row.remote_id)?),
        None => None,
    };
    let pieces = pieces(network, &client.client, message, reply_to).await?;
    // The message's ID is its first piece's: a file, or the start of a
    // long text. A piece an earlier attempt already sent is skipped.
    let mut first = None;
    for (n, piece) in pieces.into_iter().enumerate() {
        let random_id = crate::send::random_id(&message.meta.event_id, n as u8);
        let sent = network
            .sending(&login.login_id, &chat, || {
                crate::send::send(&client.client, peer, piece, random_id)
            })
            .await?;
        if let (None, Sent::Id(id)) = (first, sent) {
            first = Some(id);
        }
    }
    Ok(first.map(|id| RemoteMessageId(format!("{chat}:{id}"))))
}

/// The Telegram messages a Matrix message becomes: its file with the
/// caption, then text that did not fit (a caption over 1024 units, a text
/// over 4096), in pieces.
async fn pieces(
    network: &TelegramNetwork,
    client: &grammers_client::Client,
    message: &MatrixMessage,
    reply_to: Option<i32>,
) -> Result<Vec<Outgoing>> {
    let html = message.html.as_deref();
    let text = |limit| text_to_telegram::convert_in_pieces(&message.body, html, limit);
    let Some(file) = media_to_telegram::file_of(message) else {
        let pieces = text(text_to_telegram::TEXT_LIMIT).into_iter();
        return Ok(pieces
            .map(|(text, entities)| Outgoing {
                text,
                entities,
                media: None,
                reply_to,
            })
            .collect());
    };
    let bridge = network.bridge()?;
    let max = network.config().max_file_bytes;
    let media = media_to_telegram::upload(bridge, client, &file, max).await?;
    let mut captioned = Outgoing {
        media: Some(media),
        reply_to,
        ..Default::default()
    };
    let mut rest = Vec::new();
    if media_to_telegram::caption(message).is_some() {
        let mut caption = text(media_to_telegram::CAPTION_LIMIT);
        if caption.len() == 1 {
            (captioned.text, captioned.entities) = caption.remove(0);
        } else {
            rest = text(text_to_telegram::TEXT_LIMIT);
        }
    }
    let rest = rest.into_iter().map(|(text, entities)| Outgoing {
        text,
        entities,
        ..Default::default()
    });
    Ok(std::iter::once(captioned).chain(rest).collect())
}

/// The Telegram message ID inside a remote ID `<chat>:<message>`.
pub(crate) fn message_id(remote: &RemoteMessageId) -> Result<i32> {
    remote
        .0
        .rsplit(':')
        .next()
        .and_then(|id| id.parse().ok())
        .context("not a Telegram message")
}

#[async_trait]
impl EditHandling for TelegramNetwork {
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()> {
        let login = edit
            .meta
            .login
            .as_ref()
            .context("no Telegram login carries this edit")?;
        let client = self.client(&login.login_id)?;
        let peer = crate::chat_info::peer_of(portal)?;
        let new = match &edit.new_html {
            Some(html) => {
                let (text, entities) = crate::msgconv::text_to_telegram::convert(html);
                InputMessage::new().text(text).fmt_entities(entities)
            }
            None => InputMessage::new().text(edit.new_body.as_str()),
        };
        client
            .client
            .edit_message(peer, message_id(&edit.target.remote_id)?, new)
            .await?;
        Ok(())
    }
}

#[async_trait]
impl RedactionHandling for TelegramNetwork {
    async fn handle_matrix_redaction(
        &self,
        portal: &PortalRow,
        redaction: &MatrixRedaction,
    ) -> Result<()> {
        let target = match &redaction.target {
            RedactionTarget::Message(target) => target,
            RedactionTarget::Reaction(reaction) => {
                let bridge = self.bridge()?;
                let Some(login) = bridge
                    .login_in_portal(portal, &redaction.meta.sender)
                    .await?
                else {
                    return Ok(());
                };
                return crate::reactions::remove(self, portal, &login, reaction).await;
            }
        };
        let login = redaction
            .meta
            .login
            .as_ref()
            .context("no Telegram login carries this removal")?;
        let client = self.client(&login.login_id)?;
        let peer = crate::chat_info::peer_of(portal)?;
        client
            .client
            .delete_messages(peer, &[message_id(&target.remote_id)?])
            .await?;
        Ok(())
    }
}

#[async_trait]
impl TypingHandling for TelegramNetwork {
    async fn handle_matrix_typing(&self, portal: &PortalRow, typing: &MatrixTyping) -> Result<()> {
        let bridge = self.bridge()?;
        let peer = crate::chat_info::peer_of(portal)?;
        for user in &typing.typing {
            if let Some(login) = bridge.login_in_portal(portal, user).await? {
                let client = self.client(&login.login_id)?;
                client
                    .client
                    .action(peer)
                    .oneshot(tl::enums::SendMessageAction::SendMessageTypingAction)
                    .await?;
            }
        }
        Ok(())
    }
}

#[async_trait]
impl ReceiptHandling for TelegramNetwork {
    async fn handle_matrix_receipt(
        &self,
        portal: &PortalRow,
        receipt: &MatrixReceipt,
    ) -> Result<()> {
        let bridge = self.bridge()?;
        let Some(login) = bridge.login_in_portal(portal, &receipt.user).await? else {
            return Ok(());
        };
        let client = self.client(&login.login_id)?;
        let peer = crate::chat_info::peer_of(portal)?;
        let max_id = message_id(&receipt.target.remote_id)?;
        if peer.id.kind() == grammers_session::types::PeerKind::Channel {
            client
                .client
                .invoke(&tl::functions::channels::ReadHistory {
                    channel: peer.into(),
                    max_id,
                })
                .await?;
        } else {
            client
                .client
                .invoke(&tl::functions::messages::ReadHistory {
                    peer: peer.into(),
                    max_id,
                })
                .await?;
        }
        Ok(())
    }
}
