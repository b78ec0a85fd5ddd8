//! Linking a companion to an account, as the phone does it.
//!
//! 1. A new client gets QR refs (`pair-device`) and shows
//!    `ref,noiseKey,identityKey,advSecret,platform` as a QR code.
//! 2. The test "scans" it: the server sends `pair-success` with an ADV
//!    identity for the new device, signed by the account's key and MACed
//!    with the ADV secret, which only the QR code carried.
//! 3. The client checks both, countersigns (`pair-device-sign`); the
//!    server checks that signature, links the device, and ends the stream
//!    with 515 so that the client logs in as the new device.

use crate::conn::{stream_error, Session};
use crate::{Companion, ConnectionId, Outgoing, Registry, State, Unpaired, SERVER};
use anyhow::{anyhow, bail, Context, Result};
use base64::prelude::{Engine, BASE64_STANDARD};
use hmac::{Hmac, Mac};
use rand10::RngExt;
use sha2::Sha256;
use std::time::Duration;
use wacore::libsignal::protocol::PublicKey;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;
use waproto::buffa::Message;
use waproto::whatsapp as wa;

/// What WhatsApp signs an ADV identity over, before the details.
const ACCOUNT_SIGNATURE_PREFIX: [u8; 2] = [6, 0];
const DEVICE_SIGNATURE_PREFIX: [u8; 2] = [6, 1];

/// How many QR refs a new connection gets; the client shows one after the
/// other.
const REFS: usize = 6;

/// A pairing the phone approved, waiting for the client's countersignature.
pub struct Approved {
    pub phone: String,
    pub device: u32,
    pub noise_key: [u8; 32],
    pub identity_key: [u8; 32],
    pub details: Vec<u8>,
    pub account_key: [u8; 32],
}

/// The `pair-device` IQ that gives a new connection its QR refs.
pub fn offer_refs(state: &State, connection: ConnectionId, noise_key: [u8; 32]) -> Node {
    let mut registry = state.registry();
    let now = std::time::Instant::now();
    let count = registry.qr_refs.unwrap_or(REFS);
    let refs: Vec<Node> = (0..count)
        .map(|n| {
            // The client shows the first code for 60 s, each next one for 20.
            let expires = now + Duration::from_secs(60 + 20 * n as u64);
            let bytes: [u8; 18] = rand10::rng().random();
            let reference = format!("2@{}", BASE64_STANDARD.encode(bytes));
            registry.unpaired.insert(
                reference.clone(),
                Unpaired {
                    connection,
                    noise_key,
                    expires,
                },
            );
            NodeBuilder::new("ref")
                .bytes(reference.into_bytes())
                .build()
        })
        .collect();
    NodeBuilder::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", request_id())
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-device").children(refs).build()])
        .build()
}

pub fn request_id() -> String {
    format!("srv-{:08x}", rand10::rng().random::<u32>())
}

fn key32(field: &str, what: &str) -> Result<[u8; 32]> {
    BASE64_STANDARD
        .decode(field)
        .ok()
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or_else(|| anyhow!("the QR code's {what} is not a 32-byte base64 key"))
}

/// The phone of `phone` scans `code`.
pub fn scan(state: &State, code: &str, phone: &str) -> Result<()> {
    let fields: Vec<&str> = code.split(',').collect();
    let [reference, noise, identity, adv_secret, ..] = fields[..] else {
        bail!("the QR code has {} fields, not at least 4", fields.len());
    };
    let (noise_key, identity_key, adv_secret) = (
        key32(noise, "noise key")?,
        key32(identity, "identity key")?,
        key32(adv_secret, "ADV secret")?,
    );
    let mut registry = state.registry();
    let waiting = registry
        .unpaired
        .get(reference)
        .filter(|waiting| waiting.expires > std::time::Instant::now())
        .ok_or_else(|| anyhow!("the QR ref is unknown or expired"))?;
    if waiting.noise_key != noise_key {
        bail!("the QR code's noise key is not the connection's");
    }
    let connection = waiting.connection;
    registry
        .unpaired
        .retain(|_, waiting| waiting.connection != connection);
    approve(
        &mut registry,
        connection,
        phone,
        noise_key,
        identity_key,
        &adv_secret,
    )
}

