//! Causeway core: everything a Matrix bridge needs except the remote network.
//!
//! A bridge implements [`network::Network`] and calls [`cli::main`]. The core
//! receives the homeserver's transactions ([`appservice`]), stores them before
//! answering ([`store`]), hands them to the network in order per room, sends
//! the network's events to Matrix in order per portal ([`remote`]), and owns
//! portals, ghosts, logins, commands and the message mapping.

mod access;
pub mod appservice;
mod avatars;
mod backfill;
pub mod bridge;
mod builtin_commands;
pub mod chat_info;
pub mod cli;
pub mod commands;
pub mod config;
mod contact_commands;
mod double_puppet;
pub mod dynamic_rooms;
pub use causeway_text::format;
mod ghost;
pub mod health;
pub mod homeserver;
pub mod ids;
mod inbound;
mod joined;
mod lane;
pub mod login;
mod login_runner;
pub mod login_state;
mod management;
pub mod matrix_event;
mod matrix_handler;
pub mod metrics;
pub mod network;
mod outbox;
pub mod permissions;
pub mod plumbing;
mod portal;
mod portal_cleanup;
mod portal_commands;
pub mod provisioning;
pub mod public_media;
pub mod rate_limit;
pub mod registration;
pub mod relay;
pub mod remote;
pub mod run;
mod sender_login;
pub mod store;
mod timeline_json;

pub use bridge::Bridge;

/// Every program of this workspace links the core, so this is the allocator
/// of every bridge, bench and test. glibc's malloc and free took about a
/// fifth of `causeway-bench`'s samples, on tokio's worker threads and
/// SQLite's alike; with mimalloc remote → Matrix went from 11,500–18,300 to
/// 18,500–22,400 events/s in five alternating runs. It is built without
/// transparent huge pages (`no_thp`), which made the idle IRC bridge half
/// as big again for no gain.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Parses a Matrix event ID, with an error that names it.
pub fn ruma_event_id(event_id: &str) -> anyhow::Result<ruma::OwnedEventId> {
    ruma::EventId::parse(event_id)
        .map_err(|e| anyhow::anyhow!("{event_id:?} is not a Matrix event ID: {e}"))
}

/// Parses a Matrix user ID, with an error that names it.
pub fn ruma_user_id(mxid: &str) -> anyhow::Result<ruma::OwnedUserId> {
    ruma::UserId::parse(mxid).map_err(|e| anyhow::anyhow!("{mxid:?} is not a Matrix user ID: {e}"))
}
pub use network::Network;
