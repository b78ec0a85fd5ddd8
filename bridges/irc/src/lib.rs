//! The Matrix–IRC bridge as a library: `causeway-irc` runs it, and the fuzz
//! targets reach its parsers and formatters.

mod attachments;
mod auth_commands;
pub mod cap;
mod commands;
mod config;
mod connection;
mod credentials;
mod delivery;
pub mod format;
mod from_irc;
mod idle;
pub mod lines;
mod mappings;
mod mentions;
mod moderation;
mod netsplit;
pub mod network;
mod nick;
pub mod params;
mod plumbing;
mod puppets;
mod state;
mod status;
mod third_party;
mod to_irc;
pub mod transport;
