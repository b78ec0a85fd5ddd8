//! Linking the bridge as one of the user's WhatsApp devices: by scanning a
//! QR code (refreshed as WhatsApp rotates it), or by typing a pairing code
//! on the phone. The login has its final ID from the start, so the state
//! whatsapp-rust writes while pairing never moves.

use crate::client::{self, Events, WaClient};
use crate::network::WhatsAppNetwork;
use anyhow::{bail, Result};
use async_trait::async_trait;
use causeway_core::ids::LoginId;
use causeway_core::login::{FieldKind, InputField, LoginProcess, LoginStep, NewLogin};
use causeway_core::store::LoginRow;
use serde_json::json;
use std::collections::HashMap;
use std::time::Duration;
use whatsapp_rust::types::events::Event;

/// How long a shown code may go unused before the login gives up.
const CODE_TIMEOUT: Duration = Duration::from_secs(180);

const SCAN: &str = "Open WhatsApp on your phone, tap Settings → Linked devices → Link a device, and scan this code.";
const TYPE_CODE: &str = "Open WhatsApp on your phone, tap Settings → Linked devices → Link a device → Link with phone number instead, and type this code:";

/// A login in progress.
pub struct WhatsAppLogin {
    network: WhatsAppNetwork,
    user: String,
    login_id: LoginId,
    by_phone: bool,
    client: Option<(WaClient, Events)>,
    /// The phone linked the device; it reconnects as itself next.
    linked: Option<String>,
}

impl WhatsAppLogin {
    pub fn new(network: WhatsAppNetwork, user: &str, by_phone: bool) -> Self {
        Self {
            network,
            user: user.to_owned(),
            login_id: LoginId::from(format!("wa-{:016x}", rand::random::<u64>())),
            by_phone,
            client: None,
            linked: None,
        }
    }

    fn ask_phone(instructions: &str) -> LoginStep {
        LoginStep::UserInput {
            instructions: instructions.into(),
            fields: vec![InputField {
                id: "phone",
                name: "phone number",
                kind: FieldKind::PhoneNumber,
            }],
        }
    }

    /// The next step the client's events lead to.
    async fn next_step(&mut self) -> Result<LoginStep> {
        let Some((client, events)) = self.client.as_mut() else {
            bail!("the login has no WhatsApp connection");
        };
        loop {
            let Ok(event) = tokio::time::timeout(CODE_TIMEOUT, events.recv()).await else {
                bail!("the code was not used in time. Send `login` to get a new one");
            };
            let Some(event) = event else {
                bail!("the WhatsApp connection closed");
            };
            match &*event {
                Event::PairingQrCode(qr) if self.linked.is_none() => {
                    return Ok(LoginStep::DisplayQr {
                        instructions: SCAN.into(),
                        data: qr.code.clone(),
                    });
                }
                Event::PairingCode(code) => {
                    return Ok(LoginStep::DisplayCode {
                        instructions: TYPE_CODE.into(),
                        code: code.code.clone(),
                    });
                }
                Event::PairSuccess(success) => {
                    let phone = success.id.user.to_string();
                    // What arrives before the login is stored (the phone's
                    // keys, the offline queue) is already this login's: the
                    // client must not wait for the login to finish storing,
                    // which waits for the client to connect.
                    client.serve(&LoginRow {
                        login_id: self.login_id.clone(),
                        mxid: self.user.clone(),
                        remote_name: format!("+{phone}"),
                        secret: None,
                        metadata: json!({ "phone": phone }),
                    });
                    self.linked = Some(phone);
                }
                Event::PairError(failed) => {
                    bail!("WhatsApp refused to link the bridge: {}", failed.error)
                }
                Event::PairingCodeError(failed) => {
                    bail!("WhatsApp gave no pairing code: {failed:?}. Check the number, or use `login` for a QR code instead")
                }
                Event::PairingQrCodesExhausted(_) => {
                    bail!("the QR code expired before it was scanned. Send `login` for a new one")
                }
                Event::QrScannedWithoutMultidevice(_) => {
                    bail!("the phone that scanned the code cannot link devices; update WhatsApp on it and send `login` again")
                }
                Event::Connected(_) => {
                    if let Some(phone) = self.linked.clone() {
                        let push_name = client.client.push_name();
                        return self.complete(phone, push_name).await;
                    }
                }
                _ => {}
            }
        }
    }

