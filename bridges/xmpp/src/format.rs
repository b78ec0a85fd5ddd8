//! Text formatting between XMPP and Matrix: XHTML-IM (XEP-0071) and
//! message styling (XEP-0393) to Matrix HTML, and Matrix HTML back to
//! XHTML-IM. Whatever comes from the other side is sanitised.

use crate::stanza::{ns, NS};
use causeway_core::format::escape_html;
use serde_json::{json, Value};
use std::collections::HashSet;
use xmpp_parsers::minidom::Element;

/// The tags both Matrix clients and XHTML-IM agree on.
const TAGS: &[&str] = &[
    "a",
    "b",
    "strong",
    "i",
    "em",
    "u",
    "del",
    "s",
    "code",
    "pre",
    "blockquote",
    "p",
    "br",
    "ul",
    "ol",
    "li",
    "span",
];

/// Keeps only harmless tags and attributes: no scripts, no styles, no
/// event handlers, links only to http(s) and mailto.
pub fn sanitize(html: &str) -> String {
    let tags: HashSet<&str> = TAGS.iter().copied().collect();
    ammonia::Builder::default()
        .tags(tags)
        .tag_attributes(std::iter::once(("a", ["href"].into_iter().collect())).collect())
        .url_schemes(["http", "https", "mailto"].into_iter().collect())
        .link_rel(None)
        .clean(html)
        .to_string()
}

