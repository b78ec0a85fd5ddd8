//! WhatsApp's text formatting to Matrix HTML: `*bold*`, `_italic_`,
//! `~strike~`, `` `code` ``, ```` ``` ```` blocks, `> ` quotes and `- `,
//! `* ` or `1. ` lists; `@<number>` mentions become pills. The text is
//! escaped first, so nothing a sender types becomes markup of its own.

use causeway_core::format::{escape_html, mention_pill};

/// A mentioned person: the number as written after `@`, and their pill.
pub struct Mention {
    pub number: String,
    pub mxid: String,
    pub name: String,
}

/// The HTML of a WhatsApp text, or `None` when it is plain.
pub fn convert(text: &str, mentions: &[Mention]) -> Option<String> {
    let mut html = String::new();
    let mut lines = text.split('\n').peekable();
    let mut list: Option<&str> = None;
    let mut first = true;
    while let Some(line) = lines.next() {
        // A code block runs to the line that closes it.
        if let Some(rest) = line.strip_prefix("```") {
            let mut block = vec![rest.to_owned()];
            let mut closed = rest.ends_with("```") && rest.len() >= 3;
            if closed {
                block[0].truncate(rest.len() - 3);
            }
            while !closed {
                let Some(next) = lines.next() else { break };
                match next.strip_suffix("```") {
                    Some(last) => {
                        block.push(last.to_owned());
                        closed = true;
                    }
                    None => block.push(next.to_owned()),
                }
            }
            close_list(&mut html, &mut list);
            html.push_str("<pre><code>");
            html.push_str(&escape_html(block.join("\n").trim_matches('\n')));
            html.push_str("</code></pre>");
            first = true;
            continue;
        }
        let item = list_item(line);
        match item {
            Some((kind, content)) => {
                if list != Some(kind) {
                    close_list(&mut html, &mut list);
                    html.push_str(&format!("<{kind}>"));
                    list = Some(kind);
                }
                html.push_str(&format!("<li>{}</li>", inline(content, mentions)));
                first = true;
                continue;
            }
            None => close_list(&mut html, &mut list),
        }
        if !first {
            html.push_str("<br>");
        }
        first = false;
        match line.strip_prefix("> ") {
            Some(quoted) => {
                html.push_str(&format!(
                    "<blockquote>{}</blockquote>",
                    inline(quoted, mentions)
                ));
                first = true;
            }
            None => html.push_str(&inline(line, mentions)),
        }
    }
    close_list(&mut html, &mut list);
    let plain = escape_html(text).replace('\n', "<br>");
    (html != plain).then_some(html)
}

fn close_list(html: &mut String, list: &mut Option<&str>) {
    if let Some(kind) = list.take() {
        html.push_str(&format!("</{kind}>"));
    }
}

fn list_item(line: &str) -> Option<(&'static str, &str)> {
    if let Some(rest) = line.strip_prefix("- ").or_else(|| line.strip_prefix("* ")) {
        return Some(("ul", rest));
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    let rest = line[digits..].strip_prefix(". ")?;
    (digits > 0).then_some(("ol", rest))
}

/// The markers of inline formatting, and their tags.
const MARKERS: [(char, &str); 4] = [('*', "strong"), ('_', "em"), ('~', "del"), ('`', "code")];

/// One line's inline formatting. A marker opens after a start, space or
/// punctuation and before a non-space, and closes symmetrically.
fn inline(line: &str, mentions: &[Mention]) -> String {
    let chars: Vec<char> = line.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let opens = i == 0 || !chars[i - 1].is_alphanumeric();
        if let Some((_, tag)) = MARKERS.iter().find(|(m, _)| *m == c) {
            if opens && chars.get(i + 1).is_some_and(|n| !n.is_whitespace()) {
                if let Some(end) = closing(&chars, i + 1, c) {
                    let inner: String = chars[i + 1..end].iter().collect();
                    let inner = if *tag == "code" {
                        escape_html(&inner)
                    } else {
                        inline(&inner, mentions)
                    };
                    out.push_str(&format!("<{tag}>{inner}</{tag}>"));
                    i = end + 1;
                    continue;
                }
            }
        }
        if c == '@' && opens {
            let number: String = chars[i + 1..]
                .iter()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            if let Some(m) = mentions
                .iter()
                .find(|m| !number.is_empty() && m.number == number)
            {
                out.push_str(&mention_pill(&m.mxid, &m.name));
                i += 1 + number.len();
                continue;
            }
        }
        out.push_str(&escape_html(&c.to_string()));
        i += 1;
    }
    out
}

/// Where the marker opened before `from` closes, on the same line.
fn closing(chars: &[char], from: usize, marker: char) -> Option<usize> {
    (from..chars.len()).find(|&j| {
        chars[j] == marker
            && !chars[j - 1].is_whitespace()
            && j > from
            && chars.get(j + 1).is_none_or(|n| !n.is_alphanumeric())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_has_no_html() {
        assert_eq!(convert("just words, 2*3=6", &[]), None);
    }

    #[test]
    fn inline_markers_become_tags() {
        assert_eq!(
            convert("*bold* _it_ ~gone~ `a<b`", &[]).unwrap(),
            "<strong>bold</strong> <em>it</em> <del>gone</del> <code>a&lt;b</code>"
        );
    }

    #[test]
    fn markers_inside_words_stay_text() {
        assert_eq!(convert("snake_case_name and a*b*c", &[]), None);
    }

    #[test]
    fn html_in_the_text_is_escaped() {
        assert_eq!(
            convert("*<script>x</script>*", &[]).unwrap(),
            "<strong>&lt;script&gt;x&lt;/script&gt;</strong>"
        );
    }

    #[test]
    fn code_blocks_quotes_and_lists_become_blocks() {
        assert_eq!(
            convert("```\nfn main() {}\n```", &[]).unwrap(),
            "<pre><code>fn main() {}</code></pre>"
        );
        assert_eq!(
            convert("> wise words\nyes", &[]).unwrap(),
            "<blockquote>wise words</blockquote>yes"
        );
        assert_eq!(
            convert("- one\n- two", &[]).unwrap(),
            "<ul><li>one</li><li>two</li></ul>"
        );
        assert_eq!(
            convert("1. one\n2. two", &[]).unwrap(),
            "<ol><li>one</li><li>two</li></ol>"
        );
    }

    #[test]
    fn a_mentioned_number_becomes_a_pill() {
        let ada = Mention {
            number: "15550101".into(),
            mxid: "@whatsapp_15550101:example.org".into(),
            name: "Ada".into(),
        };
        let html = convert("hi @15550101 and @999", &[ada]).unwrap();
        assert!(
            html.starts_with("hi <a href=\"https://matrix.to/#/@whatsapp_15550101:example.org\">")
        );
        assert!(html.ends_with(" and @999"));
    }
}
