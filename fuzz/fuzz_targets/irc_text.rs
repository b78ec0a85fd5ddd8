//! IRC text both ways: whatever arrives, the formatter must not panic, the
//! HTML it makes must hold no live markup from the input, and text headed
//! for IRC must never carry CR, LF or NUL or exceed the line limit.

#![no_main]

use causeway_irc_proto::{format, line, lines};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let latin1 = line::encoding("latin-1").expect("latin-1 is known");
    let text = line::decode(data, latin1);
    let (plain, html) = format::irc_to_matrix(&text);
    if let Some(html) = &html {
        assert!(!html.contains("<script"), "unescaped markup: {html}");
    }
    assert!(!plain.contains('\u{2}'), "formatting codes left in {plain:?}");

    let irc = format::matrix_html_to_irc(&text, &|mxid| Some(mxid.to_owned()));
    for limit in [1, 64, 400] {
        for line in lines::split_lines(&irc, limit) {
            assert!(!line.contains(['\r', '\n', '\0']), "{line:?}");
            // One character wider than the limit is the least a line can be.
            assert!(line.len() <= limit.max(4), "{} > {limit}", line.len());
        }
    }
    let _ = line::split(&text);
});

