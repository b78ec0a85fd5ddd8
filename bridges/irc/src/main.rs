//! `causeway-irc`: the Matrix–IRC bridge.
mod attachments;
mod auth_commands;
mod cap;
mod commands;
mod config;
mod connection;
mod credentials;
mod format;
mod from_irc;
mod idle;
mod lines;
mod mappings;
mod mentions;
mod moderation;
mod netsplit;
mod network;
mod nick;
mod plumbing;
mod status;
mod third_party;
mod to_irc;
mod transport;

fn main() -> std::process::ExitCode {
    causeway_core::cli::main(network::INFO, network::build)
}
