//! `bridge <MUC>` and `unbridge` in an existing Matrix room: the core's
//! checks, then the MUC joined and left, against real Synapse and Prosody.

use anyhow::Result;
use causeway_testkit::matrix_client::MatrixClient;
use common::*;
use serde_json::json;

mod common;

/// Waits for a bot notice in `room` that contains `text`.
async fn bot_says(user: &MatrixClient, bot: &str, room: &str, text: &str) -> Result<()> {
    user.wait_for(room, WAIT, |e| {
        e["sender"] == bot && causeway_testkit::matrix_client::body(e).contains(text)
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_muc_is_bridged_into_an_existing_room_after_every_check_and_unbridged_again() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    bob.join_muc(&muc("plumbed"), "bob").await?;
    let bot = env.bot();

    let alice = env.user("alice").await?;
    let dave = env.user("dave").await?;
    let room = alice
        .create_room(json!({ "preset": "public_chat", "name": "Team" }))
        .await?;
    dave.join(&room).await?;
    alice.invite(&room, &bot).await?;
    let wait = std::time::Instant::now();
    while !alice.joined_members(&room).await?.contains(&bot) {
        anyhow::ensure!(wait.elapsed() < WAIT, "the bot never joined");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let command = |target: &str| format!("!xmpp bridge {target}");

    // A member without power may not bridge the room.
    dave.send_text(&room, &command(&muc("plumbed"))).await?;
    bot_says(&alice, &bot, &room, "You need power level 50").await?;
    // A room that does not exist is named as such.
    alice.send_text(&room, &command(&muc("nosuchroom"))).await?;
    bot_says(&alice, &bot, &room, "does not answer as a room").await?;
    // Nor is a bare word taken for an address.
    alice.send_text(&room, &command("lobby")).await?;
    bot_says(&alice, &bot, &room, "is not a group chat address").await?;
    // The bot at power level 0 cannot mark the room as bridged.
    alice.send_text(&room, &command(&muc("plumbed"))).await?;
    bot_says(&alice, &bot, &room, "I may not mark").await?;

    let mut levels = alice.state(&room, "m.room.power_levels", "").await?;
    levels["users"][&bot] = json!(50);
    alice
        .send_state(&room, "m.room.power_levels", "", levels)
        .await?;
    alice.send_text(&room, &command(&muc("plumbed"))).await?;
    bot_says(&alice, &bot, &room, "Bridged this room to").await?;
    // Both Matrix members joined the MUC, each as themselves.
    for nick in ["alice", "dave"] {
        bob.wait_for(WAIT, |e| {
            e.name() == "presence"
                && e.attr("from") == Some(&format!("{}/{nick}", muc("plumbed")))
                && e.attr("type").is_none()
        })
        .await?;
    }
    alice.send_text(&room, "hello from the team room").await?;
    bob.wait_for_body("hello from the team room").await?;
    bob.message(&muc("plumbed"), "groupchat", "hello team")
        .await?;
    let from_bob = alice.wait_for_text(&room, "hello team").await?;
    assert_eq!(from_bob["sender"], BOB_GHOST);

    // Bridged once is enough.
    alice.send_text(&room, &command(&muc("plumbed"))).await?;
    bot_says(&alice, &bot, &room, "is bridged to").await?;

    dave.send_text(&room, "!xmpp unbridge").await?;
    bot_says(&alice, &bot, &room, "You need power level 50").await?;
    alice.send_text(&room, "!xmpp unbridge").await?;
    bot_says(&alice, &bot, &room, "no longer bridged").await?;
    bob.wait_for(WAIT, |e| {
        e.name() == "presence"
            && e.attr("from") == Some(&format!("{}/alice", muc("plumbed")))
            && e.attr("type") == Some("unavailable")
    })
    .await?;
    // Nothing crosses any more, and the room stays for its members.
    alice.send_text(&room, "after unbridging").await?;
    bob.message(&muc("plumbed"), "groupchat", "anyone there?")
        .await?;
    bob.wait_for_body("anyone there?").await?;
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;
    alice.sync_once(500).await?;
    assert!(alice
        .seen(&room, |e| causeway_testkit::matrix_client::body(e)
            == "anyone there?")
        .is_empty());
    assert!(alice.joined_members(&room).await?.contains(&dave.user_id));
    Ok(())
}
