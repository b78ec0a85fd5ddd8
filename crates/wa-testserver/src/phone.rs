//! The account's phone (device 0) as a Signal peer of its companions. It
//! holds the account's identity key, starts sessions from the bundles
//! companions upload, and so can send them what only a phone sends: the
//! app-state keys right after pairing.

use anyhow::{anyhow, Context, Result};
use async_trait::async_trait;
use futures_util::FutureExt;
use std::collections::HashMap;
use wacore::libsignal::protocol::{
    message_decrypt, message_encrypt, process_prekey_bundle, CiphertextMessage, Direction,
    GenericSignedPreKey, IdentityChange, IdentityKey, IdentityKeyPair, IdentityKeyStore, KeyPair,
    PreKeyBundle, PreKeyId, PreKeyRecord, PreKeySignalMessage, PreKeyStore, ProtocolAddress,
    SessionRecord, SessionStore, SignalMessage, SignalProtocolError, SignedPreKeyId,
    SignedPreKeyRecord, SignedPreKeyStore, Timestamp, UsePQRatchet,
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

/// The keys others start sessions with the phone from.
struct PreKeys {
    signed: SignedPreKeyRecord,
    one_time: HashMap<u32, PreKeyRecord>,
}

/// The phone's Signal state.
pub struct Phone {
    sessions: Sessions,
    identities: Identities,
    prekeys: PreKeys,
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
        let prekeys = PreKeys::generate(account_key);
        Self {
            sessions: Sessions::default(),
            prekeys,
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

    /// The phone's bundle, as the server serves it for device 0.
    pub fn bundle_node(&mut self, jid: &Jid) -> Result<Node> {
        let signed = &self.prekeys.signed;
        let mut children = vec![
            NodeBuilder::new("registration")
                .bytes(self.identities.registration_id.to_be_bytes().to_vec())
                .build(),
            NodeBuilder::new("type").bytes(vec![5]).build(),
            NodeBuilder::new("identity")
                .bytes(self.identities.own.public_key().public_key_bytes().to_vec())
                .build(),
            NodeBuilder::new("skey")
                .children([
                    NodeBuilder::new("id")
                        .bytes(id_bytes(signed.id()?.into()))
                        .build(),
                    NodeBuilder::new("value")
                        .bytes(signed.public_key()?.public_key_bytes().to_vec())
                        .build(),
                    NodeBuilder::new("signature")
                        .bytes(signed.signature()?.to_vec())
                        .build(),
                ])
                .build(),
        ];
        let next = self.prekeys.one_time.keys().min().copied();
        if let Some(id) = next {
            let record = &self.prekeys.one_time[&id];
            children.push(
                NodeBuilder::new("key")
                    .children([
                        NodeBuilder::new("id").bytes(id_bytes(id)).build(),
                        NodeBuilder::new("value")
                            .bytes(record.public_key()?.public_key_bytes().to_vec())
                            .build(),
                    ])
                    .build(),
            );
        }
        Ok(NodeBuilder::new("user")
            .attr("jid", jid.clone())
            .attr("type", "result")
            .children(children)
            .build())
    }

    /// Opens a message a device sent the phone, returning its plaintext
    /// message.
    pub fn open(&mut self, sender: &Jid, kind: &str, ciphertext: &[u8]) -> Result<wa::Message> {
        let address = ProtocolAddress::new(&sender.user, u32::from(sender.device).into());
        let message = match kind {
            "pkmsg" => {
                CiphertextMessage::PreKeySignalMessage(PreKeySignalMessage::try_from(ciphertext)?)
            }
            "msg" => CiphertextMessage::SignalMessage(SignalMessage::try_from(ciphertext)?),
            other => return Err(anyhow!("the phone cannot open a {other}")),
        };
        let signed = SignedView(self.prekeys.signed.clone());
        let opened = message_decrypt(
            &message,
            &address,
            &mut self.sessions,
            &mut self.identities,
            &mut self.prekeys,
            &signed,
            &mut rand10::rng(),
            UsePQRatchet::No,
        )
        .now_or_never()
        .context("the phone's store pended")??;
        if let Some(used) = opened.consumed_prekey_id {
            self.prekeys.one_time.remove(&u32::from(used));
        }
        let plain = MessageUtils::unpad_message_ref(&opened.plaintext, 2)?;
        Ok(wa::Message::decode_from_slice(plain)?)
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

/// A key ID as the server writes it: three bytes, big-endian.
fn id_bytes(id: u32) -> Vec<u8> {
    id.to_be_bytes()[1..].to_vec()
}

impl PreKeys {
    /// A signed pre-key and a stock of one-time keys, signed by the
    /// account's identity.
    fn generate(identity: &KeyPair) -> Self {
        let mut rng = rand10::rng();
        let signed_pair = KeyPair::generate(&mut rng);
        let signature = identity
            .private_key
            .calculate_signature(&signed_pair.public_key.serialize(), &mut rng)
            .expect("signing with a fresh key works");
        let signed = SignedPreKeyRecord::new(
            SignedPreKeyId::from(1),
            Timestamp::from_epoch_millis(wacore::time::now_millis().unsigned_abs()),
            &signed_pair,
            &signature,
        );
        let one_time = (1..=100)
            .map(|id| {
                (
                    id,
                    PreKeyRecord::new(PreKeyId::from(id), &KeyPair::generate(&mut rng)),
                )
            })
            .collect();
        Self { signed, one_time }
    }
}

/// The signed pre-key, for a decrypt that borrows the one-time keys
/// mutably at the same time.
struct SignedView(SignedPreKeyRecord);

#[async_trait]
impl PreKeyStore for PreKeys {
    async fn get_pre_key(&self, id: PreKeyId) -> SignalResult<PreKeyRecord> {
        self.one_time
            .get(&u32::from(id))
            .cloned()
            .ok_or(SignalProtocolError::InvalidPreKeyId)
    }

    async fn save_pre_key(&mut self, id: PreKeyId, record: &PreKeyRecord) -> SignalResult<()> {
        self.one_time.insert(u32::from(id), record.clone());
        Ok(())
    }

    async fn remove_pre_key(&mut self, id: PreKeyId) -> SignalResult<()> {
        self.one_time.remove(&u32::from(id));
        Ok(())
    }
}

#[async_trait]
impl SignedPreKeyStore for SignedView {
    async fn get_signed_pre_key(&self, id: SignedPreKeyId) -> SignalResult<SignedPreKeyRecord> {
        if self.0.id()? == id {
            Ok(self.0.clone())
        } else {
            Err(SignalProtocolError::InvalidSignedPreKeyId)
        }
    }

    async fn save_signed_pre_key(
        &mut self,
        _id: SignedPreKeyId,
        _record: &SignedPreKeyRecord,
    ) -> SignalResult<()> {
        Ok(())
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
