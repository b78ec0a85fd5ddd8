//! The test network's contacts and chat list, as the test sets them
//! through the control API.

use super::control::{ChatItem, ContactItem};
use super::TestNet;
use anyhow::Result;
use async_trait::async_trait;
use causeway_core::network::{ChatSummary, Contact, ContactHandling, GhostInfo, PortalInfo};
use causeway_core::store::LoginRow;

fn contact(item: &ContactItem) -> Contact {
    Contact {
        ghost: GhostInfo {
            id: item.id.as_str().into(),
            displayname: Some(item.name.clone()),
            avatar_id: item.avatar.clone(),
            ..Default::default()
        },
        identifier: item.phone.clone(),
    }
}

impl TestNet {
    fn contacts_now(&self) -> Vec<ContactItem> {
        self.directory
            .lock()
            .map(|d| d.contacts.clone())
            .unwrap_or_default()
    }

    fn chats_now(&self) -> Vec<ChatItem> {
        self.directory
            .lock()
            .map(|d| d.chats.clone())
            .unwrap_or_default()
    }
}

#[async_trait]
impl ContactHandling for TestNet {
    async fn resolve_identifier(
        &self,
        _login: &LoginRow,
        identifier: &str,
    ) -> Result<Option<Contact>> {
        let wanted = identifier.trim();
        Ok(self
            .contacts_now()
            .iter()
            .find(|c| c.phone == wanted || c.id == wanted)
            .map(contact))
    }

    async fn search_contacts(&self, _login: &LoginRow, query: &str) -> Result<Vec<Contact>> {
        let query = query.to_lowercase();
        Ok(self
            .contacts_now()
            .iter()
            .filter(|c| c.name.to_lowercase().contains(&query) || c.phone.contains(&query))
            .map(contact)
            .collect())
    }

    async fn list_contacts(&self, _login: &LoginRow) -> Result<Vec<Contact>> {
        Ok(self.contacts_now().iter().map(contact).collect())
    }

    async fn list_chats(&self, _login: &LoginRow) -> Result<Vec<ChatSummary>> {
        Ok(self
            .chats_now()
            .into_iter()
            .map(|c| ChatSummary {
                id: c.id,
                name: c.name,
                direct: c.direct,
                last_activity: c.last_activity,
            })
            .collect())
    }

    async fn chat_portal(&self, login: &LoginRow, chat_id: &str) -> Result<Option<PortalInfo>> {
        let Some(bridge) = self.bridge.get() else {
            return Ok(None);
        };
        Ok(self
            .chats_now()
            .into_iter()
            .find(|c| c.id == chat_id)
            .map(|chat| PortalInfo {
                key: bridge.chat_portal_key(&chat.id, &login.login_id, chat.direct),
                name: Some(chat.name),
                ..Default::default()
            }))
    }

    async fn dm_portal(&self, login: &LoginRow, contact: &Contact) -> Result<PortalInfo> {
        let bridge = self
            .bridge
            .get()
            .ok_or_else(|| anyhow::anyhow!("not started"))?;
        bridge.ensure_ghost(&contact.ghost).await?;
        Ok(PortalInfo {
            key: bridge.chat_portal_key(contact.ghost.id.as_str(), &login.login_id, true),
            name: contact.ghost.displayname.clone(),
            direct_with: Some(contact.ghost.id.clone()),
            ..Default::default()
        })
    }
}
