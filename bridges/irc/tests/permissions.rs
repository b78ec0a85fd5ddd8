//! `bridge.permissions` on channel traffic, against ngircd: users get their
//! own connection, relay users speak through the relay bot under their
//! name, and users without permission reach IRC not at all.

use anyhow::Result;
use causeway_testkit::ircd::RawIrc;
use causeway_testkit::matrix_client::body;

mod common;

#[tokio::test]
async fn relay_users_speak_through_the_bot_and_others_not_at_all() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#perms").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#perms:localhost").await?;
    let (guest, stranger) = (env.user("guest").await?, env.user("stranger").await?);
    guest.join(&room).await?;
    stranger.join(&room).await?;

    stranger.send_text(&room, "stranger was here").await?;
    alice
        .wait_for_text(&room, "is not allowed to use this bridge")
        .await?;
    guest.send_text(&room, "hello from a guest").await?;
    bob.wait_for(|l| {
        l.starts_with(":causeway!") && l.ends_with("PRIVMSG #perms :guest: hello from a guest")
    })
    .await?;
    guest
        .send(
            &room,
            "m.room.message",
            serde_json::json!({ "msgtype": "m.emote", "body": "waves" }),
        )
        .await?;
    bob.wait_for(|l| l.starts_with(":causeway!") && l.ends_with("PRIVMSG #perms :* guest waves"))
        .await?;
    alice.send_text(&room, "alice speaks").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #perms :alice speaks"))
        .await?;

    // Only alice got a connection; the stranger's words went nowhere.
    let others: Vec<_> = bob
        .seen
        .iter()
        .filter(|l| {
            l.starts_with(":guest") || l.starts_with(":stranger") || l.contains("stranger was here")
        })
        .collect();
    assert!(others.is_empty(), "{others:?}");
    stranger.send_text(&room, "still here").await?;
    alice.send_text(&room, "alice again").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #perms :alice again"))
        .await?;
    alice.sync_once(0).await?;
    let told = alice.seen(&room, |e| {
        body(e).contains("is not allowed to use this bridge")
    });
    assert_eq!(told.len(), 1, "{told:?}");
    Ok(())
}

#[tokio::test]
async fn denied_channels_cannot_be_opened_by_join_or_alias() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let extra = ", dynamic_channels: { deny: ['#secret.*'] }";
    let (_ircd, env) = common::setup_with(dir.path(), extra).await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;

    alice.send_text(&admin_room, "!join #Secret-plans").await?;
    alice
        .wait_for_text(&admin_room, "#Secret-plans is not open to the bridge")
        .await?;
    let by_alias = alice.join("#_local_#secretive:localhost").await;
    assert!(by_alias.is_err(), "{by_alias:?}");
    alice.send_text(&admin_room, "!join #open").await?;
    alice
        .wait_for_text(&admin_room, "Joined #open on Local IRC")
        .await?;
    Ok(())
}
