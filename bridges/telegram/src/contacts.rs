//! Contacts and chats: `pm`, `search`, `list`, `open` and `sync` through
//! the core's commands. A phone number that is not a contact yet is added
//! with `contacts.importContacts`, so `pm` reaches anyone on Telegram.

use crate::network::TelegramNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::RemoteUserId;
use causeway_core::network::{ChatSummary, Contact, ContactHandling, GhostInfo, PortalInfo};
use causeway_core::store::LoginRow;
use causeway_core::Bridge;
use grammers_client::{tl, InvocationError};
use grammers_session::types::{ChannelKind, PeerAuth, PeerId, PeerInfo, PeerKind, PeerRef};
use grammers_session::Session;

/// The portal of a private chat with a Telegram user, as `login` sees it.
pub(crate) fn dm_portal(
    bridge: &Bridge,
    login: &LoginRow,
    user_id: i64,
    name: Option<String>,
    access_hash: Option<i64>,
) -> Result<PortalInfo> {
    let id = PeerId::user(user_id).context("not a Telegram user ID")?;
    let auth = access_hash.map(PeerAuth::from_hash).unwrap_or_default();
    Ok(crate::chat_info::portal_info(
        bridge,
        login,
        PeerRef { id, auth },
        name,
        false,
    ))
}

/// A Telegram user's ghost: their name, and their profile photo as seen
/// through `login`.
pub(crate) fn ghost_of(login: &LoginRow, user: &tl::types::User) -> GhostInfo {
    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" ");
    let photo = match &user.photo {
        Some(tl::enums::UserProfilePhoto::Photo(photo)) => Some(photo.photo_id),
        _ => None,
    };
    let avatar_id = photo.zip(PeerId::user(user.id)).map(|(photo, id)| {
        let auth = PeerAuth::from_hash(user.access_hash.unwrap_or_default());
        crate::chat_info::avatar_id(login, PeerRef { id, auth }, photo)
    });
    GhostInfo {
        id: RemoteUserId(user.id.to_string()),
        displayname: (!name.is_empty()).then_some(name),
        avatar_id,
        ..Default::default()
    }
}

/// The ghost of whoever sent a message: a user with their name and photo,
/// or the chat itself for a channel's posts.
pub(crate) fn ghost_of_peer(login: &LoginRow, peer: &grammers_client::peer::Peer) -> GhostInfo {
    if let grammers_client::peer::Peer::User(user) = peer {
        if let tl::enums::User::User(raw) = &user.raw {
            return ghost_of(login, raw);
        }
    }
    GhostInfo {
        id: RemoteUserId(peer.id().bare_id().unwrap_or_default().to_string()),
        displayname: peer.name().map(str::to_owned),
        ..Default::default()
    }
}

fn contact(
    login: &LoginRow,
    user: &tl::enums::User,
    identifier: Option<String>,
) -> Option<Contact> {
    let tl::enums::User::User(user) = user else {
        return None;
    };
    let identifier = identifier
        .or_else(|| user.username.as_ref().map(|u| format!("@{u}")))
        .or_else(|| user.phone.as_ref().map(|p| format!("+{p}")))
        .unwrap_or_else(|| user.id.to_string());
    Some(Contact {
        ghost: ghost_of(login, user),
        identifier,
    })
}

fn is_not_found(err: &InvocationError) -> bool {
    matches!(err, InvocationError::Rpc(rpc) if rpc.name == "PHONE_NOT_OCCUPIED" || rpc.name == "USERNAME_NOT_OCCUPIED" || rpc.name == "USERNAME_INVALID")
}

