//! What Matrix users send, to Telegram, through their login in the chat.

use crate::network::TelegramNetwork;
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
) -> Result<RemoteMessageId> {
    let login = message
        .meta
        .login
        .as_ref()
        .context("no Telegram login carries this message")?;
    let client = network.client(&login.login_id)?;
    let peer = crate::chat_info::peer_of(portal)?;
    let chat = crate::chat_info::chat_key(peer.id);
    // Held while sending, so the update of this very message is known as
    // the bridge's own when it comes back.
    let sent = network
        .sending(&login.login_id, &chat, || {
            client.client.send_message(peer, outgoing(message))
        })
        .await?;
    Ok(RemoteMessageId(format!("{chat}:{sent}")))
}

/// A Matrix message's Telegram form: its HTML as entities when it has
/// some, else its body.
fn outgoing(message: &MatrixMessage) -> InputMessage {
    match &message.html {
        Some(html) => {
            let (text, entities) = crate::msgconv::text_to_telegram::convert(html);
            InputMessage::new().text(text).fmt_entities(entities)
        }
        None => InputMessage::new().text(message.body.as_str()),
    }
}

/// The Telegram message ID inside a remote ID `<chat>:<message>`.
fn message_id(remote: &RemoteMessageId) -> Result<i32> {
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
        let RedactionTarget::Message(target) = &redaction.target else {
            return Ok(());
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
