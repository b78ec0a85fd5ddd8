//! Text between two real clients through the test server: the server
//! answers device lists and pre-key fetches and relays each device's
//! ciphertext, which only the clients can read.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use whatsapp_rust::Jid;

const ALICE: &str = "4411111111";
const BOB: &str = "4422222222";

#[tokio::test]
async fn text_goes_both_ways_in_a_direct_chat() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_account(BOB, "Bob");
    let (store, _dir) = test_store().await;
    let (alice, mut alice_events) = paired(&server, &store, "alice", ALICE).await;
    let (bob, mut bob_events) = paired(&server, &store, "bob", BOB).await;

    alice
        .client()
        .send_message(Jid::pn(BOB), text("hello Bob"))
        .await
        .expect("Alice's message is sent");
    let (chat, sender, body) = next_text(&mut bob_events).await;
    assert_eq!(body, "hello Bob");
    assert_eq!(chat, format!("{ALICE}@s.whatsapp.net"));
    assert_eq!(sender, format!("{ALICE}:1@s.whatsapp.net"));

    bob.client()
        .send_message(Jid::pn(ALICE), text("hi Alice"))
        .await
        .expect("Bob's answer is sent");
    let (chat, sender, body) = next_text(&mut alice_events).await;
    assert_eq!(body, "hi Alice");
    assert_eq!(chat, format!("{BOB}@s.whatsapp.net"));
    assert_eq!(sender, format!("{BOB}:1@s.whatsapp.net"));
    alice.shutdown().await;
    bob.shutdown().await;
}
