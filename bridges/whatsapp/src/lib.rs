//! The Causeway WhatsApp bridge, on whatsapp-rust with its state in the
//! bridge's database: linking by QR code or pairing code; text with its
//! formatting, replies, edits, removals and reactions both ways; contacts
//! and chats (`pm`, `list`, `open`, `sync`); groups; history from the phone.

mod avatars;
mod backfill;
mod chat_admin;
mod chat_info;
pub mod client;
pub mod config;
mod contacts;
mod handle_matrix;
mod handle_remote;
mod login;
pub mod msgconv;
pub mod network;
mod reactions;
mod remote_status;
pub mod store;
