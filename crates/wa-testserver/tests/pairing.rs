//! The real whatsapp-rust client, with our database store, pairs with the
//! test server by QR code, connects, and comes back from its stored session.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::{Duration, Instant};
use whatsapp_rust::types::events::Event;

const PHONE: &str = "4412345678";

/// The client is linked as the account's first device, then connects
/// within 5 s of that: the phone shares its app-state keys, so the client
/// does not sit out its 10 s wait for them. (2 s failed once at 2.01 s
/// with other suites running beside it on a slow machine.)
async fn assert_linked_and_connected_without_the_key_wait(events: &mut Events) {
    let paired = expect(
        events,
        Duration::from_secs(20),
        "pair success",
        |e| match e {
            Event::PairSuccess(success) => Some(success.id.to_string()),
            Event::PairError(error) => panic!("pairing failed: {}", error.error),
            _ => None,
        },
    )
    .await;
    assert_eq!(paired, format!("{PHONE}:1@s.whatsapp.net"));
    let started = Instant::now();
    expect(events, Duration::from_secs(10), "connection", connected).await;
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "connected {:?} after pairing",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_client_pairs_by_qr_code_and_comes_back_from_its_stored_session() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(PHONE, "Alice");
    let (store, _dir) = test_store().await;

    let (bot, mut events) = client(&server, &store, "alice").await;
    let code = qr_code(&mut events).await;
    server.scan_qr(&code, PHONE).unwrap();
    // The phone shares its app-state keys at once: no 10 s wait for them.
    assert_linked_and_connected_without_the_key_wait(&mut events).await;
    assert_eq!(server.devices_of(PHONE), [1]);
    assert_eq!(server.logged_in_count(PHONE), 1);
    bot.shutdown().await;

    // A new process: the stored session logs in with no QR code.
    let (bot, mut events) = client(&server, &store, "alice").await;
    expect(
        &mut events,
        Duration::from_secs(10),
        "connection",
        |e| match e {
            Event::PairingQrCode(_) => panic!("a stored session asked for a QR code"),
            other => connected(other),
        },
    )
    .await;
    assert_eq!(server.devices_of(PHONE), [1]);
    bot.shutdown().await;
}

#[tokio::test]
async fn a_client_pairs_by_pair_code() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(PHONE, "Alice");
    let (store, _dir) = test_store().await;
    let (bot, mut events) = client_with(&server, &store, "alice", Some(PHONE)).await;
    let code = expect(
        &mut events,
        Duration::from_secs(10),
        "pair code",
        |e| match e {
            Event::PairingCode(code) => Some(code.code.clone()),
            _ => None,
        },
    )
    .await;
    assert_eq!(code.len(), 8);
    server.enter_pair_code(PHONE, &code).unwrap();
    assert_linked_and_connected_without_the_key_wait(&mut events).await;
    assert_eq!(server.devices_of(PHONE), [1]);
    bot.shutdown().await;
}

#[tokio::test]
async fn an_expired_qr_code_is_refused() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(PHONE, "Alice");
    let (store, _dir) = test_store().await;
    let (bot, mut events) = client(&server, &store, "alice").await;
    let code = qr_code(&mut events).await;
    server.expire_qr_refs();
    let refused = server.scan_qr(&code, PHONE).unwrap_err();
    assert!(refused.to_string().contains("expired"), "{refused}");
    assert!(server.devices_of(PHONE).is_empty());
    bot.shutdown().await;
}
