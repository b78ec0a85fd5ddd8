//! Chat info from an account network, end to end through a real Synapse:
//! the room follows the chat's name, topic, avatar and members, and ghosts
//! get the display-name template and avatars fetched once.

use anyhow::Result;
use causeway_testkit::env::TestEnv;
use causeway_testkit::matrix_client::{body, MatrixClient};
use serde_json::{json, Value};
use std::time::Duration;

mod account;

use account::{logged_in, open_chat, WAIT};

/// A portal for chat `g1`, joined by `user` (who has no login).
async fn chat(env: &TestEnv, user: &MatrixClient) -> Result<String> {
    let dm = user.create_dm(&env.bot()).await?;
    user.wait_for_text(&dm, "management room").await?;
    open_chat(user, &dm, "g1").await
}

/// Waits until `check` holds for the room's state event.
async fn wait_state(
    user: &MatrixClient,
    room: &str,
    event_type: &str,
    state_key: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(content) = user.state(room, event_type, state_key).await {
            if check(&content) {
                return Ok(content);
            }
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{event_type} never matched"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn member(id: &str, name: &str, avatar: Option<&str>, power: Option<i64>) -> Value {
    json!({ "ghost": { "id": id, "displayname": name, "avatar_mxc": null, "avatar_id": avatar }, "power": power })
}

#[tokio::test]
async fn the_room_follows_the_chats_name_topic_avatar_and_members() -> Result<()> {
    let env = account::env("{ displayname_template: '{name} (Test)' }").await?;
    let alice = env.user("alice").await?;
    let room = chat(&env, &alice).await?;
    let members = [
        member("carol", "Carol", Some("face-1"), Some(50)),
        member("dave", "Dave", None, None),
    ];
    env.control(
        "/remote/chat-info",
        json!({ "portal": "g1", "info": { "name": "Renamed", "topic": "New topic", "avatar_id": "face-1", "members": members, "kind": "channel" } }),
    )
    .await?;
    wait_state(&alice, &room, "m.room.name", "", |c| c["name"] == "Renamed").await?;
    wait_state(&alice, &room, "m.room.topic", "", |c| {
        c["topic"] == "New topic"
    })
    .await?;
    // The bridge info names the chat and its kind, and shows the
    // network's icon, which the bot wears too.
    let info = wait_state(&alice, &room, "m.bridge", "causeway://testnet/g1", |c| {
        c["channel"]["displayname"] == "Renamed" && c["com.beeper.room_type.v2"] == "channel"
    })
    .await?;
    let icon = info["protocol"]["avatar_url"].as_str().unwrap_or_default();
    assert!(icon.starts_with("mxc://"), "{info}");
    assert_eq!(alice.profile(&env.bot()).await?["avatar_url"], icon);
    let avatar = wait_state(&alice, &room, "m.room.avatar", "", |c| c["url"].is_string()).await?;
    let levels = wait_state(&alice, &room, "m.room.power_levels", "", |c| {
        c["users"]["@_testnet_carol:localhost"] == 50
    })
    .await?;
    assert!(levels["users"].get("@_testnet_dave:localhost").is_none());
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let joined = alice.joined_members(&room).await?;
        let both = ["@_testnet_carol:localhost", "@_testnet_dave:localhost"]
            .iter()
            .all(|ghost| joined.iter().any(|m| m == ghost));
        if both {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "ghosts missing: {joined:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // Ghost names follow the template; one avatar ID is one upload.
    let carol = alice.profile("@_testnet_carol:localhost").await?;
    assert_eq!(carol["displayname"], "Carol (Test)");
    assert_eq!(carol["avatar_url"], avatar["url"]);

    // Dave left the chat: his ghost leaves the room; Alice stays.
    env.control(
        "/remote/chat-info",
        json!({ "portal": "g1", "info": { "members": [member("carol", "Carol", Some("face-1"), Some(50))] } }),
    )
    .await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let joined = alice.joined_members(&room).await?;
        if !joined.iter().any(|m| m == "@_testnet_dave:localhost") {
            assert!(joined.iter().any(|m| m == &alice.user_id));
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "dave never left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

/// Waits until `user` is no longer in `room`, and returns why they left.
async fn removed(user: &MatrixClient, room: &str) -> Result<String> {
    let left = user
        .wait_for(room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == user.user_id.as_str()
                && e["content"]["membership"] == "leave"
        })
        .await?;
    Ok(left["content"]["reason"]
        .as_str()
        .unwrap_or_default()
        .to_owned())
}

#[tokio::test]
async fn deleting_portals_empties_rooms_but_keeps_those_others_still_bridge() -> Result<()> {
    let env = account::env("{}").await?;
    let (admin, alice) = (env.user("admin").await?, env.user("alice").await?);
    let admin_dm = logged_in(&env, &admin, "admin").await?;
    let alice_dm = logged_in(&env, &alice, "alice").await?;
    let g1 = open_chat(&admin, &admin_dm, "g1").await?;
    let g2 = open_chat(&alice, &alice_dm, "g2").await?;
    // The admin's login is in g2's chat too.
    assert_eq!(open_chat(&admin, &admin_dm, "g2").await?, g2);

    // Alice leaves all her chats' portals: g2 stays, the admin bridges it.
    alice.send_text(&alice_dm, "delete-all-portals").await?;
    alice
        .wait_for_text(&alice_dm, "Deleted 0 portal room(s); left 1")
        .await?;
    removed(&alice, &g2).await?;

    // A moderator deletes one portal: everyone is removed, and the chat
    // gets a new room when it is opened again.
    admin
        .send_text(&admin_dm, &format!("delete-portal {g1}"))
        .await?;
    admin.wait_for_text(&admin_dm, "Deleted the portal").await?;
    assert!(removed(&admin, &g1).await?.contains("portal was deleted"));
    assert_ne!(open_chat(&admin, &admin_dm, "g1").await?, g1);

    // Now only the admin bridges g2: deleting all portals deletes it.
    admin.send_text(&admin_dm, "delete-all-portals").await?;
    admin
        .wait_for_text(&admin_dm, "Deleted 2 portal room(s); left 0")
        .await?;
    removed(&admin, &g2).await?;
    Ok(())
}

/// The "remote server's" history of a chat: `count` messages from carol.
fn history(count: i64) -> Value {
    let messages: Vec<Value> = (1..=count)
        .map(|i| json!({ "id": format!("h{i}"), "sender": "carol", "text": format!("old {i}"), "timestamp": 1_700_000_000_000i64 + i * 1000 }))
        .collect();
    json!({ "portal": "g1", "messages": messages })
}

/// The history messages the room shows, in timeline order.
fn shown(user: &MatrixClient, room: &str) -> Vec<Value> {
    user.seen(room, |e| body(e).starts_with("old "))
}

#[tokio::test]
async fn history_arrives_in_order_when_a_room_is_made_and_catches_up_after_a_restart() -> Result<()>
{
    let mut env =
        account::env("{ backfill: { initial_messages: 3, catchup_messages: 100 } }").await?;
    let admin = env.user("admin").await?;
    let dm = logged_in(&env, &admin, "admin").await?;
    env.control("/remote/history", history(5)).await?;
    let room = open_chat(&admin, &dm, "g1").await?;
    admin.wait_for_text(&room, "old 5").await?;
    let bodies = |events: &[Value]| {
        events
            .iter()
            .map(|e| body(e).to_owned())
            .collect::<Vec<_>>()
    };
    let first = shown(&admin, &room);
    assert_eq!(bodies(&first), ["old 3", "old 4", "old 5"]);
    // Each keeps the time it was sent on the remote side.
    assert_eq!(first[0]["origin_server_ts"], 1_700_000_003_000i64);

    // Two more messages while the bridge was down; the login comes back.
    env.kill_bridge();
    env.start_bridge().await?;
    env.control("/remote/history", history(7)).await?;
    for state in ["TRANSIENT_DISCONNECT", "CONNECTED"] {
        env.control(
            "/remote/login-state",
            json!({ "login": "test-admin", "state": state }),
        )
        .await?;
    }
    admin.wait_for_text(&room, "old 7").await?;
    assert_eq!(
        bodies(&shown(&admin, &room)),
        ["old 3", "old 4", "old 5", "old 6", "old 7"]
    );
    Ok(())
}

/// The admin's login drops and comes back: its portals catch up.
async fn reconnect(env: &TestEnv) -> Result<()> {
    for state in ["TRANSIENT_DISCONNECT", "CONNECTED"] {
        env.control(
            "/remote/login-state",
            json!({ "login": "test-admin", "state": state }),
        )
        .await?;
    }
    Ok(())
}

#[tokio::test]
async fn history_queued_when_the_bridge_is_killed_arrives_once_in_order_even_when_pages_overlap(
) -> Result<()> {
    let mut env =
        account::env("{ backfill: { initial_messages: 3, catchup_messages: 100 } }").await?;
    let admin = env.user("admin").await?;
    let dm = logged_in(&env, &admin, "admin").await?;
    env.control("/remote/history", history(5)).await?;
    let room = open_chat(&admin, &dm, "g1").await?;
    admin.wait_for_text(&room, "old 5").await?;

    // The homeserver is down while the login catches up: the page waits in
    // the outbox, and the bridge is killed with all of it undelivered.
    env.synapse.stop();
    // From h3 on, and each page repeats the messages seen before.
    let mut overlapping = history(30);
    if let Some(messages) = overlapping["messages"].as_array_mut() {
        messages.drain(..2);
    }
    overlapping["overlapping"] = json!(true);
    env.control("/remote/history", overlapping.clone()).await?;
    reconnect(&env).await?;
    let deadline = std::time::Instant::now() + WAIT;
    while !env
        .log()
        .lines()
        .any(|l| l.contains("history queued") && l.contains("CatchUp"))
    {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no catch-up page");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    env.kill_bridge();
    env.synapse.restart()?;
    env.start_bridge().await?;
    // The remote side is the bridge's test network: it forgets its history
    // with the process. A second catch-up queues the same 28 again.
    env.control("/remote/history", overlapping).await?;
    reconnect(&env).await?;
    admin.wait_for_text(&room, "old 30").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    admin.sync_once(0).await?;
    let shown: Vec<String> = shown(&admin, &room)
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    let expected: Vec<String> = (3..=30).map(|i| format!("old {i}")).collect();
    assert_eq!(shown, expected, "each message once, in order");
    Ok(())
}

#[tokio::test]
async fn split_portals_give_each_login_its_own_room_for_a_group() -> Result<()> {
    let env = account::env("{ split_portals: true }").await?;
    let (admin, alice) = (env.user("admin").await?, env.user("alice").await?);
    let admin_dm = logged_in(&env, &admin, "admin").await?;
    let alice_dm = logged_in(&env, &alice, "alice").await?;
    let mine = open_chat(&admin, &admin_dm, "g1").await?;
    let hers = open_chat(&alice, &alice_dm, "g1").await?;
    assert_ne!(mine, hers);
    // Each room's messages go out through its own login.
    let sent = alice.send_text(&hers, "from alice").await?;
    env.wait_outbox(WAIT, |r| {
        r["event_id"] == sent.as_str() && r["login"] == "test-alice"
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn what_a_user_sends_from_their_phone_appears_as_their_own_account() -> Result<()> {
    let env =
        account::env("{ double_puppet: { as_token: double-puppet-token-for-tests } }").await?;
    let admin = env.user("admin").await?;
    let dm = logged_in(&env, &admin, "admin").await?;
    let room = open_chat(&admin, &dm, "g1").await?;
    env.control(
        "/remote/event",
        json!({ "portal": "g1", "kind": "message", "sender": "admin-phone", "own_login": "test-admin", "id": "p1", "text": "sent from my phone" }),
    )
    .await?;
    let shown = admin.wait_for_text(&room, "sent from my phone").await?;
    assert_eq!(shown["sender"], admin.user_id.as_str());
    // Someone else's message still comes from their ghost.
    env.control(
        "/remote/event",
        json!({ "portal": "g1", "kind": "message", "sender": "carol", "id": "c1", "text": "from carol" }),
    )
    .await?;
    let carol = admin.wait_for_text(&room, "from carol").await?;
    assert_eq!(carol["sender"], "@_testnet_carol:localhost");
    // The user's edit, reaction and removal from their phone are theirs too.
    let phone = |kind: &str, target: &str, text: &str| json!({ "portal": "g1", "kind": kind, "sender": "admin-phone", "own_login": "test-admin", "id": format!("{kind}-{target}"), "target": target, "text": text });
    env.control("/remote/event", phone("edit", "p1", "edited on my phone"))
        .await?;
    let edit = admin.wait_for_text(&room, "edited on my phone").await?;
    assert_eq!(edit["sender"], admin.user_id.as_str());
    env.control("/remote/event", phone("reaction", "c1", "👍"))
        .await?;
    let reaction = admin
        .wait_for(&room, WAIT, |e| e["type"] == "m.reaction")
        .await?;
    assert_eq!(reaction["sender"], admin.user_id.as_str());
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        carol["event_id"]
    );
    env.control("/remote/event", phone("delete", "p1", ""))
        .await?;
    let removal = admin
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == shown["event_id"]
        })
        .await?;
    assert_eq!(removal["sender"], admin.user_id.as_str());
    // None of it is bridged back to where it came from.
    let later = admin.send_text(&room, "typed in Matrix").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == later.as_str())
        .await?;
    let outbox = env.outbox();
    let echoed: Vec<&Value> = outbox
        .iter()
        .filter(|r| r["kind"] != "connect" && r["kind"] != "membership")
        .filter(|r| r["event_id"] != later.as_str())
        .collect();
    assert!(echoed.is_empty(), "{echoed:?}");
    Ok(())
}

#[tokio::test]
async fn contacts_and_chats_are_listed_searched_opened_and_synced() -> Result<()> {
    let env = account::env("{}").await?;
    let admin = env.user("admin").await?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_millis() as i64;
    let day = 86_400_000i64;
    env.control(
        "/remote/directory",
        json!({
            "contacts": [
                { "id": "carol", "name": "Carol", "phone": "+15550001", "avatar": "carol-face" },
                { "id": "dave", "name": "Dave", "phone": "+15550002" },
            ],
            "chats": [
                { "id": "fresh", "name": "Fresh group", "last_activity": now - day },
                { "id": "stale", "name": "Stale group", "last_activity": now - 30 * day },
            ],
        }),
    )
    .await?;
    // Logging in opens the rooms of the recently active chats at once.
    let dm = logged_in(&env, &admin, "admin").await?;
    let fresh = admin.wait_for_invite(WAIT).await?;
    admin.join(&fresh).await?;
    assert_eq!(
        admin.state(&fresh, "m.room.name", "").await?["name"],
        "Fresh group"
    );
    admin.send_text(&dm, "list contacts").await?;
    let listed = admin.wait_for_text(&dm, "Page 1 of 1").await?;
    assert!(body(&listed).contains("Carol") && body(&listed).contains("Dave"));
    admin.send_text(&dm, "search car").await?;
    let found = admin.wait_for_text(&dm, "Contacts matching").await?;
    assert!(body(&found).contains("Carol") && !body(&found).contains("Dave"));
    admin.send_text(&dm, "list groups").await?;
    admin.wait_for_text(&dm, "Stale group").await?;

    // pm: a DM with the contact's ghost.
    admin.send_text(&dm, "pm +15550001").await?;
    admin
        .wait_for_text(&dm, "Invited you to a private chat with Carol")
        .await?;
    let carol_dm = admin.wait_for_invite(WAIT).await?;
    admin.join(&carol_dm).await?;
    let members = admin.joined_members(&carol_dm).await?;
    assert!(
        members.iter().any(|m| m == "@_testnet_carol:localhost"),
        "{members:?}"
    );
    // The DM room looks like Carol: her name and her avatar.
    assert_eq!(
        admin.state(&carol_dm, "m.room.name", "").await?["name"],
        "Carol"
    );
    let info = admin
        .state(&carol_dm, "m.bridge", "causeway://testnet/carol")
        .await?;
    assert_eq!(info["com.beeper.room_type"], "dm", "{info}");
    assert_eq!(info["channel"]["receiver"], "test-admin", "{info}");
    let carol = admin.profile("@_testnet_carol:localhost").await?;
    assert!(carol["avatar_url"].is_string(), "{carol}");
    assert_eq!(
        admin.state(&carol_dm, "m.room.avatar", "").await?["url"],
        carol["avatar_url"]
    );
    admin.send_text(&dm, "pm +19999999").await?;
    admin.wait_for_text(&dm, "Nobody on Test has").await?;

    // sync: only chats active within a week get a room.
    admin.send_text(&dm, "sync").await?;
    admin
        .wait_for_text(&dm, "Synced: 1 chat(s) active in the last 7 days")
        .await?;
    admin.send_text(&dm, "open stale").await?;
    admin
        .wait_for_text(&dm, "Invited you to the room of `stale`")
        .await?;
    admin.send_text(&dm, "open nowhere").await?;
    admin
        .wait_for_text(&dm, "You have no chat `nowhere`")
        .await?;
    Ok(())
}