/// Matrix content for an XMPP message body: `/me` becomes an emote, and
/// XHTML-IM or styling becomes sanitised HTML.
pub fn matrix_content(body: &str, message: &Element) -> Value {
    let (msgtype, text) = match body.strip_prefix("/me ") {
        Some(action) => ("m.emote", action),
        None => ("m.text", body),
    };
    let mut content = json!({ "msgtype": msgtype, "body": text });
    let html = xhtml_im_html(message).or_else(|| styling_html(text));
    if let Some(html) = html {
        let html = match msgtype {
            "m.emote" => html.strip_prefix("/me ").unwrap_or(&html).to_owned(),
            _ => html,
        };
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    content
}

/// The sanitised HTML of a message's XHTML-IM body, if it has one.
fn xhtml_im_html(message: &Element) -> Option<String> {
    let body = message
        .get_child("html", ns::XHTML_IM)?
        .get_child("body", ns::XHTML)?;
    let mut inner = String::new();
    for node in body.nodes() {
        match node {
            xmpp_parsers::minidom::Node::Element(e) => inner.push_str(&String::from(e)),
            xmpp_parsers::minidom::Node::Text(t) => inner.push_str(&escape_html(t)),
        }
    }
    let clean = sanitize(&inner);
    (!clean.trim().is_empty()).then_some(clean)
}

/// XEP-0393 spans and blocks as HTML, or `None` when the text has none.
pub fn styling_html(text: &str) -> Option<String> {
    let mut html = String::new();
    let mut styled = false;
    let mut lines = text.split('\n').peekable();
    let mut first = true;
    while let Some(line) = lines.next() {
        if !first {
            html.push_str("<br>");
        }
        first = false;
        if line.starts_with("```") {
            let mut code = Vec::new();
            for inner in lines.by_ref() {
                if inner.starts_with("```") {
                    break;
                }
                code.push(inner);
            }
            html.push_str(&format!(
                "<pre><code>{}</code></pre>",
                escape_html(&code.join("\n"))
            ));
            styled = true;
            first = true;
            continue;
        }
        if let Some(quoted) = line.strip_prefix('>') {
            html.push_str(&format!(
                "<blockquote>{}</blockquote>",
                spans(quoted.trim_start(), &mut styled)
            ));
            styled = true;
            first = true;
            continue;
        }
        html.push_str(&spans(line, &mut styled));
    }
    styled.then_some(html)
}

/// One line's spans: `*strong*`, `_emphasis_`, `~strike~`, `` `code` ``.
/// Linear in the line's length: where each marker's next possible close
/// is comes from one pass backwards, not a scan per opening marker, so a
/// long line of openers that never close costs no more than plain text.
fn spans(line: &str, styled: &mut bool) -> String {
    const MARKERS: [(char, &str); 4] = [('*', "strong"), ('_', "em"), ('~', "del"), ('`', "code")];
    let chars: Vec<char> = line.chars().collect();
    // next_close[m][i]: the first j >= i that can close marker m.
    let mut next_close = vec![vec![usize::MAX; chars.len() + 1]; MARKERS.len()];
    for (m, (marker, _)) in MARKERS.iter().enumerate() {
        for j in (0..chars.len()).rev() {
            let closes = j > 0 && chars[j] == *marker && !chars[j - 1].is_whitespace();
            next_close[m][j] = if closes { j } else { next_close[m][j + 1] };
        }
    }
    let mut out = String::with_capacity(line.len());
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let marker = MARKERS.iter().position(|(m, _)| *m == c);
        let opens = marker.is_some()
            && (i == 0 || chars[i - 1].is_whitespace())
            && chars.get(i + 1).is_some_and(|n| !n.is_whitespace());
        if let (Some(m), true) = (marker, opens) {
            let close = next_close[m].get(i + 2).copied().unwrap_or(usize::MAX);
            if close != usize::MAX {
                let tag = MARKERS[m].1;
                let inner: String = chars[i + 1..close].iter().collect();
                let inner = if tag == "code" {
                    escape_html(&inner)
                } else {
                    spans(&inner, styled)
                };
                out.push_str(&format!("<{tag}>{inner}</{tag}>"));
                *styled = true;
                i = close + 1;
                continue;
            }
        }
        match c {
            '&' | '<' | '>' | '"' | '\'' => out.push_str(&escape_html(&c.to_string())),
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// An XHTML-IM element for Matrix HTML; `None` if it does not survive as
/// XML (it then goes as plain text only).
pub fn xhtml_im(html: &str) -> Option<Element> {
    let clean = sanitize(html).replace("<br>", "<br/>");
    let wrapped = format!(
        "<html xmlns='{}'><body xmlns='{}'>{clean}</body></html>",
        ns::XHTML_IM,
        ns::XHTML
    );
    wrapped.parse().ok()
}

/// A `<body/>` element of the stanza namespace.
pub fn body_element(text: &str) -> Element {
    crate::stanza::text_element("body", NS, text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(xml: &str) -> Element {
        format!("<message xmlns='jabber:component:accept'>{xml}</message>")
            .parse()
            .unwrap()
    }

    #[test]
    fn xhtml_with_script_is_sanitised_to_harmless_html() {
        let m = message("<body>hi</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>hi <strong>there</strong><script>alert(1)</script><a href='javascript:x()' onclick='y()'>l</a></p></body></html>");
        let content = matrix_content("hi", &m);
        let html = content["formatted_body"].as_str().unwrap();
        assert!(html.contains("<strong>there</strong>"), "{html}");
        assert!(
            !html.contains("script") && !html.contains("javascript") && !html.contains("onclick"),
            "{html}"
        );
    }

    #[test]
    fn openers_that_never_close_stay_text_and_a_later_span_still_styles() {
        let hostile = format!("{}*end*", "_x ".repeat(1000));
        let html = styling_html(&hostile).unwrap_or_default();
        assert!(
            html.starts_with("_x _x") && html.ends_with("<strong>end</strong>"),
            "{html}"
        );
        assert_eq!(styling_html(&"_x ".repeat(1000)), None);
    }

    #[test]
    fn styling_becomes_html_and_plain_text_stays_plain() {
        assert_eq!(
            styling_html("a *bold* and _it_ `x<y`").as_deref(),
            Some("a <strong>bold</strong> and <em>it</em> <code>x&lt;y</code>")
        );
        assert_eq!(styling_html("2 * 3 * 4"), None);
        assert_eq!(
            styling_html("> quoted\nreply").as_deref(),
            Some("<blockquote>quoted</blockquote>reply")
        );
        let content = matrix_content("just <text>", &message("<body>just &lt;text&gt;</body>"));
        assert!(content.get("formatted_body").is_none());
    }

    #[test]
    fn me_messages_become_emotes() {
        let content = matrix_content("/me waves", &message("<body>/me waves</body>"));
        assert_eq!(content["msgtype"], "m.emote");
        assert_eq!(content["body"], "waves");
    }

    #[test]
    fn matrix_html_becomes_well_formed_xhtml_im() {
        let xhtml = xhtml_im("<b>bold</b><br><img src=x onerror=alert(1)>").unwrap();
        let text = String::from(&xhtml);
        assert!(
            text.contains("<b>bold</b>") && text.contains("<br"),
            "{text}"
        );
        assert!(!text.contains("img") && !text.contains("onerror"), "{text}");
    }
}
