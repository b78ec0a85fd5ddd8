//! `causeway-xmpp`: the Matrix–XMPP bridge.

fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
