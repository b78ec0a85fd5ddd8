//! One IRC line: the checks every line passes before it reaches a socket,
//! and the parsing of lines that arrive.

use anyhow::{Context, Result};
use encoding_rs::Encoding;
use std::borrow::Cow;

/// Text of a line: UTF-8 when it is valid, the fallback encoding otherwise.
pub fn decode<'a>(line: &'a [u8], fallback: &'static Encoding) -> Cow<'a, str> {
    match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => fallback.decode_without_bom_handling(line).0,
    }
}

/// The encoding a config label names, such as "latin-1" or "windows-1251".
pub fn encoding(label: &str) -> Result<&'static Encoding> {
    let label = match label.to_ascii_lowercase().as_str() {
        // WHATWG maps latin1 to windows-1252, a superset; accept the usual
        // spellings people write.
        "latin-1" | "latin_1" | "iso-8859-1" => "latin1".to_owned(),
        other => other.to_owned(),
    };
    Encoding::for_label(label.as_bytes())
        .with_context(|| format!("unknown text encoding {label:?}; use a name such as latin-1, windows-1251 or iso-8859-15"))
}

/// The most an IRC line may hold, CRLF included (RFC 1459 §2.3).
pub const MAX_WIRE_LINE: usize = 512;

/// One line for the IRC wire, checked: the only thing the connection's writer takes,
/// so no code, however it built its text, can put a line of its own on the
/// socket. A Matrix string with CR or LF in it would otherwise end our line
/// and start one of the user's choosing (GHSA-52rh-5rpj-c3w6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line(String);

/// Why a line was refused rather than written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineRefused {
    #[error("an IRC line cannot contain {0}")]
    Forbidden(&'static str),
    #[error("an IRC line is at most {MAX_WIRE_LINE} bytes with the server's prefix; this one would be {0}")]
    TooLong(usize),
    #[error("an IRC line cannot be empty")]
    Empty,
}

impl Line {
    /// Checks `text` (without CRLF) for the wire. `prefix` is how many
    /// bytes the server puts in front when it relays the line to others
    /// (`:nick!user@host `); zero for lines it never relays.
    pub fn new(text: impl Into<String>, prefix: usize) -> Result<Self, LineRefused> {
        let text = text.into();
        if let Some(found) = text.bytes().find_map(|b| match b {
            b'\r' => Some("a carriage return (CR)"),
            b'\n' => Some("a line feed (LF)"),
            b'\0' => Some("a NUL byte"),
            _ => None,
        }) {
            return Err(LineRefused::Forbidden(found));
        }
        if text.trim().is_empty() {
            return Err(LineRefused::Empty);
        }
        let relayed = prefix + text.len() + "\r\n".len();
        if relayed > MAX_WIRE_LINE {
            return Err(LineRefused::TooLong(relayed));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A line split into its source, command and parameters; enough for the
/// registration messages the protocol crate does not model (CAP with four
/// arguments, the SASL numerics).
#[derive(Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    pub source: Option<&'a str>,
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

pub fn split(line: &str) -> Parts<'_> {
    let (source, command, mut rest) = source_and_command(line);
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        let (param, r) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param);
        rest = r;
    }
    Parts {
        source,
        command,
        params,
    }
}

/// A line's command and first parameter, as [`split`] reads them, without
/// allocating for the rest: a Matrix user's connection hears every line of
/// its channels, and drops most of them on these two alone.
pub fn head(line: &str) -> (&str, Option<&str>) {
    let (_, command, rest) = source_and_command(line);
    let rest = rest.trim_start_matches(' ');
    let first = match rest.strip_prefix(':') {
        Some(trailing) => trailing,
        None => rest.split_once(' ').map_or(rest, |(param, _)| param),
    };
    (command, (!rest.is_empty()).then_some(first))
}

/// A line's source, command, and what follows the command: its tags
/// skipped.
fn source_and_command(line: &str) -> (Option<&str>, &str, &str) {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map(|(_, r)| r).unwrap_or("");
    }
    let mut source = None;
    if let Some(stripped) = rest.strip_prefix(':') {
        let (s, r) = stripped.split_once(' ').unwrap_or((stripped, ""));
        source = Some(s);
        rest = r;
    }
    let rest = rest.trim_start_matches(' ');
    let (command, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    (source, command, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_utf8_falls_back_to_latin1() {
        let latin1 = encoding("latin-1").unwrap();
        assert_eq!(decode(b"caf\xe9", latin1), "café");
        assert_eq!(decode("café".as_bytes(), latin1), "café");
        assert!(encoding("klingon")
            .unwrap_err()
            .to_string()
            .contains("latin-1"));
    }

    #[test]
    fn lines_with_cr_lf_or_nul_are_refused_wherever_they_are() {
        for bad in [
            "JOIN #a\r\nQUIT",
            "PRIVMSG #a :x\ny",
            "PART #a :\0",
            "PING\r",
        ] {
            assert!(
                matches!(Line::new(bad, 0), Err(LineRefused::Forbidden(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            Line::new("PRIVMSG #a :hi", 0).unwrap().as_str(),
            "PRIVMSG #a :hi"
        );
    }

    #[test]
    fn lines_over_512_bytes_with_the_prefix_are_refused_not_cut() {
        let text = format!("PRIVMSG #a :{}", "x".repeat(500 - 12));
        assert_eq!(text.len(), 500);
        assert!(Line::new(text.clone(), 10).is_ok());
        assert_eq!(Line::new(text, 11), Err(LineRefused::TooLong(513)));
        assert_eq!(Line::new("  ", 0), Err(LineRefused::Empty));
    }

    #[test]
    fn split_reads_tags_source_and_trailing_parameter() {
        let parts = split("@time=x :irc.test CAP * LS * :sasl=PLAIN multi-prefix");
        assert_eq!(parts.source, Some("irc.test"));
        assert_eq!(parts.command, "CAP");
        assert_eq!(parts.params, ["*", "LS", "*", "sasl=PLAIN multi-prefix"]);
        assert_eq!(split("AUTHENTICATE +").params, ["+"]);
    }

    #[test]
    fn head_reads_the_command_and_first_parameter_as_split_does() {
        for line in [
            "@time=x :alice!a@h PRIVMSG #c :hello there",
            ":alice!a@h NOTICE  bob :hi",
            "PRIVMSG :#trailing first",
            ":irc.test 001",
            "PING",
            "",
        ] {
            let parts = split(line);
            assert_eq!(
                head(line),
                (parts.command, parts.params.first().copied()),
                "{line:?}"
            );
        }
    }
}
