//! The core's capability traits, for the XMPP network: each Matrix event
//! kind is handed to [`crate::outbound`] or to the MUC and gateway code.

use crate::addressing;
use crate::network::XmppNetwork;
use crate::outbound::{self, ReactionChange};
use crate::stanza::{self, ns};
use anyhow::{bail, Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteUserId;
use causeway_core::matrix_event::{
    MatrixEdit, MatrixMembership, MatrixReaction, MatrixReceipt, MatrixRedaction, MatrixTyping,
    Membership, RedactionTarget,
};
use causeway_core::network::{
    EditHandling, GhostInfo, MembershipHandling, PortalInfo, QueryHandling, ReactionHandling,
    ReceiptHandling, RedactionHandling, TopicHandling, TypingHandling,
};
use causeway_core::store::PortalRow;
use std::collections::HashSet;

#[async_trait]
impl EditHandling for XmppNetwork {
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()> {
        outbound::edit(self, portal, edit).await
    }
}

#[async_trait]
impl RedactionHandling for XmppNetwork {
    async fn handle_matrix_redaction(
        &self,
        portal: &PortalRow,
        redaction: &MatrixRedaction,
    ) -> Result<()> {
        let sender = &redaction.meta.sender;
        match &redaction.target {
            RedactionTarget::Message(message) => {
                outbound::retract(
                    self,
                    portal,
                    sender,
                    &message.remote_id,
                    &redaction.meta.event_id,
                )
                .await
            }
            RedactionTarget::Reaction(reaction) => {
                outbound::reactions(
                    self,
                    portal,
                    sender,
                    &reaction.remote_message_id,
                    ReactionChange::Remove(&reaction.emoji),
                )
                .await
            }
        }
    }
}

#[async_trait]
impl ReactionHandling for XmppNetwork {
    async fn handle_matrix_reaction(
        &self,
        portal: &PortalRow,
        reaction: &MatrixReaction,
    ) -> Result<RemoteUserId> {
        let sender = &reaction.meta.sender;
        outbound::reactions(
            self,
            portal,
            sender,
            &reaction.target.remote_id,
            ReactionChange::Add(&reaction.key),
        )
        .await?;
        Ok(RemoteUserId::new(sender.as_str()))
    }
}

#[async_trait]
impl TypingHandling for XmppNetwork {
    async fn handle_matrix_typing(&self, portal: &PortalRow, typing: &MatrixTyping) -> Result<()> {
        let now: HashSet<String> = typing.typing.iter().cloned().collect();
        let before = self
            .inner
            .typing
            .insert(typing.room_id.clone(), now.clone())
            .unwrap_or_default();
        for started in now.difference(&before) {
            outbound::chat_state(self, portal, started, "composing").await?;
        }
        for stopped in before.difference(&now) {
            outbound::chat_state(self, portal, stopped, "active").await?;
        }
        Ok(())
    }
}

#[async_trait]
impl ReceiptHandling for XmppNetwork {
    async fn handle_matrix_receipt(
        &self,
        portal: &PortalRow,
        receipt: &MatrixReceipt,
    ) -> Result<()> {
        outbound::displayed(self, portal, &receipt.user, &receipt.target).await
    }
}

#[async_trait]
impl TopicHandling for XmppNetwork {
    async fn handle_matrix_topic(
        &self,
        portal: &PortalRow,
        sender: &str,
        topic: &str,
    ) -> Result<()> {
        if crate::gateway::is_gateway(portal) {
            return crate::gateway::topic_changed(self, portal, topic).await;
        }
        outbound::subject(self, portal, sender, topic).await
    }
}

#[async_trait]
impl QueryHandling for XmppNetwork {
    async fn portal_for_alias(&self, id: &str) -> Result<Option<PortalInfo>> {
        crate::muc::portal_for_alias(self, id).await
    }

    async fn ghost_for_user(&self, id: &RemoteUserId) -> Result<Option<GhostInfo>> {
        if !crate::direct::is_valid_user(id) {
            return Ok(None);
        }
        let displayname = id.as_str().split('@').next().map(str::to_owned);
        Ok(Some(GhostInfo {
            id: id.clone(),
            displayname,
            avatar_mxc: None,
            avatar_id: None,
            own_login: None,
        }))
    }
}

#[async_trait]
impl MembershipHandling for XmppNetwork {
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()> {
        if crate::gateway::is_gateway(portal) {
            return crate::gateway::matrix_membership(self, portal, change).await;
        }
        let Some(room) = addressing::muc_of_portal(&portal.key) else {
            return Ok(());
        };
        match (&change.membership, &change.target_ghost) {
            (Membership::Join, None) => {
                crate::muc::ensure_puppet(
                    self,
                    &room,
                    &change.target,
                    change.displayname.as_deref(),
                    true,
                );
                Ok(())
            }
            (Membership::Leave, None) | (Membership::Kick | Membership::Ban, None) => {
                crate::muc::remove_puppet(self, &room, &change.target, change.reason.as_deref());
                Ok(())
            }
            (Membership::Kick | Membership::Ban, Some(ghost)) => {
                let ban = change.membership == Membership::Ban;
                moderate(
                    self,
                    &room,
                    &change.meta.sender,
                    ghost,
                    ban,
                    change.reason.as_deref(),
                )
                .await
            }
            _ => Ok(()),
        }
    }

    async fn handle_ghost_invite(
        &self,
        inviter: &str,
        ghost: &RemoteUserId,
        _room_id: &str,
    ) -> Result<Option<PortalInfo>> {
        Ok(crate::direct::invited(ghost, inviter))
    }
}

/// A Matrix kick or ban of an XMPP user's ghost, done in the MUC by the
/// moderator's own puppet (muc#admin), so XMPP's permissions apply.
async fn moderate(
    net: &XmppNetwork,
    room: &xmpp_parsers::jid::BareJid,
    moderator: &str,
    ghost: &RemoteUserId,
    ban: bool,
    reason: Option<&str>,
) -> Result<()> {
    let nick = net.inner.mucs.get(room.as_str()).and_then(|s| {
        s.occupants
            .iter()
            .find(|(_, g)| g.id == *ghost)
            .map(|(n, _)| n.clone())
    });
    let from = net
        .addresses()
        .matrix_user_full_jid(moderator)
        .context("the moderator has no JID")?;
    let mut item = match (ban, nick) {
        (true, _) => {
            let jid = ghost.as_str().split('/').next().unwrap_or_default();
            if jid.contains('/')
                || net
                    .addresses()
                    .is_muc_domain(jid.split('@').nth(1).unwrap_or_default())
            {
                bail!("{ghost} is anonymous in {room}: XMPP can only ban a real address");
            }
            stanza::empty(
                "item",
                ns::MUC_ADMIN,
                &[("jid", jid), ("affiliation", "outcast")],
            )
        }
        (false, Some(nick)) => {
            stanza::empty("item", ns::MUC_ADMIN, &[("nick", &nick), ("role", "none")])
        }
        (false, None) => bail!("{ghost} is not in {room} on the XMPP side"),
    };
    if let Some(reason) = reason {
        item.append_child(stanza::text_element("reason", ns::MUC_ADMIN, reason));
    }
    let mut query = stanza::empty("query", ns::MUC_ADMIN, &[]);
    query.append_child(item);
    let mut iq = stanza::new("iq", &from, room.as_str(), Some("set"), None);
    iq.append_child(query);
    net.component()?
        .request(iq)
        .await
        .map(|_| ())
        .with_context(|| {
            format!(
                "the XMPP room refused to {} {ghost}",
                if ban { "ban" } else { "kick" }
            )
        })
}
