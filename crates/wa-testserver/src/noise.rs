//! The server's half of WhatsApp's transport: the frames on the websocket,
//! the Noise XX handshake as responder, and the encrypted frames after it.
//!
//! The client sends `WA 6 3` once, then frames of a 3-byte big-endian
//! length and a payload, both ways. The handshake is
//! `Noise_XX_25519_AESGCM_SHA256` with that header as prologue; its
//! ServerHello carries a certificate chain whose leaf is our static key.

use anyhow::{anyhow, bail, Context, Result};
use wacore::libsignal::protocol::KeyPair;
use wacore_binary::consts::{NOISE_PATTERN_XX, WA_CONN_HEADER};
use wacore_noise::{NoiseCipher, NoiseHandshake};
use waproto::buffa::{Message, MessageField};
use waproto::whatsapp::{self as wa, cert_chain::noise_certificate};

const LENGTH_BYTES: usize = 3;
const MAX_FRAME: usize = 1 << 24;

/// Splits a byte stream into frames, dropping the connection header first.
#[derive(Default)]
pub struct Frames {
    buffer: Vec<u8>,
    header_seen: bool,
}

impl Frames {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole frame, if one has arrived.
    pub fn next(&mut self) -> Result<Option<Vec<u8>>> {
        if !self.header_seen {
            if self.buffer.len() < WA_CONN_HEADER.len() {
                return Ok(None);
            }
            if self.buffer[..2] != WA_CONN_HEADER[..2] {
                bail!("the connection does not start with the WA header");
            }
            self.buffer.drain(..WA_CONN_HEADER.len());
            self.header_seen = true;
        }
        if self.buffer.len() < LENGTH_BYTES {
            return Ok(None);
        }
        let length = usize::from(self.buffer[0]) << 16
            | usize::from(self.buffer[1]) << 8
            | usize::from(self.buffer[2]);
        if self.buffer.len() < LENGTH_BYTES + length {
            return Ok(None);
        }
        let frame = self.buffer[LENGTH_BYTES..LENGTH_BYTES + length].to_vec();
        self.buffer.drain(..LENGTH_BYTES + length);
        Ok(Some(frame))
    }
}

/// A payload with its length in front.
pub fn frame(payload: &[u8]) -> Result<Vec<u8>> {
    if payload.len() >= MAX_FRAME {
        bail!("a frame of {} bytes is over the limit", payload.len());
    }
    let length = payload.len();
    let mut out = Vec::with_capacity(LENGTH_BYTES + length);
    out.extend_from_slice(&[(length >> 16) as u8, (length >> 8) as u8, length as u8]);
    out.extend_from_slice(payload);
    Ok(out)
}

/// The server's long-lived Noise identity and the certificate chain that
/// names it.
pub struct ServerIdentity {
    static_key: KeyPair,
    cert_chain: Vec<u8>,
}

impl ServerIdentity {
    pub fn generate() -> Self {
        let static_key = KeyPair::generate(&mut rand10::rng());
        let cert_chain = cert_chain(static_key.public_key.public_key_bytes());
        Self {
            static_key,
            cert_chain,
        }
    }
}

/// A chain the client accepts with its signature checks skipped. The leaf
/// expired long ago, so the client never caches it for a Noise IK resume and
/// always comes back with XX, the one pattern this server answers.
fn cert_chain(server_static: &[u8]) -> Vec<u8> {
    let intermediate = noise_certificate::Details {
        serial: Some(1),
        issuer_serial: Some(0),
        key: Some(vec![0x11; 32]),
        not_before: Some(1_000_000_000),
        not_after: Some(1_000_000_001),
    };
    let leaf = noise_certificate::Details {
        serial: Some(2),
        issuer_serial: Some(1),
        key: Some(server_static.to_vec()),
        not_before: Some(1_000_000_000),
        not_after: Some(1_000_000_001),
    };
    let certificate = |details: noise_certificate::Details| wa::cert_chain::NoiseCertificate {
        details: Some(details.encode_to_vec()),
        signature: Some(vec![0; 64]),
    };
    wa::CertChain {
        leaf: MessageField::some(certificate(leaf)),
        intermediate: MessageField::some(certificate(intermediate)),
    }
    .encode_to_vec()
}

