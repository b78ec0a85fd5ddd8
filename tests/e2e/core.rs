//! The core end to end through a real Synapse, with the test network playing
//! the remote side.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::{body, MatrixClient};
use serde_json::json;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-testnet");
const WAIT: Duration = Duration::from_secs(30);

async fn env() -> Result<TestEnv> {
    TestEnv::start(std::path::Path::new(BIN), EnvOptions::default()).await
}

/// Opens a DM with the bot and waits for its welcome.
async fn management_room(env: &TestEnv, user: &MatrixClient) -> Result<String> {
    let room = user.create_dm(&env.bot()).await?;
    user.wait_for_text(&room, "management room").await?;
    Ok(room)
}

/// Creates a portal through the `create` command and joins it.
async fn portal(user: &MatrixClient, management: &str, chat: &str) -> Result<String> {
    user.send_text(management, &format!("create {chat}"))
        .await?;
    let room = user.wait_for_invite(WAIT).await?;
    user.join(&room).await?;
    Ok(room)
}

/// A bridge with Alice in the portal of `chat`, made through `create`.
async fn alice_in_portal(chat: &str) -> Result<(TestEnv, MatrixClient, String)> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let management = management_room(&env, &alice).await?;
    let room = portal(&alice, &management, chat).await?;
    Ok((env, alice, room))
}

#[tokio::test]
async fn a_dm_to_the_bot_gets_a_welcome_and_help_lists_the_commands() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = management_room(&env, &alice).await?;
    alice.send_text(&room, "help").await?;
    let help = alice.wait_for_text(&room, "`create <chat id>`").await?;
    assert!(body(&help).contains("`login [flow] [answer]`"), "{help}");
    // The user guide's name in help; the mautrix name still works.
    assert!(body(&help).contains("`bridgeversion`"), "{help}");
    alice.send_text(&room, "version").await?;
    alice.wait_for_text(&room, "Causeway Test bridge").await?;
    alice.send_text(&room, "frobnicate now").await?;
    alice
        .wait_for_text(&room, "Unknown command `frobnicate`")
        .await?;
    alice.send_text(&room, "create").await?;
    let usage = alice
        .wait_for_text(&room, "Usage: `create <chat id>`")
        .await?;
    assert!(body(&usage).contains("Say which chat"));
    Ok(())
}

#[tokio::test]
async fn users_without_permission_are_refused_politely() -> Result<()> {
    let env = env().await?;
    let stranger = env.user("stranger").await?;
    let room = stranger.create_dm(&env.bot()).await?;
    stranger
        .wait_for_text(&room, "not allowed to use this bridge")
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_login_asks_for_each_field_redacts_the_password_and_cancel_stops_it() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = management_room(&env, &alice).await?;

    alice.send_text(&room, "login password").await?;
    alice.wait_for_text(&room, "Send your username").await?;
    alice.send_text(&room, "cancel").await?;
    alice.wait_for_text(&room, "Login cancelled").await?;

    alice.send_text(&room, "login password").await?;
    alice.sync_once(0).await?;
    let prompts = |c: &MatrixClient| {
        c.seen(&room, |e| body(e).contains("Send your username"))
            .len()
    };
    let deadline = std::time::Instant::now() + WAIT;
    while prompts(&alice) < 2 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "no second username prompt"
        );
        alice.sync_once(500).await?;
    }
    alice.send_text(&room, "alice").await?;
    alice
        .wait_for_text(&room, "I will delete the message")
        .await?;
    let secret_event = alice.send_text(&room, "correct horse").await?;
    alice.wait_for_text(&room, "Logged in as alice").await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == secret_event.as_str()
                    || e["content"]["redacts"] == secret_event.as_str())
        })
        .await?;
    alice.send_text(&room, "list-logins").await?;
    alice.wait_for_text(&room, "`test-alice`: alice").await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "connect" && r["login"] == "test-alice"
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_qr_login_shows_an_image_refreshed_in_place() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = management_room(&env, &alice).await?;
    alice.send_text(&room, "login qr").await?;
    let image = alice
        .wait_for(&room, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    assert!(image["content"]["url"]
        .as_str()
        .unwrap_or_default()
        .starts_with("mxc://"));
    let original = image["event_id"].as_str().unwrap_or_default().to_owned();
    alice
        .wait_for(&room, WAIT, |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == original.as_str()
        })
        .await?;
    alice.wait_for_text(&room, "Logged in by QR code").await?;
    Ok(())
}

