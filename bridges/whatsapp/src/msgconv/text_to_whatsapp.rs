//! Matrix HTML to WhatsApp's text formatting. The HTML is sanitised first,
//! so what is walked is well formed and uses only the tags the spec
//! allows; each becomes WhatsApp's marker, and tags with no WhatsApp form
//! keep their text. Pills become the `@` mentions WhatsApp shows.

use causeway_core::format::{decode_entities, html_attribute, sanitize_html, strip_reply_fallback};

/// A Matrix message as WhatsApp text, with the Matrix users it mentions.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Converted {
    pub text: String,
    pub mentions: Vec<String>,
}

/// `mention` names a mentioned Matrix user as they should read in
/// WhatsApp (`@4412345678` for a ghost), given their MXID and pill text.
pub fn convert(
    body: &str,
    html: Option<&str>,
    mention: &dyn Fn(&str, &str) -> String,
) -> Converted {
    let Some(html) = html else {
        return Converted {
            text: causeway_core::format::strip_plain_reply_fallback(body).to_owned(),
            mentions: Vec::new(),
        };
    };
    let html = sanitize_html(&strip_reply_fallback(html));
    let mut out = Converted::default();
    let mut lists: Vec<Option<u32>> = Vec::new();
    let mut link: Option<(String, usize)> = None;
    let mut in_pre = false;
    let mut quote_from: Vec<usize> = Vec::new();
    let mut rest = html.as_str();
    while !rest.is_empty() {
        let Some(start) = rest.find('<') else {
            out.text.push_str(&decode_entities(rest));
            break;
        };
        out.text.push_str(&decode_entities(&rest[..start]));
        let Some(end) = rest[start..].find('>') else {
            break;
        };
        let tag = &rest[start + 1..start + end];
        rest = &rest[start + end + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (name.as_str(), closing) {
            ("b" | "strong", _) => out.text.push('*'),
            ("i" | "em", _) => out.text.push('_'),
            ("del" | "s" | "strike", _) => out.text.push('~'),
            ("code", _) if !in_pre => out.text.push('`'),
            ("pre", false) => {
                in_pre = true;
                newline(&mut out.text);
                out.text.push_str("```\n");
            }
            ("pre", true) => {
                in_pre = false;
                newline(&mut out.text);
                out.text.push_str("```\n");
            }
            ("br", _) => out.text.push('\n'),
            ("p" | "div" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6", true) => newline(&mut out.text),
            ("ul", false) => lists.push(None),
            ("ol", false) => lists.push(Some(1)),
            ("ul" | "ol", true) => {
                lists.pop();
                newline(&mut out.text);
            }
            ("li", false) => {
                newline(&mut out.text);
                match lists.last_mut() {
                    Some(Some(n)) => {
                        out.text.push_str(&format!("{n}. "));
                        *n += 1;
                    }
                    _ => out.text.push_str("- "),
                }
            }
            ("blockquote", false) => {
                newline(&mut out.text);
                quote_from.push(out.text.len());
            }
            ("blockquote", true) => {
                if let Some(from) = quote_from.pop() {
                    let quoted = out.text.split_off(from);
                    for line in quoted.trim_end_matches('\n').split('\n') {
                        out.text.push_str("> ");
                        out.text.push_str(line);
                        out.text.push('\n');
                    }
                }
            }
            ("a", false) => {
                link = html_attribute(tag, "href").map(|href| (href, out.text.len()));
            }
            ("a", true) => {
                if let Some((href, from)) = link.take() {
                    let label = out.text.split_off(from);
                    match href.strip_prefix("https://matrix.to/#/") {
                        Some(mxid) if mxid.starts_with('@') => {
                            let mxid = decode_entities(mxid);
                            out.text.push_str(&mention(&mxid, &label));
                            out.mentions.push(mxid);
                        }
                        _ if label == href || label.is_empty() => out.text.push_str(&href),
                        _ => out.text.push_str(&format!("{label} ({href})")),
                    }
                }
            }
            _ => {}
        }
    }
    out.text = out.text.trim_end().to_owned();
    out
}

fn newline(text: &mut String) {
    if !text.is_empty() && !text.ends_with('\n') {
        text.push('\n');
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(mxid: &str, _label: &str) -> String {
        format!(
            "@{}",
            mxid.trim_start_matches("@whatsapp_")
                .split(':')
                .next()
                .unwrap_or_default()
        )
    }

    #[test]
    fn plain_text_is_sent_as_it_is() {
        let got = convert("a *literal* star", None, &plain);
        assert_eq!(got.text, "a *literal* star");
    }

    #[test]
    fn formatting_becomes_whatsapp_markers() {
        let got = convert(
            "",
            Some("<strong>b</strong> <em>i</em> <del>s</del> <code>c</code>"),
            &plain,
        );
        assert_eq!(got.text, "*b* _i_ ~s~ `c`");
    }

    #[test]
    fn blocks_become_lines() {
        let got = convert(
            "",
            Some("<blockquote>wise<br>words</blockquote><ol><li>one</li><li>two</li></ol><pre><code>x = 1</code></pre>"),
            &plain,
        );
        assert_eq!(got.text, "> wise\n> words\n1. one\n2. two\n```\nx = 1\n```");
    }

    #[test]
    fn scripts_are_dropped_and_entities_decoded() {
        let got = convert(
            "",
            Some("<script>alert(1)</script>a &lt;b&gt; &amp; c"),
            &plain,
        );
        assert_eq!(got.text, "a <b> & c");
    }

    #[test]
    fn a_pill_becomes_a_mention_and_a_link_keeps_its_address() {
        let got = convert(
            "",
            Some("hi <a href=\"https://matrix.to/#/@whatsapp_4412345678:example.org\">Ann (WA)</a>, see <a href=\"https://example.org/x\">this</a>"),
            &plain,
        );
        assert_eq!(got.text, "hi @4412345678, see this (https://example.org/x)");
        assert_eq!(got.mentions, ["@whatsapp_4412345678:example.org"]);
    }
}
