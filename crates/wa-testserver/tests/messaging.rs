//! Text between two real clients through the test server: the server
//! answers device lists and pre-key fetches and relays each device's
//! ciphertext, which only the clients can read.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::Duration;
use whatsapp_rust::bot::BotHandle;
use whatsapp_rust::send::RevokeType;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

const ALICE: &str = "4411111111";
const BOB: &str = "4422222222";
const WAIT: Duration = Duration::from_secs(10);

#[tokio::test]
async fn text_goes_both_ways_in_a_direct_chat() {
    let (_server, _store, _dir, (alice, mut alice_events), (bob, mut bob_events)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;

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

/// One side's client, number and events.
struct Side {
    bot: BotHandle,
    phone: &'static str,
    events: Events,
}

/// `a` sends a message and edits it; `b` reacts, replies quoting it and
/// reads it; `a` types, goes online for `b`, and deletes the message.
async fn every_kind_from(a: &mut Side, b: &mut Side) {
    let (ca, cb) = (a.bot.client(), b.bot.client());
    let (to_b, to_a) = (Jid::pn(b.phone), Jid::pn(a.phone));
    let sent = ca.send_message(to_b.clone(), text("helo")).await.unwrap();
    next_text(&mut b.events).await;

    ca.edit_message(to_b.clone(), sent.message_id.clone(), text("hello"))
        .await
        .unwrap();
    let edited = message_where(&mut b.events, "edit", |m| {
        let protocol = m.protocol_message.as_option()?;
        let edited = protocol.edited_message.as_option()?;
        Some((
            protocol.key.as_option()?.id.clone()?,
            edited.conversation.clone()?,
        ))
    })
    .await;
    assert_eq!(edited, (sent.message_id.clone(), "hello".to_owned()));

    let target = wa::MessageKey {
        remote_jid: Some(to_a.to_string()),
        from_me: Some(false),
        id: Some(sent.message_id.clone()),
        ..Default::default()
    };
    cb.send_reaction(to_a.clone(), target, "👍").await.unwrap();
    let reaction = message_where(&mut a.events, "reaction", |m| {
        let reaction = m.reaction_message.as_option()?;
        Some((
            reaction.key.as_option()?.id.clone()?,
            reaction.text.clone()?,
        ))
    })
    .await;
    assert_eq!(reaction, (sent.message_id.clone(), "👍".to_owned()));

    let reply = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some("indeed".to_owned()),
            context_info: MessageField::some(wa::ContextInfo {
                stanza_id: Some(sent.message_id.clone()),
                participant: Some(to_a.to_string()),
                quoted_message: MessageField::some(text("hello")),
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    cb.send_message(to_a.clone(), reply).await.unwrap();
    let quoted = message_where(&mut a.events, "reply", |m| {
        let extended = m.extended_text_message.as_option()?;
        let context = extended.context_info.as_option()?;
        Some((extended.text.clone()?, context.stanza_id.clone()?))
    })
    .await;
    assert_eq!(quoted, ("indeed".to_owned(), sent.message_id.clone()));

    cb.mark_as_read(&to_a, None, &[sent.message_id.as_str()])
        .await
        .unwrap();
    expect(&mut a.events, WAIT, "read receipt", |e| match e {
        Event::Receipt(receipt)
            if format!("{:?}", receipt.r#type) == "Read"
                && receipt.message_ids.contains(&sent.message_id) =>
        {
            Some(())
        }
        _ => None,
    })
    .await;

    ca.chatstate().send_composing(&to_b).await.unwrap();
    expect(&mut b.events, WAIT, "typing", |e| {
        matches!(e, Event::ChatPresence(_)).then_some(())
    })
    .await;

    cb.presence().subscribe(to_a.clone()).await.unwrap();
    ca.presence().set_available().await.unwrap();
    expect(&mut b.events, WAIT, "presence", |e| match e {
        Event::Presence(update) if update.from.user == a.phone && !update.unavailable => Some(()),
        _ => None,
    })
    .await;

    ca.revoke_message(to_b, sent.message_id.clone(), RevokeType::Sender)
        .await
        .unwrap();
    let revoked = message_where(&mut b.events, "revoke", |m| {
        let protocol = m.protocol_message.as_option()?;
        (protocol.r#type == Some(wa::message::protocol_message::Type::REVOKE))
            .then(|| protocol.key.as_option()?.id.clone())?
    })
    .await;
    assert_eq!(revoked, sent.message_id);
}

#[tokio::test]
async fn edits_revokes_reactions_replies_receipts_typing_and_presence_go_both_ways() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(ALICE, "Alice");
    server.add_account(BOB, "Bob");
    let (store, _dir) = test_store().await;
    let (bot, events) = paired(&server, &store, "alice", ALICE).await;
    let mut alice = Side {
        bot,
        phone: ALICE,
        events,
    };
    let (bot, events) = paired(&server, &store, "bob", BOB).await;
    let mut bob = Side {
        bot,
        phone: BOB,
        events,
    };
    every_kind_from(&mut alice, &mut bob).await;
    every_kind_from(&mut bob, &mut alice).await;
    alice.bot.shutdown().await;
    bob.bot.shutdown().await;
}