#[tokio::test]
async fn cancel_stops_a_qr_login_while_it_waits() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = management_room(&env, &alice).await?;
    alice.send_text(&room, "login qr").await?;
    alice
        .wait_for(&room, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    alice.send_text(&room, "cancel").await?;
    alice.wait_for_text(&room, "Login cancelled").await?;
    // The flow would have completed within a second; it must not now.
    tokio::time::sleep(Duration::from_secs(2)).await;
    alice.sync_once(0).await?;
    assert!(alice
        .seen(&room, |e| body(e).contains("Logged in by QR code"))
        .is_empty());
    alice.send_text(&room, "list-logins").await?;
    alice.wait_for_text(&room, "You have no logins").await?;
    Ok(())
}

#[tokio::test]
async fn messages_edits_redactions_and_reactions_flow_both_ways() -> Result<()> {
    let (env, alice, room) = alice_in_portal("general").await?;
    let bridge_info = alice
        .state(&room, "m.bridge", "causeway://testnet/general")
        .await?;
    assert_eq!(bridge_info["protocol"]["id"], "testnet");

    // Matrix → remote.
    let sent = alice.send_text(&room, "hello remote").await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "message" && r["event_id"] == sent.as_str() && r["body"] == "hello remote"
    })
    .await?;
    alice
        .send(&room, "m.room.message", json!({ "msgtype": "m.text", "body": "* hello again", "m.new_content": { "msgtype": "m.text", "body": "hello again" }, "m.relates_to": { "rel_type": "m.replace", "event_id": sent } }))
        .await?;
    let remote_id = format!("r{sent}");
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "edit" && r["target"] == remote_id.as_str() && r["body"] == "hello again"
    })
    .await?;
    let reaction = alice.send(&room, "m.reaction", json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": sent, "key": "👍" } })).await?;
    env.wait_outbox(WAIT, |r| r["kind"] == "reaction" && r["key"] == "👍")
        .await?;
    alice.redact(&room, &reaction).await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "redaction" && r["target"]["reaction"] == "👍"
    })
    .await?;
    alice.redact(&room, &sent).await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "redaction" && r["target"]["message"] == remote_id.as_str()
    })
    .await?;
    let refused = alice.send_text(&room, "this is undeliverable").await?;
    alice
        .wait_for_text(&room, "Your message was not bridged")
        .await?;
    assert!(!env
        .outbox()
        .iter()
        .any(|r| r["event_id"] == refused.as_str()));

    // Remote → Matrix.
    env.control("/remote/event", json!({ "portal": "general", "kind": "message", "sender": "bob", "id": "m1", "text": "hi from bob" })).await?;
    let from_bob = alice.wait_for_text(&room, "hi from bob").await?;
    assert_eq!(from_bob["sender"], "@_testnet_bob:localhost");
    let bob_event = from_bob["event_id"].as_str().unwrap_or_default().to_owned();
    env.control("/remote/event", json!({ "portal": "general", "kind": "message", "sender": "bob", "id": "m2", "text": "a reply", "reply_to": "m1" })).await?;
    let reply = alice.wait_for_text(&room, "a reply").await?;
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        bob_event.as_str()
    );
    env.control("/remote/event", json!({ "portal": "general", "kind": "edit", "sender": "bob", "id": "e1", "target": "m1", "text": "hi from bob, edited" })).await?;
    let edit = alice
        .wait_for(&room, WAIT, |e| {
            e["content"]["m.new_content"]["body"] == "hi from bob, edited"
        })
        .await?;
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        bob_event.as_str()
    );
    env.control("/remote/event", json!({ "portal": "general", "kind": "reaction", "sender": "bob", "target": "m1", "text": "🎉" })).await?;
    let remote_reaction = alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.reaction" && e["content"]["m.relates_to"]["key"] == "🎉"
        })
        .await?;
    env.control("/remote/event", json!({ "portal": "general", "kind": "unreact", "sender": "bob", "target": "m1", "text": "🎉" })).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == remote_reaction["event_id"]
        })
        .await?;
    env.control(
        "/remote/event",
        json!({ "portal": "general", "kind": "delete", "sender": "bob", "target": "m2" }),
    )
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == reply["event_id"]
        })
        .await?;
    // The ghost's profile comes from the remote side.
    assert_eq!(
        alice.profile("@_testnet_bob:localhost").await?["displayname"],
        "bob"
    );
    Ok(())
}

