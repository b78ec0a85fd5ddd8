//! Encryption at rest for stored passwords, session secrets, the ingress
//! log and the outbox, and the key that signs public links.
//!
//! One key file beside the config (not in the database), so a leaked
//! database dump alone reveals nothing. Each purpose gets its own subkey,
//! derived from the file's key with HKDF-SHA256, so no two purposes share a
//! key and a purpose's label can be changed to rotate it alone. Sealing is
//! XChaCha20-Poly1305 with a random nonce, and each sealed value is bound
//! to its row through associated data: copied into another row, it does
//! not open.

use anyhow::{bail, Context, Result};
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use std::path::Path;

const NONCE_LEN: usize = 24;
/// The first byte of a value sealed with a purpose's subkey. Values sealed
/// before subkeys existed have none, and are still opened.
const VERSION: u8 = 1;

/// What a key is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// Stored logins' passwords and sessions.
    Logins,
    /// What networks keep per login (`LoginData`): sessions, device keys.
    LoginData,
    /// Event bodies in the ingress log.
    Ingress,
    /// Remote events in the outbox.
    Outbox,
    /// Signatures of public media links.
    Links,
}

impl Purpose {
    fn label(self) -> &'static [u8] {
        match self {
            Self::Logins => b"causeway/logins/v1",
            Self::LoginData => b"causeway/login-data/v1",
            Self::Ingress => b"causeway/ingress/v1",
            Self::Outbox => b"causeway/outbox/v1",
            Self::Links => b"causeway/links/v1",
        }
    }
}

#[derive(Clone)]
pub struct SecretBox {
    logins: XChaCha20Poly1305,
    login_data: XChaCha20Poly1305,
    ingress: XChaCha20Poly1305,
    outbox: XChaCha20Poly1305,
    /// Sealing with the links' purpose has its own key too, though links
    /// are only signed: no purpose ever borrows another's key.
    links: XChaCha20Poly1305,
    signing_key: [u8; 32],
    /// The file's key itself, which sealed everything before subkeys.
    legacy: XChaCha20Poly1305,
}

impl SecretBox {
    pub fn from_key(key: &[u8; 32]) -> Self {
        let hkdf = hkdf::Hkdf::<sha2::Sha256>::new(Some(b"causeway"), key);
        let subkey = |purpose: Purpose| {
            let mut out = [0u8; 32];
            hkdf.expand(purpose.label(), &mut out)
                .expect("32 bytes is a valid HKDF-SHA256 length");
            out
        };
        let cipher = |purpose| XChaCha20Poly1305::new(&subkey(purpose).into());
        Self {
            logins: cipher(Purpose::Logins),
            login_data: cipher(Purpose::LoginData),
            ingress: cipher(Purpose::Ingress),
            outbox: cipher(Purpose::Outbox),
            links: cipher(Purpose::Links),
            signing_key: subkey(Purpose::Links),
            legacy: XChaCha20Poly1305::new(key.into()),
        }
    }

    fn cipher(&self, purpose: Purpose) -> &XChaCha20Poly1305 {
        match purpose {
            Purpose::Logins => &self.logins,
            Purpose::LoginData => &self.login_data,
            Purpose::Ingress => &self.ingress,
            Purpose::Outbox => &self.outbox,
            Purpose::Links => &self.links,
        }
    }

