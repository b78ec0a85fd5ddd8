//! Addresses across the two networks: which JID a Matrix user has, which
//! MUC an alias names, which Matrix room a gateway MUC JID names, and which
//! remote user a ghost stands for.
//!
//! Every mapping here is reversible, because replies and PMs come back
//! addressed to what we handed out.

use crate::config::XmppConfig;
use causeway_core::ids::{PortalKey, RemoteUserId};
use xmpp_parsers::jid::{BareJid, Jid};

/// Characters a JID localpart may not hold, escaped as XEP-0106 says.
const JID_ESCAPES: [(char, &str); 10] = [
    ('\\', "\\5c"),
    (' ', "\\20"),
    ('"', "\\22"),
    ('&', "\\26"),
    ('\'', "\\27"),
    ('/', "\\2f"),
    (':', "\\3a"),
    ('<', "\\3c"),
    ('>', "\\3e"),
    ('@', "\\40"),
];

/// XEP-0106 escaping of a JID localpart.
pub fn escape_node(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match JID_ESCAPES.iter().find(|(raw, _)| *raw == c) {
            Some((_, escaped)) => out.push_str(escaped),
            None => out.push(c),
        }
    }
    out
}

/// Reverses [`escape_node`]; sequences that are no escape stay as they are.
pub fn unescape_node(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find('\\') {
        out.push_str(&rest[..at]);
        let tail = &rest[at..];
        match JID_ESCAPES
            .iter()
            .find(|(_, escaped)| tail.get(..3) == Some(escaped))
        {
            Some((raw, _)) => {
                out.push(*raw);
                rest = &tail[3..];
            }
            None => {
                out.push('\\');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// The address book: built once from the config.
#[derive(Clone, Debug)]
pub struct Addresses {
    pub component: String,
    pub resource: String,
    muc_domains: Vec<String>,
    template_prefix: String,
    template_middle: String,
    template_suffix: String,
}

impl Addresses {
    pub fn new(config: &XmppConfig) -> Self {
        let (prefix, rest) = config
            .user_template
            .split_once("{localpart}")
            .unwrap_or(("", "{server}"));
        let (middle, suffix) = rest.split_once("{server}").unwrap_or(("_", ""));
        Self {
            component: config.component_jid.to_lowercase(),
            resource: config.resource.clone(),
            muc_domains: config
                .muc_domains
                .iter()
                .map(|d| d.to_lowercase())
                .collect(),
            template_prefix: prefix.to_owned(),
            template_middle: middle.to_owned(),
            template_suffix: suffix.to_owned(),
        }
    }

    /// `@alice:example.com` → `alice_example.com@matrix.xmpp.example.com`.
    pub fn matrix_user_jid(&self, mxid: &str) -> Option<BareJid> {
        let (localpart, server) = mxid.strip_prefix('@')?.split_once(':')?;
        let node = format!(
            "{}{}{}{}{}",
            self.template_prefix,
            escape_node(localpart),
            self.template_middle,
            escape_node(server),
            self.template_suffix
        );
        BareJid::new(&format!("{node}@{}", self.component)).ok()
    }

    /// A Matrix user's full JID, the one that joins MUCs and sends.
    pub fn matrix_user_full_jid(&self, mxid: &str) -> Option<String> {
        self.matrix_user_jid(mxid)
            .map(|jid| format!("{jid}/{}", self.resource))
    }

    /// The MXID behind a component localpart: the reverse of
    /// [`Self::matrix_user_jid`]. The server part is taken from the last
    /// separator, since server names never contain one.
    pub fn mxid_of_node(&self, node: &str) -> Option<String> {
        let inner = node
            .strip_prefix(self.template_prefix.as_str())?
            .strip_suffix(self.template_suffix.as_str())?;
        let (localpart, server) = inner.rsplit_once(self.template_middle.as_str())?;
        let (localpart, server) = (unescape_node(localpart), unescape_node(server));
        let valid = !localpart.is_empty()
            && !server.is_empty()
            && !localpart.contains([':', '@'])
            && !server.contains(['@', '/']);
        valid.then(|| format!("@{localpart}:{server}"))
    }

    /// Whether a domain is a MUC service we bridge.
    pub fn is_muc_domain(&self, domain: &str) -> bool {
        self.muc_domains.iter().any(|d| d == domain)
    }

    /// `room_conference.xmpp.example.com` → `room@conference.xmpp.example.com`.
    pub fn muc_of_alias_id(&self, id: &str) -> Option<BareJid> {
        let id = id.to_lowercase();
        self.muc_domains.iter().find_map(|domain| {
            let room = id.strip_suffix(domain.as_str())?.strip_suffix('_')?;
            if room.is_empty() {
                return None;
            }
            BareJid::new(&format!("{room}@{domain}"))
                .ok()
                .filter(|jid| jid.node().is_some())
        })
    }

    /// `room@conference.xmpp.example.com` → `room_conference.xmpp.example.com`.
    pub fn alias_id_of_muc(&self, muc: &BareJid) -> String {
        format!(
            "{}_{}",
            muc.node().map(|n| n.as_str()).unwrap_or_default(),
            muc.domain()
        )
    }

    /// `#room:example.com` → `#room#example.com@matrix.xmpp.example.com`.
    pub fn gateway_room_jid(&self, alias: &str) -> Option<BareJid> {
        let (local, server) = alias.strip_prefix('#')?.split_once(':')?;
        let node = format!("#{}#{}", escape_node(local), escape_node(server));
        BareJid::new(&format!("{node}@{}", self.component)).ok()
    }

    /// The alias behind a gateway MUC localpart, `#room#example.com`.
    pub fn alias_of_gateway_node(&self, node: &str) -> Option<String> {
        let (local, server) = node.strip_prefix('#')?.rsplit_once('#')?;
        let (local, server) = (unescape_node(local), unescape_node(server));
        (!local.is_empty() && !server.is_empty() && !local.contains(':'))
            .then(|| format!("#{local}:{server}"))
    }

    /// What a JID under the component stands for.
    pub fn classify(&self, jid: &Jid) -> ComponentAddress {
        if jid.domain().as_str() != self.component {
            return ComponentAddress::Elsewhere;
        }
        let Some(node) = jid.node() else {
            return ComponentAddress::Component;
        };
        let node = node.as_str();
        if node.starts_with('#') {
            return match self.alias_of_gateway_node(node) {
                Some(alias) => ComponentAddress::GatewayRoom(alias),
                None => ComponentAddress::Unknown,
            };
        }
        match self.mxid_of_node(node) {
            Some(mxid) => ComponentAddress::MatrixUser(mxid),
            None => ComponentAddress::Unknown,
        }
    }
}

/// The kinds of address the component answers for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ComponentAddress {
    /// The component's own domain.
    Component,
    /// A Matrix user, by MXID.
    MatrixUser(String),
    /// A gateway MUC, by the Matrix room alias it shows.
    GatewayRoom(String),
    /// Under the component, but nothing we could have handed out.
    Unknown,
    /// Not under the component at all.
    Elsewhere,
}

/// The portal of a MUC.
pub fn muc_portal(muc: &BareJid) -> PortalKey {
    PortalKey::shared(format!("muc/{muc}"))
}

/// The portal of a private chat between an XMPP user and a Matrix user.
pub fn direct_portal(xmpp_user: &BareJid, mxid: &str) -> PortalKey {
    PortalKey::shared(format!("dm/{xmpp_user}/{mxid}"))
}

/// The portal of a public Matrix room served through the gateway.
pub fn gateway_portal(room_id: &str) -> PortalKey {
    PortalKey::shared(format!("gw/{room_id}"))
}

/// The MUC of a portal key made by [`muc_portal`].
pub fn muc_of_portal(key: &PortalKey) -> Option<BareJid> {
    BareJid::new(key.id.as_str().strip_prefix("muc/")?).ok()
}

/// A ghost's remote ID: the bare JID when the user's real address is
/// known, else the occupant JID (`room@service/nick`) of an anonymous room.
pub fn ghost_id(jid: &Jid) -> RemoteUserId {
    RemoteUserId::new(jid.as_str())
}

#[cfg(test)]
mod tests {
    use super::*;
    use causeway_core::config::Config;

    fn addresses() -> Addresses {
        let config: XmppConfig = Config::parse_network_section(crate::config::EXAMPLE).unwrap();
        Addresses::new(&config)
    }

    #[test]
    fn matrix_users_get_the_guides_jid_and_it_maps_back() {
        let a = addresses();
        let jid = a.matrix_user_jid("@alice:example.com").unwrap();
        assert_eq!(jid.as_str(), "alice_example.com@matrix.xmpp.example.com");
        assert_eq!(
            a.mxid_of_node("alice_example.com").as_deref(),
            Some("@alice:example.com")
        );
    }

    #[test]
    fn odd_matrix_ids_are_escaped_and_still_map_back() {
        let a = addresses();
        for mxid in [
            "@a_b:example.com",
            "@x/y:hs.test:8448",
            "@we'ird:example.com",
        ] {
            let jid = a.matrix_user_jid(mxid).unwrap();
            let node = jid.node().unwrap().as_str();
            assert!(!node.contains(['/', ':', '\'']), "{node}");
            assert_eq!(a.mxid_of_node(node).as_deref(), Some(mxid));
        }
    }

    #[test]
    fn aliases_name_rooms_of_configured_muc_services_only() {
        let a = addresses();
        let muc = a
            .muc_of_alias_id("ExampleRoom_conference.xmpp.example.com")
            .unwrap();
        assert_eq!(muc.as_str(), "exampleroom@conference.xmpp.example.com");
        assert_eq!(
            a.alias_id_of_muc(&muc),
            "exampleroom_conference.xmpp.example.com"
        );
        assert!(a.muc_of_alias_id("room_muc.elsewhere.org").is_none());
        assert!(a.muc_of_alias_id("_conference.xmpp.example.com").is_none());
    }

    #[test]
    fn gateway_jids_carry_the_alias_both_ways() {
        let a = addresses();
        let jid = a.gateway_room_jid("#matrix:example.com").unwrap();
        assert_eq!(jid.as_str(), "#matrix#example.com@matrix.xmpp.example.com");
        let jid = Jid::from(jid);
        assert_eq!(
            a.classify(&jid),
            ComponentAddress::GatewayRoom("#matrix:example.com".into())
        );
        let port = a.gateway_room_jid("#r:hs.test:8448").unwrap();
        assert_eq!(
            a.alias_of_gateway_node(port.node().unwrap().as_str())
                .as_deref(),
            Some("#r:hs.test:8448")
        );
    }

    #[test]
    fn addresses_outside_the_component_or_unparseable_are_told_apart() {
        let a = addresses();
        let elsewhere = Jid::new("bob@xmpp.example.com").unwrap();
        assert_eq!(a.classify(&elsewhere), ComponentAddress::Elsewhere);
        let bare = Jid::new("matrix.xmpp.example.com").unwrap();
        assert_eq!(a.classify(&bare), ComponentAddress::Component);
        let junk = Jid::new("nounderscore@matrix.xmpp.example.com").unwrap();
        assert_eq!(a.classify(&junk), ComponentAddress::Unknown);
    }

    #[test]
    fn escaping_reverses_and_leaves_stray_backslashes_alone() {
        let raw = "a b\\c@d/e:f";
        assert_eq!(unescape_node(&escape_node(raw)), raw);
        assert_eq!(unescape_node("x\\zz"), "x\\zz");
    }
}
