//! `causeway-irc`: the Matrix–IRC bridge.
mod commands;
mod config;
mod connection;
mod format;
mod lines;
mod network;
mod nick;

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(network::INFO, network::build)
}
