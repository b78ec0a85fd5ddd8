//! MTProto 2.0 encryption as the server does it. grammers-crypto only
//! encrypts as a client and decrypts as one, so the server side is written
//! here from the protocol: `msg_key` is the middle of
//! `sha256(auth_key[88 + x .. 120 + x] ‖ plaintext)`, and the AES-IGE key and
//! IV come from `msg_key` and the auth key, with x = 0 for what the client
//! sends and x = 8 for what the server sends.

use grammers_crypto::aes::{ige_decrypt, ige_encrypt};
use sha2::{Digest, Sha256};

/// A pre-registered auth key.
#[derive(Clone)]
pub struct AuthKey {
    pub data: [u8; 256],
    pub id: [u8; 8],
}

impl AuthKey {
    pub fn new(data: [u8; 256]) -> Self {
        let sha = sha1::Sha1::digest(data);
        let mut id = [0; 8];
        id.copy_from_slice(&sha[12..20]);
        Self { data, id }
    }
}

/// Who wrote a message, which picks `x` in the key derivation.
#[derive(Clone, Copy)]
enum Side {
    Client,
    Server,
}

impl Side {
    fn x(self) -> usize {
        match self {
            Side::Client => 0,
            Side::Server => 8,
        }
    }
}

fn sha256(parts: &[&[u8]]) -> [u8; 32] {
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

fn aes_key_iv(key: &AuthKey, msg_key: &[u8; 16], side: Side) -> ([u8; 32], [u8; 32]) {
    let x = side.x();
    let a = sha256(&[msg_key, &key.data[x..x + 36]]);
    let b = sha256(&[&key.data[40 + x..76 + x], msg_key]);
    let mut aes_key = [0; 32];
    aes_key[..8].copy_from_slice(&a[..8]);
    aes_key[8..24].copy_from_slice(&b[8..24]);
    aes_key[24..].copy_from_slice(&a[24..]);
    let mut iv = [0; 32];
    iv[..8].copy_from_slice(&b[..8]);
    iv[8..24].copy_from_slice(&a[8..24]);
    iv[24..].copy_from_slice(&b[24..]);
    (aes_key, iv)
}

fn msg_key(key: &AuthKey, plaintext: &[u8], side: Side) -> [u8; 16] {
    let x = side.x();
    let full = sha256(&[&key.data[88 + x..120 + x], plaintext]);
    let mut out = [0; 16];
    out.copy_from_slice(&full[8..24]);
    out
}

/// The auth key ID a client message starts with, if it is long enough.
pub fn key_id_of(packet: &[u8]) -> Option<[u8; 8]> {
    packet.get(..8)?.try_into().ok()
}

/// Opens a client message: `key_id ‖ msg_key ‖ AES-IGE(plaintext)`.
pub fn decrypt(key: &AuthKey, packet: &[u8]) -> Option<Vec<u8>> {
    if packet.len() < 24 + 16 || !(packet.len() - 24).is_multiple_of(16) || packet[..8] != key.id {
        return None;
    }
    let msg_key: [u8; 16] = packet[8..24].try_into().ok()?;
    let (aes_key, iv) = aes_key_iv(key, &msg_key, Side::Client);
    let mut plaintext = packet[24..].to_vec();
    ige_decrypt(&mut plaintext, &aes_key, &iv);
    (msg_key == self::msg_key(key, &plaintext, Side::Client)).then_some(plaintext)
}

/// Seals a server message, with 12 to 1024 bytes of padding to a 16-byte
/// multiple, as the protocol asks.
pub fn encrypt(key: &AuthKey, plaintext: &[u8]) -> Vec<u8> {
    let mut padded = plaintext.to_vec();
    let padding = 12 + (16 - (plaintext.len() + 12) % 16) % 16;
    padded.extend((0..padding).map(|_| rand::random::<u8>()));
    let msg_key = msg_key(key, &padded, Side::Server);
    let (aes_key, iv) = aes_key_iv(key, &msg_key, Side::Server);
    ige_encrypt(&mut padded, &aes_key, &iv);
    [&key.id[..], &msg_key, &padded].concat()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn what_the_server_seals_grammers_opens_as_a_client() {
        let key = AuthKey::new([7; 256]);
        let sealed = encrypt(&key, &[1; 40]);
        let client_key = grammers_crypto::AuthKey::from_bytes([7; 256]);
        let mut buffer = sealed.clone();
        let opened = grammers_crypto::decrypt_data_v2(&mut buffer, &client_key).unwrap();
        assert_eq!(&opened[..40], &[1; 40]);
    }

    #[test]
    fn what_grammers_seals_as_a_client_the_server_opens() {
        let client_key = grammers_crypto::AuthKey::from_bytes([9; 256]);
        let mut buffer = grammers_crypto::DequeBuffer::with_capacity(64, 32);
        buffer.extend([5u8; 48]);
        grammers_crypto::encrypt_data_v2(&mut buffer, &client_key);
        let opened = decrypt(&AuthKey::new([9; 256]), buffer.as_ref()).unwrap();
        assert_eq!(&opened[..48], &[5; 48]);
    }

    #[test]
    fn a_tampered_message_does_not_open() {
        let client_key = grammers_crypto::AuthKey::from_bytes([9; 256]);
        let mut buffer = grammers_crypto::DequeBuffer::with_capacity(64, 32);
        buffer.extend([5u8; 48]);
        grammers_crypto::encrypt_data_v2(&mut buffer, &client_key);
        let mut packet = buffer.as_ref().to_vec();
        let last = packet.len() - 1;
        packet[last] ^= 1;
        assert!(decrypt(&AuthKey::new([9; 256]), &packet).is_none());
    }
}
