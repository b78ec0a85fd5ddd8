//! Typed identifiers for the remote side of a bridge.
//!
//! Remote networks name things with plain strings; wrapping each kind in its
//! own type keeps a portal ID from being passed where a message ID belongs.
//! Matrix-side IDs use ruma's owned types.

use serde::{Deserialize, Serialize};
use std::fmt;

macro_rules! remote_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, Default)]
        #[serde(transparent)]
        pub struct $name(pub String);

        impl $name {
            pub fn new(id: impl Into<String>) -> Self {
                Self(id.into())
            }
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl From<&str> for $name {
            fn from(s: &str) -> Self {
                Self(s.to_owned())
            }
        }

        impl From<String> for $name {
            fn from(s: String) -> Self {
                Self(s)
            }
        }
    };
}

remote_id!(
    /// A chat on the remote network: an IRC channel, an XMPP MUC, a WhatsApp group.
    PortalId
);
remote_id!(
    /// A user on the remote network, which the bridge shows as a ghost.
    RemoteUserId
);
remote_id!(
    /// One remote account of a Matrix user; a user may have several.
    LoginId
);
remote_id!(
    /// A message as the remote network names it.
    RemoteMessageId
);
remote_id!(
    /// One part of a remote message that Matrix shows as several events.
    PartId
);

/// A portal is a remote chat, seen by one login when the network gives every
/// login its own view of a chat (a DM), or shared when `receiver` is empty.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
pub struct PortalKey {
    pub id: PortalId,
    #[serde(default)]
    pub receiver: Option<LoginId>,
}

impl PortalKey {
    pub fn shared(id: impl Into<PortalId>) -> Self {
        Self {
            id: id.into(),
            receiver: None,
        }
    }

    pub fn for_login(id: impl Into<PortalId>, login: LoginId) -> Self {
        Self {
            id: id.into(),
            receiver: Some(login),
        }
    }

    /// The receiver as stored: the empty string marks a shared portal.
    pub fn receiver_str(&self) -> &str {
        self.receiver.as_ref().map(LoginId::as_str).unwrap_or("")
    }
}

impl fmt::Display for PortalKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.receiver {
            Some(r) => write!(f, "{}/{}", self.id, r),
            None => write!(f, "{}", self.id),
        }
    }
}

/// The Matrix transaction ID for one part of a remote message.
///
/// It is derived only from what names the message, so a retry after a timeout,
/// a crash or a restart sends the same ID and the homeserver deduplicates it.
pub fn send_txn_id(portal: &PortalKey, message: &RemoteMessageId, part: &PartId) -> String {
    use sha2::{Digest, Sha256};
    let mut hash = Sha256::new();
    for piece in [
        portal.id.as_str(),
        portal.receiver_str(),
        message.as_str(),
        part.as_str(),
    ] {
        hash.update((piece.len() as u64).to_be_bytes());
        hash.update(piece.as_bytes());
    }
    format!("cw{}", hex::encode(&hash.finalize()[..16]))
}

/// Escapes a remote ID into Matrix localpart characters, the spec's way:
/// `A` becomes `_a`, `_` becomes `__`, and any other byte outside
/// `[a-z0-9.-/]` becomes `=xx`. Reversible, so a ghost's MXID names its user.
pub fn escape_localpart(id: &str) -> String {
    let mut out = String::with_capacity(id.len());
    for byte in id.bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'/' => out.push(byte as char),
            b'A'..=b'Z' => {
                out.push('_');
                out.push(byte.to_ascii_lowercase() as char);
            }
            b'_' => out.push_str("__"),
            other => out.push_str(&format!("={other:02x}")),
        }
    }
    out
}

/// Reverses [`escape_localpart`]; `None` for text it cannot have produced.
pub fn unescape_localpart(localpart: &str) -> Option<String> {
    let bytes = localpart.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => {
                let next = *bytes.get(i + 1)?;
                out.push(if next == b'_' {
                    b'_'
                } else if next.is_ascii_lowercase() {
                    next.to_ascii_uppercase()
                } else {
                    return None;
                });
                i += 2;
            }
            b'=' => {
                let hex = localpart.get(i + 1..i + 3)?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The server and media ID of an `mxc://server/id` URI; `None` for anything
/// else, so that media is only ever fetched from a homeserver.
pub fn split_mxc(mxc: &str) -> Option<(&str, &str)> {
    let (server, media_id) = mxc.strip_prefix("mxc://")?.split_once('/')?;
    let valid = |s: &str| !s.is_empty() && !s.contains('/');
    (valid(server) && valid(media_id)).then_some((server, media_id))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_well_formed_mxc_uris_split() {
        assert_eq!(split_mxc("mxc://hs/abc"), Some(("hs", "abc")));
        for bad in ["https://hs/abc", "mxc://hs/a/b", "mxc:///abc", "mxc://hs/"] {
            assert_eq!(split_mxc(bad), None, "{bad}");
        }
    }

    #[test]
    fn send_txn_id_is_stable_for_the_same_message_part() {
        let portal = PortalKey::shared("#chan");
        let a = send_txn_id(&portal, &"m1".into(), &"".into());
        let b = send_txn_id(&portal, &"m1".into(), &"".into());
        assert_eq!(a, b);
    }

    #[test]
    fn send_txn_id_differs_per_part_portal_and_receiver() {
        let shared = PortalKey::shared("#chan");
        let mine = PortalKey::for_login("#chan", "alice".into());
        let base = send_txn_id(&shared, &"m1".into(), &"".into());
        assert_ne!(base, send_txn_id(&shared, &"m1".into(), &"1".into()));
        assert_ne!(base, send_txn_id(&mine, &"m1".into(), &"".into()));
        assert_ne!(
            base,
            send_txn_id(&PortalKey::shared("#other"), &"m1".into(), &"".into())
        );
    }

    #[test]
    fn send_txn_id_cannot_be_confused_by_moving_separators() {
        let portal = PortalKey::shared("a");
        assert_ne!(
            send_txn_id(&portal, &"bc".into(), &"".into()),
            send_txn_id(&portal, &"b".into(), &"c".into())
        );
    }

    #[test]
    fn localpart_escaping_round_trips_any_id() {
        for id in [
            "alice@xmpp.example.com",
            "Nick_With[Brackets]",
            "émile",
            "a=b",
            "plain.id-1/x",
        ] {
            let escaped = escape_localpart(id);
            assert!(
                escaped
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._=-/".contains(&b)),
                "{escaped}"
            );
            assert_eq!(unescape_localpart(&escaped).as_deref(), Some(id));
        }
        assert_eq!(
            escape_localpart("alice@xmpp.example.com"),
            "alice=40xmpp.example.com"
        );
        assert_eq!(unescape_localpart("bad_"), None);
        assert_eq!(unescape_localpart("=zz"), None);
    }
}
