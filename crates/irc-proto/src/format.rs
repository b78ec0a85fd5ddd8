//! IRC formatting codes ↔ Matrix HTML.
//!
//! IRC text is escaped before it becomes HTML; Matrix HTML is reduced to the
//! codes IRC clients show, with pills turned into nicks.

use causeway_text::format::escape_html;

const BOLD: char = '\x02';
const COLOR: char = '\x03';
const HEX_COLOR: char = '\x04';
const RESET: char = '\x0f';
const MONOSPACE: char = '\x11';
const REVERSE: char = '\x16';
const ITALIC: char = '\x1d';
const STRIKE: char = '\x1e';
const UNDERLINE: char = '\x1f';

/// The 16 standard mIRC colours.
const PALETTE: [&str; 16] = [
    "#ffffff", "#000000", "#00007f", "#009300", "#ff0000", "#7f0000", "#9c009c", "#fc7f00",
    "#ffff00", "#00fc00", "#009393", "#00ffff", "#0000fc", "#ff00ff", "#7f7f7f", "#d2d2d2",
];

#[derive(Clone, Default, PartialEq, Eq)]
struct Style {
    bold: bool,
    italic: bool,
    underline: bool,
    strike: bool,
    mono: bool,
    fg: Option<&'static str>,
    bg: Option<&'static str>,
}

impl Style {
    fn open(&self, out: &mut String) {
        if self.fg.is_some() || self.bg.is_some() {
            out.push_str("<font");
            if let Some(fg) = self.fg {
                out.push_str(&format!(" data-mx-color=\"{fg}\""));
            }
            if let Some(bg) = self.bg {
                out.push_str(&format!(" data-mx-bg-color=\"{bg}\""));
            }
            out.push('>');
        }
        for (on, tag) in [
            (self.bold, "b"),
            (self.italic, "i"),
            (self.underline, "u"),
            (self.strike, "del"),
            (self.mono, "code"),
        ] {
            if on {
                out.push_str(&format!("<{tag}>"));
            }
        }
    }

    fn close(&self, out: &mut String) {
        for (on, tag) in [
            (self.mono, "code"),
            (self.strike, "del"),
            (self.underline, "u"),
            (self.italic, "i"),
            (self.bold, "b"),
        ] {
            if on {
                out.push_str(&format!("</{tag}>"));
            }
        }
        if self.fg.is_some() || self.bg.is_some() {
            out.push_str("</font>");
        }
    }
}

/// Reads up to two digits of a colour number.
fn color_number(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut digits = String::new();
    while digits.len() < 2 && chars.peek().is_some_and(char::is_ascii_digit) {
        digits.extend(chars.next());
    }
    digits.parse().ok()
}

/// Converts IRC text: the plain body with codes stripped, and HTML when the
/// text had any formatting. All text is escaped.
pub fn irc_to_matrix(text: &str) -> (String, Option<String>) {
    let mut plain = String::with_capacity(text.len());
    let mut html = String::with_capacity(text.len() + 16);
    let mut style = Style::default();
    let mut formatted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let before = style.clone();
        match c {
            BOLD => style.bold = !style.bold,
            ITALIC => style.italic = !style.italic,
            UNDERLINE => style.underline = !style.underline,
            STRIKE => style.strike = !style.strike,
            MONOSPACE => style.mono = !style.mono,
            REVERSE => std::mem::swap(&mut style.fg, &mut style.bg),
            RESET => style = Style::default(),
            COLOR => match color_number(&mut chars) {
                Some(fg) => {
                    style.fg = PALETTE.get(fg).copied();
                    let mut lookahead = chars.clone();
                    if lookahead.next() == Some(',')
                        && lookahead.peek().is_some_and(char::is_ascii_digit)
                    {
                        chars.next();
                        style.bg = color_number(&mut chars).and_then(|bg| PALETTE.get(bg).copied());
                    }
                }
                None => (style.fg, style.bg) = (None, None),
            },
            HEX_COLOR => {
                // Hex colours are rare; drop them and their digits.
                while chars
                    .peek()
                    .is_some_and(|c| c.is_ascii_hexdigit() || *c == ',')
                {
                    chars.next();
                }
                (style.fg, style.bg) = (None, None);
            }
            c => {
                plain.push(c);
                html.push_str(&escape_html(c.encode_utf8(&mut [0; 4])));
                continue;
            }
        }
        if style != before {
            formatted = true;
            before.close(&mut html);
            style.open(&mut html);
        }
    }
    style.close(&mut html);
    (plain, formatted.then_some(html))
}

