//! What the account's phone sends by itself: the app-state keys for a new
//! companion, the chat history, and messages the user types on the phone.
//! Each is a Signal message from device 0, sealed by [`crate::phone`].

use crate::{Registry, WaTestServer};
use anyhow::{anyhow, Context, Result};
use flate2::write::ZlibEncoder;
use std::io::Write;
use wacore::download::MediaType;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::{Node, NodeContent};
use wacore_binary::Jid;
use waproto::buffa::{Message, MessageField};
use waproto::whatsapp as wa;

/// A chat in the history a phone sends.
pub struct HistoryChat {
    /// The chat's JID: `<number>@s.whatsapp.net`, or a group's.
    pub jid: String,
    pub name: Option<String>,
    /// Oldest first.
    pub messages: Vec<HistoryMessage>,
}

/// A message in a history chat.
pub struct HistoryMessage {
    pub id: String,
    /// Sent by the account itself (from any of its devices).
    pub from_me: bool,
    /// In a group, who sent it.
    pub participant: Option<String>,
    pub text: String,
    /// Unix seconds.
    pub timestamp: u64,
}

fn message_id() -> String {
    format!("3EB0{:016X}", rand10::random::<u64>())
}

impl Registry {
    /// The user types `text` to `to` on the phone of `phone`: the message
    /// reaches `to`'s devices, and each of the sender's companions gets its
    /// copy. Returns the message ID.
    pub fn phone_types(&mut self, phone: &str, to: &str, text: &str) -> Result<String> {
        let registry = self;
        let chat = Jid::pn(to);
        let message = wa::Message {
            conversation: Some(text.to_owned()),
            ..Default::default()
        };
        let own_copy = wa::Message {
            device_sent_message: MessageField::some(wa::message::DeviceSentMessage {
                destination_jid: Some(chat.to_string()),
                message: MessageField::some(message.clone()),
                ..Default::default()
            }),
            ..Default::default()
        };
        let devices = |registry: &Registry, account: &str| -> Vec<u16> {
            let devices = registry.devices_of(account);
            devices
                .into_iter()
                .filter_map(|d| u16::try_from(d).ok())
                .collect()
        };
        let (theirs, ours) = (devices(registry, to), devices(registry, phone));
        if theirs.is_empty() && ours.is_empty() {
            return Err(anyhow!(
                "nobody to send to: neither side has a linked device"
            ));
        }
        let id = message_id();
        for device in theirs {
            let target = Jid::pn(to).with_device(device);
            registry.phone_sends(phone, &target, &message, None, &id)?;
        }
        for device in ours {
            let target = Jid::pn(phone).with_device(device);
            registry.phone_sends(phone, &target, &own_copy, Some(&chat), &id)?;
        }
        Ok(id)
    }

    /// A scripted contact's phone reads what `sender` sent it and answers.
    pub fn phone_reads(&mut self, contact: &str, sender: &Jid, children: &[Node]) -> Result<()> {
        let enc = children
            .iter()
            .find(|child| child.tag == "enc")
            .context("a message to the phone without <enc>")?;
        let kind = crate::iq::attr(enc, "type").unwrap_or_default();
        let Some(NodeContent::Bytes(ciphertext)) = &enc.content else {
            return Err(anyhow!("an <enc> without bytes"));
        };
        let account = self.accounts.get_mut(contact).context("no such contact")?;
        let message = account.phone.open(sender, &kind, ciphertext)?;
        let text = message.conversation.clone().or_else(|| {
            message
                .extended_text_message
                .as_option()
                .and_then(|m| m.text.clone())
        });
        let (Some(text), Some(sender_phone)) = (text, self.phone_of(sender)) else {
            // Sender keys, receipts-as-messages and the like need no answer.
            return Ok(());
        };
        let name = self.accounts[contact].push_name.clone();
        self.phone_types(
            contact,
            &sender_phone,
            &format!("{name} here. You said: {text}"),
        )?;
        Ok(())
    }

    /// The phone of `phone` sends `message` to one device, which takes it
    /// as coming from the phone (`from` is the account's own JID for its
    /// companions). Returns the stanza ID.
    fn phone_sends(
        &mut self,
        phone: &str,
        target: &Jid,
        message: &wa::Message,
        recipient: Option<&Jid>,
        id: &str,
    ) -> Result<()> {
        let needs_bundle = !self
            .accounts
            .get(phone)
            .context("no such account")?
            .phone
            .has_session(target);
        let bundle = needs_bundle.then(|| self.bundle_of(target)).transpose()?;
        let account = self.accounts.get_mut(phone).context("no such account")?;
        let enc = account.phone.seal(target, bundle.as_ref(), message)?;
        let mut stanza = NodeBuilder::new("message")
            .attr("from", Jid::pn(phone))
            .attr("id", id.to_owned())
            .attr("t", wacore::time::now_secs().to_string())
            .attr("type", "text")
            .attr("notify", account.push_name.clone());
        if let Some(recipient) = recipient {
            stanza = stanza.attr("recipient", recipient.clone());
        }
        let stanza = stanza.children([enc]).build();
        let target_phone = self.phone_of(target).context("no such target")?;
        self.deliver(&target_phone, u32::from(target.device), stanza);
        Ok(())
    }

