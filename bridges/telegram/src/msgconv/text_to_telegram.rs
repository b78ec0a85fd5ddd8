//! Matrix HTML to Telegram text with entities. The HTML is sanitised
//! first, so what is walked here is well formed and uses only the tags the
//! spec allows; each becomes its Telegram entity, with offsets in UTF-16
//! code units. Tags with no Telegram form keep their text.

use causeway_core::format::{decode_entities, html_attribute, sanitize_html, strip_reply_fallback};
use grammers_client::tl;

/// An entity being built: where it opened, and what it will be.
struct Open {
    tag: String,
    start: i32,
    href: Option<String>,
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

/// Telegram's limit for a message's text, in UTF-16 code units.
pub const TEXT_LIMIT: usize = 4096;

/// A formatted stretch of the text, in UTF-16 units, before it is an entity.
struct Span {
    open: Open,
    end: i32,
}

/// The Telegram text and entities of a Matrix message's HTML.
pub fn convert(html: &str) -> (String, Vec<tl::enums::MessageEntity>) {
    let (text, spans) = spans(html);
    let length = text.encode_utf16().count();
    let mut pieces = clip(&text, &spans, &[(0, length)]);
    pieces.pop().unwrap_or_default()
}

/// A Matrix message as Telegram messages of at most `limit` UTF-16 units
/// each, cut at a line or word break where there is one, each piece with
/// the entities that fall in it. `html` is `None` for plain text.
pub fn convert_in_pieces(
    body: &str,
    html: Option<&str>,
    limit: usize,
) -> Vec<(String, Vec<tl::enums::MessageEntity>)> {
    let (text, spans) = match html {
        Some(html) => spans(html),
        None => (body.to_owned(), Vec::new()),
    };
    clip(&text, &spans, &cuts(&text, limit.max(2)))
}

/// Where to cut `text` into pieces of at most `limit` UTF-16 units, as
/// (start, end) unit ranges.
fn cuts(text: &str, limit: usize) -> Vec<(usize, usize)> {
    let mut ranges = Vec::new();
    let (mut start, mut units, mut soft) = (0, 0, None);
    for c in text.chars() {
        let width = c.len_utf16();
        if units + width > limit {
            // Cut after the last break in the second half of the piece.
            let cut = soft
                .filter(|&s| s > start + limit / 2)
                .unwrap_or(start + units);
            ranges.push((start, cut));
            units -= cut - start;
            start = cut;
            soft = None;
        }
        units += width;
        if c == '\n' || c == ' ' {
            soft = Some(start + units);
        }
    }
    ranges.push((start, start + units));
    ranges
}

/// The text and entities of each unit range of `text`.
fn clip(
    text: &str,
    spans: &[Span],
    ranges: &[(usize, usize)],
) -> Vec<(String, Vec<tl::enums::MessageEntity>)> {
    let units: Vec<u16> = text.encode_utf16().collect();
    ranges
        .iter()
        .map(|&(start, end)| {
            let piece = String::from_utf16_lossy(&units[start..end]);
            let (start, end) = (start as i32, end as i32);
            let entities = spans
                .iter()
                .filter_map(|span| {
                    let open = Open {
                        tag: span.open.tag.clone(),
                        start: span.open.start.max(start) - start,
                        href: span.open.href.clone(),
                    };
                    entity(&open, span.end.min(end) - start)
                })
                .collect();
            (piece, entities)
        })
        .collect()
}

/// The plain text of sanitised HTML, and where its formatting goes.
fn spans(html: &str) -> (String, Vec<Span>) {
    let clean = sanitize_html(&strip_reply_fallback(html));
    let mut text = String::new();
    let mut units = 0i32;
    let mut stack: Vec<Open> = Vec::new();
    let mut spans = Vec::new();
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
                href: html_attribute(tag, "href"),
                tag: name,
                start: units,
            }),
            (true, _) => {
                if let Some(at) = stack
                    .iter()
                    .rposition(|o| o.tag == name || (name == "span" && o.tag == "plain-span"))
                {
                    let open = stack.remove(at);
                    spans.push(Span { open, end: units });
                }
            }
        }
    }
    let trimmed = text.trim_end_matches('\n').len();
    text.truncate(trimmed);
    spans.sort_by_key(|span| span.open.start);
    (text, spans)
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
    fn a_long_message_is_cut_at_word_breaks_with_entities_clipped() {
        let pieces = convert_in_pieces("", Some("aaaa <b>bbbb cccc</b> dddd"), 12);
        let texts: Vec<_> = pieces.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["aaaa bbbb ", "cccc dddd"]);
        assert_eq!(
            pieces[0].1,
            [E::Bold(tl::types::MessageEntityBold {
                offset: 5,
                length: 5
            })]
        );
        assert_eq!(
            pieces[1].1,
            [E::Bold(tl::types::MessageEntityBold {
                offset: 0,
                length: 4
            })]
        );
    }

    #[test]
    fn text_without_breaks_is_cut_at_the_limit_and_never_inside_a_surrogate_pair() {
        let pieces = convert_in_pieces(&"😀".repeat(5), None, 5);
        let texts: Vec<_> = pieces.iter().map(|(t, _)| t.as_str()).collect();
        assert_eq!(texts, ["😀😀", "😀😀", "😀"]);
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
