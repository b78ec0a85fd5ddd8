//! Nicks: Matrix users' IRC nicks, IRC case folding, and the ghost IDs.

/// Characters IRC allows anywhere in a nick besides letters and digits.
const SPECIAL: &str = "[]\\`_^{|}";

/// An IRC nick for a Matrix user: the template with `{displayname}` filled
/// in, characters IRC refuses stripped, and the name cut to fit `max_len`.
pub fn matrix_nick(template: &str, displayname: &str, max_len: usize) -> String {
    let clean: String = displayname
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(*c) || *c == '-')
        .collect();
    let room = max_len.saturating_sub(template.len().saturating_sub("{displayname}".len()));
    let mut name: String = clean.chars().take(room.max(1)).collect();
    if name.is_empty()
        || !name.starts_with(|c: char| c.is_ascii_alphabetic() || SPECIAL.contains(c))
    {
        name.insert(0, 'M');
        name.truncate(room.max(1));
    }
    let nick = template.replace("{displayname}", &name);
    nick.chars().take(max_len).collect()
}

/// Whether IRC accepts `nick` as a nick (RFC 2812 characters).
pub fn is_valid(nick: &str) -> bool {
    let mut chars = nick.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || SPECIAL.contains(c))
        && chars.all(|c| c.is_ascii_alphanumeric() || SPECIAL.contains(c) || c == '-')
        && nick.len() <= 64
}

/// How a server compares nicks and channel names, from its ISUPPORT
/// `CASEMAPPING`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Casemapping {
    Ascii,
    /// The default when a server does not say: `[]\~` are the upper case of
    /// `{}|^`.
    #[default]
    Rfc1459,
    /// RFC 1459 without `~`/`^`.
    StrictRfc1459,
}

impl Casemapping {
    pub fn from_isupport(value: &str) -> Self {
        match value {
            "ascii" => Self::Ascii,
            "strict-rfc1459" => Self::StrictRfc1459,
            _ => Self::Rfc1459,
        }
    }

    pub(crate) fn to_u8(self) -> u8 {
        self as u8
    }

    pub(crate) fn from_u8(value: u8) -> Self {
        match value {
            0 => Self::Ascii,
            2 => Self::StrictRfc1459,
            _ => Self::Rfc1459,
        }
    }
}

/// Folds a nick or channel for comparison, by the server's CASEMAPPING.
pub fn fold(name: &str, mapping: Casemapping) -> String {
    let rfc = mapping != Casemapping::Ascii;
    let tilde = mapping == Casemapping::Rfc1459;
    name.chars()
        .map(|c| match c {
            '[' if rfc => '{',
            ']' if rfc => '}',
            '\\' if rfc => '|',
            '~' if tilde => '^',
            c => c.to_ascii_lowercase(),
        })
        .collect()
}

/// Folding for IDs we store (portal keys, aliases): always RFC 1459, so that
/// they stay the same whatever mapping a server advertises later.
pub fn fold_for_id(name: &str) -> String {
    fold(name, Casemapping::Rfc1459)
}

/// The `{id}` of a ghost localpart for `<network>/<nick>`: `<network>_<nick>`,
/// lower case, with characters Matrix refuses written `=xx`.
pub fn ghost_localpart(remote_id: &str) -> String {
    let (network, nick) = remote_id.split_once('/').unwrap_or(("", remote_id));
    let mut out = format!("{network}_");
    for byte in nick.to_ascii_lowercase().bytes() {
        match byte {
            b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-' => out.push(byte as char),
            other => out.push_str(&format!("={other:02x}")),
        }
    }
    out
}

/// Reverses [`ghost_localpart`].
pub fn ghost_remote_id(localpart_id: &str) -> Option<String> {
    let (network, nick) = localpart_id.split_once('_')?;
    let mut bytes = Vec::with_capacity(nick.len());
    let mut rest = nick.as_bytes();
    while let Some((&b, tail)) = rest.split_first() {
        if b == b'=' {
            let hex = std::str::from_utf8(tail.get(..2)?).ok()?;
            bytes.push(u8::from_str_radix(hex, 16).ok()?);
            rest = &tail[2..];
        } else {
            bytes.push(b);
            rest = tail;
        }
    }
    let nick = String::from_utf8(bytes).ok()?;
    // `=0d=0a` decodes to CR LF: such an ID is nobody on IRC, and would
    // otherwise end a PRIVMSG line early.
    (!network.is_empty() && crate::params::is_plausible_nick(&nick))
        .then(|| format!("{network}/{nick}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matrix_nicks_follow_the_template_and_irc_rules() {
        assert_eq!(
            matrix_nick("{displayname}[m]", "Alice Smith", 30),
            "AliceSmith[m]"
        );
        assert_eq!(
            matrix_nick("{displayname}[m]", "42 is: the answer!", 30),
            "M42istheanswer[m]"
        );
        assert_eq!(matrix_nick("{displayname}[m]", "ÆØÅ", 30), "M[m]");
        assert_eq!(
            matrix_nick("{displayname}[m]", "averyveryverylongdisplayname", 12),
            "averyvery[m]"
        );
    }

    #[test]
    fn nick_validity_follows_irc_rules() {
        assert!(is_valid("Alicia") && is_valid("[m]bot") && is_valid("a-b_c"));
        assert!(
            !is_valid("1abc")
                && !is_valid("-x")
                && !is_valid("a b")
                && !is_valid("")
                && !is_valid("a:b")
        );
    }

    #[test]
    fn rfc1459_folding_matches_bracket_case() {
        assert_eq!(fold("Nick[m]~", Casemapping::Rfc1459), "nick{m}^");
        assert_eq!(fold("Nick[m]~", Casemapping::StrictRfc1459), "nick{m}~");
        assert_eq!(fold("Nick[m]~", Casemapping::Ascii), "nick[m]~");
        assert_eq!(Casemapping::from_isupport("ascii"), Casemapping::Ascii);
    }

    #[test]
    fn ghost_localparts_read_like_the_guide_and_reverse() {
        assert_eq!(ghost_localpart("oftc/Bob"), "oftc_bob");
        assert_eq!(ghost_localpart("oftc/we[ir]d"), "oftc_we=5bir=5dd");
        assert_eq!(
            ghost_remote_id("oftc_we=5bir=5dd").as_deref(),
            Some("oftc/we[ir]d")
        );
        assert_eq!(
            ghost_remote_id("oftc_under_score").as_deref(),
            Some("oftc/under_score")
        );
        assert_eq!(ghost_remote_id("nonetwork"), None);
    }

    #[test]
    fn ghost_ids_that_decode_to_control_characters_or_spaces_are_nobody() {
        assert_eq!(ghost_remote_id("oftc_bob=0d=0aquit"), None);
        assert_eq!(ghost_remote_id("oftc_bob=20x"), None);
        assert_eq!(ghost_remote_id("oftc_bob=00"), None);
    }
}
