//! Faults: the XMPP server restarting mid-conversation, and the bridge
//! killed and started again.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_testkit::xmpp_client::body_of;
use common::*;
use std::time::Duration;

mod common;

#[tokio::test]
async fn a_prosody_restart_loses_and_duplicates_nothing() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "sturdy").await?;
    let lobby = muc("sturdy");
    alice.send_text(&room, "before the restart").await?;
    bob.wait_for_body("before the restart").await?;

    server.stop();
    // Said while the server is down: queued, then sent once it is back.
    for n in 0..3 {
        alice.send_text(&room, &format!("while down {n}")).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    server.restart()?;
    let mut bob = xmpp_user(&server, "bob").await?;
    // The bridge may send the queued lines before bob is back or after: he
    // meets them in the room's history or as they come.
    bob.join_muc_with_history(&lobby, "bob", 20).await?;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = bob
            .wait_for(WAIT, |e| {
                body_of(e).is_some_and(|b| b.starts_with("while down"))
            })
            .await?;
        seen.push(body_of(&line).unwrap_or_default());
    }
    let expected: Vec<String> = (0..3).map(|n| format!("while down {n}")).collect();
    assert_eq!(seen, expected);

    bob.message(&lobby, "groupchat", "after the restart")
        .await?;
    alice.wait_for_text(&room, "after the restart").await?;
    alice.send_text(&room, "and back").await?;
    bob.wait_for_body("and back").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    let copies = alice.seen(&room, |e| body(e) == "after the restart").len();
    assert_eq!(copies, 1);
    assert!(
        !bob.drain()
            .iter()
            .any(|e| body_of(e).is_some_and(|b| b.starts_with("while down"))),
        "duplicates after the restart"
    );
    // The history bob's puppet-less rejoin replayed was not bridged twice.
    assert_eq!(
        alice.seen(&room, |e| body(e) == "before the restart").len(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn portals_and_dms_survive_a_bridge_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut env) = setup(dir.path(), "").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    let lobby = muc("durable");
    bob.join_muc(&lobby, "bob").await?;
    bob.message(&lobby, "groupchat", "history line").await?;
    let alice = env.user("alice").await?;
    let room = alice.join(&muc_alias("durable")).await?;
    alice.wait_for_text(&room, "history line").await?;
    bob.message(&jid_of("alice"), "chat", "a private hello")
        .await?;
    let dm = alice.wait_for_invite(WAIT).await?;
    alice.join(&dm).await?;
    alice.wait_for_text(&dm, "a private hello").await?;

    env.kill_bridge();
    env.start_bridge().await?;
    // alice's puppet comes back into the MUC by itself.
    bob.wait_for(WAIT, |e| {
        e.name() == "presence"
            && e.attr("from") == Some(&format!("{lobby}/alice"))
            && e.attr("type").is_none()
    })
    .await?;
    bob.message(&lobby, "groupchat", "after the bridge restart")
        .await?;
    alice
        .wait_for_text(&room, "after the bridge restart")
        .await?;
    alice.send_text(&room, "still here").await?;
    bob.wait_for_body("still here").await?;
    alice.send_text(&dm, "dm still works").await?;
    bob.wait_for_body("dm still works").await?;
    bob.message(&jid_of("alice"), "chat", "same dm").await?;
    alice.wait_for_text(&dm, "same dm").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The rejoin's history was recognised, not bridged again.
    assert_eq!(alice.seen(&room, |e| body(e) == "history line").len(), 1);
    Ok(())
}

#[tokio::test]
async fn muc_messages_waiting_for_the_homeserver_survive_a_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "held").await?;
    let lobby = muc("held");
    env.synapse.stop();
    const COUNT: usize = 10;
    for i in 0..COUNT {
        bob.message(&lobby, "groupchat", &format!("held {i}"))
            .await?;
    }
    // The bridge commits each to its outbox as it arrives.
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.kill_bridge();
    env.synapse.restart()?;
    env.start_bridge().await?;
    alice
        .wait_for_text(&room, &format!("held {}", COUNT - 1))
        .await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.sync_once(0).await?;
    let held: Vec<String> = alice
        .seen(&room, |e| body(e).starts_with("held "))
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    let expected: Vec<String> = (0..COUNT).map(|i| format!("held {i}")).collect();
    assert_eq!(held, expected, "each once, in order");
    Ok(())
}

#[tokio::test]
async fn muc_history_replayed_after_a_restart_fills_the_gap() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, mut env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "gap").await?;
    let lobby = muc("gap");
    bob.message(&lobby, "groupchat", "before the gap").await?;
    alice.wait_for_text(&room, "before the gap").await?;

    env.kill_bridge();
    for i in 0..3 {
        bob.message(&lobby, "groupchat", &format!("while down {i}"))
            .await?;
    }
    env.start_bridge().await?;
    alice.wait_for_text(&room, "while down 2").await?;
    bob.message(&lobby, "groupchat", "after the gap").await?;
    alice.wait_for_text(&room, "after the gap").await?;
    alice.sync_once(0).await?;
    let lines: Vec<String> = alice
        .seen(&room, |e| {
            let b = body(e);
            b.starts_with("while down") || b.ends_with("the gap")
        })
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(
        lines,
        [
            "before the gap",
            "while down 0",
            "while down 1",
            "while down 2",
            "after the gap"
        ]
    );
    Ok(())
}

#[tokio::test]
async fn matrix_messages_held_while_prosody_is_down_survive_a_kill_9() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut server, mut env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "kept").await?;
    let lobby = muc("kept");
    alice.send_text(&room, "before").await?;
    bob.wait_for_body("before").await?;

    server.stop();
    // Not written to any XMPP stream yet: not delivered, so not processed.
    for n in 0..3 {
        alice.send_text(&room, &format!("kept {n}")).await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.kill_bridge();
    server.restart()?;
    // bob is back in the room (asking for no history) before the bridge is.
    let mut bob = xmpp_user(&server, "bob").await?;
    bob.join_muc(&lobby, "bob").await?;
    env.start_bridge().await?;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let line = bob
            .wait_for(WAIT, |e| body_of(e).is_some_and(|b| b.starts_with("kept ")))
            .await?;
        seen.push(body_of(&line).unwrap_or_default());
    }
    let expected: Vec<String> = (0..3).map(|n| format!("kept {n}")).collect();
    assert_eq!(seen, expected);
    Ok(())
}
