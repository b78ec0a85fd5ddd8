//! Linking by pair code instead of QR: the user types the 8-character code
//! the companion shows into the phone.
//!
//! 1. `companion_hello`: the companion sends its ephemeral key, wrapped
//!    with a key derived from the code; the server answers a pairing ref.
//! 2. The code is "typed on the phone" ([`WaTestServer::enter_pair_code`]):
//!    the phone unwraps the companion's key, and sends `primary_hello` with
//!    its own ephemeral key, wrapped the same way, and its identity key.
//! 3. `companion_finish`: the companion sends a key bundle sealed with the
//!    ephemeral agreement. The phone opens it, derives the ADV secret from
//!    both agreements and the bundle's random part, and approves the
//!    companion as for a QR code.

use crate::conn::result;
use crate::iq::{attr, error};
use crate::pairing::{approve, request_id};
use crate::{ConnectionId, Outgoing, State, WaTestServer, SERVER};
use anyhow::{anyhow, bail, Context, Result};
use wacore::libsignal::crypto::aes_256_gcm_decrypt;
use wacore::libsignal::protocol::{KeyPair, PublicKey};
use wacore::pair_code::PairCodeUtils;
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::{Node, NodeContent};

/// A companion between `companion_hello` and `companion_finish`.
pub struct PairCodeFlow {
    phone: String,
    reference: String,
    noise_key: [u8; 32],
    wrapped_companion_ephemeral: Vec<u8>,
    /// Set once the code was typed on the phone.
    primary_ephemeral: Option<KeyPair>,
    companion_ephemeral: Option<[u8; 32]>,
}

fn child_bytes(node: &Node, tag: &str) -> Option<Vec<u8>> {
    match &node.get_optional_child(tag)?.content {
        Some(NodeContent::Bytes(bytes)) => Some(bytes.clone()),
        Some(NodeContent::String(text)) => Some(text.as_bytes().to_vec()),
        _ => None,
    }
}

fn key32(bytes: &[u8], what: &str) -> Result<[u8; 32]> {
    bytes
        .try_into()
        .map_err(|_| anyhow!("the {what} is not 32 bytes"))
}

/// Answers the `link_code_companion_reg` IQs of a pairing connection.
pub fn answer(
    state: &State,
    connection: ConnectionId,
    noise_key: [u8; 32],
    iq: &Node,
) -> Result<Vec<Node>> {
    let id = attr(iq, "id").unwrap_or_default();
    let reg = iq
        .get_optional_child("link_code_companion_reg")
        .context("no link_code_companion_reg")?;
    let phone = attr(reg, "jid")
        .and_then(|jid| jid.split('@').next().map(str::to_owned))
        .unwrap_or_default();
    match attr(reg, "stage").as_deref() {
        Some("companion_hello") => {
            let mut registry = state.registry();
            if !registry.accounts.contains_key(&phone) {
                return Ok(vec![error(&id, "404", "item-not-found")]);
            }
            let wrapped = child_bytes(reg, "link_code_pairing_wrapped_companion_ephemeral_pub")
                .context("companion_hello without the wrapped ephemeral key")?;
            let reference = format!("{:016X}", rand10::random::<u64>());
            registry.pair_codes.insert(
                connection,
                PairCodeFlow {
                    phone,
                    reference: reference.clone(),
                    noise_key,
                    wrapped_companion_ephemeral: wrapped,
                    primary_ephemeral: None,
                    companion_ephemeral: None,
                },
            );
            Ok(vec![result(
                &id,
                vec![NodeBuilder::new("link_code_companion_reg")
                    .children([NodeBuilder::new("link_code_pairing_ref")
                        .bytes(reference.into_bytes())
                        .build()])
                    .build()],
            )])
        }
        Some("companion_finish") => {
            finish(state, connection, reg)?;
            Ok(vec![result(&id, Vec::new())])
        }
        other => {
            tracing::warn!("WhatsApp test server: a pair-code stage {other:?}");
            Ok(vec![error(&id, "400", "bad-request")])
        }
    }
}

