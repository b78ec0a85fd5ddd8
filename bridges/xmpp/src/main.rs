//! `causeway-xmpp`: the Matrix–XMPP bridge.

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(causeway_xmpp::network::INFO, causeway_xmpp::network::build)
}
