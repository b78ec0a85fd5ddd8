//! `causeway-telegram`: the Matrix–Telegram bridge.

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(
        causeway_telegram::network::INFO,
        causeway_telegram::network::build,
    )
}
