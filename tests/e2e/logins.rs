//! Logins of an account network, end to end through a real Synapse, with
//! the test network playing the remote side: their connection states, as
//! `ping` shows them and as the user is told.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::{body, MatrixClient};
use serde_json::json;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-testnet");

const WAIT: Duration = Duration::from_secs(30);

/// The test network as an account network, on a bridge that tells a
/// disconnect lasting a second.
async fn env() -> Result<TestEnv> {
    let bridge: serde_yaml::Mapping = serde_yaml::from_str("{ login_state_debounce_seconds: 1 }")?;
    let options = EnvOptions {
        bridge: Some(bridge),
        testnet: Some(serde_yaml::from_str("{ account: true }")?),
        ..Default::default()
    };
    TestEnv::start(std::path::Path::new(BIN), options).await
}

/// Logs `user` in with the password flow; returns the management room.
async fn logged_in(env: &TestEnv, user: &MatrixClient, name: &str) -> Result<String> {
    let room = user.create_dm(&env.bot()).await?;
    user.wait_for_text(&room, "management room").await?;
    user.send_text(&room, "login password").await?;
    user.wait_for_text(&room, "Send your username").await?;
    user.send_text(&room, name).await?;
    user.wait_for_text(&room, "I will delete the message")
        .await?;
    user.send_text(&room, "correct horse").await?;
    user.wait_for_text(&room, &format!("Logged in as {name}"))
        .await?;
    Ok(room)
}

async fn set_state(env: &TestEnv, login: &str, state: &str, message: Option<&str>) -> Result<()> {
    env.control(
        "/remote/login-state",
        json!({ "login": login, "state": state, "message": message }),
    )
    .await?;
    Ok(())
}

fn notices(user: &MatrixClient, room: &str, text: &str) -> usize {
    user.seen(room, |e| body(e).contains(text)).len()
}

#[tokio::test]
async fn ping_shows_each_login_state_and_only_lasting_problems_are_told() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = logged_in(&env, &alice, "alice").await?;
    alice.send_text(&room, "ping").await?;
    alice
        .wait_for_text(&room, "`test-alice` (alice): CONNECTED for")
        .await?;

    // A disconnect that heals within the debounce is not news.
    set_state(&env, "test-alice", "TRANSIENT_DISCONNECT", None).await?;
    set_state(&env, "test-alice", "CONNECTED", None).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.sync_once(0).await?;
    assert_eq!(notices(&alice, &room, "lost its connection"), 0);
    assert_eq!(notices(&alice, &room, "connected again"), 0);

    // One that lasts is told once, and so is the recovery.
    set_state(&env, "test-alice", "TRANSIENT_DISCONNECT", Some("timeout")).await?;
    alice
        .wait_for_text(&room, "Your login `test-alice` (alice) lost its connection")
        .await?;
    set_state(&env, "test-alice", "CONNECTED", None).await?;
    alice
        .wait_for_text(&room, "Your login `test-alice` (alice) is connected again")
        .await?;

    // Refused credentials are told at once, with the network's reason.
    set_state(
        &env,
        "test-alice",
        "BAD_CREDENTIALS",
        Some("password changed"),
    )
    .await?;
    alice
        .wait_for_text(&room, "was refused: log in again. password changed")
        .await?;
    alice.send_text(&room, "ping").await?;
    let status = alice.wait_for_text(&room, "BAD_CREDENTIALS for").await?;
    assert!(body(&status).contains(": password changed"), "{status}");
    assert_eq!(notices(&alice, &room, "lost its connection"), 1);

    alice.send_text(&room, "logout").await?;
    alice
        .wait_for_text(&room, "Logged out of `test-alice`")
        .await?;
    alice.send_text(&room, "ping").await?;
    alice.wait_for_text(&room, "You have no logins").await?;
    Ok(())
}

#[tokio::test]
async fn messages_go_out_through_the_senders_login_or_the_rooms_relay_login() -> Result<()> {
    let env = env().await?;
    let admin = env.user("admin").await?;
    let bob = env.user("bob").await?;
    let admin_dm = logged_in(&env, &admin, "admin").await?;
    admin.send_text(&admin_dm, "create g1").await?;
    let room = admin.wait_for_invite(WAIT).await?;
    admin.join(&room).await?;

    let sent = admin.send_text(&room, "from admin").await?;
    env.wait_outbox(WAIT, |r| {
        r["event_id"] == sent.as_str() && r["login"] == "test-admin" && r["relayed"] == false
    })
    .await?;

    // Bob has no login in the chat: nothing goes out, and he learns why.
    admin.invite(&room, "@bob:localhost").await?;
    bob.join(&room).await?;
    let unsent = bob.send_text(&room, "from bob").await?;
    bob.wait_for_text(&room, "has no Test login in this chat")
        .await?;
    let bob_dm = bob.create_dm(&env.bot()).await?;
    bob.wait_for_text(&bob_dm, "management room").await?;
    bob.send_text(&bob_dm, &format!("set-relay {room}")).await?;
    bob.wait_for_text(&bob_dm, "You need power level 50")
        .await?;

    // The admin relays through their login: Bob's messages go out under his name.
    admin
        .send_text(&admin_dm, &format!("set-relay {room}"))
        .await?;
    admin
        .wait_for_text(&admin_dm, "now go through your login `test-admin`")
        .await?;
    let relayed = bob.send_text(&room, "bob again").await?;
    env.wait_outbox(WAIT, |r| {
        r["event_id"] == relayed.as_str()
            && r["login"] == "test-admin"
            && r["relayed"] == true
            && r["body"] == "bob: bob again"
    })
    .await?;

    admin
        .send_text(&admin_dm, &format!("unset-relay {room}"))
        .await?;
    admin.wait_for_text(&admin_dm, "has no relay now").await?;
    let refused = bob.send_text(&room, "bob once more").await?;
    // Admin's next message is delivered after Bob's, in room order.
    let later = admin.send_text(&room, "admin later").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == later.as_str())
        .await?;
    let outbox = env.outbox();
    for event in [unsent, refused] {
        assert!(
            !outbox.iter().any(|r| r["event_id"] == event.as_str()),
            "{event} went out without a login"
        );
    }
    Ok(())
}
