//! Logins of an account network, end to end through a real Synapse, with
//! the test network playing the remote side: their connection states, as
//! `ping` shows them and as the user is told.

use anyhow::Result;
use causeway_testkit::env::TestEnv;
use causeway_testkit::matrix_client::{body, MatrixClient};
use serde_json::{json, Value};
use std::time::Duration;

mod account;

use account::{logged_in, open_chat, WAIT};

async fn env() -> Result<TestEnv> {
    account::env("{ login_state_debounce_seconds: 1 }").await
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

    // Logged out on the remote side (the device removed on the phone).
    set_state(&env, "test-alice", "LOGGED_OUT", Some("device removed")).await?;
    alice
        .wait_for_text(&room, "Your login `test-alice` (alice) was logged out")
        .await?;

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
    let room = open_chat(&admin, &admin_dm, "g1").await?;

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

#[tokio::test]
async fn delete_session_forgets_a_login_without_logging_it_out() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = logged_in(&env, &alice, "alice").await?;
    alice.send_text(&room, "delete-session").await?;
    alice
        .wait_for_text(
            &room,
            "Forgot `test-alice` here; it was not logged out on Test",
        )
        .await?;
    alice.send_text(&room, "list-logins").await?;
    alice.wait_for_text(&room, "You have no logins").await?;
    assert!(!env.outbox().iter().any(|r| r["kind"] == "logout"));

    let room = logged_in(&env, &alice, "alice").await?;
    alice.send_text(&room, "logout test-alice").await?;
    alice
        .wait_for_text(&room, "Logged out of `test-alice`")
        .await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "logout" && r["login"] == "test-alice"
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn one_user_may_have_a_password_login_and_a_qr_login_at_once() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = logged_in(&env, &alice, "alice").await?;
    alice.send_text(&room, "login qr").await?;
    alice.wait_for_text(&room, "Logged in by QR code").await?;
    alice.send_text(&room, "list-logins").await?;
    let listed = alice.wait_for_text(&room, "Your logins").await?;
    assert!(
        body(&listed).contains("`test-alice`: alice")
            && body(&listed).contains("`test-qr`: qr user"),
        "{listed}"
    );
    alice.send_text(&room, "ping").await?;
    let states = alice
        .wait_for_text(&room, "`test-qr` (qr user): CONNECTED")
        .await?;
    assert!(
        body(&states).contains("`test-alice` (alice): CONNECTED"),
        "{states}"
    );
    // With two logins, logout must be told which.
    alice.send_text(&room, "logout").await?;
    alice
        .wait_for_text(&room, "You have several logins: say which one")
        .await?;
    Ok(())
}

#[tokio::test]
async fn bridge_plumbs_a_chat_of_the_callers_login_into_an_existing_room() -> Result<()> {
    let env = env().await?;
    env.control(
        "/remote/directory",
        json!({ "contacts": [], "chats": [{ "id": "team", "name": "Team chat" }] }),
    )
    .await?;
    let admin = env.user("admin").await?;
    let eve = env.user("eve").await?;
    logged_in(&env, &admin, "admin").await?;
    let bot = env.bot();
    // A room of the admin's, where eve is a moderator too.
    let room = admin
        .create_room(json!({
            "preset": "public_chat",
            "power_level_content_override": { "users": { "@eve:localhost": 50 } },
        }))
        .await?;
    eve.join(&room).await?;
    admin.invite(&room, &bot).await?;
    let deadline = std::time::Instant::now() + WAIT;
    while !admin.joined_members(&room).await?.contains(&bot) {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the bot never joined");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let said = |text: &'static str| {
        let bot = bot.clone();
        move |e: &Value| e["sender"] == bot.as_str() && body(e).contains(text)
    };

    // Eve has the power but no login in the chat.
    eve.send_text(&room, "!testnet bridge team").await?;
    admin
        .wait_for(&room, WAIT, said("You are not logged in"))
        .await?;
    admin.send_text(&room, "!testnet bridge nochat").await?;
    admin
        .wait_for(
            &room,
            WAIT,
            said("None of your logins is in a chat `nochat`"),
        )
        .await?;
    // The bot may not mark the room as bridged until it has power.
    admin.send_text(&room, "!testnet bridge team").await?;
    admin.wait_for(&room, WAIT, said("I may not mark")).await?;
    let mut levels = admin.state(&room, "m.room.power_levels", "").await?;
    levels["users"][&bot] = json!(50);
    admin
        .send_state(&room, "m.room.power_levels", "", levels)
        .await?;
    admin.send_text(&room, "!testnet bridge team").await?;
    admin
        .wait_for(&room, WAIT, said("Bridged this room to Team chat"))
        .await?;
    let info = admin
        .state(&room, "m.bridge", "causeway://testnet/team")
        .await?;
    assert_eq!(info["channel"]["id"], "team");

    // The admin's messages go out through their login; eve's cannot.
    let sent = admin.send_text(&room, "hello team").await?;
    env.wait_outbox(WAIT, |r| {
        r["event_id"] == sent.as_str() && r["login"] == "test-admin" && r["portal"] == "team"
    })
    .await?;
    eve.send_text(&room, "!testnet unbridge").await?;
    admin
        .wait_for(&room, WAIT, said("no longer bridged"))
        .await?;
    assert!(admin
        .state(&room, "m.bridge", "causeway://testnet/team")
        .await?
        .as_object()
        .is_some_and(|o| o.is_empty()));
    let after = admin.send_text(&room, "after unbridging").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!env.outbox().iter().any(|r| r["event_id"] == after.as_str()));
    Ok(())
}
