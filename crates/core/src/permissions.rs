//! Who may do what, from `bridge.permissions`.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Permission levels, lowest first, so they compare with `>=`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Level {
    /// No access at all.
    None,
    /// Messages may be relayed through another user's login, nothing more.
    Relay,
    /// May log in, join, and use the user commands.
    User,
    /// May also plumb rooms and run admin commands.
    Admin,
}

/// The `bridge.permissions` map: keys are `*`, a server name or a full MXID.
/// The most specific key wins: MXID, then domain, then `*`.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Permissions(pub BTreeMap<String, Level>);

impl Permissions {
    pub fn level_of(&self, mxid: &str) -> Level {
        if let Some(level) = self.0.get(mxid) {
            return *level;
        }
        let domain = mxid.split_once(':').map(|(_, d)| d).unwrap_or("");
        if let Some(level) = self.0.get(domain) {
            return *level;
        }
        self.0.get("*").copied().unwrap_or(Level::None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn perms() -> Permissions {
        let mut map = BTreeMap::new();
        map.insert("*".into(), Level::Relay);
        map.insert("example.com".into(), Level::User);
        map.insert("@boss:example.com".into(), Level::Admin);
        map.insert("@banned:example.com".into(), Level::None);
        Permissions(map)
    }

    #[test]
    fn most_specific_permission_key_wins() {
        let p = perms();
        assert_eq!(p.level_of("@boss:example.com"), Level::Admin);
        assert_eq!(p.level_of("@alice:example.com"), Level::User);
        assert_eq!(p.level_of("@bob:other.org"), Level::Relay);
        assert_eq!(p.level_of("@banned:example.com"), Level::None);
    }

    #[test]
    fn without_a_star_key_strangers_get_nothing() {
        let p = Permissions(BTreeMap::from([("example.com".to_string(), Level::User)]));
        assert_eq!(p.level_of("@x:elsewhere"), Level::None);
    }

    #[test]
    fn levels_are_ordered() {
        assert!(
            Level::Admin > Level::User && Level::User > Level::Relay && Level::Relay > Level::None
        );
    }
}
