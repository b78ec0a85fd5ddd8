//! What the real network does to a client, done by the test server on
//! demand: the phone logs a device out, another login replaces the stream,
//! the account is banned, or the socket just drops.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::Duration;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::Jid;

const ALICE: &str = "4433333333";
const BOB: &str = "4444444444";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn unlinking_from_the_phone_logs_the_client_out_for_good() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    let (store, _dir) = test_store().await;
    let (bot, mut events) = paired(&server, &store, "alice", ALICE).await;
    server.unlink(ALICE, 1).unwrap();
    expect(&mut events, WAIT, "logged out", |e| {
        matches!(e, Event::LoggedOut(_)).then_some(())
    })
    .await;
    assert!(server.devices_of(ALICE).is_empty());
    bot.shutdown().await;

    // Its stored session no longer logs in.
    let (bot, mut events) = client(&server, &store, "alice").await;
    expect(&mut events, WAIT, "logged out on connect", |e| match e {
        Event::LoggedOut(out) => Some(out.on_connect),
        Event::Connected(_) => panic!("an unlinked device connected"),
        _ => None,
    })
    .await;
    bot.shutdown().await;
}

#[tokio::test]
async fn another_login_replaces_the_stream() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    let (store, _dir) = test_store().await;
    let (bot, mut events) = paired(&server, &store, "alice", ALICE).await;
    assert_eq!(server.replace_stream(ALICE, 1), 1);
    expect(&mut events, WAIT, "stream replaced", |e| {
        matches!(e, Event::StreamReplaced(_)).then_some(())
    })
    .await;
    bot.shutdown().await;
}

#[tokio::test]
async fn a_banned_account_is_told_for_how_long() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    let (store, _dir) = test_store().await;
    let (bot, mut events) = paired(&server, &store, "alice", ALICE).await;
    server.ban(ALICE, 3600);
    let expire = expect(&mut events, WAIT, "temporary ban", |e| match e {
        Event::TemporaryBan(ban) => Some(ban.expire),
        _ => None,
    })
    .await;
    assert!(expire.num_seconds() > 3500, "{expire:?}");
    bot.shutdown().await;
}

#[tokio::test]
async fn a_dropped_connection_comes_back_and_gets_what_was_sent_meanwhile() {
    let (server, _store, _dir, (alice, _alice_events), (bob, mut bob_events)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;

    assert_eq!(server.drop_connections(BOB), 1);
    alice
        .client()
        .send_message(Jid::pn(BOB), text("while you were away"))
        .await
        .unwrap();
    let (_, _, body) = next_text(&mut bob_events).await;
    assert_eq!(body, "while you were away");
    assert_eq!(server.logged_in_count(BOB), 1);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn a_client_that_was_off_gets_its_messages_when_it_starts_again() {
    let (server, store, _dir, (alice, _alice_events), (bob, _)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;
    bob.shutdown().await;

    for n in 1..=3 {
        alice
            .client()
            .send_message(Jid::pn(BOB), text(&format!("queued {n}")))
            .await
            .unwrap();
    }
    let (bob, mut bob_events) = client(&server, &store, "bob").await;
    let bodies: Vec<String> = texts(&mut bob_events, 3)
        .await
        .into_iter()
        .map(|(_, _, body)| body)
        .collect();
    assert_eq!(bodies, ["queued 1", "queued 2", "queued 3"]);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn a_message_nobody_can_decrypt_is_reported_as_undecryptable() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_account(BOB, "Bob");
    let (store, _dir) = test_store().await;
    let (alice, mut events) = paired(&server, &store, "alice", ALICE).await;
    let id = server.send_undecryptable(BOB, ALICE).unwrap();
    let reported = expect(&mut events, WAIT, "undecryptable message", |e| match e {
        Event::UndecryptableMessage(m) => Some(m.info.id.to_string()),
        _ => None,
    })
    .await;
    assert_eq!(reported, id);
    alice.shutdown().await;
}

/// The server's ack for the message `id`, if one comes within `limit`.
async fn ack_for(events: &mut Events, id: &str, limit: Duration) -> Option<()> {
    within(events, limit, |e| match e {
        Event::ServerAck(ack) if ack.id == id && ack.class.as_deref() == Some("message") => {
            Some(())
        }
        _ => None,
    })
    .await
}

#[tokio::test]
async fn acks_can_be_withheld_or_delayed() {
    let (server, _store, _dir, (alice, mut events), (bob, _)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;

    let sent = alice
        .client()
        .send_message(Jid::pn(BOB), text("one"))
        .await
        .unwrap();
    assert!(ack_for(&mut events, &sent.message_id, WAIT).await.is_some());

    server.withhold_acks(true);
    let sent = alice
        .client()
        .send_message(Jid::pn(BOB), text("two"))
        .await
        .unwrap();
    assert!(
        ack_for(&mut events, &sent.message_id, Duration::from_secs(1))
            .await
            .is_none()
    );

    server.withhold_acks(false);
    server.delay_acks(Duration::from_millis(700));
    let started = std::time::Instant::now();
    let sent = alice
        .client()
        .send_message(Jid::pn(BOB), text("three"))
        .await
        .unwrap();
    assert!(ack_for(&mut events, &sent.message_id, WAIT).await.is_some());
    assert!(started.elapsed() >= Duration::from_millis(700));
    alice.shutdown().await;
    bob.shutdown().await;
}
