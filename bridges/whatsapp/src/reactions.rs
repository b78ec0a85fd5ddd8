//! Matrix edits, removals and reactions, to WhatsApp, within the windows
//! WhatsApp allows: an edit within 15 minutes of the message, a removal
//! for everyone within about two days. Outside them the sender is told,
//! not silently ignored. WhatsApp keeps one reaction per person, so a new
//! one replaces the last.

use crate::chat_info::{jid_of, own_jid, split_message_id};
use crate::network::WhatsAppNetwork;
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteUserId;
use causeway_core::matrix_event::{MatrixEdit, MatrixReaction, MatrixRedaction, RedactionTarget};
use causeway_core::network::{EditHandling, ReactionHandling, RedactionHandling};
use causeway_core::store::{now_ms, LoginRow, MessageRow, PortalRow};
use whatsapp_rust::send::RevokeType;
use whatsapp_rust::waproto::whatsapp as wa;

/// How long after sending WhatsApp lets a message be edited.
const EDIT_WINDOW_MS: i64 = 15 * 60 * 1000;
/// How long after sending WhatsApp lets a message be removed for everyone.
const REVOKE_WINDOW_MS: i64 = (48 * 60 + 8) * 60 * 1000;

impl WhatsAppNetwork {
    /// The login of a Matrix user in a portal.
    async fn login_of(&self, portal: &PortalRow, user: &str) -> Result<LoginRow> {
        self.bridge()?
            .login_in_portal(portal, user)
            .await?
            .context("you have no WhatsApp login in this chat")
    }
}

/// The WhatsApp ID of a bridged message the login itself sent.
fn own_message<'a>(login: &LoginRow, target: &'a MessageRow) -> Result<&'a str> {
    let (_, author, id) =
        split_message_id(&target.remote_id).context("that message did not come from WhatsApp")?;
    if author.user != own_jid(login).user {
        bail!("only your own WhatsApp messages can be changed");
    }
    Ok(id)
}

/// Whether `window` has passed since the message was sent.
fn too_late(target: &MessageRow, window: i64) -> bool {
    now_ms() - target.timestamp > window
}

#[async_trait]
impl EditHandling for WhatsAppNetwork {
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()> {
        let login = self.login_of(portal, &edit.meta.sender).await?;
        let id = own_message(&login, &edit.target)?;
        if too_late(&edit.target, EDIT_WINDOW_MS) {
            bail!("WhatsApp lets a message be edited only in its first 15 minutes");
        }
        let text = crate::msgconv::text_to_whatsapp::convert(
            &edit.new_body,
            edit.new_html.as_deref(),
            &|_, label| label.to_owned(),
        );
        let client = self.client(&login.login_id)?;
        client
            .client
            .edit_message(
                jid_of(portal)?,
                id,
                wa::Message {
                    conversation: Some(text.text),
                    ..Default::default()
                },
            )
            .await
            .map_err(|e| anyhow::anyhow!("WhatsApp did not take the edit: {e}"))?;
        Ok(())
    }
}

#[async_trait]
impl RedactionHandling for WhatsAppNetwork {
    async fn handle_matrix_redaction(
        &self,
        portal: &PortalRow,
        redaction: &MatrixRedaction,
    ) -> Result<()> {
        let login = self.login_of(portal, &redaction.meta.sender).await?;
        let client = self.client(&login.login_id)?;
        let chat = jid_of(portal)?;
        match &redaction.target {
            RedactionTarget::Message(target) => {
                let id = own_message(&login, target)?;
                if too_late(target, REVOKE_WINDOW_MS) {
                    bail!("WhatsApp lets a message be removed for everyone only in its first two days");
                }
                client
                    .client
                    .revoke_message(chat, id, RevokeType::Sender)
                    .await
                    .map_err(|e| anyhow::anyhow!("WhatsApp did not remove the message: {e}"))?;
            }
            // An empty reaction takes one's reaction back.
            RedactionTarget::Reaction(reaction) => {
                let key = message_key(&login, &reaction.remote_message_id)?;
                client
                    .client
                    .send_reaction(chat, key, "")
                    .await
                    .map_err(|e| anyhow::anyhow!("WhatsApp did not take the reaction back: {e}"))?;
            }
        }
        Ok(())
    }
}

/// The key WhatsApp names a message by, as the login sees it.
fn message_key(
    login: &LoginRow,
    id: &causeway_core::ids::RemoteMessageId,
) -> Result<wa::MessageKey> {
    let (chat, author, id) =
        split_message_id(id).context("that message did not come from WhatsApp")?;
    let from_me = author.user == own_jid(login).user;
    Ok(wa::MessageKey {
        remote_jid: Some(chat.to_non_ad_string()),
        from_me: Some(from_me),
        id: Some(id.to_owned()),
        participant: (chat.server == whatsapp_rust::Server::Group && !from_me)
            .then(|| author.to_non_ad_string()),
    })
}

#[async_trait]
impl ReactionHandling for WhatsAppNetwork {
    async fn handle_matrix_reaction(
        &self,
        portal: &PortalRow,
        reaction: &MatrixReaction,
    ) -> Result<RemoteUserId> {
        let login = self.login_of(portal, &reaction.meta.sender).await?;
        let key = message_key(&login, &reaction.target.remote_id)?;
        let client = self.client(&login.login_id)?;
        // Matrix keys may carry a variation selector WhatsApp does without.
        let emoji = reaction.key.trim_end_matches('\u{fe0f}');
        client
            .client
            .send_reaction(jid_of(portal)?, key, emoji)
            .await
            .map_err(|e| anyhow::anyhow!("WhatsApp did not take the reaction: {e}"))?;
        Ok(RemoteUserId(own_jid(&login).user.to_string()))
    }
}
