//! Contacts and chats a login can reach, behind `pm`, `search`, `list`,
//! `open` and `sync`. WhatsApp has no contact list to ask for: the names
//! are those people give themselves (push names) and the chats those seen
//! in the history the phone sends and in messages since, kept per login.

use crate::chat_info::{self, portal_info};
use crate::login::phone_digits;
use crate::network::WhatsAppNetwork;
use anyhow::Result;
use async_trait::async_trait;
use causeway_core::network::{ChatSummary, Contact, ContactHandling, PortalInfo};
use causeway_core::store::{LoginData, LoginRow};
use serde::{Deserialize, Serialize};
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::Jid;

const CHATS: &str = "whatsapp-bridge/chats";
const NAMES: &str = "whatsapp-bridge/names";

/// A chat as the chat list keeps it.
#[derive(Serialize, Deserialize)]
struct KnownChat {
    name: Option<String>,
    last_activity: i64,
}

fn rows(network: &WhatsAppNetwork, login: &LoginRow, namespace: &str) -> Result<LoginData> {
    Ok(network.bridge()?.login_data(&login.login_id, namespace))
}

/// Something happened in a chat at `at` (milliseconds).
pub(crate) async fn remember_chat(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    chat: &Jid,
    name: Option<String>,
    at: i64,
) -> Result<()> {
    let rows = rows(network, login, CHATS)?;
    let key = chat_info::chat_key(chat);
    let known: Option<KnownChat> = rows
        .get(&key)
        .await?
        .and_then(|v| serde_json::from_slice(&v).ok());
    let chat = KnownChat {
        name: name.or_else(|| known.as_ref().and_then(|k| k.name.clone())),
        last_activity: at.max(known.map(|k| k.last_activity).unwrap_or_default()),
    };
    rows.put(&key, &serde_json::to_vec(&chat)?).await
}

/// The name a person gave themselves.
pub(crate) async fn remember_name(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    person: &Jid,
    name: &str,
) -> Result<()> {
    rows(network, login, NAMES)?
        .put(person.user.as_str(), name.as_bytes())
        .await
}

/// A person's name, if they gave one.
pub(crate) async fn name_of(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    person: &Jid,
) -> Option<String> {
    let value = rows(network, login, NAMES)
        .ok()?
        .get(person.user.as_str())
        .await
        .ok()??;
    String::from_utf8(value).ok()
}

fn contact(number: &str, name: Option<String>) -> Contact {
    Contact {
        ghost: chat_info::ghost(&Jid::pn(number), name),
        identifier: format!("+{number}"),
    }
}

async fn known_contacts(network: &WhatsAppNetwork, login: &LoginRow) -> Result<Vec<Contact>> {
    Ok(rows(network, login, NAMES)?
        .entries("")
        .await?
        .into_iter()
        .map(|(number, name)| contact(&number, String::from_utf8(name).ok()))
        .collect())
}

#[async_trait]
impl ContactHandling for WhatsAppNetwork {
    async fn resolve_identifier(
        &self,
        login: &LoginRow,
        identifier: &str,
    ) -> Result<Option<Contact>> {
        let Some(number) = phone_digits(identifier) else {
            anyhow::bail!(
                "{identifier:?} is not a phone number in international format, like +4412345678"
            );
        };
        let client = self.client(&login.login_id)?;
        let found = client
            .client
            .contacts()
            .is_on_whatsapp(&[Jid::pn(number.as_str())])
            .await
            .map_err(|e| {
                anyhow::anyhow!("WhatsApp did not answer whether +{number} uses it: {e}")
            })?;
        if !found.iter().any(|r| r.is_registered) {
            return Ok(None);
        }
        let name = name_of(self, login, &Jid::pn(number.as_str())).await;
        Ok(Some(contact(&number, name)))
    }

    async fn search_contacts(&self, login: &LoginRow, query: &str) -> Result<Vec<Contact>> {
        let query = query.to_lowercase();
        Ok(known_contacts(self, login)
            .await?
            .into_iter()
            .filter(|c| {
                c.identifier.contains(&query)
                    || c.ghost
                        .displayname
                        .as_deref()
                        .is_some_and(|n| n.to_lowercase().contains(&query))
            })
            .collect())
    }

    async fn list_contacts(&self, login: &LoginRow) -> Result<Vec<Contact>> {
        known_contacts(self, login).await
    }

    async fn list_chats(&self, login: &LoginRow) -> Result<Vec<ChatSummary>> {
        let mut chats: Vec<ChatSummary> = rows(self, login, CHATS)?
            .entries("")
            .await?
            .into_iter()
            .filter_map(|(id, value)| {
                let known: KnownChat = serde_json::from_slice(&value).ok()?;
                let direct = !id.ends_with("@g.us");
                let name = known
                    .name
                    .unwrap_or_else(|| format!("+{}", id.split('@').next().unwrap_or_default()));
                Some(ChatSummary {
                    id,
                    name,
                    direct,
                    last_activity: Some(known.last_activity),
                })
            })
            .collect();
        // Groups the account is in, quiet ones too.
        let client = self.client(&login.login_id)?;
        if let Ok(groups) = client.client.groups().get_participating().await {
            for (jid, metadata) in groups {
                let id = chat_info::chat_key(&jid);
                match chats.iter_mut().find(|c| c.id == id) {
                    Some(known) => known.name = metadata.subject.clone(),
                    None => chats.push(ChatSummary {
                        id,
                        name: metadata.subject.clone(),
                        direct: false,
                        last_activity: None,
                    }),
                }
            }
        }
        Ok(chats)
    }

    async fn chat_portal(&self, login: &LoginRow, chat_id: &str) -> Result<Option<PortalInfo>> {
        let Ok(chat) = chat_id.parse::<Jid>() else {
            return Ok(None);
        };
        let bridge = self.bridge()?;
        if chat.is_group() {
            let client = self.client(&login.login_id)?;
            let Ok(metadata) = client.client.groups().get_metadata(&chat).await else {
                return Ok(None);
            };
            return Ok(Some(portal_info(
                bridge,
                login,
                &chat,
                Some(metadata.subject),
            )));
        }
        if !chat.is_pn() {
            return Ok(None);
        }
        let name = name_of(self, login, &chat).await;
        Ok(Some(portal_info(bridge, login, &chat, name)))
    }

    async fn dm_portal(&self, login: &LoginRow, contact: &Contact) -> Result<PortalInfo> {
        let chat = Jid::pn(contact.ghost.id.0.as_str());
        Ok(portal_info(
            self.bridge()?,
            login,
            &chat,
            contact.ghost.displayname.clone(),
        ))
    }
}