    /// An HMAC-SHA256 of `data` under the links' subkey: proves that a URL
    /// came from us.
    pub fn sign(&self, data: &[u8]) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = <hmac::Hmac<sha2::Sha256> as Mac>::new_from_slice(&self.signing_key)
            .expect("HMAC takes keys of any length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// Loads the key file, creating it with a fresh key (mode 0600) if
    /// missing. A file that others may read is refused: the key opens
    /// every stored password.
    pub fn load_or_create(path: &Path) -> Result<Self> {
        use base64::Engine;
        let engine = base64::engine::general_purpose::STANDARD;
        if path.exists() {
            refuse_if_readable_by_others(path)?;
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

    /// Seals `plaintext` for `purpose`, bound to `row` (what names where it
    /// is stored, such as a login's ID).
    pub fn seal(&self, purpose: Purpose, row: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
        let nonce: [u8; NONCE_LEN] = rand::random();
        let sealed = self
            .cipher(purpose)
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: plaintext,
                    aad: row,
                },
            )
            .map_err(|_| anyhow::anyhow!("encryption failed"))?;
        let mut out = Vec::with_capacity(1 + NONCE_LEN + sealed.len());
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        out.extend(sealed);
        Ok(out)
    }

    /// Opens what [`SecretBox::seal`] sealed for the same purpose and row,
    /// or what the file's key sealed before subkeys existed.
    pub fn open(&self, purpose: Purpose, row: &[u8], sealed: &[u8]) -> Result<Vec<u8>> {
        let cannot = || {
            anyhow::anyhow!(
                "a stored secret cannot be decrypted: was the secret key file replaced, or the value copied from another row?"
            )
        };
        if let Some(rest) = sealed.strip_prefix(&[VERSION]) {
            if rest.len() >= NONCE_LEN {
                let (nonce, body) = rest.split_at(NONCE_LEN);
                let payload = Payload {
                    msg: body,
                    aad: row,
                };
                if let Ok(plain) = self
                    .cipher(purpose)
                    .decrypt(XNonce::from_slice(nonce), payload)
                {
                    return Ok(plain);
                }
            }
        }
        if sealed.len() < NONCE_LEN {
            return Err(cannot());
        }
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        self.legacy
            .decrypt(XNonce::from_slice(nonce), body)
            .map_err(|_| cannot())
    }
}

/// Refuses a key file whose mode lets its group or others read it.
fn refuse_if_readable_by_others(path: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(path)
            .with_context(|| format!("cannot read the key file {}", path.display()))?
            .permissions()
            .mode();
        if mode & 0o077 != 0 {
            bail!(
                "the secret key file {} can be read by others (mode {:o}); make it private with: chmod 600 {}",
                path.display(),
                mode & 0o777,
                path.display()
            );
        }
    }
    Ok(())
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
        let sealed = sb.seal(Purpose::Logins, b"row", b"hunter2").unwrap();
        assert!(!sealed.windows(7).any(|w| w == b"hunter2"));
        assert_eq!(
            sb.open(Purpose::Logins, b"row", &sealed).unwrap(),
            b"hunter2"
        );
    }

    #[test]
    fn a_different_key_cannot_open_a_secret() {
        let sealed = SecretBox::from_key(&[1; 32])
            .seal(Purpose::Logins, b"r", b"x")
            .unwrap();
        assert!(SecretBox::from_key(&[2; 32])
            .open(Purpose::Logins, b"r", &sealed)
            .is_err());
    }

    #[test]
    fn a_secret_opens_only_for_its_own_row_and_purpose() {
        let sb = SecretBox::from_key(&[5; 32]);
        let sealed = sb.seal(Purpose::Logins, b"login-a", b"pw").unwrap();
        assert!(sb.open(Purpose::Logins, b"login-b", &sealed).is_err());
        assert!(sb.open(Purpose::Ingress, b"login-a", &sealed).is_err());
    }

    #[test]
    fn values_sealed_before_subkeys_still_open() {
        let key = [6u8; 32];
        let nonce = [4u8; NONCE_LEN];
        let old = XChaCha20Poly1305::new(&key.into())
            .encrypt(XNonce::from_slice(&nonce), b"old pw".as_slice())
            .unwrap();
        let legacy = [nonce.as_slice(), &old].concat();
        let sb = SecretBox::from_key(&key);
        assert_eq!(
            sb.open(Purpose::Logins, b"any", &legacy).unwrap(),
            b"old pw"
        );
    }

    #[test]
    fn key_file_is_created_private_once_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let sealed = SecretBox::load_or_create(&path)
            .unwrap()
            .seal(Purpose::Logins, b"r", b"pw")
            .unwrap();
        assert_eq!(
            SecretBox::load_or_create(&path)
                .unwrap()
                .open(Purpose::Logins, b"r", &sealed)
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

    #[cfg(unix)]
    #[test]
    fn a_key_file_others_can_read_is_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        SecretBox::load_or_create(&path).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = SecretBox::load_or_create(&path).err().unwrap().to_string();
        assert!(err.contains("chmod 600"), "{err}");
    }
}
