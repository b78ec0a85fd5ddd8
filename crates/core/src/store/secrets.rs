//! Encryption at rest for stored passwords and session secrets.
//!
//! XChaCha20-Poly1305 with a random nonce per secret, under a key kept in a
//! file beside the config (not in the database), so a leaked database dump
//! alone reveals no passwords.

use anyhow::{bail, Context, Result};
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;

const NONCE_LEN: usize = 24;

#[derive(Clone)]
pub struct SecretBox {
    cipher: XChaCha20Poly1305,
    /// A separate key for signatures, derived from the same file, so one
    /// key file is all an admin has to keep.
    signing_key: [u8; 32],
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        use sha2::Digest;
        let mut derive = sha2::Sha256::new();
        derive.update(b"causeway signing key\0");
        derive.update(key);
        Self {
            cipher: XChaCha20Poly1305::new(key.into()),
            signing_key: derive.finalize().into(),
        }
    }

    /// An HMAC-SHA256 of `data`: proves that a URL or token came from us.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.signing_key)
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Loads the key file, creating it with a fresh key (mode 0600) if missing.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        if path.exists() {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the key file {}", path.display()))?;
            let bytes = engine
                .decode(text.trim())
                .context("the secret key file is not base64")?;
            let key: [u8; 32] = match bytes.try_into() {
                Ok(key) => key,
                Err(_) => bail!("the secret key file {} must hold 32 bytes", path.display()),
            };
            return Ok(Self::from_key(&key));
        }
        let key: [u8; 32] = rand::random();
        write_private(path, engine.encode(key).as_bytes())?;
        Ok(Self::from_key(&key))
    }

    pub fn seal(&self, plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let mut out = nonce.to_vec();
        let sealed = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plaintext)
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        out.extend(sealed);
        Ok(out)
    }

    pub fn open(&self, sealed: &[u8]) -> Result<Vec<u8>> {
        if sealed.len() < NONCE_LEN {
            bail!("a stored secret is truncated");
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.cipher
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| {
                anyhow::anyhow!(
                    "a stored secret cannot be decrypted: was the secret key file replaced?"
                )
            })
    }
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot create the key file {}", path.display()))?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_secrets_round_trip_and_hide_the_plaintext() {
        let sb = SecretBox::from_key(&[7; 32]);
        let sealed = sb.seal(b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(sb.open(&sealed).unwrap(), b"hunter2");
    }

    #[test]
    fn a_different_key_cannot_open_a_secret() {
        let sealed = SecretBox::from_key(&[1; 32]).seal(b"x").unwrap();
        assert!(SecretBox::from_key(&[2; 32]).open(&sealed).is_err());
    }

    #[test]
    fn key_file_is_created_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let sealed = SecretBox::load_or_create(&path)
            .unwrap()
            .seal(b"pw")
            .unwrap();
        assert_eq!(
            SecretBox::load_or_create(&path)
                .unwrap()
                .open(&sealed)
                .unwrap(),
            b"pw"
        );
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            assert_eq!(
                std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
        }
    }
}