    /// Linked and connected: the login is stored, and its client kept.
    async fn complete(&mut self, phone: String, push_name: String) -> Result<LoginStep> {
        let bridge = self.network.bridge()?;
        // Linking the same account again replaces the older device.
        for old in bridge
            .store()
            .logins_of(bridge.secrets(), &self.user)
            .await?
        {
            if old.metadata["phone"] == phone.as_str() && old.login_id != self.login_id {
                if let Err(err) = causeway_core::network::Network::logout(&self.network, &old).await
                {
                    tracing::warn!(login = %old.login_id, "cannot unlink a replaced device: {err:#}");
                }
                bridge.store().delete_login(&old.login_id).await?;
            }
        }
        let (client, events) = self.client.take().expect("the client paired");
        self.network.paired(self.login_id.clone(), client, events);
        let remote_name = if push_name.is_empty() {
            format!("+{phone}")
        } else {
            format!("+{phone} ({push_name})")
        };
        Ok(LoginStep::Complete {
            login: NewLogin {
                login_id: self.login_id.clone(),
                remote_name: remote_name.clone(),
                secret: None,
                metadata: json!({ "phone": phone, "push_name": push_name }),
            },
            message: format!("Logged in as {remote_name}."),
        })
    }
}

#[async_trait]
impl LoginProcess for WhatsAppLogin {
    async fn start(&mut self) -> Result<LoginStep> {
        if self.by_phone {
            return Ok(Self::ask_phone(
                "Link the bridge with a pairing code instead of a QR code.",
            ));
        }
        self.client = Some(client::start(&self.network, &self.login_id, None).await?);
        self.next_step().await
    }

    async fn submit(&mut self, input: HashMap<String, String>) -> Result<LoginStep> {
        let typed = input.get("phone").map(String::as_str).unwrap_or_default();
        let Some(digits) = phone_digits(typed) else {
            return Ok(Self::ask_phone(&format!(
                "{typed:?} is not a phone number in international format, like +4412345678."
            )));
        };
        self.client = Some(client::start(&self.network, &self.login_id, Some(digits)).await?);
        self.next_step().await
    }

    async fn wait(&mut self) -> Result<LoginStep> {
        self.next_step().await
    }

    async fn cancel(&mut self) {
        if let Some((client, _)) = self.client.take() {
            client.stop().await;
        }
        match self.network.store_of(&self.login_id) {
            Ok(store) => {
                if let Err(err) = store.forget().await {
                    tracing::warn!("cannot forget a cancelled login's state: {err:#}");
                }
            }
            Err(err) => tracing::warn!("{err:#}"),
        }
    }
}

/// A number in international format (`+44 1234 5678`) as WhatsApp wants
/// it: digits only.
pub(crate) fn phone_digits(typed: &str) -> Option<String> {
    let typed = typed.trim();
    let rest = typed.strip_prefix('+')?;
    if !rest
        .chars()
        .all(|c| c.is_ascii_digit() || matches!(c, ' ' | '-' | '(' | ')' | '.'))
    {
        return None;
    }
    let digits: String = rest.chars().filter(char::is_ascii_digit).collect();
    (7..=15).contains(&digits.len()).then_some(digits)
}

#[cfg(test)]
mod tests {
    use super::phone_digits;

    #[test]
    fn a_number_in_international_format_becomes_its_digits() {
        assert_eq!(phone_digits("+44 1234-5678").as_deref(), Some("4412345678"));
        assert_eq!(
            phone_digits(" +1 (555) 010.0100 ").as_deref(),
            Some("15550100100")
        );
    }

    #[test]
    fn a_number_without_plus_or_with_letters_is_refused() {
        for bad in ["4412345678", "+44abc12345", "+123", "+1234567890123456", ""] {
            assert_eq!(phone_digits(bad), None, "{bad}");
        }
    }
}