/// The responder between ClientHello and ClientFinish.
pub struct Responder {
    noise: NoiseHandshake,
    ephemeral: KeyPair,
}

impl Responder {
    /// Reads the ClientHello and answers the ServerHello.
    pub fn hello(identity: &ServerIdentity, client_hello: &[u8]) -> Result<(Self, Vec<u8>)> {
        let message = wa::HandshakeMessage::decode_from_slice(client_hello)
            .context("the ClientHello does not parse")?;
        let client_ephemeral = message
            .client_hello
            .as_option()
            .and_then(|hello| hello.ephemeral.clone())
            .ok_or_else(|| anyhow!("the ClientHello has no ephemeral key"))?;
        let mut noise = NoiseHandshake::new(NOISE_PATTERN_XX, &WA_CONN_HEADER)?;
        noise.authenticate(&client_ephemeral);
        let ephemeral = KeyPair::generate(&mut rand10::rng());
        noise.authenticate(ephemeral.public_key.public_key_bytes());
        noise.mix_shared_secret(ephemeral.private_key.serialize(), &client_ephemeral)?;
        let static_sealed = noise.encrypt(identity.static_key.public_key.public_key_bytes())?;
        noise.mix_shared_secret(
            identity.static_key.private_key.serialize(),
            &client_ephemeral,
        )?;
        let chain_sealed = noise.encrypt(&identity.cert_chain)?;
        let server_hello = wa::HandshakeMessage {
            server_hello: MessageField::some(wa::handshake_message::ServerHello {
                ephemeral: Some(ephemeral.public_key.public_key_bytes().to_vec()),
                r#static: Some(static_sealed),
                payload: Some(chain_sealed),
                ..Default::default()
            }),
            ..Default::default()
        };
        Ok((Self { noise, ephemeral }, server_hello.encode_to_vec()))
    }

    /// Reads the ClientFinish: the client's static key, its `ClientPayload`
    /// (who it is, or what it brings to pair), and the transport keys.
    pub fn finish(
        mut self,
        client_finish: &[u8],
    ) -> Result<([u8; 32], wa::ClientPayload, Transport)> {
        let message = wa::HandshakeMessage::decode_from_slice(client_finish)
            .context("the ClientFinish does not parse")?;
        let finish = message
            .client_finish
            .into_option()
            .ok_or_else(|| anyhow!("the message is not a ClientFinish"))?;
        let static_sealed = finish
            .r#static
            .ok_or_else(|| anyhow!("the ClientFinish has no static key"))?;
        let client_static: [u8; 32] = self
            .noise
            .decrypt(&static_sealed)?
            .try_into()
            .map_err(|_| anyhow!("the client's static key is not 32 bytes"))?;
        self.noise
            .mix_shared_secret(self.ephemeral.private_key.serialize(), &client_static)?;
        let payload = self.noise.decrypt(
            finish
                .payload
                .as_deref()
                .ok_or_else(|| anyhow!("the ClientFinish has no payload"))?,
        )?;
        let payload = wa::ClientPayload::decode_from_slice(&payload)
            .context("the ClientPayload does not parse")?;
        // The keys are named from the initiator's side: it writes with the first.
        let (client_writes, client_reads) = self.noise.finish()?;
        Ok((
            client_static,
            payload,
            Transport {
                read: client_writes,
                write: client_reads,
                read_counter: 0,
                write_counter: 0,
            },
        ))
    }
}

/// AES-GCM per frame, with a counter per direction as the nonce.
pub struct Transport {
    read: NoiseCipher,
    write: NoiseCipher,
    read_counter: u32,
    write_counter: u32,
}

impl Transport {
    pub fn open(&mut self, frame: Vec<u8>) -> Result<Vec<u8>> {
        let mut buffer = frame;
        self.read
            .decrypt_in_place_with_counter(self.read_counter, &mut buffer)
            .map_err(|err| anyhow!("a frame does not decrypt: {err}"))?;
        self.read_counter += 1;
        Ok(buffer)
    }

    pub fn seal(&mut self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let sealed = self
            .write
            .encrypt_with_counter(self.write_counter, plaintext)
            .map_err(|err| anyhow!("a frame does not encrypt: {err}"))?;
        self.write_counter += 1;
        Ok(sealed)
    }
}
