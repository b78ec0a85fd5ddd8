//! Text between two real clients through the test server: the server
//! answers device lists and pre-key fetches and relays each device's
//! ciphertext, which only the clients can read.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::Duration;
use whatsapp_rust::send::RevokeType;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::waproto::whatsapp as wa;
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

#[tokio::test]
async fn edits_revokes_reactions_replies_receipts_and_typing_go_through() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_account(BOB, "Bob");
    let (store, _dir) = test_store().await;
    let (alice, mut alice_events) = paired(&server, &store, "alice", ALICE).await;
    let (bob, mut bob_events) = paired(&server, &store, "bob", BOB).await;
    let (a, b) = (alice.client(), bob.client());

    let sent = a.send_message(Jid::pn(BOB), text("helo")).await.unwrap();
    next_text(&mut bob_events).await;

    // An edit.
    a.edit_message(Jid::pn(BOB), sent.message_id.clone(), text("hello"))
        .await
        .unwrap();
    let edited = message_where(&mut bob_events, "edit", |m| {
        let protocol = m.protocol_message.as_option()?;
        let edited = protocol.edited_message.as_option()?;
        Some((
            protocol.key.as_option()?.id.clone()?,
            edited.conversation.clone()?,
        ))
    })
    .await;
    assert_eq!(edited, (sent.message_id.clone(), "hello".to_owned()));

    // A reaction from Bob to Alice's message.
    let target = wa::MessageKey {
        remote_jid: Some(Jid::pn(ALICE).to_string()),
        from_me: Some(false),
        id: Some(sent.message_id.clone()),
        ..Default::default()
    };
    b.send_reaction(Jid::pn(ALICE), target, "👍").await.unwrap();
    let reaction = message_where(&mut alice_events, "reaction", |m| {
        let reaction = m.reaction_message.as_option()?;
        Some((
            reaction.key.as_option()?.id.clone()?,
            reaction.text.clone()?,
        ))
    })
    .await;
    assert_eq!(reaction, (sent.message_id.clone(), "👍".to_owned()));

    // A reply quoting it.
    let reply = wa::Message {
        extended_text_message: whatsapp_rust::waproto::buffa::MessageField::some(
            wa::message::ExtendedTextMessage {
                text: Some("indeed".to_owned()),
                context_info: whatsapp_rust::waproto::buffa::MessageField::some(wa::ContextInfo {
                    stanza_id: Some(sent.message_id.clone()),
                    participant: Some(Jid::pn(ALICE).to_string()),
                    quoted_message: whatsapp_rust::waproto::buffa::MessageField::some(text(
                        "hello",
                    )),
                    ..Default::default()
                }),
                ..Default::default()
            },
        ),
        ..Default::default()
    };
    b.send_message(Jid::pn(ALICE), reply).await.unwrap();
    let quoted = message_where(&mut alice_events, "reply", |m| {
        let extended = m.extended_text_message.as_option()?;
        let context = extended.context_info.as_option()?;
        Some((extended.text.clone()?, context.stanza_id.clone()?))
    })
    .await;
    assert_eq!(quoted, ("indeed".to_owned(), sent.message_id.clone()));

    // Bob reads it; Alice sees the read receipt.
    b.mark_as_read(&Jid::pn(ALICE), None, &[sent.message_id.as_str()])
        .await
        .unwrap();
    expect(
        &mut alice_events,
        Duration::from_secs(10),
        "read receipt",
        |e| match e {
            Event::Receipt(receipt)
                if format!("{:?}", receipt.r#type) == "Read"
                    && receipt.message_ids.contains(&sent.message_id) =>
            {
                Some(())
            }
            _ => None,
        },
    )
    .await;

    // Alice types; Bob sees it.
    a.chatstate().send_composing(&Jid::pn(BOB)).await.unwrap();
    expect(&mut bob_events, Duration::from_secs(10), "typing", |e| {
        matches!(e, Event::ChatPresence(_)).then_some(())
    })
    .await;

    // Alice deletes her message for everyone.
    a.revoke_message(Jid::pn(BOB), sent.message_id.clone(), RevokeType::Sender)
        .await
        .unwrap();
    let revoked = message_where(&mut bob_events, "revoke", |m| {
        let protocol = m.protocol_message.as_option()?;
        (protocol.r#type == Some(wa::message::protocol_message::Type::REVOKE))
            .then(|| protocol.key.as_option()?.id.clone())?
    })
    .await;
    assert_eq!(revoked, sent.message_id);
    alice.shutdown().await;
    bob.shutdown().await;
}