/// The phone approves a companion: it gets `pair-success` with an ADV
/// identity for its new device, MACed with the secret only the two share.
pub fn approve(
    registry: &mut Registry,
    connection: ConnectionId,
    phone: &str,
    noise_key: [u8; 32],
    identity_key: [u8; 32],
    adv_secret: &[u8; 32],
) -> Result<()> {
    let account = registry
        .accounts
        .get_mut(phone)
        .ok_or_else(|| anyhow!("no account {phone}"))?;
    // Device numbers are never reused, as on WhatsApp: the phone still
    // holds a Signal session with a removed device, which a new one under
    // its number could not read.
    account.linked_ever += 1;
    let device = account.linked_ever;
    let account = &*account;

    let details = wa::ADVDeviceIdentity {
        raw_id: Some(rand10::rng().random()),
        timestamp: Some(wacore::time::now_secs().unsigned_abs()),
        key_index: Some(device),
        ..Default::default()
    }
    .encode_to_vec();
    let account_key: [u8; 32] = account
        .key
        .public_key
        .public_key_bytes()
        .try_into()
        .context("an account key that is not 32 bytes")?;
    let signed_over = [&ACCOUNT_SIGNATURE_PREFIX[..], &details, &identity_key].concat();
    let account_signature = account
        .key
        .private_key
        .calculate_signature(&signed_over, &mut rand10::rng())
        .map_err(|err| anyhow!("signing the ADV identity failed: {err}"))?;
    let signed = wa::ADVSignedDeviceIdentity {
        details: Some(details.clone()),
        account_signature_key: Some(account_key.to_vec()),
        account_signature: Some(account_signature.to_vec()),
        ..Default::default()
    }
    .encode_to_vec();
    let mut mac = Hmac::<Sha256>::new_from_slice(adv_secret).context("an HMAC key")?;
    mac.update(&signed);
    let container = wa::ADVSignedDeviceIdentityHMAC {
        details: Some(signed),
        hmac: Some(mac.finalize().into_bytes().to_vec()),
        ..Default::default()
    }
    .encode_to_vec();

    let success = NodeBuilder::new("iq")
        .attr("from", SERVER)
        .attr("type", "set")
        .attr("id", request_id())
        .attr("xmlns", "md")
        .children([NodeBuilder::new("pair-success")
            .children([
                NodeBuilder::new("device-identity").bytes(container).build(),
                NodeBuilder::new("platform").attr("name", "android").build(),
                NodeBuilder::new("biz")
                    .attr("name", account.push_name.clone())
                    .build(),
                NodeBuilder::new("device")
                    .attr("jid", format!("{phone}:{device}@s.whatsapp.net"))
                    .attr("lid", format!("{}:{device}@lid", account.lid))
                    .build(),
            ])
            .build()])
        .build();
    registry.approved.insert(
        connection,
        Approved {
            phone: phone.to_owned(),
            device,
            noise_key,
            identity_key,
            details,
            account_key,
        },
    );
    if let Some(sender) = registry.connections.get(&connection) {
        let _ = sender.send(Outgoing::Node(success));
    }
    Ok(())
}

/// The client's `pair-device-sign`: checks its signature over the identity
/// it was given, links the device and asks the client to log in as it.
pub fn countersigned(
    state: &State,
    connection: ConnectionId,
    session: &Session,
    iq: &Node,
) -> Result<Vec<Node>> {
    let Session::Pairing { .. } = session else {
        bail!("a pair-device-sign after login");
    };
    let identity = iq
        .get_optional_child_by_tag(&["pair-device-sign", "device-identity"])
        .and_then(|node| match &node.content {
            Some(wacore_binary::node::NodeContent::Bytes(bytes)) => Some(bytes.clone()),
            _ => None,
        })
        .ok_or_else(|| anyhow!("a pair-device-sign without its device-identity"))?;
    let mut registry = state.registry();
    let approved = registry
        .approved
        .remove(&connection)
        .ok_or_else(|| anyhow!("a pair-device-sign no phone asked for"))?;
    let signed = wa::ADVSignedDeviceIdentity::decode_from_slice(&identity)
        .context("the countersigned identity does not parse")?;
    if signed.details.as_deref() != Some(&approved.details[..]) {
        bail!("the client countersigned other details than it was given");
    }
    let signed_over = [
        &DEVICE_SIGNATURE_PREFIX[..],
        &approved.details,
        &approved.identity_key,
        &approved.account_key,
    ]
    .concat();
    let companion = PublicKey::from_djb_public_key_bytes(&approved.identity_key)
        .map_err(|err| anyhow!("the companion's identity key is invalid: {err}"))?;
    let signature = signed.device_signature.unwrap_or_default();
    if !companion.verify_signature(&signed_over, &signature) {
        bail!("the companion's device signature does not verify");
    }
    let account = registry
        .accounts
        .get_mut(&approved.phone)
        .ok_or_else(|| anyhow!("the account went away while pairing"))?;
    account.devices.insert(
        approved.device,
        Companion {
            noise_key: approved.noise_key,
            identity,
            bundle: None,
            awaits_keys: true,
        },
    );
    if let Some(sender) = registry.connections.get(&connection) {
        let _ = sender.send(Outgoing::Close(stream_error("515")));
    }
    Ok(Vec::new())
}

impl crate::WaTestServer {
    /// New connections get `count` QR codes to show, so that a test sees
    /// them run out sooner.
    pub fn set_qr_refs(&self, count: usize) {
        self.state.registry().qr_refs = Some(count);
    }

    /// Lets every QR code shown so far expire, as time would.
    pub fn expire_qr_refs(&self) {
        let now = std::time::Instant::now();
        for waiting in self.state.registry().unpaired.values_mut() {
            waiting.expires = now;
        }
    }
}
