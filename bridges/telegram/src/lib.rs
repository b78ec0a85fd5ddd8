//! The Causeway Telegram bridge, on the grammers client with its session
//! in the bridge's database: logins by phone (code, 2FA) and by QR code;
//! text, files, replies, edits and removals both ways; contacts and chats
//! (`pm`, `search`, `list`, `open`, `sync`); groups and supergroups; history.

mod avatars;
mod backfill;
mod chat_admin;
mod chat_info;
pub mod client;
pub mod config;
mod contacts;
mod flood;
mod handle_matrix;
mod handle_remote;
mod login;
pub mod msgconv;
pub mod network;
mod reactions;
mod send;
pub mod session;
