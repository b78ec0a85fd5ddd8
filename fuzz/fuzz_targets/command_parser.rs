//! Bot commands and server registration lines: any text a user or a server
//! sends must parse or be refused, never panic.

#![no_main]

use causeway_core::commands::parse_command;
use causeway_irc::cap::Negotiation;
use causeway_irc::transport::split;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for prefix in ["!", ""] {
        // Only double quotes may put whitespace inside a word.
        if let Some(parsed) = parse_command(text, prefix).filter(|_| !text.contains('"')) {
            for word in std::iter::once(&parsed.word).chain(&parsed.args) {
                assert!(!word.contains(char::is_whitespace), "{word:?}");
            }
        }
    }
    let mut negotiation = Negotiation::new(None);
    for line in text.lines() {
        if let Ok(replies) = negotiation.on_line(&split(line)) {
            for reply in replies {
                assert!(!reply.contains(['\r', '\n', '\0']), "{reply:?}");
            }
        }
    }
});
