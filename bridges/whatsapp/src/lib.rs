//! The Causeway WhatsApp bridge, on whatsapp-rust.

pub mod store;
