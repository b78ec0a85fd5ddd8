//! Causeway core: everything a Matrix bridge needs except the remote network.
pub mod config;
pub mod ids;
pub mod permissions;
pub mod registration;
pub mod store;
