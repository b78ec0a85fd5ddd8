//! The Matrix–IRC bridge as a library: `causeway-irc` runs it, and its
//! benches and tests drive it. IRC's line format is in `causeway-irc-proto`.

use causeway_irc_proto::{cap, format, lines, params};

mod attachments;
mod auth_commands;
mod commands;
mod config;
mod connection;
mod credentials;
mod delivery;
mod from_irc;
mod idle;
mod mappings;
mod mentions;
mod moderation;
mod netsplit;
pub mod network;
mod nick;
mod plumbing;
mod puppets;
mod state;
mod status;
mod third_party;
mod to_irc;
mod transport;
