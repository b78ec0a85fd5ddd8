//! Formatting helpers shared by the bridges: escaping, sanitising, HTML to
//! plain text, markdown to HTML, and mention pills.

use std::collections::HashSet;

/// Escapes text for HTML. Every piece of remote text goes through this
/// before it is placed in `formatted_body`.
pub fn escape_html(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// Reduces Matrix HTML to the subset that the spec allows clients to show.
pub fn sanitize_html(html: &str) -> String {
    let tags: HashSet<&str> = [
        "font",
        "del",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "p",
        "a",
        "ul",
        "ol",
        "sup",
        "sub",
        "li",
        "b",
        "i",
        "u",
        "strong",
        "em",
        "s",
        "code",
        "hr",
        "br",
        "div",
        "table",
        "thead",
        "tbody",
        "tr",
        "th",
        "td",
        "caption",
        "pre",
        "span",
        "details",
        "summary",
    ]
    .into_iter()
    .collect();
    ammonia::Builder::default()
        .tags(tags)
        .add_tag_attributes("font", ["data-mx-bg-color", "data-mx-color", "color"])
        .add_tag_attributes(
            "span",
            ["data-mx-bg-color", "data-mx-color", "data-mx-spoiler"],
        )
        .add_tag_attributes("a", ["name", "target"])
        .add_tag_attributes("code", ["class"])
        .add_tag_attributes("ol", ["start"])
        .url_schemes(
            ["https", "http", "ftp", "mailto", "magnet"]
                .into_iter()
                .collect(),
        )
        .link_rel(Some("noopener"))
        .clean(html)
        .to_string()
}

/// Plain text from Matrix HTML: tags dropped, line breaks kept, replies'
/// fallback quotes removed, entities decoded.
pub fn html_to_plain(html: &str) -> String {
    let without_reply = strip_reply_fallback(html);
    let with_breaks = without_reply
        .replace("<br>", "\n")
        .replace("<br/>", "\n")
        .replace("<br />", "\n")
        .replace("</p>", "</p>\n")
        .replace("</li>", "</li>\n");
    let text = ammonia::Builder::empty().clean(&with_breaks).to_string();
    decode_entities(text.trim_end_matches('\n'))
}

/// Removes the `<mx-reply>` block that older clients put before a reply.
pub fn strip_reply_fallback(html: &str) -> String {
    match (html.find("<mx-reply>"), html.find("</mx-reply>")) {
        (Some(start), Some(end)) if end > start => {
            format!("{}{}", &html[..start], &html[end + "</mx-reply>".len()..])
        }
        _ => html.to_owned(),
    }
}

/// Removes the `> ` quote lines that older clients put before a reply's body.
pub fn strip_plain_reply_fallback(body: &str) -> &str {
    if !body.starts_with("> ") {
        return body;
    }
    match body.find("\n\n") {
        Some(i) => &body[i + 2..],
        None => body,
    }
}

/// The value of a double-quoted attribute inside a sanitised tag (the
/// text between `<` and `>`), entities decoded.
pub fn html_attribute(tag: &str, name: &str) -> Option<String> {
    let at = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[at..].find('"')? + at;
    Some(decode_entities(&tag[at..end]))
}

/// Decodes HTML character references (`&amp;`, `&#39;`, …) in text.
pub fn decode_entities(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let tail = &rest[amp..];
        let Some(semi) = tail.find(';').filter(|&i| i <= 10) else {
            out.push('&');
            rest = &tail[1..];
            continue;
        };
        let entity = &tail[1..semi];
        let decoded = match entity {
            "amp" => Some('&'),
            "lt" => Some('<'),
            "gt" => Some('>'),
            "quot" => Some('"'),
            "apos" => Some('\''),
            "nbsp" => Some('\u{a0}'),
            _ => entity
                .strip_prefix("#x")
                .and_then(|hex| u32::from_str_radix(hex, 16).ok())
                .or_else(|| entity.strip_prefix('#').and_then(|dec| dec.parse().ok()))
                .and_then(char::from_u32),
        };
        match decoded {
            Some(c) => {
                out.push(c);
                rest = &tail[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &tail[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// Escapes text for a markdown notice: each character CommonMark could
/// read as inline markup gets a backslash, so a remote nick or error text
/// stays literal and never becomes a link, emphasis, code or an entity.
/// Line breaks become spaces, so the text cannot start a block either.
/// Other punctuation is left alone: the notice's plain body is the
/// markdown itself, and should read naturally.
pub fn escape_markdown(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\r' | '\n' => out.push(' '),
            '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '~' | '|' | '&' | '#' | '!' => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out
}

/// The plain text of a notice: its markdown with backslash escapes taken
/// out, so text escaped by [`escape_markdown`] reads as it was.
pub fn unescape_markdown(markdown: &str) -> String {
    let mut out = String::with_capacity(markdown.len());
    let mut chars = markdown.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, chars.peek()) {
            ('\\', Some(next)) if next.is_ascii_punctuation() => {
                out.push(*next);
                chars.next();
            }
            _ => out.push(c),
        }
    }
    out
}

/// Markdown (CommonMark, with strikethrough) to sanitised HTML. Raw HTML in
/// the input is escaped rather than passed through.
pub fn markdown_to_html(markdown: &str) -> String {
    use pulldown_cmark::{Event, Options, Parser};
    let parser =
        Parser::new_ext(markdown, Options::ENABLE_STRIKETHROUGH).map(|event| match event {
            Event::Html(raw) | Event::InlineHtml(raw) => Event::Text(raw),
            other => other,
        });
    let mut html = String::new();
    pulldown_cmark::html::push_html(&mut html, parser);
    let html = html.trim_end();
    // A single paragraph reads better in clients without its <p>.
    let single = html
        .strip_prefix("<p>")
        .and_then(|h| h.strip_suffix("</p>"))
        .filter(|inner| !inner.contains("<p>"));
    sanitize_html(single.unwrap_or(html))
}

/// A mention pill for a Matrix user.
pub fn mention_pill(mxid: &str, displayname: &str) -> String {
    format!(
        "<a href=\"https://matrix.to/#/{}\">{}</a>",
        escape_html(mxid),
        escape_html(displayname)
    )
}

/// A duration in its largest whole unit: "1 second", "10 minutes", "2 days".
pub fn human_duration(seconds: u64) -> String {
    let plural = |n: u64, unit: &str| format!("{n} {unit}{}", if n == 1 { "" } else { "s" });
    match seconds {
        0..120 => plural(seconds, "second"),
        120..7200 => plural(seconds / 60, "minute"),
        7200..172_800 => plural(seconds / 3600, "hour"),
        _ => plural(seconds / 86_400, "day"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_their_largest_whole_unit() {
        assert_eq!(human_duration(1), "1 second");
        assert_eq!(human_duration(600), "10 minutes");
        assert_eq!(human_duration(172_800), "2 days");
    }

    #[test]
    fn escaped_markdown_renders_as_the_literal_text() {
        let hostile = "[click](https://evil.example) *bold* `code` <b>x</b> _a_\n# head";
        let html = markdown_to_html(&escape_markdown(hostile));
        assert!(!html.contains("<a") && !html.contains("<em>") && !html.contains("<code>"));
        assert!(!html.contains("<b>") && !html.contains("<h1>"), "{html}");
        assert!(html.contains("[click](https://evil.example)"), "{html}");
        assert_eq!(
            unescape_markdown(&escape_markdown(r"a\b [c] *d*")),
            r"a\b [c] *d*"
        );
    }

    #[test]
    fn remote_text_is_escaped_for_html() {
        assert_eq!(
            escape_html("<b>\"x\" & 'y'</b>"),
            "&lt;b&gt;&quot;x&quot; &amp; &#39;y&#39;&lt;/b&gt;"
        );
    }

    #[test]
    fn sanitising_removes_scripts_and_keeps_formatting() {
        let out = sanitize_html("<b>bold</b><script>alert(1)</script><a href=\"javascript:x\">l</a><font data-mx-color=\"#ff0000\">red</font>");
        assert!(out.contains("<b>bold</b>"));
        assert!(!out.contains("script") && !out.contains("javascript"));
        assert!(out.contains("data-mx-color"));
    }

    #[test]
    fn html_becomes_plain_text_with_line_breaks_and_entities() {
        assert_eq!(
            html_to_plain("<p>a &amp; b</p><p>c<br>d</p>"),
            "a & b\nc\nd"
        );
        assert_eq!(
            html_to_plain("<mx-reply><blockquote>old</blockquote></mx-reply>new &lt;3"),
            "new <3"
        );
        assert_eq!(
            html_to_plain("x &#128512; &#x41; &bogus; & y"),
            "x 😀 A &bogus; & y"
        );
    }

    #[test]
    fn markdown_renders_and_escapes_raw_html() {
        assert_eq!(
            markdown_to_html("**hi** `x`"),
            "<strong>hi</strong> <code>x</code>"
        );
        assert!(!markdown_to_html("<script>x</script>").contains("<script>"));
    }

    #[test]
    fn pills_link_the_user_and_escape_the_name() {
        assert_eq!(
            mention_pill("@bob:x.org", "Bob <3"),
            "<a href=\"https://matrix.to/#/@bob:x.org\">Bob &lt;3</a>"
        );
    }

    #[test]
    fn plain_reply_fallback_is_stripped() {
        assert_eq!(
            strip_plain_reply_fallback("> <@a:b> old\n> more\n\nnew"),
            "new"
        );
        assert_eq!(strip_plain_reply_fallback("plain"), "plain");
    }
}
