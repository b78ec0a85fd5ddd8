//! The Telegram bridge under faults: flood waits, and a kill -9 while
//! messages are on their way.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use common::*;
use grammers_client::tl;
use grammers_client::tl::Identifiable;
use std::time::Duration;

mod common;

const SEND_MESSAGE: u32 = tl::functions::messages::SendMessage::CONSTRUCTOR_ID;

/// Bob and Carol, with a room for their private chat; returns it.
async fn chatting(extra: &str) -> Result<(BobAndCarol, String)> {
    let cast = bob_and_carol_with(extra, None).await?;
    cast.carol.send_message(cast.bob_tg, "hi bob").await?;
    let room = cast.bob.wait_for_invite(WAIT).await?;
    cast.bob.join(&room).await?;
    says(&cast.bob, &room, "hi bob").await?;
    Ok((cast, room))
}

#[tokio::test]
async fn a_flood_wait_delays_a_message_without_losing_or_repeating_it() -> Result<()> {
    let (cast, room) = chatting("").await?;
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol: _carol,
        mut carol_updates,
        ..
    } = cast;
    server.flood_wait(SEND_MESSAGE, Some(2));
    let lift = {
        let server = server.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(1)).await;
            server.flood_wait(SEND_MESSAGE, None);
        })
    };
    bob.send_text(&room, "sent through a flood wait").await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.text(), "sent through a flood wait");
    lift.await?;
    // Once: nothing else arrives, and the room heard of no failure.
    let again = tokio::time::timeout(Duration::from_secs(3), next_incoming(&mut carol_updates));
    assert!(again.await.is_err(), "the message arrived twice");
    bob.sync_once(0).await?;
    assert!(bob
        .seen(&room, |e| body(e).contains("not bridged"))
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn a_flood_wait_beyond_the_limit_is_told_to_the_sender() -> Result<()> {
    let (cast, room) = chatting("flood_wait_max_seconds: 5").await?;
    let BobAndCarol {
        server,
        env: _env,
        bob,
        ..
    } = cast;
    server.flood_wait(SEND_MESSAGE, Some(3600));
    bob.send_text(&room, "too soon").await?;
    says(&bob, &room, "wait 3600 seconds before sending more").await?;
    Ok(())
}

#[tokio::test]
async fn messages_sent_around_a_kill_9_arrive_once_and_in_order() -> Result<()> {
    let (cast, room) = chatting("").await?;
    let BobAndCarol {
        server,
        mut env,
        bob,
        carol,
        bob_tg,
        ..
    } = cast;
    let texts: Vec<String> = (1..=12).map(|n| format!("burst {n}")).collect();
    // Half are sent before the kill, some of them still queued when it
    // lands; the rest while the bridge is down.
    for text in &texts[..6] {
        carol.send_message(bob_tg, text.as_str()).await?;
    }
    says(&bob, &room, "burst 1").await?;
    env.kill_bridge();
    for text in &texts[6..] {
        carol.send_message(bob_tg, text.as_str()).await?;
    }
    env.start_bridge().await?;
    says(&bob, &room, "burst 12").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.sync_once(0).await?;
    let seen: Vec<String> = bob
        .seen(&room, |e| body(e).starts_with("burst "))
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(seen, texts, "lost, repeated or reordered");
    drop(server);
    Ok(())
}
