//! What the account's phone sends on its own, as a Signal peer of its
//! companions: the chat history, and messages typed on the phone.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::{HistoryChat, HistoryMessage, WaTestServer};
use common::*;
use std::time::Duration;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::waproto::buffa::Message;
use whatsapp_rust::waproto::whatsapp as wa;

const ALICE: &str = "4412121212";
const BOB: &str = "4413131313";

#[tokio::test]
async fn history_from_the_phone_reaches_the_client() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_account(BOB, "Bob");
    let (store, _dir) = test_store().await;
    let (alice, mut events) = paired(&server, &store, "alice", ALICE).await;

    let chat = HistoryChat {
        jid: format!("{BOB}@s.whatsapp.net"),
        name: Some("Bob".to_owned()),
        messages: vec![
            HistoryMessage {
                id: "3EB0AAAA".to_owned(),
                from_me: false,
                participant: None,
                text: "are you there?".to_owned(),
                timestamp: 1_790_000_000,
            },
            HistoryMessage {
                id: "3EB0BBBB".to_owned(),
                from_me: true,
                participant: None,
                text: "yes".to_owned(),
                timestamp: 1_790_000_060,
            },
        ],
    };
    server.send_history(ALICE, 1, &[chat]).unwrap();
    let history = expect(
        &mut events,
        Duration::from_secs(10),
        "history sync",
        |e| match e {
            Event::HistorySync(history) => Some(history.decompress().expect("it inflates")),
            _ => None,
        },
    )
    .await;
    let history = wa::HistorySync::decode_from_slice(&history).expect("it parses");
    let conversation = &history.conversations[0];
    assert_eq!(conversation.id, format!("{BOB}@s.whatsapp.net"));
    let texts: Vec<(bool, String)> = conversation
        .messages
        .iter()
        .filter_map(|m| {
            let info = m.message.as_option()?;
            Some((
                info.key.as_option()?.from_me?,
                info.message.as_option()?.conversation.clone()?,
            ))
        })
        .collect();
    assert_eq!(
        texts,
        [(false, "are you there?".into()), (true, "yes".into())]
    );
    alice.shutdown().await;
}

#[tokio::test]
async fn a_message_typed_on_the_phone_reaches_the_contact_and_the_companion() {
    let (server, _store, _dir, (alice, mut alice_events), (bob, mut bob_events)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;

    let id = server
        .phone_sends_text(ALICE, BOB, "from my phone")
        .unwrap();
    let (chat, sender, body) = next_text(&mut bob_events).await;
    assert_eq!(body, "from my phone");
    assert_eq!(chat, format!("{ALICE}@s.whatsapp.net"));
    assert_eq!(sender, format!("{ALICE}@s.whatsapp.net"));

    // Alice's companion sees its own message, in the chat with Bob.
    let (chat, from_me, seen_id) = expect(
        &mut alice_events,
        Duration::from_secs(10),
        "own copy",
        |e| match e {
            Event::Messages(batch) => batch.iter().find_map(|m| {
                (m.message.conversation.as_deref() == Some("from my phone")).then(|| {
                    (
                        m.info.source.chat.to_string(),
                        m.info.source.is_from_me,
                        m.info.id.to_string(),
                    )
                })
            }),
            _ => None,
        },
    )
    .await;
    assert_eq!(chat, format!("{BOB}@s.whatsapp.net"));
    assert!(from_me);
    assert_eq!(seen_id, id);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn a_scripted_contact_reads_and_answers() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_scripted_contact(BOB, "Ada");
    let (store, _dir) = test_store().await;
    let (alice, mut events) = paired(&server, &store, "alice", ALICE).await;
    for round in ["hi Ada", "still there?"] {
        alice
            .client()
            .send_message(whatsapp_rust::Jid::pn(BOB), text(round))
            .await
            .unwrap();
        let (chat, _, body) = next_text(&mut events).await;
        assert_eq!(chat, format!("{BOB}@s.whatsapp.net"));
        assert_eq!(body, format!("Ada here. You said: {round}"));
    }
    alice.shutdown().await;
}
