//! Reactions both ways. Telegram reports a message's reactions as a whole
//! set, so the room follows by difference; a Matrix reaction replaces the
//! sender's reaction on Telegram, as an account without Premium has one.
//! An emoji the chat does not allow is refused by Telegram, and the core
//! tells the sender so in the room.

use crate::network::TelegramNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::{RemoteMessageId, RemoteUserId};
use causeway_core::matrix_event::MatrixReaction;
use causeway_core::network::{GhostInfo, ReactionHandling};
use causeway_core::remote::RemoteEvent;
use causeway_core::store::{LoginRow, PortalRow, ReactionRow};
use grammers_client::tl;
use grammers_session::types::{PeerId, PeerKind};

/// Variation selector 16, which Matrix clients add to some emoji and
/// Telegram's reaction list leaves out.
const VS16: char = '\u{fe0f}';

/// A Matrix reaction key as Telegram lists the emoji.
pub fn to_telegram(key: &str) -> String {
    key.chars().filter(|&c| c != VS16).collect()
}

/// A Telegram reaction as Matrix clients send it: a lone symbol from the
/// older planes (❤, ☃, ✍…) gets the selector that shows it as emoji.
pub fn to_matrix(emoticon: &str) -> String {
    let mut chars = emoticon.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) if (c as u32) < 0x1f000 => format!("{c}{VS16}"),
        _ => emoticon.to_owned(),
    }
}

/// Sets the login's reactions on one message to `emoji` (none to clear).
async fn set(
    network: &TelegramNetwork,
    portal: &PortalRow,
    login: &causeway_core::ids::LoginId,
    message: &RemoteMessageId,
    emoji: Option<&str>,
) -> Result<()> {
    let client = network.client(login)?;
    let peer = crate::chat_info::peer_of(portal)?;
    let reaction = emoji.map(|e| {
        vec![tl::types::ReactionEmoji {
            emoticon: to_telegram(e),
        }
        .into()]
    });
    client
        .client
        .invoke(&tl::functions::messages::SendReaction {
            big: false,
            add_to_recent: true,
            peer: peer.into(),
            msg_id: crate::handle_matrix::message_id(message)?,
            reaction,
        })
        .await
        .map_err(|err| match &err {
            grammers_client::InvocationError::Rpc(rpc) if rpc.name == "REACTION_INVALID" => {
                anyhow::anyhow!(
                    "Telegram does not allow the reaction {} in this chat",
                    emoji.unwrap_or_default()
                )
            }
            _ => err.into(),
        })?;
    Ok(())
}

#[async_trait]
impl ReactionHandling for TelegramNetwork {
    async fn handle_matrix_reaction(
        &self,
        portal: &PortalRow,
        reaction: &MatrixReaction,
    ) -> Result<RemoteUserId> {
        let login = reaction
            .meta
            .login
            .as_ref()
            .context("no Telegram login carries this reaction")?;
        set(
            self,
            portal,
            &login.login_id,
            &reaction.target.remote_id,
            Some(&reaction.key),
        )
        .await?;
        let bridge = self.bridge()?;
        let row = bridge
            .store()
            .get_login(bridge.secrets(), &login.login_id)
            .await?;
        let own = row.as_ref().map(crate::handle_remote::own_id);
        Ok(RemoteUserId(own.unwrap_or_default().to_string()))
    }
}

/// A Matrix user took back their reaction: it goes on Telegram too.
pub async fn remove(
    network: &TelegramNetwork,
    portal: &PortalRow,
    login: &LoginRow,
    reaction: &ReactionRow,
) -> Result<()> {
    if reaction.remote_sender.as_str() != crate::handle_remote::own_id(login).to_string() {
        anyhow::bail!("that reaction is someone else's");
    }
    set(
        network,
        portal,
        &login.login_id,
        &reaction.remote_message_id,
        None,
    )
    .await
}

/// Telegram's current reactions on a message: the room gains the new ones
/// and loses those taken back, worked out in the portal's queue. Without
/// the full list of who reacted (large groups give counts only), nothing
/// changes.
pub async fn update(
    network: &TelegramNetwork,
    login: &LoginRow,
    update: &tl::types::UpdateMessageReactions,
) -> Result<()> {
    let bridge = network.bridge()?;
    let chat = PeerId::from(update.peer.clone());
    let chat_key = crate::chat_info::chat_key(chat);
    let key = bridge.chat_portal_key(&chat_key, &login.login_id, chat.kind() == PeerKind::User);
    let target = RemoteMessageId(format!("{chat_key}:{}", update.msg_id));
    let tl::enums::MessageReactions::Reactions(reactions) = &update.reactions;
    let Some(recent) = reactions
        .recent_reactions
        .as_ref()
        .filter(|_| !reactions.min)
    else {
        return Ok(());
    };
    let own = crate::handle_remote::own_ghost(login);
    let reactions = recent
        .iter()
        .filter_map(|r| {
            let tl::enums::MessagePeerReaction::Reaction(r) = r;
            let tl::enums::Peer::User(user) = &r.peer_id else {
                return None;
            };
            let tl::enums::Reaction::Emoji(emoji) = &r.reaction else {
                return None;
            };
            let sender = match user.user_id.to_string() == own.id.as_str() {
                true => own.clone(),
                false => GhostInfo {
                    id: RemoteUserId(user.user_id.to_string()),
                    ..Default::default()
                },
            };
            Some((sender, to_matrix(&emoji.emoticon)))
        })
        .collect();
    bridge
        .queue_remote(
            &key,
            RemoteEvent::ReactionSet {
                target,
                reactions,
                own: Some(own),
            },
        )
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_heart_gains_its_selector_in_matrix_and_loses_it_on_telegram() {
        assert_eq!(to_matrix("❤"), "❤\u{fe0f}");
        assert_eq!(to_telegram("❤\u{fe0f}"), "❤");
        assert_eq!(to_matrix("👍"), "👍");
        assert_eq!(to_telegram("👍"), "👍");
    }
}
