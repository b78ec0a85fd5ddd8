//! Group changes, both ways. From WhatsApp, any change to a group (name,
//! description, members, admins) has its room follow, from the group's
//! fresh info. From Matrix, a rename, a topic, an invite of a ghost, a
//! kick of one, or the user leaving act on WhatsApp through the user's own
//! login, which WhatsApp refuses where they are not allowed: the refusal is
//! told in the room.

use crate::chat_info::{self, jid_of};
use crate::network::WhatsAppNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::matrix_event::{MatrixMembership, Membership};
use causeway_core::network::{MembershipHandling, NameHandling, TopicHandling};
use causeway_core::remote::RemoteEvent;
use causeway_core::store::{LoginRow, PortalRow};
use std::sync::Arc;
use whatsapp_rust::features::{GroupDescription, GroupSubject, PreviousDescription};
use whatsapp_rust::types::events::GroupUpdate;
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::Jid;

/// A group changed on WhatsApp: its room follows, if it has one.
pub async fn group_changed(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    update: &GroupUpdate,
) -> Result<()> {
    let bridge = network.bridge()?;
    let group = update.group_jid.to_non_ad();
    let key = bridge.chat_portal_key(&chat_info::chat_key(&group), &login.login_id, false);
    if !bridge.has_room(&key).await? {
        return Ok(());
    }
    let info = chat_info::group_info(network, login, &group).await?;
    bridge.queue_remote(&key, RemoteEvent::ChatInfo(info)).await
}

/// The Matrix user's client in a group portal, and the group.
async fn client_in(
    network: &WhatsAppNetwork,
    portal: &PortalRow,
    user: &str,
) -> Result<Option<(Arc<crate::client::WaClient>, Jid)>> {
    let group = jid_of(portal)?;
    if !group.is_group() {
        return Ok(None);
    }
    let login = network
        .bridge()?
        .login_in_portal(portal, user)
        .await?
        .context("you have no WhatsApp login in this group")?;
    Ok(Some((network.client(&login.login_id)?, group)))
}

fn refused(err: impl std::fmt::Display) -> anyhow::Error {
    anyhow::anyhow!("WhatsApp refused: {err}")
}

#[async_trait]
impl NameHandling for WhatsAppNetwork {
    async fn handle_matrix_name(&self, portal: &PortalRow, sender: &str, name: &str) -> Result<()> {
        let Some((client, group)) = client_in(self, portal, sender).await? else {
            return Ok(());
        };
        let subject = GroupSubject::new(name.trim())
            .map_err(|e| anyhow::anyhow!("not a WhatsApp group name: {e}"))?;
        client
            .client
            .groups()
            .set_subject(group, subject)
            .await
            .map_err(refused)
    }
}

#[async_trait]
impl TopicHandling for WhatsAppNetwork {
    async fn handle_matrix_topic(
        &self,
        portal: &PortalRow,
        sender: &str,
        topic: &str,
    ) -> Result<()> {
        let Some((client, group)) = client_in(self, portal, sender).await? else {
            return Ok(());
        };
        let description = match topic.trim() {
            "" => None,
            text => Some(
                GroupDescription::new(text)
                    .map_err(|e| anyhow::anyhow!("not a WhatsApp group description: {e}"))?,
            ),
        };
        client
            .client
            .groups()
            .set_description(group, description, PreviousDescription::Resolve)
            .await
            .map_err(refused)
    }
}

#[async_trait]
impl MembershipHandling for WhatsAppNetwork {
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()> {
        let Some((client, group)) = client_in(self, portal, &change.meta.sender).await? else {
            return Ok(());
        };
        let groups = client.client.groups();
        match (&change.target_ghost, &change.membership) {
            (Some(ghost), Membership::Invite) => {
                groups
                    .add_participants(&group, &[Jid::pn(ghost.as_str())])
                    .await
                    .map_err(refused)?;
            }
            (Some(ghost), Membership::Kick | Membership::Ban) => {
                groups
                    .remove_participants(&group, &[Jid::pn(ghost.as_str())])
                    .await
                    .map_err(refused)?;
            }
            // The user left the room: they leave the group too.
            (None, Membership::Leave) if change.target == change.meta.sender => {
                groups.leave(group).await.map_err(refused)?;
            }
            _ => {}
        }
        Ok(())
    }
}
