//! Matrix strings never become IRC lines of their own (GHSA-52rh-5rpj-c3w6):
//! one test per place a Matrix string enters, against ngircd, with a raw IRC
//! client that must never receive the line the string tried to inject.

use anyhow::Result;
use causeway_testkit::env::TestEnv;
use causeway_testkit::ircd::RawIrc;
use causeway_testkit::matrix_client::MatrixClient;
use std::time::Duration;

mod common;

/// What every attempt tries to make the bridge send: a private message to
/// bob, which his client would see whoever's connection carried it.
const INJECTED: &str = "PRIVMSG bob :INJECTED";

/// Alice in the portal of `#safe`, where bob is too; returns the room.
async fn alice_in_safe(env: &TestEnv, bob: &mut RawIrc) -> Result<(MatrixClient, String)> {
    bob.join("#safe").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#safe:localhost").await?;
    alice.send_text(&room, "ready").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #safe :ready"))
        .await?;
    Ok((alice, room))
}

/// Has alice say a last line in `#safe`, waits for it, then checks that bob
/// heard nothing injected before it.
async fn assert_nothing_injected(alice: &MatrixClient, room: &str, bob: &mut RawIrc) -> Result<()> {
    alice.send_text(room, "last line").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #safe :last line"))
        .await?;
    let injected: Vec<_> = bob.seen.iter().filter(|l| l.contains("INJECTED")).collect();
    assert!(injected.is_empty(), "bob received {injected:?}");
    Ok(())
}

#[tokio::test]
async fn command_arguments_with_line_breaks_are_refused_with_a_reply() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    let (alice, room) = alice_in_safe(&env, &mut bob).await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;

    let attempts = [
        (
            format!("!join #keyed \"k\r\n{INJECTED}\""),
            "A channel key is 1 to 23 printable characters",
        ),
        (
            format!("!join \"#other\r\n{INJECTED}\""),
            "is not a channel name",
        ),
        (
            format!("!storepass \"pw\r\n{INJECTED}\""),
            "A password cannot contain line breaks",
        ),
        (
            format!("!nick \"Alicia\r\n{INJECTED}\""),
            "A nick is one word",
        ),
        (
            format!("!whois \"bob\r\n{INJECTED}\""),
            "is not a nick or channel",
        ),
        (
            format!("!cmd AWAY \"gone\r\n{INJECTED}\""),
            "Arguments cannot contain line breaks",
        ),
        (
            format!("!username \"al\r\n{INJECTED}\""),
            "is not a valid username",
        ),
    ];
    for (command, reply) in attempts {
        alice.send_text(&admin_room, &command).await?;
        alice.wait_for_text(&admin_room, reply).await?;
    }
    // A refused password is not stored, so a reconnect sends none.
    alice.send_text(&admin_room, "!reconnect").await?;
    alice.wait_for_text(&admin_room, "Reconnected to").await?;
    alice.send_text(&room, "back").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #safe :back"))
        .await?;
    assert_nothing_injected(&alice, &room, &mut bob).await
}

#[tokio::test]
async fn a_leave_reason_with_line_breaks_stays_inside_one_part_line() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    let (alice, room) = alice_in_safe(&env, &mut bob).await?;
    let alice_id = alice.user_id.clone();
    alice
        .send_state(
            &room,
            "m.room.member",
            &alice_id,
            serde_json::json!({ "membership": "leave", "reason": format!("bye\r\n{INJECTED}") }),
        )
        .await?;
    let part = bob
        .wait_for(|l| l.starts_with(":alice[m]!") && l.split(' ').nth(1) == Some("PART"))
        .await?;
    assert!(part.ends_with(&format!(":bye  {INJECTED}")), "{part}");
    // Back in, so a last line can mark the end.
    let room = alice.join("#_local_#safe:localhost").await?;
    bob.seen.retain(|l| l != &part);
    assert_nothing_injected(&alice, &room, &mut bob).await
}

#[tokio::test]
async fn a_ghost_id_that_decodes_to_a_line_break_is_nobody_on_irc() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    let (alice, room) = alice_in_safe(&env, &mut bob).await?;
    // `carol\r\nprivmsg bob :INJECTED`, escaped as the ghost namespace does.
    let ghost = "@_local_carol=0d=0aprivmsg=20bob=20=3ainjected:localhost";
    let dm = alice
        .create_room(serde_json::json!({ "is_direct": true, "preset": "trusted_private_chat", "invite": [ghost] }))
        .await;
    if let Ok(dm) = dm {
        // Whatever the homeserver made of the invite, nothing reaches IRC:
        // not when the ghost would join, nor when alice writes to it.
        let joined = alice
            .wait_for(&dm, Duration::from_secs(10), |e| {
                e["state_key"] == ghost && e["content"]["membership"] == "join"
            })
            .await;
        assert!(joined.is_err(), "the ghost joined: {joined:?}");
        alice.send_text(&dm, "hi carol").await?;
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    alice.send_text(&room, "after").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #safe :after"))
        .await?;
    let injected: Vec<_> = bob
        .seen
        .iter()
        .filter(|l| l.to_ascii_uppercase().contains("INJECTED"))
        .collect();
    assert!(injected.is_empty(), "bob received {injected:?}");
    Ok(())
}

#[tokio::test]
async fn an_operators_topic_and_kick_reason_with_line_breaks_never_leave_their_line() -> Result<()>
{
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    // bob opens the channel, so he is its operator and can make alice one.
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    let (alice, room) = alice_in_safe(&env, &mut bob).await?;
    let mut carol = RawIrc::connect(ircd.port, "carol").await?;
    carol.join("#safe").await?;
    bob.send("MODE #safe +o alice[m]").await?;
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while alice.state(&room, "m.room.power_levels", "").await?["users"][&alice.user_id] != 50 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "alice never got ops");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A topic is one line on IRC: a multi-line one is refused, with a reply.
    alice
        .send_state(
            &room,
            "m.room.topic",
            "",
            serde_json::json!({ "topic": format!("calm\r\n{INJECTED}") }),
        )
        .await?;
    alice
        .wait_for_text(&room, "IRC topics are one line")
        .await?;

    // A kick reason is made one line.
    alice
        .wait_for(&room, Duration::from_secs(30), |e| {
            e["type"] == "m.room.member" && e["state_key"] == "@_local_carol:localhost"
        })
        .await?;
    alice
        .send_state(
            &room,
            "m.room.member",
            "@_local_carol:localhost",
            serde_json::json!({ "membership": "leave", "reason": format!("bye\r\n{INJECTED}") }),
        )
        .await?;
    let kick = carol
        .wait_for(|l| l.starts_with(":alice[m]!") && l.contains(" KICK #safe carol :"))
        .await?;
    assert!(kick.ends_with(&format!(":bye  {INJECTED}")), "{kick}");
    // Bob sees the one KICK line too; it is the only line that may quote it.
    bob.wait_for(|l| l == kick).await?;
    bob.seen.retain(|l| l != &kick);
    assert!(
        !bob.seen.iter().any(|l| l.contains(" TOPIC #safe ")),
        "a multi-line topic reached IRC"
    );
    assert_nothing_injected(&alice, &room, &mut bob).await
}
