//! Stanzas as plain `minidom` elements, and the builders the bridge uses.
//!
//! xmpp-parsers has no types for several extensions we speak (retraction,
//! replies, fallback, hints, MUC admin), and a typed parse throws away a
//! stanza it does not like. Working on elements keeps every stanza, and
//! keeps the XML in one place.

use xmpp_parsers::minidom::rxml::{Namespace, NcName};
use xmpp_parsers::minidom::Element;

/// The stanza namespace of a component stream.
pub const NS: &str = "jabber:component:accept";

pub mod ns {
    pub const MUC: &str = "http://jabber.org/protocol/muc";
    pub const MUC_USER: &str = "http://jabber.org/protocol/muc#user";
    pub const MUC_ADMIN: &str = "http://jabber.org/protocol/muc#admin";
    pub const DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";
    pub const DISCO_ITEMS: &str = "http://jabber.org/protocol/disco#items";
    pub const PING: &str = "urn:xmpp:ping";
    pub const VERSION: &str = "jabber:iq:version";
    pub const VCARD: &str = "vcard-temp";
    pub const STANZAS: &str = "urn:ietf:params:xml:ns:xmpp-stanzas";
    pub const XHTML_IM: &str = "http://jabber.org/protocol/xhtml-im";
    pub const XHTML: &str = "http://www.w3.org/1999/xhtml";
    pub const CORRECT: &str = "urn:xmpp:message-correct:0";
    pub const RETRACT: &str = "urn:xmpp:message-retract:1";
    pub const REACTIONS: &str = "urn:xmpp:reactions:0";
    pub const REPLY: &str = "urn:xmpp:reply:0";
    pub const FALLBACK: &str = "urn:xmpp:fallback:0";
    pub const CHAT_STATES: &str = "http://jabber.org/protocol/chatstates";
    pub const MARKERS: &str = "urn:xmpp:chat-markers:0";
    pub const RECEIPTS: &str = "urn:xmpp:receipts";
    pub const OOB: &str = "jabber:x:oob";
    pub const SID: &str = "urn:xmpp:sid:0";
    pub const DELAY: &str = "urn:xmpp:delay";
    pub const HINTS: &str = "urn:xmpp:hints";
    pub const STYLING: &str = "urn:xmpp:styling:0";
}

/// A stanza's kind, from its element name.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Message,
    Presence,
    Iq,
}

pub fn kind(stanza: &Element) -> Option<Kind> {
    match stanza.name() {
        "message" => Some(Kind::Message),
        "presence" => Some(Kind::Presence),
        "iq" => Some(Kind::Iq),
        _ => None,
    }
}

/// A new stanza with `from`, `to` and, when given, `type` and `id`.
pub fn new(name: &str, from: &str, to: &str, kind: Option<&str>, id: Option<&str>) -> Element {
    let mut stanza = empty(name, NS, &[("from", from), ("to", to)]);
    if let Some(kind) = kind {
        set_attr(&mut stanza, "type", kind);
    }
    if let Some(id) = id {
        set_attr(&mut stanza, "id", id);
    }
    stanza
}

/// Text as XML 1.0 allows it: control characters other than tab, newline
/// and carriage return, and U+FFFE/U+FFFF, are dropped. Matrix allows
/// them, and one in a stanza would end the whole stream.
pub fn xml_text(text: &str) -> std::borrow::Cow<'_, str> {
    let allowed = |c: char| !matches!(c, '\0'..='\u{8}' | '\u{b}' | '\u{c}' | '\u{e}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}');
    if text.chars().all(allowed) {
        std::borrow::Cow::Borrowed(text)
    } else {
        std::borrow::Cow::Owned(text.chars().filter(|c| allowed(*c)).collect())
    }
}

/// Sets an attribute without a namespace. The names are ours, never the
/// peer's: one that is no valid XML name is a bug, and is skipped loudly.
pub fn set_attr(element: &mut Element, name: &str, value: &str) {
    match NcName::try_from(name) {
        Ok(name) => element.set_attr(Namespace::NONE, name, xml_text(value).into_owned()),
        Err(_) => tracing::error!(name, "not an XML attribute name"),
    }
}

