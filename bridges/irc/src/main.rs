//! `causeway-irc`: the Matrix–IRC bridge.

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(causeway_irc::network::INFO, causeway_irc::network::build)
}
