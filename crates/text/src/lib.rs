//! Text that every bridge handles the same way: Matrix HTML and markdown
//! ([`format`]) and the words of a bot command ([`command_line`]).
//!
//! Pure functions with no I/O and two dependencies, apart from the core, so
//! that what parses untrusted text can be fuzzed without building the whole
//! appservice with fuzzing instrumentation. The core re-exports `format`, and
//! its `commands` module the parser.

pub mod command_line;
pub mod format;