fn finish(state: &State, connection: ConnectionId, reg: &Node) -> Result<()> {
    let mut registry = state.registry();
    let flow = registry
        .pair_codes
        .remove(&connection)
        .context("companion_finish before companion_hello")?;
    let (Some(primary), Some(companion_ephemeral)) =
        (flow.primary_ephemeral, flow.companion_ephemeral)
    else {
        bail!("companion_finish before the code was typed on the phone");
    };
    let wrapped = child_bytes(reg, "link_code_pairing_wrapped_key_bundle")
        .context("companion_finish without its key bundle")?;
    if wrapped.len() < 32 + 12 + 16 {
        bail!("the wrapped key bundle is {} bytes", wrapped.len());
    }
    let (salt, rest) = wrapped.split_at(32);
    let (iv, sealed) = rest.split_at(12);
    let companion_ephemeral = PublicKey::from_djb_public_key_bytes(&companion_ephemeral)
        .map_err(|e| anyhow!("the companion's ephemeral key: {e}"))?;
    let ephemeral_shared = primary
        .private_key
        .calculate_agreement(&companion_ephemeral)
        .map_err(|e| anyhow!("{e}"))?;
    let mut key = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(
        &ephemeral_shared,
        Some(salt),
        b"link_code_pairing_key_bundle_encryption_key",
        &mut key,
    )
    .map_err(|_| anyhow!("HKDF failed"))?;
    let mut bundle = Vec::new();
    aes_256_gcm_decrypt(&key, iv.try_into()?, b"", sealed, &mut bundle)
        .map_err(|_| anyhow!("the key bundle does not open with the code's keys"))?;
    if bundle.len() != 96 {
        bail!("the key bundle is {} bytes, not 96", bundle.len());
    }
    let companion_identity = key32(&bundle[..32], "companion identity key")?;
    let random = &bundle[64..];
    let account = registry.accounts.get(&flow.phone).context("no account")?;
    if bundle[32..64] != *account.key.public_key.public_key_bytes() {
        bail!("the key bundle names another phone's identity");
    }
    let identity_shared = account
        .key
        .private_key
        .calculate_agreement(
            &PublicKey::from_djb_public_key_bytes(&companion_identity)
                .map_err(|e| anyhow!("the companion's identity key: {e}"))?,
        )
        .map_err(|e| anyhow!("{e}"))?;
    let combined = [&ephemeral_shared[..], &identity_shared[..], random].concat();
    let mut adv_secret = [0u8; 32];
    wacore::crypto::hkdf_sha256_into(&combined, None, b"adv_secret", &mut adv_secret)
        .map_err(|_| anyhow!("HKDF failed"))?;
    approve(
        &mut registry,
        connection,
        &flow.phone,
        flow.noise_key,
        companion_identity,
        &adv_secret,
    )
}

impl WaTestServer {
    /// The user types `code` into the phone of `phone`: the companion that
    /// asked for a code for this number gets the phone's `primary_hello`.
    pub fn enter_pair_code(&self, phone: &str, code: &str) -> Result<()> {
        let mut registry = self.state.registry();
        let identity = registry
            .accounts
            .get(phone)
            .ok_or_else(|| anyhow!("no account {phone}"))?
            .key
            .public_key;
        let (connection, flow) = registry
            .pair_codes
            .iter_mut()
            .find(|(_, flow)| flow.phone == phone && flow.primary_ephemeral.is_none())
            .ok_or_else(|| anyhow!("no companion is waiting for a code for {phone}"))?;
        let companion_ephemeral =
            PairCodeUtils::decrypt_primary_ephemeral_pub(&flow.wrapped_companion_ephemeral, code)
                .map_err(|e| anyhow!("{e}"))?;
        let primary = KeyPair::generate(&mut rand10::rng());
        let wrapped = PairCodeUtils::encrypt_ephemeral_pub(
            &key32(primary.public_key.public_key_bytes(), "ephemeral key")?,
            code,
        );
        let hello = NodeBuilder::new("notification")
            .attr("from", SERVER)
            .attr("type", "link_code_companion_reg")
            .attr("id", request_id())
            .attr("t", wacore::time::now_secs().to_string())
            .children([NodeBuilder::new("link_code_companion_reg")
                .attr("stage", "primary_hello")
                .children([
                    NodeBuilder::new("link_code_pairing_wrapped_primary_ephemeral_pub")
                        .bytes(wrapped.to_vec())
                        .build(),
                    NodeBuilder::new("primary_identity_pub")
                        .bytes(identity.public_key_bytes().to_vec())
                        .build(),
                    NodeBuilder::new("link_code_pairing_ref")
                        .bytes(flow.reference.clone().into_bytes())
                        .build(),
                ])
                .build()])
            .build();
        // A wrong code unwraps to another key: the companion's bundle will
        // then not open, and the pairing fails there, as on a real phone.
        flow.companion_ephemeral = Some(companion_ephemeral);
        flow.primary_ephemeral = Some(primary);
        let connection = *connection;
        if let Some(sender) = registry.connections.get(&connection) {
            let _ = sender.send(Outgoing::Node(hello));
        }
        Ok(())
    }
}
