//! The core running the test network: what the end-to-end tests start.
fn main() -> std::process::ExitCode {
    causeway_core::cli::main(
        causeway_testkit::testnet::INFO,
        causeway_testkit::testnet::build,
    )
}
