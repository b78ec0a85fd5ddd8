//! Which remote chats users may open a portal to on their own, through an
//! alias query or a join command: a network section's `dynamic_channels`
//! (IRC) or `dynamic_mucs` (XMPP). Portals an admin sets up (config
//! mappings, plumbing) are not limited by it.

use crate::format::escape_markdown;
use regex::Regex;
use serde::{Deserialize, Serialize};

/// `enabled`, then `deny` patterns, then `allow` patterns (when there are
/// any): a name must pass all three. Patterns match the whole name, case
/// insensitively, since IRC and XMPP compare room names that way.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(try_from = "Patterns", into = "Patterns")]
pub struct DynamicRooms {
    enabled: bool,
    allow: Vec<Regex>,
    deny: Vec<Regex>,
    patterns: Patterns,
}

/// The config's form of [`DynamicRooms`].
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
struct Patterns {
    #[serde(default = "yes")]
    enabled: bool,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    deny: Vec<String>,
}

fn yes() -> bool {
    true
}

impl Default for DynamicRooms {
    fn default() -> Self {
        Self::try_from(Patterns {
            enabled: true,
            allow: Vec::new(),
            deny: Vec::new(),
        })
        .expect("no patterns always compile")
    }
}

impl TryFrom<Patterns> for DynamicRooms {
    type Error = String;

    fn try_from(patterns: Patterns) -> Result<Self, String> {
        let compile = |list: &[String]| {
            list.iter()
                .map(|p| {
                    Regex::new(&format!("(?i)^(?:{p})$"))
                        .map_err(|e| format!("the room pattern {p:?} is not a valid regex: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            enabled: patterns.enabled,
            allow: compile(&patterns.allow)?,
            deny: compile(&patterns.deny)?,
            patterns,
        })
    }
}

impl From<DynamicRooms> for Patterns {
    fn from(rooms: DynamicRooms) -> Self {
        rooms.patterns
    }
}

impl DynamicRooms {
    /// Whether users may open a portal to `name`; the error says why not,
    /// for a reply.
    pub fn permits(&self, name: &str) -> Result<(), String> {
        if !self.enabled {
            return Err(
                "Rooms cannot be opened on demand on this network: ask an admin to bridge it."
                    .into(),
            );
        }
        if self.deny.iter().any(|p| p.is_match(name)) {
            return Err(format!(
                "{} is not open to the bridge.",
                escape_markdown(name)
            ));
        }
        if !self.allow.is_empty() && !self.allow.iter().any(|p| p.is_match(name)) {
            return Err(format!(
                "{} is not among the rooms this bridge opens.",
                escape_markdown(name)
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rooms(yaml: &str) -> DynamicRooms {
        crate::config::Config::parse_network_section(yaml).expect("valid test YAML")
    }

    #[test]
    fn by_default_every_room_may_be_opened() {
        assert!(DynamicRooms::default().permits("#anything").is_ok());
        assert!(rooms("{}").permits("#anything").is_ok());
    }

    #[test]
    fn switched_off_nothing_may_be_opened() {
        let off = rooms("enabled: false");
        assert!(off.permits("#rust").unwrap_err().contains("ask an admin"));
    }

    #[test]
    fn deny_wins_over_allow_and_both_match_whole_names_ignoring_case() {
        let filter = rooms(r"{ allow: ['#rust.*'], deny: ['#rust-offtopic'] }");
        assert!(filter.permits("#Rust").is_ok());
        assert!(filter.permits("#rust-beginners").is_ok());
        assert!(filter.permits("#RUST-offtopic").is_err());
        assert!(filter.permits("#python").is_err());
        assert!(filter.permits("x#rust").is_err());
    }

    #[test]
    fn a_bad_pattern_is_a_config_error_that_names_it() {
        let err = crate::config::Config::parse_network_section::<DynamicRooms>("allow: ['(']")
            .unwrap_err();
        assert!(format!("{err:#}").contains("\"(\""), "{err:#}");
    }
}
