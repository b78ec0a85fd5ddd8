//! Registration: IRCv3 capability negotiation and SASL PLAIN.
//!
//! We ask for the capabilities that make bridging exact (`server-time` for
//! timestamps, `message-tags` for msgids, `echo-message` to know what the
//! server accepted, `multi-prefix` for modes) and log in with SASL when the
//! user stored a password. Servers without CAP simply never answer `CAP LS`.

use crate::line::Parts;
use base64::Engine as _;

const WANTED: &[&str] = &[
    "multi-prefix",
    "server-time",
    "echo-message",
    "message-tags",
];

/// SASL PLAIN credentials: the services account and its password.
#[derive(Clone)]
pub struct SaslLogin {
    pub account: String,
    pub password: String,
}

impl std::fmt::Debug for SaslLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SaslLogin({}, <redacted>)", self.account)
    }
}

/// The state of one connection's negotiation.
#[derive(Debug, Default)]
pub struct Negotiation {
    sasl: Option<SaslLogin>,
    offered: Vec<(String, Option<String>)>,
    /// Capabilities the server acknowledged.
    pub enabled: Vec<String>,
    /// The account SASL logged us in as.
    pub account: Option<String>,
}

impl Negotiation {
    pub fn new(sasl: Option<SaslLogin>) -> Self {
        Self {
            sasl,
            ..Self::default()
        }
    }