    /// After a new companion's first upload, its phone shares the
    /// app-state keys with it, so that it need not wait for them.
    pub fn share_keys_with_new_companion(&mut self, phone: &str, device: u32) -> Result<()> {
        let awaits = self
            .accounts
            .get_mut(phone)
            .and_then(|account| account.devices.get_mut(&device))
            .is_some_and(|companion| std::mem::take(&mut companion.awaits_keys));
        if !awaits {
            return Ok(());
        }
        let device = u16::try_from(device)?;
        let share = self.accounts[phone].phone.key_share(device);
        let companion = Jid::pn(phone).with_device(device);
        self.phone_sends(phone, &companion, &share, None, &message_id())?;
        Ok(())
    }
}

fn history_sync(chats: &[HistoryChat]) -> wa::HistorySync {
    let conversations = chats
        .iter()
        .map(|chat| wa::Conversation {
            id: chat.jid.clone(),
            name: chat.name.clone(),
            conversation_timestamp: chat.messages.last().map(|m| m.timestamp),
            messages: chat
                .messages
                .iter()
                .enumerate()
                .map(|(order, m)| wa::HistorySyncMsg {
                    message: MessageField::some(wa::WebMessageInfo {
                        key: MessageField::some(wa::MessageKey {
                            remote_jid: Some(chat.jid.clone()),
                            from_me: Some(m.from_me),
                            id: Some(m.id.clone()),
                            participant: m.participant.clone(),
                        }),
                        message: MessageField::some(wa::Message {
                            conversation: Some(m.text.clone()),
                            ..Default::default()
                        }),
                        message_timestamp: Some(m.timestamp),
                        participant: m.participant.clone(),
                        ..Default::default()
                    }),
                    msg_order_id: Some(order as u64 + 1),
                })
                .collect(),
            ..Default::default()
        })
        .collect();
    wa::HistorySync {
        sync_type: wa::history_sync::HistorySyncType::INITIAL_BOOTSTRAP,
        conversations,
        chunk_order: Some(1),
        progress: Some(100),
        ..Default::default()
    }
}

impl WaTestServer {
    /// The phone sends a companion its chat history: a blob on the media
    /// host, announced by a history-sync notification.
    pub fn send_history(&self, phone: &str, device: u32, chats: &[HistoryChat]) -> Result<()> {
        let mut zlib = ZlibEncoder::new(Vec::new(), flate2::Compression::default());
        zlib.write_all(&history_sync(chats).encode_to_vec())?;
        let compressed = zlib.finish()?;
        let sealed = wacore::upload::encrypt_media(&compressed, MediaType::History)?;
        let direct_path = self
            .state
            .media
            .store(&sealed.file_enc_sha256, sealed.data_to_upload);
        let notification = wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::HISTORY_SYNC_NOTIFICATION),
                history_sync_notification: MessageField::some(
                    wa::message::HistorySyncNotification {
                        file_sha256: Some(sealed.file_sha256.to_vec()),
                        file_length: Some(compressed.len() as u64),
                        media_key: Some(sealed.media_key.to_vec()),
                        file_enc_sha256: Some(sealed.file_enc_sha256.to_vec()),
                        direct_path: Some(direct_path),
                        sync_type: Some(wa::message::HistorySyncType::INITIAL_BOOTSTRAP),
                        chunk_order: Some(1),
                        progress: Some(100),
                        ..Default::default()
                    },
                ),
                ..Default::default()
            }),
            ..Default::default()
        };
        let target = Jid::pn(phone).with_device(u16::try_from(device)?);
        self.state
            .registry()
            .phone_sends(phone, &target, &notification, None, &message_id())?;
        Ok(())
    }

    /// The user types `text` to `to` on the phone of `phone`: the message
    /// reaches `to`'s devices, and each of the sender's companions gets its
    /// copy. Returns the message ID.
    pub fn phone_sends_text(&self, phone: &str, to: &str, text: &str) -> Result<String> {
        self.state.registry().phone_types(phone, to, text)
    }
}
