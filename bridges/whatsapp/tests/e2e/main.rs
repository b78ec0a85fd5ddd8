//! The WhatsApp bridge end to end, in one test binary: real Synapse, the
//! real whatsapp-rust client in the bridge, and the WhatsApp test server
//! playing WhatsApp, with scripted contacts and second real clients as the
//! people on the other side.

mod bad_input;
mod common;
mod conversation;
mod dm;
mod faults;
mod groups;
mod history;
mod login;
mod media;
