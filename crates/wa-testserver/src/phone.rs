//! The account's phone (device 0) as a Signal peer of its companions. It
//! holds the account's identity key, starts sessions from the bundles
//! companions upload, and so can send them what only a phone sends: the
//! app-state keys right after pairing.

use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use futures_util::FutureExt;
use std::collections::HashMap;
use wacore::libsignal::protocol::{
    message_encrypt, process_prekey_bundle, CiphertextMessage, Direction, IdentityChange,
    IdentityKey, IdentityKeyPair, IdentityKeyStore, KeyPair, PreKeyBundle, ProtocolAddress,
    SessionRecord, SessionStore, SignalProtocolError, UsePQRatchet,
};
use wacore::messages::MessageUtils;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;
use wacore_binary::Jid;
use waproto::buffa::{Message, MessageField};
use waproto::whatsapp as wa;

type SignalResult<T> = std::result::Result<T, SignalProtocolError>;

fn key_of(address: &ProtocolAddress) -> String {
    format!("{}.{}", address.name(), u32::from(address.device_id()))
}

/// The phone's sessions with its companions.
#[derive(Default)]
struct Sessions(HashMap<String, SessionRecord>);

/// The phone's own identity and the identities of its companions.
struct Identities {
    own: IdentityKeyPair,
    registration_id: u32,
    known: HashMap<String, IdentityKey>,
}

/// The phone's Signal state.
pub struct Phone {
    sessions: Sessions,
    identities: Identities,
    /// The app-state key the phone shares with each new companion.
    app_state_key_id: Vec<u8>,
    app_state_key: Vec<u8>,
}

impl Phone {
    /// A phone whose identity is the account key.
    pub fn new(account_key: &KeyPair) -> Self {
        let own = IdentityKeyPair::new(
            IdentityKey::new(account_key.public_key),
            account_key.private_key.clone(),
        );
        Self {
            sessions: Sessions::default(),
            identities: Identities {
                own,
                registration_id: rand10::random::<u32>() & 0x3fff,
                known: HashMap::new(),
            },
            app_state_key_id: rand10::random::<[u8; 6]>().to_vec(),
            app_state_key: rand10::random::<[u8; 32]>().to_vec(),
        }
    }

    /// Whether the phone has a session with a device yet.
    pub fn has_session(&self, device: &Jid) -> bool {
        let address = ProtocolAddress::new(&device.user, u32::from(device.device).into());
        self.sessions.0.contains_key(&key_of(&address))
    }

    /// Encrypts `message` to a device, starting a session from `bundle` if
    /// there is none yet. Returns the `<enc>` node.
    pub fn seal(
        &mut self,
        companion: &Jid,
        bundle: Option<&PreKeyBundle>,
        message: &wa::Message,
    ) -> Result<Node> {
        let address = ProtocolAddress::new(&companion.user, u32::from(companion.device).into());
        if !self.sessions.0.contains_key(&key_of(&address)) {
            let bundle = bundle.context("no session with the companion and no bundle")?;
            process_prekey_bundle(
                &address,
                &mut self.sessions,
                &mut self.identities,
                bundle,
                &mut rand10::rng(),
                UsePQRatchet::No,
            )
            .now_or_never()
            .context("the phone's store pended")??;
        }
        let plaintext = MessageUtils::pad_message_v2(message.encode_to_vec());
        let sealed = message_encrypt(
            &plaintext,
            &address,
            &mut self.sessions,
            &mut self.identities,
        )
        .now_or_never()
        .context("the phone's store pended")??;
        let (kind, bytes) = match &sealed {
            CiphertextMessage::PreKeySignalMessage(m) => ("pkmsg", m.serialized().to_vec()),
            CiphertextMessage::SignalMessage(m) => ("msg", m.serialized().to_vec()),
            _ => return Err(anyhow!("the phone produced an unexpected ciphertext")),
        };
        Ok(NodeBuilder::new("enc")
            .attr("v", "2")
            .attr("type", kind)
            .bytes(bytes)
            .build())
    }

    /// The message that shares the phone's app-state key with a companion.
    pub fn key_share(&self, companion_device: u16) -> wa::Message {
        wa::Message {
            protocol_message: MessageField::some(wa::message::ProtocolMessage {
                r#type: Some(wa::message::protocol_message::Type::APP_STATE_SYNC_KEY_SHARE),
                app_state_sync_key_share: MessageField::some(wa::message::AppStateSyncKeyShare {
                    keys: vec![wa::message::AppStateSyncKey {
                        key_id: MessageField::some(wa::message::AppStateSyncKeyId {
                            key_id: Some(self.app_state_key_id.clone()),
                        }),
                        key_data: MessageField::some(wa::message::AppStateSyncKeyData {
                            key_data: Some(self.app_state_key.clone()),
                            fingerprint: MessageField::some(
                                wa::message::AppStateSyncKeyFingerprint {
                                    raw_id: Some(1),
                                    current_index: Some(0),
                                    device_indexes: vec![0, u32::from(companion_device)],
                                },
                            ),
                            timestamp: Some(wacore::time::now_millis()),
                        }),
                    }],
                }),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

#[async_trait]
impl SessionStore for Sessions {
    async fn load_session(&self, address: &ProtocolAddress) -> SignalResult<Option<SessionRecord>> {
        Ok(self.0.get(&key_of(address)).cloned())
    }

    async fn has_session(&self, address: &ProtocolAddress) -> SignalResult<bool> {
        Ok(self.0.contains_key(&key_of(address)))
    }

    async fn store_session(
        &mut self,
        address: &ProtocolAddress,
        record: SessionRecord,
    ) -> SignalResult<()> {
        self.0.insert(key_of(address), record);
        Ok(())
    }
}

#[async_trait]
impl IdentityKeyStore for Identities {
    async fn get_identity_key_pair(&self) -> SignalResult<IdentityKeyPair> {
        Ok(self.own.clone())
    }

    async fn get_local_registration_id(&self) -> SignalResult<u32> {
        Ok(self.registration_id)
    }

    async fn save_identity(
        &mut self,
        address: &ProtocolAddress,
        identity: &IdentityKey,
    ) -> SignalResult<IdentityChange> {
        let old = self.known.insert(key_of(address), *identity);
        Ok(match old {
            Some(old) if old != *identity => IdentityChange::ReplacedExisting,
            _ => IdentityChange::NewOrUnchanged,
        })
    }

    /// The phone trusts its companions' keys as they come: it is the
    /// account that linked them.
    async fn is_trusted_identity(
        &self,
        _address: &ProtocolAddress,
        _identity: &IdentityKey,
        _direction: Direction,
    ) -> SignalResult<bool> {
        Ok(true)
    }

    async fn get_identity(&self, address: &ProtocolAddress) -> SignalResult<Option<IdentityKey>> {
        Ok(self.known.get(&key_of(address)).copied())
    }
}
