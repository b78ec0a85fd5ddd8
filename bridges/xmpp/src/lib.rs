pub mod addressing;
pub mod component;
pub mod config;
pub mod stanza;