#[tokio::test]
async fn typing_read_receipts_and_membership_reach_the_network() -> Result<()> {
    let (env, alice, room) = alice_in_portal("presence").await?;
    let alice_id = alice.user_id.clone();
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "membership" && r["user"] == alice_id.as_str() && r["membership"] == "Join"
    })
    .await?;
    alice.typing(&room, true).await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "typing" && r["users"][0] == alice_id.as_str()
    })
    .await?;
    env.control("/remote/event", json!({ "portal": "presence", "kind": "message", "sender": "bob", "id": "seen-me", "text": "read this" })).await?;
    let from_bob = alice.wait_for_text(&room, "read this").await?;
    alice
        .read_receipt(&room, from_bob["event_id"].as_str().unwrap_or_default())
        .await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "receipt" && r["user"] == alice_id.as_str() && r["target"] == "seen-me"
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_alias_query_creates_a_portal_and_a_user_query_creates_a_ghost() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_testnet_lobby:localhost").await?;
    let info = alice
        .state(&room, "uk.half-shot.bridge", "causeway://testnet/lobby")
        .await?;
    assert_eq!(info["channel"]["id"], "lobby");
    assert!(alice
        .join("#_testnet_missing-chat:localhost")
        .await
        .is_err());

    // Inviting an unknown ghost makes the homeserver ask the bridge about it.
    let dm = alice
        .create_room(json!({ "is_direct": true, "preset": "trusted_private_chat" }))
        .await?;
    alice.invite(&dm, "@_testnet_carol:localhost").await?;
    alice
        .wait_for(&dm, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == "@_testnet_carol:localhost"
                && e["content"]["membership"] == "join"
        })
        .await?;
    assert_eq!(
        alice.profile("@_testnet_carol:localhost").await?["displayname"],
        "carol (Test)"
    );
    let hello = alice.send_text(&dm, "hello carol").await?;
    env.wait_outbox(WAIT, |r| {
        r["event_id"] == hello.as_str()
            && r["portal"]
                .as_str()
                .is_some_and(|p| p.starts_with("dm-carol"))
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn portals_in_v10_rooms_give_the_bot_its_power_explicitly() -> Result<()> {
    let env = TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            room_version: Some("10".into()),
            ..Default::default()
        },
    )
    .await?;
    let alice = env.user("alice").await?;
    let management = management_room(&env, &alice).await?;
    let room = portal(&alice, &management, "oldroom").await?;
    let levels = alice.state(&room, "m.room.power_levels", "").await?;
    assert_eq!(levels["users"][env.bot().as_str()], 100);
    env.control("/remote/event", json!({ "portal": "oldroom", "kind": "message", "sender": "bob", "id": "m1", "text": "v10 works" })).await?;
    alice.wait_for_text(&room, "v10 works").await?;
    Ok(())
}