/// An element with text content.
pub fn text_element(name: &str, ns: &str, text: &str) -> Element {
    Element::builder(name, ns)
        .append(xml_text(text).into_owned())
        .build()
}

/// An empty element with attributes.
pub fn empty(name: &str, ns: &str, attrs: &[(&str, &str)]) -> Element {
    let mut element = Element::bare(name, ns);
    for (key, value) in attrs {
        set_attr(&mut element, key, value);
    }
    element
}

/// The reply to an IQ get or set, with its payload, if any.
pub fn iq_result(request: &Element, payload: Option<Element>) -> Element {
    let mut reply = new(
        "iq",
        request.attr("to").unwrap_or_default(),
        request.attr("from").unwrap_or_default(),
        Some("result"),
        request.attr("id"),
    );
    if let Some(payload) = payload {
        reply.append_child(payload);
    }
    reply
}

/// An error reply to any stanza: `kind` is the error type (`cancel`,
/// `modify`, `auth`, `wait`), `condition` the defined condition.
pub fn error_reply(request: &Element, kind: &str, condition: &str, text: Option<&str>) -> Element {
    let mut reply = new(
        request.name(),
        request.attr("to").unwrap_or_default(),
        request.attr("from").unwrap_or_default(),
        Some("error"),
        request.attr("id"),
    );
    let mut error = empty("error", NS, &[("type", kind)]);
    error.append_child(empty(condition, ns::STANZAS, &[]));
    if let Some(text) = text {
        error.append_child(text_element("text", ns::STANZAS, text));
    }
    reply.append_child(error);
    reply
}

/// The defined condition and text of an error stanza.
pub fn error_of(stanza: &Element) -> (String, Option<String>) {
    let Some(error) = stanza.get_child("error", NS) else {
        return ("undefined-condition".into(), None);
    };
    let condition = error
        .children()
        .find(|c| c.ns() == ns::STANZAS && c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".into());
    let text = error
        .get_child("text", ns::STANZAS)
        .map(|t| t.text())
        .filter(|t| !t.is_empty());
    (condition, text)
}

/// The first body of a message, if it has one.
pub fn body(message: &Element) -> Option<String> {
    message.get_child("body", NS).map(|b| b.text())
}

/// Serialises a stanza, for logs and size checks.
pub fn to_string(stanza: &Element) -> String {
    String::from(stanza)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(xml: &str) -> Element {
        xml.parse().unwrap()
    }

    #[test]
    fn error_replies_swap_addresses_and_keep_the_id() {
        let iq = parse("<iq xmlns='jabber:component:accept' from='a@x/r' to='c.x' id='7' type='get'><q xmlns='urn:unknown'/></iq>");
        let reply = error_reply(&iq, "cancel", "feature-not-implemented", None);
        assert_eq!(reply.attr("to"), Some("a@x/r"));
        assert_eq!(reply.attr("from"), Some("c.x"));
        assert_eq!(reply.attr("id"), Some("7"));
        assert_eq!(reply.attr("type"), Some("error"));
        assert_eq!(error_of(&reply).0, "feature-not-implemented");
    }

    #[test]
    fn characters_xml_forbids_never_reach_a_stanza() {
        let body = text_element("body", NS, "a\u{1}b\u{fffe}c\td\ne");
        assert_eq!(body.text(), "abc\td\ne");
        let mut m = new("message", "a@x", "b@y", None, Some("id\u{0}1"));
        set_attr(&mut m, "id", "x\u{7}y");
        assert_eq!(m.attr("id"), Some("xy"));
        assert!(to_string(&m).parse::<Element>().is_ok());
    }

    #[test]
    fn error_text_is_read_when_present() {
        let m = parse("<message xmlns='jabber:component:accept' type='error'><error type='cancel'><conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>Nick taken</text></error></message>");
        assert_eq!(error_of(&m), ("conflict".into(), Some("Nick taken".into())));
    }
}
