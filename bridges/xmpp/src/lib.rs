//! The Matrix–XMPP bridge as a library: `causeway-xmpp` runs it, and its
//! tests reach the connection and the addressing directly.

pub mod addressing;
pub mod component;
pub mod config;
mod direct;
pub mod format;
mod from_xmpp;
mod gateway;
mod inbound;
mod matrix_side;
mod media;
mod muc;
pub mod network;
mod outbound;
mod profiles;
mod refs;
mod services;
pub mod stanza;
