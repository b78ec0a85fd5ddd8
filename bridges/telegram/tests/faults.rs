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

/// Bob logged in, with a room for his private chat with Carol.
async fn chatting(
    extra: &str,
) -> Result<(
    std::sync::Arc<causeway_tg_testserver::TestServer>,
    causeway_testkit::env::TestEnv,
    causeway_testkit::matrix_client::MatrixClient,
    String,
    grammers_client::Client,
    grammers_client::client::UpdateStream,
)> {
    let (server, env) = setup_with(extra).await?;
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, "+15550002").await?;
    let (carol, carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;
    let bob_tg = resolve(&carol, "bob").await?;
    carol.send_message(bob_tg, "hi bob").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hi bob").await?;
    Ok((server, env, bob, room, carol, carol_updates))
}

#[tokio::test]
async fn a_flood_wait_delays_a_message_without_losing_or_repeating_it() -> Result<()> {
    let (server, _env, bob, room, _carol, mut carol_updates) = chatting("").await?;
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
    let (server, _env, bob, room, _carol, _carol_updates) =
        chatting("flood_wait_max_seconds: 5").await?;
    server.flood_wait(SEND_MESSAGE, Some(3600));
    bob.send_text(&room, "too soon").await?;
    says(&bob, &room, "wait 3600 seconds before sending more").await?;
    Ok(())
}

#[tokio::test]
async fn messages_sent_around_a_kill_9_arrive_once_and_in_order() -> Result<()> {
    let (server, mut env, bob, room, carol, _carol_updates) = chatting("").await?;
    let bob_tg = resolve(&carol, "bob").await?;
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
