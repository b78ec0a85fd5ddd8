//! Telegram text with entities, to Matrix HTML. Entity offsets count
//! UTF-16 code units, as Telegram counts them; out-of-range or crossing
//! entities are clipped, never trusted. The text is escaped, and only the
//! tags below are written, so nothing from Telegram becomes markup of its
//! own.

use causeway_core::format::escape_html;
use grammers_client::tl;

/// One formatting span, in UTF-16 units.
struct Span {
    start: usize,
    end: usize,
    open: String,
    close: &'static str,
}

/// Where a link may point: the web, mail, Telegram.
fn safe_url(url: &str) -> Option<String> {
    let lower = url.to_ascii_lowercase();
    ["https://", "http://", "mailto:", "tg://"]
        .iter()
        .any(|scheme| lower.starts_with(scheme))
        .then(|| escape_html(url))
}

fn span(
    entity: &tl::enums::MessageEntity,
    text: &[u16],
    mention: &dyn Fn(i64) -> Option<String>,
) -> Option<(String, &'static str)> {
    use tl::enums::MessageEntity as E;
    let covered = || {
        let (start, end) = (
            entity.offset().max(0) as usize,
            (entity.offset() + entity.length()).max(0) as usize,
        );
        String::from_utf16_lossy(&text[start.min(text.len())..end.min(text.len())])
    };
    Some(match entity {
        E::Bold(_) => ("<strong>".into(), "</strong>"),
        E::Italic(_) => ("<em>".into(), "</em>"),
        E::Underline(_) => ("<u>".into(), "</u>"),
        E::Strike(_) => ("<del>".into(), "</del>"),
        E::Code(_) => ("<code>".into(), "</code>"),
        E::Spoiler(_) => ("<span data-mx-spoiler>".into(), "</span>"),
        E::Blockquote(_) => ("<blockquote>".into(), "</blockquote>"),
        E::Pre(pre) => {
            let language: String = pre
                .language
                .chars()
                .filter(|c| c.is_ascii_alphanumeric() || "+#-_".contains(*c))
                .collect();
            let class = if language.is_empty() {
                String::new()
            } else {
                format!(" class=\"language-{language}\"")
            };
            (format!("<pre><code{class}>"), "</code></pre>")
        }
        E::TextUrl(link) => (format!("<a href=\"{}\">", safe_url(&link.url)?), "</a>"),
        E::Url(_) => {
            let url = covered();
            let url = if url.contains("://") {
                url
            } else {
                format!("https://{url}")
            };
            (format!("<a href=\"{}\">", safe_url(&url)?), "</a>")
        }
        E::Email(_) => (
            format!(
                "<a href=\"{}\">",
                safe_url(&format!("mailto:{}", covered()))?
            ),
            "</a>",
        ),
        E::MentionName(named) => (
            format!(
                "<a href=\"https://matrix.to/#/{}\">",
                escape_html(&mention(named.user_id)?)
            ),
            "</a>",
        ),
        _ => return None,
    })
}