    /// The line that opens negotiation, sent before NICK and USER.
    pub fn first_line() -> &'static str {
        "CAP LS 302"
    }

    pub fn has(&self, capability: &str) -> bool {
        self.enabled.iter().any(|c| c == capability)
    }

    /// Handles one line from the server during registration; returns the
    /// lines to answer with, or why registration cannot go on.
    pub fn on_line(&mut self, line: &Parts<'_>) -> Result<Vec<String>, String> {
        let text = line.params.last().copied().unwrap_or("");
        match (line.command, line.params.get(1).copied()) {
            ("CAP", Some("LS")) => {
                self.offered.extend(
                    text.split_whitespace()
                        .map(|cap| match cap.split_once('=') {
                            Some((name, value)) => (name.to_owned(), Some(value.to_owned())),
                            None => (cap.to_owned(), None),
                        }),
                );
                // "CAP * LS * :…" says more lines follow.
                if line.params.get(2) == Some(&"*") && line.params.len() > 3 {
                    return Ok(vec![]);
                }
                let mut request: Vec<&str> = WANTED
                    .iter()
                    .copied()
                    .filter(|w| self.offered.iter().any(|(name, _)| name == w))
                    .collect();
                if self.sasl.is_some() && self.offers_sasl_plain() {
                    request.push("sasl");
                }
                Ok(if request.is_empty() {
                    vec!["CAP END".into()]
                } else {
                    vec![format!("CAP REQ :{}", request.join(" "))]
                })
            }
            ("CAP", Some("ACK")) => {
                self.enabled
                    .extend(text.split_whitespace().map(str::to_owned));
                Ok(if self.sasl.is_some() && self.has("sasl") {
                    vec!["AUTHENTICATE PLAIN".into()]
                } else {
                    vec!["CAP END".into()]
                })
            }
            // The server refused the set; go on without it. A stored password
            // is then sent to NickServ instead.
            ("CAP", Some("NAK")) => Ok(vec!["CAP END".into()]),
            ("AUTHENTICATE", _) if text == "+" => Ok(self.plain_response()),
            ("900", _) => {
                self.account = line.params.get(2).map(|a| (*a).to_owned());
                Ok(vec![])
            }
            ("903" | "907", _) => Ok(vec!["CAP END".into()]),
            (code @ ("902" | "904" | "905" | "906" | "908"), _) => {
                let account = self.sasl.as_ref().map(|s| s.account.as_str());
                Err(format!(
                    "SASL login as {} failed: {text} ({code})",
                    account.unwrap_or("?")
                ))
            }
            _ => Ok(vec![]),
        }
    }

    fn offers_sasl_plain(&self) -> bool {
        self.offered.iter().any(|(name, value)| {
            name == "sasl"
                && value
                    .as_deref()
                    .is_none_or(|mechs| mechs.split(',').any(|m| m == "PLAIN"))
        })
    }

    /// `AUTHENTICATE` lines carrying `account\0account\0password`, in chunks
    /// of 400 bytes, with a lone `+` when the last chunk is exactly full.
    fn plain_response(&self) -> Vec<String> {
        let Some(sasl) = &self.sasl else {
            return vec!["AUTHENTICATE *".into()];
        };
        let payload = format!("{0}\0{0}\0{1}", sasl.account, sasl.password);
        let encoded = base64::engine::general_purpose::STANDARD.encode(payload);
        let mut lines: Vec<String> = encoded
            .as_bytes()
            .chunks(400)
            .map(|chunk| format!("AUTHENTICATE {}", String::from_utf8_lossy(chunk)))
            .collect();
        if encoded.len() % 400 == 0 {
            lines.push("AUTHENTICATE +".into());
        }
        lines
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::line::split;

    fn login() -> Option<SaslLogin> {
        Some(SaslLogin {
            account: "alice".into(),
            password: "pw".into(),
        })
    }

    #[test]
    fn requests_only_offered_capabilities_and_sasl_with_a_password() {
        let mut n = Negotiation::new(login());
        let reply = n
            .on_line(&split(":s CAP * LS * :multi-prefix sasl=EXTERNAL,PLAIN"))
            .unwrap();
        assert!(reply.is_empty(), "waits for the last LS line");
        let reply = n
            .on_line(&split(":s CAP * LS :server-time away-notify"))
            .unwrap();
        assert_eq!(reply, ["CAP REQ :multi-prefix server-time sasl"]);
        let reply = n
            .on_line(&split(":s CAP * ACK :multi-prefix server-time sasl"))
            .unwrap();
        assert_eq!(reply, ["AUTHENTICATE PLAIN"]);
        let reply = n.on_line(&split("AUTHENTICATE +")).unwrap();
        assert_eq!(reply, ["AUTHENTICATE YWxpY2UAYWxpY2UAcHc="]);
        n.on_line(&split(
            ":s 900 alice alice!a@h alice :You are now logged in",
        ))
        .unwrap();
        assert_eq!(n.on_line(&split(":s 903 alice :ok")).unwrap(), ["CAP END"]);
        assert_eq!(n.account.as_deref(), Some("alice"));
        assert!(n.has("server-time") && !n.has("away-notify"));
    }

    #[test]
    fn without_a_password_sasl_is_not_requested() {
        let mut n = Negotiation::new(None);
        let reply = n.on_line(&split(":s CAP * LS :sasl echo-message")).unwrap();
        assert_eq!(reply, ["CAP REQ :echo-message"]);
        assert_eq!(
            n.on_line(&split(":s CAP * ACK :echo-message")).unwrap(),
            ["CAP END"]
        );
        let mut n = Negotiation::new(None);
        assert_eq!(
            n.on_line(&split(":s CAP * LS :away-notify")).unwrap(),
            ["CAP END"]
        );
    }

    #[test]
    fn a_wrong_password_names_the_account_and_the_numeric() {
        let mut n = Negotiation::new(login());
        let err = n
            .on_line(&split(":s 904 * :SASL authentication failed"))
            .unwrap_err();
        assert_eq!(
            err,
            "SASL login as alice failed: SASL authentication failed (904)"
        );
    }

    #[test]
    fn long_credentials_are_sent_in_400_byte_chunks() {
        let mut n = Negotiation::new(Some(SaslLogin {
            account: "a".into(),
            password: "p".repeat(296),
        }));
        // 300 bytes of payload encode to exactly 400 characters.
        let lines = n.on_line(&split("AUTHENTICATE +")).unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[1], "AUTHENTICATE +");
    }

    #[test]
    fn sasl_login_debug_hides_the_password() {
        assert!(!format!("{:?}", login().unwrap()).contains("pw"));
    }
}
