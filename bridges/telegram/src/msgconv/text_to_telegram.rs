//! Matrix HTML to Telegram text with entities. The HTML is sanitised
//! first, so what is walked here is well formed and uses only the tags the
//! spec allows; each becomes its Telegram entity, with offsets in UTF-16
//! code units. Tags with no Telegram form keep their text.

use causeway_core::format::{decode_entities, sanitize_html, strip_reply_fallback};
use grammers_client::tl;

/// An entity being built: where it opened, and what it will be.
struct Open {
    tag: String,
    start: i32,
    href: Option<String>,
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[at..].find('"')? + at;
    Some(decode_entities(&tag[at..end]))
}

fn entity(open: &Open, end: i32) -> Option<tl::enums::MessageEntity> {
    use tl::enums::MessageEntity as E;
    let (offset, length) = (open.start, end - open.start);
    if length <= 0 {
        return None;
    }
    Some(match open.tag.as_str() {
        "b" | "strong" => E::Bold(tl::types::MessageEntityBold { offset, length }),
        "i" | "em" => E::Italic(tl::types::MessageEntityItalic { offset, length }),
        "u" => E::Underline(tl::types::MessageEntityUnderline { offset, length }),
        "del" | "s" | "strike" => E::Strike(tl::types::MessageEntityStrike { offset, length }),
        "code" => E::Code(tl::types::MessageEntityCode { offset, length }),
        "pre" => E::Pre(tl::types::MessageEntityPre {
            offset,
            length,
            language: String::new(),
        }),
        "blockquote" => E::Blockquote(tl::types::MessageEntityBlockquote {
            collapsed: false,
            offset,
            length,
        }),
        "span" => E::Spoiler(tl::types::MessageEntitySpoiler { offset, length }),
        "a" => E::TextUrl(tl::types::MessageEntityTextUrl {
            offset,
            length,
            url: open.href.clone()?,
        }),
        _ => return None,
    })
}

/// The Telegram text and entities of a Matrix message's HTML.
pub fn convert(html: &str) -> (String, Vec<tl::enums::MessageEntity>) {
    let clean = sanitize_html(&strip_reply_fallback(html));
    let mut text = String::new();
    let mut units = 0i32;
    let mut stack: Vec<Open> = Vec::new();
    let mut entities = Vec::new();
    let mut rest = clean.as_str();
    let push_text = |text: &mut String, units: &mut i32, piece: &str| {
        text.push_str(piece);
        *units += piece.encode_utf16().count() as i32;
    };
    while !rest.is_empty() {
        let Some(lt) = rest.find('<') else {
            push_text(&mut text, &mut units, &decode_entities(rest));
            break;
        };
        push_text(&mut text, &mut units, &decode_entities(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name: String = tag
            .trim_start_matches('/')
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric())
            .collect::<String>()
            .to_ascii_lowercase();
        match (closing, name.as_str()) {
            (false, "br") => push_text(&mut text, &mut units, "\n"),
            (true, "p" | "li" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6" | "div") => {
                push_text(&mut text, &mut units, "\n")
            }
            (false, "li") => push_text(&mut text, &mut units, "• "),
            (false, "span") if !tag.contains("data-mx-spoiler") => stack.push(Open {
                tag: "plain-span".into(),
                start: units,
                href: None,
            }),
            (false, _) => stack.push(Open {
                href: attribute(tag, "href"),
                tag: name,
                start: units,
            }),
            (true, _) => {
                if let Some(at) = stack
                    .iter()
                    .rposition(|o| o.tag == name || (name == "span" && o.tag == "plain-span"))
                {
                    let open = stack.remove(at);
                    entities.extend(entity(&open, units));
                }
            }
        }
    }
    let trimmed = text.trim_end_matches('\n').len();
    text.truncate(trimmed);
    entities.sort_by_key(|e| e.offset());
    (text, entities)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl::enums::MessageEntity as E;

    #[test]
    fn tags_become_entities_over_the_plain_text() {
        let (text, entities) = convert("say <strong>hi</strong> to <a href=\"https://example.org/?a=1&amp;b=2\">me</a> &amp; <code>x&lt;y</code>");
        assert_eq!(text, "say hi to me & x<y");
        assert_eq!(
            entities,
            [
                E::Bold(tl::types::MessageEntityBold {
                    offset: 4,
                    length: 2
                }),
                E::TextUrl(tl::types::MessageEntityTextUrl {
                    offset: 10,
                    length: 2,
                    url: "https://example.org/?a=1&b=2".into()
                }),
                E::Code(tl::types::MessageEntityCode {
                    offset: 15,
                    length: 3
                }),
            ]
        );
    }

    #[test]
    fn offsets_count_utf16_units() {
        let (text, entities) = convert("😀 <em>yes</em>");
        assert_eq!(text, "😀 yes");
        assert_eq!(
            entities,
            [E::Italic(tl::types::MessageEntityItalic {
                offset: 3,
                length: 3
            })]
        );
    }

    #[test]
    fn scripts_and_unknown_markup_leave_only_text() {
        let (text, entities) = convert(
            "<script>alert(1)</script><p>a<br>b</p><span>c</span><span data-mx-spoiler>d</span>",
        );
        assert_eq!(text, "a\nb\ncd");
        assert_eq!(
            entities,
            [E::Spoiler(tl::types::MessageEntitySpoiler {
                offset: 5,
                length: 1
            })]
        );
    }
}
