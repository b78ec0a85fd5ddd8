//! A conversation's finer points, with someone on their own WhatsApp
//! client: replies, mentions, typing and read receipts both ways, and the
//! user's own phone messages through double puppeting.

use crate::common::*;
use anyhow::Result;
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

const CAROL: &str = "15550103";

#[tokio::test]
async fn replies_mentions_typing_and_receipts_cross_both_ways() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let wa_err = |e: whatsapp_rust::send::SendError| anyhow::anyhow!("{e}");
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;
    let first = carol
        .send_text(Jid::pn(BOB), "first")
        .await
        .map_err(wa_err)?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let first_event = says(&bob, &room, "first").await?;
    let first_event_id = first_event["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();

    // Carol quotes her message and mentions Bob: a reply with a pill.
    let quoting = wa::Message {
        extended_text_message: MessageField::some(wa::message::ExtendedTextMessage {
            text: Some(format!("as I said, @{BOB}")),
            context_info: MessageField::some(wa::ContextInfo {
                stanza_id: Some(first.message_id.clone()),
                participant: Some(format!("{CAROL}@s.whatsapp.net")),
                mentioned_jid: vec![format!("{BOB}@s.whatsapp.net")],
                ..Default::default()
            }),
            ..Default::default()
        }),
        ..Default::default()
    };
    carol
        .send_message(Jid::pn(BOB), quoting)
        .await
        .map_err(wa_err)?;
    let reply = says(&bob, &room, "as I said").await?;
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        first_event_id.as_str()
    );
    let html = reply["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains(&format!("https://matrix.to/#/{}", bob.user_id)),
        "{html}"
    );

    // Bob replies in Matrix: Carol sees a quote of her message.
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.text", "body": "noted",
            "m.relates_to": { "m.in_reply_to": { "event_id": first_event_id } },
        }),
    )
    .await?;
    let (_, noted) = next_where(&mut carol_events, |m| {
        m.extended_text_message
            .as_option()
            .and_then(|e| e.text.as_deref())
            == Some("noted")
    })
    .await?;
    let context = noted
        .extended_text_message
        .as_option()
        .and_then(|e| e.context_info.as_option())
        .expect("a quote");
    assert_eq!(
        context.stanza_id.as_deref(),
        Some(first.message_id.as_str())
    );

    // Carol types: Bob sees her typing. Bob reads her message: she is told.
    carol
        .chatstate()
        .send_composing(&Jid::pn(BOB))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let carol_ghost = ghost(CAROL);
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|ids| ids.iter().any(|id| id == carol_ghost.as_str()))
    })
    .await?;
    bob.read_receipt(&room, &first_event_id).await?;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = carol_events.recv().await {
            if let whatsapp_rust::types::events::Event::Receipt(receipt) = &*event {
                if receipt
                    .message_ids
                    .iter()
                    .any(|id| id.as_str() == first.message_id)
                {
                    return;
                }
            }
        }
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn what_a_user_types_on_their_phone_appears_as_them_through_double_puppeting() -> Result<()> {
    let (server, env) = setup_full(
        "",
        Some("{ double_puppet: { as_token: double-puppet-token-for-tests } }"),
    )
    .await?;
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;
    server.phone_sends_text(ADA, BOB, "are you there?")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "are you there?").await?;
    server.phone_sends_text(BOB, ADA, "yes, on my phone")?;
    let mine = says(&bob, &room, "yes, on my phone").await?;
    assert_eq!(mine["sender"], bob.user_id.as_str());
    Ok(())
}

#[tokio::test]
async fn reads_typing_and_timer_changes_from_each_side_reach_the_other() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let wa_err = |e: whatsapp_rust::send::SendError| anyhow::anyhow!("{e}");
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;
    carol.send_text(Jid::pn(BOB), "hi").await.map_err(wa_err)?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hi").await?;

    // Bob writes; Carol reads it on WhatsApp: Bob sees her read receipt.
    bob.send_text(&room, "did you read this?").await?;
    let (id, _) = next_where(&mut carol_events, |m| {
        m.conversation.as_deref() == Some("did you read this?")
    })
    .await?;
    let mine = says(&bob, &room, "did you read this?").await?;
    let mine = mine["event_id"].as_str().unwrap_or_default().to_owned();
    carol
        .mark_as_read(&Jid::pn(BOB), None, &[id.as_str()])
        .await?;
    let carol_ghost = ghost(CAROL);
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.receipt" && e["content"][&mine]["m.read"][&carol_ghost].is_object()
    })
    .await?;

    // Bob types in Matrix: Carol sees him composing.
    bob.typing(&room, true).await?;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = carol_events.recv().await {
            if let whatsapp_rust::types::events::Event::ChatPresence(presence) = &*event {
                if presence.source.sender.user.as_str() == BOB {
                    return;
                }
            }
        }
    })
    .await?;

    // Carol turns on disappearing messages: a notice says for how long.
    let timer = wa::Message {
        protocol_message: MessageField::some(wa::message::ProtocolMessage {
            r#type: Some(wa::message::protocol_message::Type::EPHEMERAL_SETTING),
            ephemeral_expiration: Some(86_400),
            ..Default::default()
        }),
        ..Default::default()
    };
    carol
        .send_message(Jid::pn(BOB), timer)
        .await
        .map_err(wa_err)?;
    says(&bob, &room, "new messages disappear after 24 hours").await?;
    Ok(())
}
