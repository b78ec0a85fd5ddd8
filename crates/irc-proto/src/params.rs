//! What a Matrix user may put into an IRC parameter, checked where it enters
//! the bridge so the user hears what was wrong. The connection's writer
//! refuses any unsafe line as well ([`crate::line::Line`]); these
//! checks are what turns such a line into a clear reply instead of an error.
//! The bridge checks nicks and usernames itself, with its own rules for them.

/// Bytes a nick or channel name may have (RFC 2812 §1.3).
const MAX_TARGET: usize = 64;
/// Bytes a channel key may have (RFC 2812 §2.3.1).
const MAX_KEY: usize = 23;
/// Bytes a stored password may have: enough for any services account, and
/// short enough that `PRIVMSG NickServ :IDENTIFY …` always fits a line.
const MAX_PASSWORD: usize = 300;
/// Bytes kept of a free-text parameter (reasons): what fits a line once the
/// server prefixes it, with room for the command and a channel name.
pub const MAX_REASON: usize = 300;

/// Whether a name is a channel we can bridge.
pub fn is_channel(name: &str) -> bool {
    name.len() > 1
        && name.len() <= 50
        && name.starts_with(['#', '&'])
        && !name
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | ',' | ':'))
}

/// Whether `key` can be sent as a channel key: printable ASCII without
/// spaces or commas, at most 23 bytes.
pub fn check_key(key: &str) -> Result<(), String> {
    if key.is_empty()
        || key.len() > MAX_KEY
        || !key.bytes().all(|b| b.is_ascii_graphic() && b != b',')
    {
        return Err(format!(
            "A channel key is 1 to {MAX_KEY} printable characters, without spaces or commas."
        ));
    }
    Ok(())
}

/// Whether `password` can be stored: one line, at most 300 bytes.
pub fn check_password(password: &str) -> Result<(), String> {
    if password.chars().any(char::is_control) {
        return Err("A password cannot contain line breaks or other control characters.".into());
    }
    if password.len() > MAX_PASSWORD {
        return Err(format!(
            "A password has at most {MAX_PASSWORD} bytes; this one has {}.",
            password.len()
        ));
    }
    Ok(())
}

/// Whether `target` can name a nick or channel in a command such as
/// WHOIS: one word, no control characters, no comma (which would make it
/// several targets).
pub fn check_target(target: &str) -> Result<(), String> {
    if target.is_empty()
        || target.len() > MAX_TARGET
        || target.starts_with(':')
        || target
            .chars()
            .any(|c| c.is_control() || matches!(c, ' ' | ','))
    {
        return Err(format!("`{}` is not a nick or channel.", shown(target)));
    }
    Ok(())
}

/// Free text from Matrix (a leave or kick reason) made fit for one
/// trailing parameter: line breaks become spaces, NULs go, and the text is
/// cut to [`MAX_REASON`] bytes on a character boundary. Nobody is there to
/// be told, so it is cleaned rather than refused.
pub fn one_line(text: &str) -> String {
    let mut out: String = text
        .chars()
        .filter(|c| *c != '\0')
        .map(|c| if matches!(c, '\r' | '\n') { ' ' } else { c })
        .collect();
    if out.len() > MAX_REASON {
        let mut cut = MAX_REASON;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Whether a nick heard from IRC, or decoded from a ghost's Matrix ID, can
/// be a user: no control characters or spaces, and none of the characters
/// that would make it a mask, a list, a channel or a trailing parameter.
pub fn is_plausible_nick(nick: &str) -> bool {
    !nick.is_empty()
        && nick.len() <= MAX_TARGET
        && !nick.starts_with(['#', '&', ':', '$'])
        && !nick.chars().any(|c| {
            c.is_control() || c.is_whitespace() || matches!(c, ',' | '!' | '@' | '*' | '?')
        })
}

/// A user's string as it may be quoted in a reply: control characters shown
/// escaped, so the reply itself stays one readable line.
fn shown(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            if c.is_control() {
                c.escape_default().collect::<Vec<_>>()
            } else if c == '`' {
                vec!['\'']
            } else {
                vec![c]
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channel_keys_are_one_printable_word() {
        assert!(check_key("s3cret!").is_ok());
        for bad in ["k\r\nPRIVMSG #a :x", "a b", "a,b", "", &"k".repeat(24)] {
            assert!(check_key(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn passwords_with_control_characters_or_too_long_are_refused() {
        assert!(check_password("correct horse: battery").is_ok());
        assert!(check_password("pw\r\nPRIVMSG #a :x").is_err());
        assert!(check_password(&"p".repeat(301)).is_err());
    }

    #[test]
    fn targets_are_one_nick_or_channel() {
        assert!(check_target("bob").is_ok() && check_target("#chan").is_ok());
        for bad in ["bob\nQUIT", "a,b", "a b", ":x", ""] {
            assert!(check_target(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn reasons_lose_line_breaks_and_fit_one_line() {
        assert_eq!(one_line("bye\r\nQUIT :x\0"), "bye  QUIT :x");
        let long = one_line(&"é".repeat(400));
        assert!(long.len() <= MAX_REASON && long.chars().all(|c| c == 'é'));
    }

    #[test]
    fn nicks_with_control_characters_spaces_or_masks_are_not_users() {
        assert!(is_plausible_nick("bob") && is_plausible_nick("we[ir]d"));
        for bad in ["bob\r\nQUIT", "a b", "#chan", "a!b", "*", "", "a\tb"] {
            assert!(!is_plausible_nick(bad), "{bad:?}");
        }
    }
}