/// Converts Matrix HTML to IRC text. `pill_nick` names the IRC nick for a
/// mentioned user, if the bridge knows one; otherwise the pill's text stays.
pub fn matrix_html_to_irc(html: &str, pill_nick: &dyn Fn(&str) -> Option<String>) -> String {
    let html =
        causeway_text::format::sanitize_html(&causeway_text::format::strip_reply_fallback(html));
    let mut out = String::with_capacity(html.len());
    let mut rest = html.as_str();
    let mut link: Option<(String, usize)> = None;
    while let Some(lt) = rest.find('<') {
        out.push_str(&decode(&rest[..lt]));
        let Some(gt) = rest[lt..].find('>') else {
            break;
        };
        let tag = &rest[lt + 1..lt + gt];
        rest = &rest[lt + gt + 1..];
        let closing = tag.starts_with('/');
        let name = tag
            .trim_start_matches('/')
            .split(|c: char| c.is_whitespace() || c == '/')
            .next()
            .unwrap_or("")
            .to_ascii_lowercase();
        match name.as_str() {
            "b" | "strong" => out.push(BOLD),
            "i" | "em" => out.push(ITALIC),
            "u" => out.push(UNDERLINE),
            "del" | "s" | "strike" => out.push(STRIKE),
            "code" => out.push(MONOSPACE),
            "br" => out.push('\n'),
            "p" | "div" | "li" | "blockquote" | "pre" | "h1" | "h2" | "h3" | "h4" | "h5" | "h6"
                if closing =>
            {
                out.push('\n')
            }
            "li" => out.push_str("• "),
            "a" if !closing => link = Some((attribute(tag, "href").unwrap_or_default(), out.len())),
            "a" => {
                if let Some((href, start)) = link.take() {
                    let text = out[start..].to_owned();
                    let mentioned = href.strip_prefix("https://matrix.to/#/").map(|id| {
                        urlencoding::decode(id)
                            .map(|s| s.into_owned())
                            .unwrap_or_default()
                    });
                    match mentioned
                        .as_deref()
                        .filter(|id| id.starts_with('@'))
                        .map(|id| pill_nick(id).unwrap_or_else(|| text.clone()))
                    {
                        Some(nick) => out.replace_range(start.., &nick),
                        None if !href.is_empty() && href != text => {
                            out.push_str(&format!(" ({href})"))
                        }
                        None => {}
                    }
                }
            }
            _ => {}
        }
    }
    out.push_str(&decode(rest));
    // Collapse the blank lines that block tags leave behind.
    let lines: Vec<&str> = out
        .lines()
        .map(str::trim_end)
        .filter(|l| !l.is_empty())
        .collect();
    lines.join("\n")
}

fn attribute(tag: &str, name: &str) -> Option<String> {
    let start = tag.find(&format!("{name}=\""))? + name.len() + 2;
    let end = tag[start..].find('"')? + start;
    Some(decode(&tag[start..end]))
}

fn decode(text: &str) -> String {
    causeway_text::format::html_to_plain(&text.replace('\n', "<br>"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_irc_text_has_no_html() {
        assert_eq!(
            irc_to_matrix("hello <world>"),
            ("hello <world>".into(), None)
        );
    }

    #[test]
    fn irc_codes_become_escaped_html() {
        let (plain, html) = irc_to_matrix("\x02bold\x02 <b>\x1ditalic\x0f end");
        assert_eq!(plain, "bold <b>italic end");
        assert_eq!(html.unwrap(), "<b>bold</b> &lt;b&gt;<i>italic</i> end");
    }

    #[test]
    fn colours_with_background_map_to_font_tags() {
        let (plain, html) = irc_to_matrix("\x034,1red on black\x03 normal");
        assert_eq!(plain, "red on black normal");
        assert_eq!(html.unwrap(), "<font data-mx-color=\"#ff0000\" data-mx-bg-color=\"#000000\">red on black</font> normal");
        let (plain, _) = irc_to_matrix("\x0312,99x\x03,5");
        assert_eq!(plain, "x,5");
    }

    #[test]
    fn scripts_in_irc_text_stay_text() {
        let (_, html) = irc_to_matrix("\x02<script>alert(1)</script>");
        assert_eq!(
            html.unwrap(),
            "<b>&lt;script&gt;alert(1)&lt;/script&gt;</b>"
        );
    }

    #[test]
    fn matrix_html_becomes_irc_codes_and_pills_become_nicks() {
        let nick = |id: &str| (id == "@alice:x").then(|| "alice[m]".to_string());
        let html = "<strong>hi</strong> <a href=\"https://matrix.to/#/@alice:x\">Alice</a>, see <a href=\"https://e.org\">this</a><br>2nd &amp; <em>line</em>";
        assert_eq!(
            matrix_html_to_irc(html, &nick),
            "\x02hi\x02 alice[m], see this (https://e.org)\n2nd & \x1dline\x1d"
        );
    }

    #[test]
    fn unknown_pills_keep_their_text_and_replies_lose_their_fallback() {
        let html = "<mx-reply><blockquote>old</blockquote></mx-reply><a href=\"https://matrix.to/#/@bob:x\">Bob</a>: yes";
        assert_eq!(matrix_html_to_irc(html, &|_| None), "Bob: yes");
    }

    #[test]
    fn block_tags_become_lines() {
        assert_eq!(
            matrix_html_to_irc("<p>one</p><ul><li>a</li><li>b</li></ul>", &|_| None),
            "one\n• a\n• b"
        );
    }
}