/// The Matrix body and HTML of a Telegram text; no HTML when it has no
/// formatting. `mention` gives the Matrix ID of a mentioned Telegram user.
pub fn convert(
    text: &str,
    entities: &[tl::enums::MessageEntity],
    mention: &dyn Fn(i64) -> Option<String>,
) -> (String, Option<String>) {
    let units: Vec<u16> = text.encode_utf16().collect();
    let mut spans: Vec<Span> = entities
        .iter()
        .filter_map(|entity| {
            let start = usize::try_from(entity.offset()).ok()?.min(units.len());
            let end = start
                .saturating_add(usize::try_from(entity.length()).ok()?)
                .min(units.len());
            let (open, close) = span(entity, &units, mention)?;
            (start < end).then_some(Span {
                start,
                end,
                open,
                close,
            })
        })
        .collect();
    if spans.is_empty() {
        return (text.to_owned(), None);
    }
    // Outer spans first; an inner span that crosses its outer one's end is
    // clipped to it, so the tags always nest.
    spans.sort_by_key(|s| (s.start, std::cmp::Reverse(s.end)));
    let mut open: Vec<usize> = Vec::new();
    for i in 0..spans.len() {
        while let Some(&outer) = open.last() {
            if spans[outer].end <= spans[i].start {
                open.pop();
            } else {
                break;
            }
        }
        if let Some(&outer) = open.last() {
            spans[i].end = spans[i].end.min(spans[outer].end);
        }
        open.push(i);
    }
    let mut html = String::new();
    let mut stack: Vec<usize> = Vec::new();
    let mut next = 0;
    let mut position = 0;
    for ch in text.chars() {
        while let Some(&top) = stack.last() {
            if spans[top].end <= position {
                html.push_str(spans[top].close);
                stack.pop();
            } else {
                break;
            }
        }
        while next < spans.len() && spans[next].start <= position {
            if spans[next].end > position {
                html.push_str(&spans[next].open);
                stack.push(next);
            }
            next += 1;
        }
        html.push_str(&escape_html(ch.encode_utf8(&mut [0; 4])));
        position += ch.len_utf16();
    }
    while let Some(top) = stack.pop() {
        html.push_str(spans[top].close);
    }
    (text.to_owned(), Some(html.replace('\n', "<br>")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tl::enums::MessageEntity as E;

    fn none(_: i64) -> Option<String> {
        None
    }

    #[test]
    fn formatting_becomes_nested_html_with_the_text_escaped() {
        let entities = [
            E::Bold(tl::types::MessageEntityBold {
                offset: 0,
                length: 11,
            }),
            E::Italic(tl::types::MessageEntityItalic {
                offset: 5,
                length: 6,
            }),
        ];
        let (body, html) = convert("bold <i>ta</i>", &entities, &none);
        assert_eq!(body, "bold <i>ta</i>");
        assert_eq!(
            html.as_deref(),
            Some("<strong>bold <em>&lt;i&gt;ta&lt;</em></strong>/i&gt;")
        );
    }

    #[test]
    fn offsets_count_utf16_units_so_an_emoji_shifts_them_by_two() {
        let entities = [E::Code(tl::types::MessageEntityCode {
            offset: 3,
            length: 4,
        })];
        let (_, html) = convert("😀 code!", &entities, &none);
        assert_eq!(html.as_deref(), Some("😀 <code>code</code>!"));
    }

    #[test]
    fn out_of_range_and_crossing_entities_are_clipped() {
        let entities = [
            E::Bold(tl::types::MessageEntityBold {
                offset: 0,
                length: 3,
            }),
            E::Italic(tl::types::MessageEntityItalic {
                offset: 2,
                length: 100,
            }),
            E::Underline(tl::types::MessageEntityUnderline {
                offset: -5,
                length: 2,
            }),
        ];
        let (_, html) = convert("abcdef", &entities, &none);
        assert_eq!(html.as_deref(), Some("<strong>ab<em>c</em></strong>def"));
    }

    #[test]
    fn links_pre_spoilers_and_mentions_have_their_matrix_forms() {
        let entities = [
            E::TextUrl(tl::types::MessageEntityTextUrl {
                offset: 0,
                length: 4,
                url: "https://example.org/?a=1&b=2".into(),
            }),
            E::TextUrl(tl::types::MessageEntityTextUrl {
                offset: 5,
                length: 3,
                url: "javascript:alert(1)".into(),
            }),
            E::Spoiler(tl::types::MessageEntitySpoiler {
                offset: 9,
                length: 6,
            }),
            E::MentionName(tl::types::MessageEntityMentionName {
                offset: 16,
                length: 3,
                user_id: 7,
            }),
            E::Pre(tl::types::MessageEntityPre {
                offset: 20,
                length: 4,
                language: "rust\"><script>".into(),
            }),
        ];
        let mention = |id: i64| Some(format!("@telegram_{id}:example.org"));
        let (_, html) = convert("site bad secret Bob code", &entities, &mention);
        assert_eq!(
            html.as_deref(),
            Some("<a href=\"https://example.org/?a=1&amp;b=2\">site</a> bad <span data-mx-spoiler>secret</span> <a href=\"https://matrix.to/#/@telegram_7:example.org\">Bob</a> <pre><code class=\"language-rustscript\">code</code></pre>")
        );
    }
}
