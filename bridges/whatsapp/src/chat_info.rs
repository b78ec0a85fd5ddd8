//! Which portal a WhatsApp chat is, and what a group looks like. A DM
//! belongs to its login; a group is shared by every login in it. Chats,
//! people and messages are named by phone-number JIDs where WhatsApp
//! gives one, so a contact is one ghost whichever way they are addressed.

use crate::network::WhatsAppNetwork;
use anyhow::{Context, Result};
use causeway_core::chat_info::{ChatInfo, ChatKind, ChatMember, ADMIN_LEVEL};
use causeway_core::ids::{RemoteMessageId, RemoteUserId};
use causeway_core::network::{GhostInfo, PortalInfo};
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use serde_json::json;
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::Jid;

/// A chat's ID in portal keys and message IDs: its JID without a device,
/// like `4412345678@s.whatsapp.net` or `1203630…@g.us`.
pub(crate) fn chat_key(chat: &Jid) -> String {
    chat.to_non_ad_string()
}

/// A message's ID: its chat, who sent it, and WhatsApp's ID for it, which
/// is unique only for one sender in one chat.
pub(crate) fn message_id(chat: &Jid, sender: &Jid, id: &str) -> RemoteMessageId {
    RemoteMessageId(format!(
        "{}|{}|{id}",
        chat_key(chat),
        sender.to_non_ad_string()
    ))
}

/// The parts of a message ID made by [`message_id`].
pub(crate) fn split_message_id(id: &RemoteMessageId) -> Option<(Jid, Jid, &str)> {
    let mut parts = id.0.splitn(3, '|');
    let chat = parts.next()?.parse().ok()?;
    let sender = parts.next()?.parse().ok()?;
    Some((chat, sender, parts.next()?))
}

/// The login's own phone-number JID.
pub(crate) fn own_jid(login: &LoginRow) -> Jid {
    Jid::pn(login.metadata["phone"].as_str().unwrap_or_default())
}

/// A person's ghost: their phone number is its ID.
pub(crate) fn ghost(person: &Jid, name: Option<String>) -> GhostInfo {
    GhostInfo {
        id: RemoteUserId(person.user.to_string()),
        displayname: name.filter(|n| !n.is_empty()),
        ..Default::default()
    }
}

/// The login's own account, shown as its Matrix user (double puppeting).
pub(crate) fn own_ghost(login: &LoginRow) -> GhostInfo {
    GhostInfo {
        id: RemoteUserId(own_jid(login).user.to_string()),
        own_login: Some(login.login_id.clone()),
        ..Default::default()
    }
}

/// The portal of a chat, as `login` sees it.
pub(crate) fn portal_info(
    bridge: &Bridge,
    login: &LoginRow,
    chat: &Jid,
    name: Option<String>,
) -> PortalInfo {
    let direct = !chat.is_group();
    PortalInfo {
        key: bridge.chat_portal_key(&chat_key(chat), &login.login_id, direct),
        name,
        invite: vec![login.mxid.clone()],
        direct_with: direct.then(|| RemoteUserId(chat.user.to_string())),
        login: Some(login.login_id.clone()),
        metadata: json!({ "jid": chat_key(chat) }),
        kind: Some(if direct {
            ChatKind::Direct
        } else {
            ChatKind::Group
        }),
        ..Default::default()
    }
}

/// The WhatsApp chat of a portal.
pub(crate) fn jid_of(portal: &PortalRow) -> Result<Jid> {
    portal.metadata["jid"]
        .as_str()
        .context("the portal names no WhatsApp chat")?
        .parse()
        .map_err(|e| anyhow::anyhow!("the portal's WhatsApp chat is not a JID: {e:?}"))
}

/// A group's name, description and members, admins at power level 50.
pub(crate) async fn group_info(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    group: &Jid,
) -> Result<ChatInfo> {
    let client = network.client(&login.login_id)?;
    let metadata = client
        .client
        .groups()
        .get_metadata(group)
        .await
        .map_err(|e| anyhow::anyhow!("WhatsApp has no group {group}: {e}"))?;
    let own = own_jid(login);
    let members = metadata
        .participants
        .iter()
        .map(|p| {
            let person = p.phone_number.clone().unwrap_or_else(|| p.jid.clone());
            let ghost = if person.user == own.user {
                own_ghost(login)
            } else {
                ghost(&person, None)
            };
            ChatMember {
                ghost,
                power: p.is_admin().then_some(ADMIN_LEVEL),
            }
        })
        .collect();
    Ok(ChatInfo {
        name: Some(metadata.subject.clone()).filter(|s| !s.is_empty()),
        topic: metadata.description.clone(),
        avatar_id: crate::avatars::avatar_id(network, login, group).await,
        members: Some(members),
        kind: Some(ChatKind::Group),
    })
}

#[async_trait::async_trait]
impl causeway_core::network::ChatInfoFetching for WhatsAppNetwork {
    async fn fetch_chat_info(
        &self,
        portal: &PortalRow,
        login: &LoginRow,
    ) -> Result<Option<ChatInfo>> {
        let chat = jid_of(portal)?;
        if !chat.is_group() {
            return Ok(None);
        }
        Ok(Some(group_info(self, login, &chat).await?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_message_id_names_its_chat_sender_and_id() {
        let chat: Jid = "120363000000000001@g.us".parse().unwrap();
        let sender = Jid::pn("4412345678").with_device(3);
        let id = message_id(&chat, &sender, "3EB0ABC");
        assert_eq!(
            id.0,
            "120363000000000001@g.us|4412345678@s.whatsapp.net|3EB0ABC"
        );
        let (c, s, m) = split_message_id(&id).unwrap();
        assert_eq!((c, s.user.as_str(), m), (chat, "4412345678", "3EB0ABC"));
    }
}
