//! The appservice registration file the homeserver loads.
//!
//! Its namespaces are derived from the config's templates, so the file and the
//! IDs the bridge makes can never disagree.

use crate::config::Config;
use rand::distr::{Alphanumeric, SampleString};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize, Deserialize)]
pub struct Registration {
    pub id: String,
    /// `None` for the double-puppeting registration: nothing is sent to it.
    pub url: Option<String>,
    pub as_token: String,
    pub hs_token: String,
    pub sender_localpart: String,
    pub rate_limited: bool,
    pub namespaces: Namespaces,
    pub receive_ephemeral: bool,
    /// The MSC2409 name that older homeservers still read.
    #[serde(rename = "de.sorunome.msc2409.push_ephemeral")]
    pub push_ephemeral_unstable: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub protocols: Vec<String>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Namespaces {
    pub users: Vec<Namespace>,
    pub aliases: Vec<Namespace>,
    pub rooms: Vec<Namespace>,
}

#[derive(Debug, Serialize, Deserialize)]
pub struct Namespace {
    pub exclusive: bool,
    pub regex: String,
}

/// A fresh random token, 64 alphanumeric characters.
pub fn random_token() -> String {
    Alphanumeric.sample_string(&mut rand::rng(), 64)
}

/// The regex that matches every ID a template can produce on this server,
/// when each `{id}` starts with one of `id_prefixes` (any, when empty).
pub fn template_regex(sigil: char, template: &str, domain: &str, id_prefixes: &[String]) -> String {
    let (prefix, suffix) = template.split_once("{id}").unwrap_or((template, ""));
    let starts = match id_prefixes {
        [] => String::new(),
        some => format!(
            "(?:{})",
            some.iter()
                .map(|p| regex::escape(p))
                .collect::<Vec<_>>()
                .join("|")
        ),
    };
    format!(
        "^{}{}{starts}.+{}:{}$",
        regex::escape(&sigil.to_string()),
        regex::escape(prefix),
        regex::escape(suffix),
        regex::escape(domain)
    )
}

impl Registration {
    pub fn from_config(config: &Config, protocols: Vec<String>, id_prefixes: &[String]) -> Self {
        let domain = &config.homeserver.domain;
        let bot = format!(
            "^@{}:{}$",
            regex::escape(&config.appservice.bot.username),
            regex::escape(domain)
        );
        Self {
            id: config.appservice.id.clone(),
            url: Some(config.appservice.address.clone()),
            as_token: config.appservice.as_token.clone(),
            hs_token: config.appservice.hs_token.clone(),
            sender_localpart: config.appservice.bot.username.clone(),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![
                    Namespace {
                        exclusive: true,
                        regex: bot,
                    },
                    Namespace {
                        exclusive: true,
                        regex: template_regex(
                            '@',
                            &config.bridge.username_template,
                            domain,
                            id_prefixes,
                        ),
                    },
                ],
                aliases: vec![Namespace {
                    exclusive: true,
                    regex: template_regex('#', &config.bridge.alias_template, domain, id_prefixes),
                }],
                rooms: vec![],
            },
            receive_ephemeral: config.appservice.ephemeral_events,
            push_ephemeral_unstable: config.appservice.ephemeral_events,
            protocols,
        }
    }

    /// The double-puppeting registration (`bridge.double_puppet`), as
    /// mautrix bridges use it: no URL, so the homeserver sends it nothing,
    /// and a non-exclusive namespace of the server's users, so its token may
    /// act as any of them, with identity assertion.
    pub fn double_puppet(config: &Config, as_token: &str) -> Self {
        let domain = &config.homeserver.domain;
        Self {
            id: format!("{}-doublepuppet", config.appservice.id),
            url: None,
            as_token: as_token.to_owned(),
            hs_token: random_token(),
            sender_localpart: format!("{}-doublepuppet", config.appservice.bot.username),
            rate_limited: false,
            namespaces: Namespaces {
                users: vec![Namespace {
                    exclusive: false,
                    regex: format!("^@.*:{}$", regex::escape(domain)),
                }],
                aliases: vec![],
                rooms: vec![],
            },
            receive_ephemeral: false,
            push_ephemeral_unstable: false,
            protocols: vec![],
        }
    }

    pub fn to_yaml(&self) -> anyhow::Result<String> {
        Ok(serde_yaml::to_string(self)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use regex::Regex;

    #[test]
    fn template_regex_matches_only_generated_ids() {
        let re = Regex::new(&template_regex('@', "_irc_{id}", "example.com", &[])).unwrap();
        assert!(re.is_match("@_irc_alice:example.com"));
        assert!(!re.is_match("@_irc_alice:example.org"));
        assert!(!re.is_match("@alice:example.com"));
        assert!(!re.is_match("@_irc_:example.com"));
        let re = Regex::new(&template_regex('#', "_xmpp_{id}.x", "a.b", &[])).unwrap();
        assert!(re.is_match("#_xmpp_room.x:a.b"));
        assert!(!re.is_match("#_xmpp_roomzx:a.b"));
    }

    #[test]
    fn known_id_prefixes_narrow_the_namespace_to_them() {
        let prefixes = ["local_".to_owned(), "libera_".to_owned()];
        let re = Regex::new(&template_regex('@', "_{id}", "hs", &prefixes)).unwrap();
        assert!(re.is_match("@_local_alice:hs"));
        assert!(re.is_match("@_libera_bob:hs"));
        assert!(!re.is_match("@_xmpp_alice:hs"));
        assert!(!re.is_match("@_local_:hs"));
    }

    #[test]
    fn random_tokens_are_long_and_distinct() {
        let (a, b) = (random_token(), random_token());
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
    }
}
