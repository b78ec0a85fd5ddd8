//! Making Matrix text safe and short enough for the IRC wire.
//!
//! CR, LF and NUL would let a Matrix user inject IRC commands, so every line
//! is cut at them; long lines are split on word boundaries, never inside a
//! UTF-8 character, to fit the 512-byte limit with the server's prefix.

/// The longest `user@host` a server may prepend, so lines fit once relayed.
const PREFIX_ALLOWANCE: usize = 1 + 10 + 1 + 63;

/// Bytes the server puts before a line from `nick` when it relays it:
/// `:nick!user@host `.
pub fn prefix_len(nick: &str) -> usize {
    1 + nick.len() + PREFIX_ALLOWANCE + 1
}

/// Bytes left for the text of a PRIVMSG from `nick` to `target`.
pub fn payload_limit(nick: &str, target: &str) -> usize {
    // ":nick!user@host PRIVMSG target :text\r\n"
    let overhead = prefix_len(nick)
        + "PRIVMSG ".len()
        + target.len()
        + " :".len()
        + "\r\n".len()
        + "\x01ACTION \x01".len();
    512usize.saturating_sub(overhead).max(64)
}

/// Splits text into IRC lines of at most `limit` bytes, with no CR, LF or NUL.
pub fn split_lines(text: &str, limit: usize) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.split(['\r', '\n']) {
        let line: String = line.chars().filter(|c| *c != '\0').collect();
        let mut rest = line.trim_end();
        if rest.is_empty() {
            continue;
        }
        while rest.len() > limit {
            let mut cut = limit;
            while !rest.is_char_boundary(cut) {
                cut -= 1;
            }
            if cut == 0 {
                // A limit narrower than one character: send it whole rather
                // than loop forever.
                cut = rest.chars().next().map_or(rest.len(), char::len_utf8);
            }
            // Prefer the last space in the window, unless it is very early.
            if let Some(space) = rest[..cut].rfind(' ').filter(|&s| s > limit / 2) {
                cut = space;
            }
            out.push(rest[..cut].to_owned());
            rest = rest[cut..].trim_start();
        }
        if !rest.is_empty() {
            out.push(rest.to_owned());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_limit_narrower_than_a_character_still_ends() {
        assert_eq!(split_lines("é€x", 1), ["é", "€", "x"]);
    }

    #[test]
    fn cr_lf_and_nul_never_survive() {
        let lines = split_lines("hi\r\nQUIT :pwned\rJOIN #x\0y", 400);
        assert_eq!(lines, ["hi", "QUIT :pwned", "JOIN #xy"]);
        assert!(lines.iter().all(|l| !l.contains(['\r', '\n', '\0'])));
    }

    #[test]
    fn long_lines_split_on_words_within_the_limit() {
        let text = "word ".repeat(100);
        let lines = split_lines(&text, 50);
        assert!(lines
            .iter()
            .all(|l| l.len() <= 50 && !l.starts_with(' ') && !l.ends_with(' ')));
        assert_eq!(lines.join(" "), text.trim_end());
    }

    #[test]
    fn splitting_never_cuts_a_character() {
        let text = "é".repeat(300);
        let lines = split_lines(&text, 51);
        assert!(lines.iter().all(|l| l.len() <= 51));
        assert_eq!(lines.concat(), text);
    }

    #[test]
    fn the_payload_limit_leaves_room_for_the_prefix() {
        let limit = payload_limit("alice[m]", "#channel");
        assert!(limit < 512 - 8 - 8 - 75);
        assert!(limit > 300);
    }
}
