//! Moderation across the bridge: operator and voice modes as power levels,
//! invite-only channels as invite-only rooms, and kicks and bans both ways.

mod common;

use anyhow::{bail, Result};
use causeway_testkit::ircd::RawIrc;
use causeway_testkit::matrix_client::{body, MatrixClient};
use serde_json::Value;
use std::time::{Duration, Instant};

/// Polls a room's state until `check` accepts the content.
async fn wait_for_state(
    client: &MatrixClient,
    room: &str,
    event_type: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let started = Instant::now();
    loop {
        let content = client.state(room, event_type, "").await?;
        if check(&content) {
            return Ok(content);
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{event_type} never matched; last: {content}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn modes_become_power_levels_and_join_rules_and_kicks_cross_both_ways() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    // bob opens the channel, so he is its operator.
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#mod").await?;
    let mut carol = RawIrc::connect(ircd.port, "carol").await?;
    carol.join("#mod").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#mod:localhost").await?;
    let levels = |user: &'static str, level: i64| {
        move |c: &Value| c["users"][user].as_i64().unwrap_or(0) == level
    };
    wait_for_state(
        &alice,
        &room,
        "m.room.power_levels",
        levels("@_local_bob:localhost", 50),
    )
    .await?;

    bob.send("MODE #mod +v carol").await?;
    wait_for_state(
        &alice,
        &room,
        "m.room.power_levels",
        levels("@_local_carol:localhost", 1),
    )
    .await?;
    bob.send("MODE #mod +i").await?;
    wait_for_state(&alice, &room, "m.room.join_rules", |c| {
        c["join_rule"] == "invite"
    })
    .await?;
    bob.send("MODE #mod -i").await?;
    wait_for_state(&alice, &room, "m.room.join_rules", |c| {
        c["join_rule"] == "public"
    })
    .await?;

    // Operator on IRC, moderator in the room: alice may kick and ban.
    alice.send_text(&room, "hello").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #mod :hello")).await?;
    bob.send("MODE #mod +o alice[m]").await?;
    wait_for_state(
        &alice,
        &room,
        "m.room.power_levels",
        levels("@alice:localhost", 50),
    )
    .await?;
    alice
        .send_state(
            &room,
            "m.room.member",
            "@_local_carol:localhost",
            serde_json::json!({ "membership": "leave", "reason": "be nice" }),
        )
        .await?;
    carol
        .wait_for(|l| l.starts_with(":alice[m]!") && l.contains(" KICK #mod carol :be nice"))
        .await?;
    let mut dave = RawIrc::connect(ircd.port, "dave").await?;
    dave.join("#mod").await?;
    alice
        .wait_for(&room, Duration::from_secs(30), |e| {
            e["type"] == "m.room.member" && e["state_key"] == "@_local_dave:localhost"
        })
        .await?;
    alice
        .send_state(
            &room,
            "m.room.member",
            "@_local_dave:localhost",
            serde_json::json!({ "membership": "ban", "reason": "spam" }),
        )
        .await?;
    dave.wait_for(|l| l.contains(" MODE #mod +b dave!*@*"))
        .await?;
    dave.wait_for(|l| l.contains(" KICK #mod dave :spam"))
        .await?;

    // An IRC kick of a Matrix user removes her from the room, with why.
    bob.send("KICK #mod alice[m] :enough").await?;
    let kicked = wait_for_state_key(&alice, &room, "@alice:localhost").await?;
    assert_eq!(kicked["membership"], "leave");
    assert!(
        kicked["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("kicked on IRC by bob: enough"),
        "{kicked}"
    );
    Ok(())
}

#[tokio::test]
async fn a_kick_irc_refuses_gets_a_notice() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let bot = env.bot();
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#strict").await?;
    // The admin's own room, plumbed: she moderates it, but is no IRC operator.
    let admin = env.user("admin").await?;
    let admin_dm = admin.create_dm(&bot).await?;
    admin.wait_for_text(&admin_dm, "management room").await?;
    let options = serde_json::json!({ "preset": "public_chat", "invite": [bot], "power_level_content_override": { "users": { bot.as_str(): 50 } } });
    let room = admin.create_room(options).await?;
    let bot_id = bot.clone();
    admin
        .wait_for(&room, Duration::from_secs(30), move |e| {
            e["state_key"] == bot_id.as_str() && e["content"]["membership"] == "join"
        })
        .await?;
    admin
        .send_text(&admin_dm, &format!("!plumb {room} local #strict"))
        .await?;
    admin
        .wait_for(&room, Duration::from_secs(30), |e| {
            e["type"] == "m.room.member" && e["state_key"] == "@_local_bob:localhost"
        })
        .await?;
    admin
        .send_state(
            &room,
            "m.room.member",
            "@_local_bob:localhost",
            serde_json::json!({ "membership": "leave" }),
        )
        .await?;
    let notice = admin
        .wait_for_text(&room, "IRC refused to kick bob")
        .await?;
    assert!(body(&notice).contains("(482)"), "{}", body(&notice));
    Ok(())
}

async fn wait_for_state_key(client: &MatrixClient, room: &str, user: &str) -> Result<Value> {
    let started = Instant::now();
    loop {
        client.sync_once(1000).await?;
        let found = client.seen(room, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == user
                && e["content"]["membership"] == "leave"
        });
        if let Some(event) = found.last() {
            return Ok(event["content"].clone());
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!("{user} never left {room}");
        }
    }
}

#[tokio::test]
async fn a_mapped_keyed_channel_is_bridged_on_start_and_survives_a_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, mut env) = common::setup_with(dir.path(), "").await?;
    let bot = env.bot();
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#keyed").await?;
    bob.send("MODE #keyed +k sesame").await?;
    bob.wait_for(|l| l.contains(" MODE #keyed +k")).await?;
    let admin = env.user("admin").await?;
    let options = serde_json::json!({ "preset": "public_chat", "invite": [bot], "power_level_content_override": { "users": { bot.as_str(): 50 } } });
    let room = admin.create_room(options).await?;

    // The admin maps the channel to the room in the config and restarts.
    let path = env.config_path();
    let mut config: serde_yaml::Value = serde_yaml::from_str(&std::fs::read_to_string(&path)?)?;
    config["network"]["networks"]["local"]["mappings"] = serde_yaml::from_str(&format!(
        "{{ '#keyed': {{ room_ids: ['{room}'], key: sesame }} }}"
    ))?;
    std::fs::write(&path, serde_yaml::to_string(&config)?)?;
    env.kill_bridge();
    env.start_bridge().await?;
    bob.wait_for(|l| l.starts_with(":causeway!") && l.contains(" JOIN "))
        .await?;
    admin
        .wait_for(&room, Duration::from_secs(30), |e| e["type"] == "m.bridge")
        .await?;
    bob.send("PRIVMSG #keyed :through the key").await?;
    admin.wait_for_text(&room, "through the key").await?;
    // The admin's own connection needs the key too.
    admin.send_text(&room, "me too").await?;
    bob.wait_for(|l| l.starts_with(":admin[m]!") && l.ends_with("PRIVMSG #keyed :me too"))
        .await?;

    // Another restart: the mapping stands, nothing is bridged twice.
    bob.seen.clear();
    env.kill_bridge();
    env.start_bridge().await?;
    bob.wait_for(|l| l.starts_with(":causeway!") && l.contains(" JOIN "))
        .await?;
    bob.send("PRIVMSG #keyed :after restart").await?;
    admin.wait_for_text(&room, "after restart").await?;
    assert_eq!(admin.seen(&room, |e| e["type"] == "m.bridge").len(), 1);
    Ok(())
}