#[tokio::test]
async fn a_remote_user_cannot_edit_or_remove_another_senders_message() -> Result<()> {
    let (env, alice, room) = alice_in_portal("mine").await?;
    let from_alice = alice.send_text(&room, "alice's words").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == from_alice.as_str())
        .await?;
    env.control("/remote/event", json!({ "portal": "mine", "kind": "message", "sender": "bob", "id": "b1", "text": "bob's words" })).await?;
    let from_bob = alice.wait_for_text(&room, "bob's words").await?;

    let alices_remote_id = format!("r{from_alice}");
    let attempts = [
        json!({ "portal": "mine", "kind": "delete", "sender": "carol", "target": "b1" }),
        json!({ "portal": "mine", "kind": "delete", "sender": "carol", "target": alices_remote_id }),
        json!({ "portal": "mine", "kind": "edit", "sender": "carol", "id": "c1", "target": "b1", "text": "carol's words" }),
    ];
    for attempt in attempts {
        let answer = env.control("/remote/event", attempt.clone()).await;
        let error = format!("{:#}", answer.expect_err("the attempt was bridged"));
        assert!(error.contains("refused a remote"), "{attempt}: {error}");
    }
    // Bob may remove his own; that redaction is the only one in the room.
    env.control(
        "/remote/event",
        json!({ "portal": "mine", "kind": "delete", "sender": "bob", "target": "b1" }),
    )
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == from_bob["event_id"]
        })
        .await?;
    let redactions = alice.seen(&room, |e| e["type"] == "m.room.redaction");
    assert_eq!(redactions.len(), 1, "{redactions:?}");
    assert!(alice
        .seen(&room, |e| e["content"]["m.new_content"]["body"]
            == "carol's words")
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn a_message_the_network_delivers_again_reaches_matrix_once() -> Result<()> {
    let (mut env, alice, room) = alice_in_portal("again").await?;
    // Each message twice, all at once: the portal handles them in batches,
    // a repeat in the same batch as the first or in a later one.
    async fn twice(env: &TestEnv) -> Result<()> {
        let sends = (0..20).map(|i| env.control("/remote/event", json!({ "portal": "again", "kind": "message", "sender": "bob", "id": format!("a{}", i % 10), "text": format!("again {}", i % 10) })));
        for sent in futures_util::future::join_all(sends).await {
            sent?;
        }
        Ok(())
    }
    twice(&env).await?;
    // And all again once they are on Matrix, after a homeserver restart:
    // the homeserver no longer knows the transaction IDs it has seen, so
    // only the bridge's mapping stops the repeats.
    env.synapse.restart()?;
    twice(&env).await?;
    env.control("/remote/event", json!({ "portal": "again", "kind": "message", "sender": "bob", "id": "last", "text": "the last" })).await?;
    alice.wait_for_text(&room, "the last").await?;
    let mut shown: Vec<String> = alice
        .history(&room, 100)
        .await?
        .iter()
        .map(|e| body(e).to_owned())
        .filter(|b| b.starts_with("again "))
        .collect();
    shown.sort();
    let expected: Vec<String> = (0..10).map(|i| format!("again {i}")).collect();
    assert_eq!(shown, expected, "each message once");
    Ok(())
}

#[tokio::test]
async fn a_reply_from_matrix_finds_a_message_its_busy_portal_has_not_recorded_yet() -> Result<()> {
    let (env, alice, room) = alice_in_portal("busy").await?;
    // A busy portal records what it delivered once a second: Alice replies
    // to the newest message of a burst as soon as she sees it, before its
    // portal has recorded it.
    let burst = futures_util::future::join_all((0..60).map(|i| env.control("/remote/event", json!({ "portal": "busy", "kind": "message", "sender": "bob", "id": format!("b{i}"), "text": format!("burst {i}") }))));
    let reply = async {
        loop {
            let newest = alice
                .history(&room, 5)
                .await?
                .into_iter()
                .rev()
                .find(|e| body(e).starts_with("burst "));
            if let Some(newest) = newest {
                let sent = alice.send(&room, "m.room.message", json!({ "msgtype": "m.text", "body": "to the newest", "m.relates_to": { "m.in_reply_to": { "event_id": newest["event_id"] } } })).await?;
                let remote_id = format!("b{}", &body(&newest)["burst ".len()..]);
                return anyhow::Ok((sent, remote_id));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let (delivered, replied) = futures_util::future::join(burst, reply).await;
    for sent in delivered {
        sent?;
    }
    let (reply, replied_to) = replied?;
    let bridged = env
        .wait_outbox(WAIT, |r| r["event_id"] == reply.as_str())
        .await?;
    assert_eq!(bridged["reply_to"], replied_to.as_str());
    Ok(())
}

#[tokio::test]
async fn portal_traffic_follows_permissions_and_relay_users_speak_through_the_bot() -> Result<()> {
    let (env, alice, room) = alice_in_portal("perms").await?;
    let (guest, stranger) = (env.user("guest").await?, env.user("stranger").await?);
    for visitor in [&guest, &stranger] {
        alice.invite(&room, &visitor.user_id).await?;
        visitor.join(&room).await?;
    }
    let from_alice = alice.send_text(&room, "from alice").await?;

    // `none`: nothing reaches the network; the room is told once.
    stranger.send_text(&room, "from stranger").await?;
    stranger.send_text(&room, "again from stranger").await?;
    alice
        .wait_for_text(&room, "is not allowed to use this bridge")
        .await?;
    // `relay`: the message goes out as the bot's, under the sender's name;
    // a reaction does not, and the room is told once.
    guest.send_text(&room, "from guest").await?;
    env.wait_outbox(WAIT, |r| {
        r["kind"] == "message" && r["body"] == "guest: from guest" && r["relayed"] == true
    })
    .await?;
    for key in ["👍", "🎉"] {
        guest.send(&room, "m.reaction", json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": from_alice, "key": key } })).await?;
    }
    alice
        .wait_for_text(&room, "messages reach Test through the bridge bot")
        .await?;
    let last = alice.send_text(&room, "last from alice").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == last.as_str())
        .await?;

    let (guest_id, stranger_id) = (guest.user_id.clone(), stranger.user_id.clone());
    let outbox = env.outbox();
    let leaked: Vec<_> = outbox
        .iter()
        .filter(|r| {
            r["kind"] == "reaction"
                || r["user"] == guest_id.as_str()
                || r["user"] == stranger_id.as_str()
                || r["sender"] == stranger_id.as_str()
        })
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    alice.sync_once(0).await?;
    for notice in [
        "is not allowed to use this bridge",
        "through the bridge bot",
    ] {
        let told = alice.seen(&room, |e| body(e).contains(notice));
        assert_eq!(told.len(), 1, "{notice}: {told:?}");
    }
    Ok(())
}

#[tokio::test]
async fn an_event_that_does_not_parse_is_skipped_and_the_room_goes_on() -> Result<()> {
    let (env, alice, room) = alice_in_portal("odd").await?;
    // A reaction to nothing: the homeserver takes it, the spec does not.
    let odd = alice
        .send(&room, "m.reaction", json!({ "note": "no relation" }))
        .await?;
    let next = alice.send_text(&room, "after the odd one").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == next.as_str())
        .await?;
    assert!(!env.outbox().iter().any(|r| r["event_id"] == odd.as_str()));
    let log = env.log();
    assert!(
        log.contains("skipping a Matrix event that does not parse") && log.contains(&odd),
        "{log}"
    );
    Ok(())
}
