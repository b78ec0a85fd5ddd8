//! Test kit for Causeway: real Synapse, a test client, and the test network.
pub mod env;
pub mod fake_homeserver;
pub mod inspircd;
pub mod ircd;
pub mod matrix_client;
pub mod process;
pub mod prosody;
pub mod synapse;
pub mod testnet;
pub mod xmpp_client;