#[async_trait]
impl ContactHandling for TelegramNetwork {
    async fn resolve_identifier(
        &self,
        login: &LoginRow,
        identifier: &str,
    ) -> Result<Option<Contact>> {
        let client = self.client(&login.login_id)?;
        let identifier = identifier.trim();
        let digits: String = identifier.chars().filter(char::is_ascii_digit).collect();
        if identifier.starts_with('+') && digits.len() >= 5 {
            // Adding the number as a contact reaches people who are not one yet.
            let request = tl::functions::contacts::ImportContacts {
                contacts: vec![tl::enums::InputContact::InputPhoneContact(
                    tl::types::InputPhoneContact {
                        client_id: 0,
                        phone: digits.clone(),
                        first_name: identifier.to_owned(),
                        last_name: String::new(),
                        note: None,
                    },
                )],
            };
            let tl::enums::contacts::ImportedContacts::Contacts(imported) =
                client.client.invoke(&request).await?;
            return Ok(imported
                .users
                .first()
                .and_then(|u| contact(login, u, Some(format!("+{digits}")))));
        }
        let username = identifier.trim_start_matches('@');
        let request = tl::functions::contacts::ResolveUsername {
            username: username.to_owned(),
            referer: None,
        };
        match client.client.invoke(&request).await {
            Ok(tl::enums::contacts::ResolvedPeer::Peer(resolved)) => Ok(resolved
                .users
                .first()
                .and_then(|u| contact(login, u, Some(format!("@{username}"))))),
            Err(err) if is_not_found(&err) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    async fn search_contacts(&self, login: &LoginRow, query: &str) -> Result<Vec<Contact>> {
        let client = self.client(&login.login_id)?;
        let request = tl::functions::contacts::Search {
            broadcasts: false,
            bots: false,
            q: query.to_owned(),
            limit: 50,
        };
        let tl::enums::contacts::Found::Found(found) = client.client.invoke(&request).await?;
        Ok(found
            .users
            .iter()
            .filter_map(|u| contact(login, u, None))
            .collect())
    }

    async fn list_contacts(&self, login: &LoginRow) -> Result<Vec<Contact>> {
        let client = self.client(&login.login_id)?;
        match client
            .client
            .invoke(&tl::functions::contacts::GetContacts { hash: 0 })
            .await?
        {
            tl::enums::contacts::Contacts::Contacts(contacts) => Ok(contacts
                .users
                .iter()
                .filter_map(|u| contact(login, u, None))
                .collect()),
            tl::enums::contacts::Contacts::NotModified => Ok(Vec::new()),
        }
    }

    /// The login's chats, newest first, each by its dialog ID.
    async fn list_chats(&self, login: &LoginRow) -> Result<Vec<ChatSummary>> {
        let client = self.client(&login.login_id)?;
        let mut dialogs = client.client.iter_dialogs();
        let mut chats = Vec::new();
        while let Some(dialog) = dialogs.next().await? {
            let peer = dialog.peer();
            chats.push(ChatSummary {
                id: crate::chat_info::chat_key(peer.id()),
                name: peer.name().unwrap_or_default().to_owned(),
                direct: peer.id().kind() == PeerKind::User,
                last_activity: dialog
                    .last_message
                    .as_ref()
                    .map(|m| m.date().as_millisecond()),
            });
        }
        Ok(chats)
    }

    async fn chat_portal(&self, login: &LoginRow, chat_id: &str) -> Result<Option<PortalInfo>> {
        let Some(id) = chat_id
            .parse::<i64>()
            .ok()
            .and_then(PeerId::from_bot_api_dialog_id)
        else {
            return Ok(None);
        };
        let client = self.client(&login.login_id)?;
        let Some(info) = client.session.peer(id).await? else {
            return Ok(None);
        };
        let broadcast = matches!(
            info,
            PeerInfo::Channel {
                kind: Some(ChannelKind::Broadcast),
                ..
            }
        );
        let auth = info.auth().unwrap_or_default();
        let name = self
            .list_chats(login)
            .await?
            .into_iter()
            .find(|c| c.id == chat_id)
            .map(|c| c.name);
        Ok(Some(crate::chat_info::portal_info(
            self.bridge()?,
            login,
            PeerRef { id, auth },
            name,
            broadcast,
        )))
    }

    async fn dm_portal(&self, login: &LoginRow, contact: &Contact) -> Result<PortalInfo> {
        let bridge = self.bridge()?;
        let user_id: i64 = contact.ghost.id.as_str().parse()?;
        let client = self.client(&login.login_id)?;
        let hash = match PeerId::user(user_id) {
            Some(id) => client.session.peer_ref(id).await?.map(|r| r.auth.hash()),
            None => None,
        };
        bridge.ensure_ghost(&contact.ghost).await?;
        dm_portal(
            bridge,
            login,
            user_id,
            contact.ghost.displayname.clone(),
            hash,
        )
    }
}
