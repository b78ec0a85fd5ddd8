//! Two real grammers clients chatting through the test server: pushed
//! updates, a gap healed by `getDifference`, and flood waits.

use anyhow::Result;
use common::*;
use grammers_client::{tl, InvocationError};
use grammers_tl_types::Identifiable;

mod common;

#[tokio::test]
async fn private_messages_flow_both_ways_as_pushed_updates() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let mut alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut alice_updates = updates_of(&mut alice).await?;
    let mut bob_updates = updates_of(&mut bob).await?;

    let to_bob = bounded("resolve", alice.client.resolve_username("bob"))
        .await??
        .expect("bob exists");
    let to_bob = bounded("to_ref", to_bob.to_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("a ref");
    let sent = bounded("send", alice.client.send_message(to_bob, "hello bob")).await??;
    assert_eq!(sent.text(), "hello bob");
    assert_eq!(next_texts(&mut bob_updates, 1).await?, ["hello bob"]);

    let to_alice = bounded("resolve", bob.client.resolve_username("alice"))
        .await??
        .expect("alice exists");
    let to_alice = bounded("to_ref", to_alice.to_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("a ref");
    bounded("send", bob.client.send_message(to_alice, "hello alice")).await??;
    assert_eq!(next_texts(&mut alice_updates, 1).await?, ["hello alice"]);
    Ok(())
}

#[tokio::test]
async fn a_gap_in_the_pushed_updates_is_filled_by_get_difference() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let to_bob = bounded("resolve", alice.client.resolve_username("bob"))
        .await??
        .expect("bob exists");
    let to_bob = bounded("to_ref", to_bob.to_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("a ref");

    bounded("send", alice.client.send_message(to_bob, "one")).await??;
    assert_eq!(next_texts(&mut bob_updates, 1).await?, ["one"]);
    // Two messages are never pushed; the third shows bob the gap.
    server.withhold_pushes(true);
    bounded("send", alice.client.send_message(to_bob, "two")).await??;
    bounded("send", alice.client.send_message(to_bob, "three")).await??;
    server.withhold_pushes(false);
    bounded("send", alice.client.send_message(to_bob, "four")).await??;
    assert_eq!(
        next_texts(&mut bob_updates, 3).await?,
        ["two", "three", "four"]
    );
    Ok(())
}

#[tokio::test]
async fn a_flood_wait_reaches_the_client_with_its_duration() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let to_bob = bounded("resolve", alice.client.resolve_username("bob"))
        .await??
        .expect("bob exists");
    let to_bob = bounded("to_ref", to_bob.to_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("a ref");
    server.flood_wait(
        tl::functions::messages::SendMessage::CONSTRUCTOR_ID,
        Some(7),
    );
    match bounded("send", alice.client.send_message(to_bob, "too fast")).await? {
        Err(InvocationError::Rpc(err)) => {
            assert_eq!(
                (err.code, err.name.as_str(), err.value),
                (420, "FLOOD_WAIT", Some(7))
            );
        }
        other => panic!("expected a flood wait, got {other:?}"),
    }
    server.flood_wait(tl::functions::messages::SendMessage::CONSTRUCTOR_ID, None);
    bounded("send", alice.client.send_message(to_bob, "in time")).await??;
    Ok(())
}

#[tokio::test]
async fn a_message_sent_again_with_its_random_id_is_refused_and_not_repeated() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let to_bob = peer(&alice, "bob").await?;
    let send = |text: &str| tl::functions::messages::SendMessage {
        no_webpage: false,
        silent: false,
        background: false,
        clear_draft: false,
        noforwards: false,
        update_stickersets_order: false,
        invert_media: false,
        allow_paid_floodskip: false,
        peer: to_bob.into(),
        reply_to: None,
        message: text.into(),
        random_id: 424242,
        reply_markup: None,
        entities: None,
        schedule_date: None,
        schedule_repeat_period: None,
        send_as: None,
        quick_reply_shortcut: None,
        effect: None,
        allow_paid_stars: None,
        suggested_post: None,
        rich_message: None,
    };
    bounded("send", alice.client.invoke(&send("once"))).await??;
    let again = bounded("send", alice.client.invoke(&send("once"))).await?;
    assert!(matches!(again, Err(InvocationError::Rpc(e)) if e.name == "RANDOM_ID_DUPLICATE"));
    bounded("send", alice.client.send_message(to_bob, "next")).await??;
    assert_eq!(next_texts(&mut bob_updates, 2).await?, ["once", "next"]);
    Ok(())
}
