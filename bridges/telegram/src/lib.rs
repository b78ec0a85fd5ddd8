//! The Causeway Telegram bridge. So far: grammers' session kept in the
//! bridge's database (`session`), which the bridge's client will use.

pub mod session;
