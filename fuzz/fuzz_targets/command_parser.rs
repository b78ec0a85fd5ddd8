//! Bot commands and server registration lines: any text a user or a server
//! sends must parse or be refused, never panic.

#![no_main]

use causeway_irc_proto::cap::Negotiation;
use causeway_irc_proto::line::{split, Line};
use causeway_irc_proto::params::{self, is_channel};
use causeway_text::command_line::parse_command;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for prefix in ["!", ""] {
        let Some(parsed) = parse_command(text, prefix) else {
            continue;
        };
        for word in std::iter::once(&parsed.word).chain(&parsed.args) {
            // Only double quotes may put whitespace inside a word; they are
            // never part of it.
            assert!(!word.contains('"'), "{word:?}");
            if !text.contains('"') {
                assert!(!word.contains(char::is_whitespace), "{word:?}");
            }
            // Quoted words can hold line breaks: every check an argument
            // passes on its way to IRC must keep them off the wire.
            let wire_safe = |s: &str| !s.contains(['\r', '\n', '\0']);
            for ok in [
                is_channel(word),
                params::check_key(word).is_ok(),
                params::check_password(word).is_ok(),
                params::check_target(word).is_ok(),
            ] {
                assert!(!ok || wire_safe(word), "{word:?}");
            }
            assert!(wire_safe(&params::one_line(word)));
            if let Ok(line) = Line::new(format!("PRIVMSG #a :{word}"), 0) {
                assert!(wire_safe(line.as_str()), "{word:?}");
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
