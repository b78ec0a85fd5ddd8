//! The Telegram bridge end to end: real Synapse, the real grammers client
//! in the bridge, and the MTProto test server playing Telegram, with a
//! second grammers client as the person on the other side.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use common::*;
use grammers_client::update::Update;
use std::time::Duration;

mod common;

#[tokio::test]
async fn a_user_logs_in_with_code_and_password_and_chats_with_a_telegram_user() -> Result<()> {
    let (server, env) = setup().await?;
    let alice = env.user("alice").await?;
    let dm = alice.create_dm(&env.bot()).await?;
    says(&alice, &dm, "management room").await?;

    alice.send_text(&dm, "login").await?;
    says(&alice, &dm, "Send your phone number").await?;
    alice.send_text(&dm, "+1 555 000 1").await?;
    says(&alice, &dm, "Telegram sent you a login code").await?;
    // A wrong code is asked again; the right one leads to the password.
    alice.send_text(&dm, "00000").await?;
    says(&alice, &dm, "That code is wrong").await?;
    let code = server
        .sent_codes()
        .last()
        .map(|c| c.code.clone())
        .unwrap_or_default();
    alice.send_text(&dm, &code).await?;
    says(&alice, &dm, "two-step verification").await?;
    alice.send_text(&dm, "wrong password").await?;
    says(&alice, &dm, "That password is wrong").await?;
    alice.send_text(&dm, "hunter2").await?;
    says(&alice, &dm, "Logged in to Telegram as Alice (@alice)").await?;
    alice.send_text(&dm, "ping").await?;
    says(&alice, &dm, "CONNECTED").await?;

    // Bob writes from Telegram: Alice is invited to a DM with his ghost.
    let (bob, mut bob_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550002")).await??;
    let alice_tg = resolve(&bob, "alice").await?;
    bob.send_message(alice_tg, "hello from telegram").await?;
    let room = alice.wait_for_invite(WAIT).await?;
    alice.join(&room).await?;
    let got = says(&alice, &room, "hello from telegram").await?;
    let bob_id = server.user_id("15550002").unwrap_or_default();
    assert_eq!(got["sender"], format!("@telegram_{bob_id}:localhost"));

    // Alice answers from Matrix; Bob reads it in Telegram, once.
    alice.send_text(&room, "hello from matrix").await?;
    let answer = {
        let m = next_incoming(&mut bob_updates).await?;
        m.text().to_owned()
    };
    assert_eq!(answer, "hello from matrix");
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.sync_once(0).await?;
    assert_eq!(
        alice.seen(&room, |e| body(e) == "hello from matrix").len(),
        1,
        "not bridged back"
    );
    Ok(())
}

#[tokio::test]
async fn a_qr_login_completes_when_the_phone_scans_it_and_logout_ends_it() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login qr").await?;
    says(&bob, &dm, "Link Desktop Device").await?;
    bob.wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let deadline = std::time::Instant::now() + WAIT;
    while server.scan_qr_codes("15550002") == 0 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no code was shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    says(&bob, &dm, "Logged in to Telegram as Bob (@bob)").await?;
    bob.send_text(&dm, "logout").await?;
    says(&bob, &dm, "Logged out of").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "You have no logins").await?;
    Ok(())
}

/// Bob's session ends on Telegram's side (`end`, then a dropped
/// connection): the management room is told once, in words that contain
/// `told`. Returns the environment, Bob and his management room.
async fn session_ended_is_told_once(
    end: fn(&causeway_tg_testserver::TestServer, i64),
    told: &'static str,
) -> Result<(
    causeway_testkit::env::TestEnv,
    causeway_testkit::matrix_client::MatrixClient,
    String,
)> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, "+15550002").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "CONNECTED").await?;
    // The bridge meets it on its next call.
    end(&server, server.user_id("15550002").unwrap_or_default());
    server.drop_connections();
    says(&bob, &dm, told).await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.sync_once(0).await?;
    assert_eq!(
        bob.seen(&dm, |e| body(e).contains(told)).len(),
        1,
        "told once"
    );
    Ok((env, bob, dm))
}

#[tokio::test]
async fn a_session_terminated_on_telegram_is_told_once_and_ends_the_login() -> Result<()> {
    // Terminated from the phone.
    session_ended_is_told_once(|server, user| server.revoke_logins(user), "was logged out").await?;
    Ok(())
}

#[tokio::test]
async fn a_session_key_used_twice_is_told_once_and_ends_the_login() -> Result<()> {
    // Telegram voids a key seen from two places at once.
    let (_env, bob, dm) = session_ended_is_told_once(
        |server, user| server.duplicate_keys(user),
        "AUTH_KEY_DUPLICATED",
    )
    .await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "BAD_CREDENTIALS").await?;
    Ok(())
}

#[tokio::test]
async fn pm_reaches_a_number_that_is_no_contact_yet_and_it_becomes_one() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, "+15550002").await?;
    let (_carol_tg, mut carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;

    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "You have no contacts on Telegram").await?;
    bob.send_text(&dm, "pm +1 555 000 3").await?;
    says(&bob, &dm, "Invited you to a private chat with Carol").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    bob.send_text(&room, "hi carol, from matrix").await?;
    let got = {
        let m = next_incoming(&mut carol_updates).await?;
        m.text().to_owned()
    };
    assert_eq!(got, "hi carol, from matrix");

    // Carol is a contact now, and found by name.
    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "Carol").await?;
    bob.send_text(&dm, "search car").await?;
    says(&bob, &dm, "Contacts matching").await?;
    bob.send_text(&dm, "pm @nobody_here").await?;
    says(&bob, &dm, "Nobody on Telegram has").await?;
    Ok(())
}

#[tokio::test]
async fn a_new_login_gets_rooms_for_recent_chats_with_their_history_in_order() -> Result<()> {
    let (server, env) = setup().await?;
    let (carol, _carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;
    let bob_tg = resolve(&carol, "bob").await?;
    for text in ["earlier one", "earlier two"] {
        carol.send_message(bob_tg, text).await?;
    }
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, "+15550002").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "earlier two").await?;
    carol.send_message(bob_tg, "live three").await?;
    says(&bob, &room, "live three").await?;
    let texts: Vec<String> = bob
        .seen(&room, |e| e["type"] == "m.room.message")
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(texts, ["earlier one", "earlier two", "live three"]);
    Ok(())
}

#[tokio::test]
async fn edits_and_deletions_cross_both_ways() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;

    // Telegram to Matrix: an edit replaces, a deletion redacts.
    let sent = carol.send_message(bob_tg, "first draft").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let original = says(&bob, &room, "first draft").await?;
    carol.edit_message(bob_tg, sent.id(), "final text").await?;
    let edit = says(&bob, &room, "final text").await?;
    assert_eq!(
        edit["content"]["m.relates_to"]["event_id"],
        original["event_id"]
    );
    carol.delete_messages(bob_tg, &[sent.id()]).await?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.redaction" && e["redacts"] == original["event_id"]
    })
    .await?;

    // Matrix to Telegram.
    let mine = bob.send_text(&room, "matrix draft").await?;
    let on_telegram = {
        let m = next_incoming(&mut carol_updates).await?;
        m.id()
    };
    let replace = serde_json::json!({
        "msgtype": "m.text", "body": "* matrix final",
        "m.new_content": { "msgtype": "m.text", "body": "matrix final" },
        "m.relates_to": { "rel_type": "m.replace", "event_id": mine },
    });
    bob.send(&room, "m.room.message", replace).await?;
    let edited = tokio::time::timeout(WAIT, async {
        loop {
            if let Update::MessageEdited(m) = carol_updates.next().await? {
                return anyhow::Ok((m.id(), m.text().to_owned()));
            }
        }
    })
    .await??;
    assert_eq!(edited, (on_telegram, "matrix final".to_owned()));
    bob.redact(&room, &mine).await?;
    let removed = tokio::time::timeout(WAIT, async {
        loop {
            if let Update::MessageDeleted(d) = carol_updates.next().await? {
                if !d.messages().is_empty() {
                    return anyhow::Ok(d.messages().to_vec());
                }
            }
        }
    })
    .await??;
    assert_eq!(removed, [on_telegram]);
    Ok(())
}

#[tokio::test]
async fn typing_and_read_receipts_cross_both_ways() -> Result<()> {
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;
    let sent = carol.send_message(bob_tg, "read me").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let shown = says(&bob, &room, "read me").await?;
    let carol_ghost = ghost(&server, "15550003");

    // Carol types and reads on Telegram; Bob sees both in Matrix.
    carol
        .action(bob_tg)
        .oneshot(grammers_client::tl::enums::SendMessageAction::SendMessageTypingAction)
        .await?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.typing"
            && e["content"]["user_ids"]
                .as_array()
                .is_some_and(|u| u.iter().any(|u| u == carol_ghost.as_str()))
    })
    .await?;
    let mine = bob.send_text(&room, "did you read this?").await?;
    next_incoming(&mut carol_updates).await?;
    carol.mark_as_read(bob_tg).await?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.receipt" && e["content"][&mine]["m.read"][&carol_ghost].is_object()
    })
    .await?;

    // Bob types and reads in Matrix; Carol sees both on Telegram.
    bob.typing(&room, true).await?;
    bob.read_receipt(&room, shown["event_id"].as_str().unwrap_or_default())
        .await?;
    let bob_id = server.user_id("15550002").unwrap_or_default();
    let (mut typed, mut read) = (false, false);
    tokio::time::timeout(WAIT, async {
        while !(typed && read) {
            if let Update::Raw(raw) = carol_updates.next().await? {
                match &raw.raw {
                    grammers_client::tl::enums::Update::UserTyping(t) if t.user_id == bob_id => {
                        typed = true
                    }
                    grammers_client::tl::enums::Update::ReadHistoryOutbox(r)
                        if r.max_id >= sent.id() =>
                    {
                        read = true
                    }
                    _ => {}
                }
            }
        }
        anyhow::Ok(())
    })
    .await??;
    Ok(())
}

#[tokio::test]
async fn what_a_user_sends_from_their_phone_appears_as_them_through_double_puppeting() -> Result<()>
{
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol_with(
        "",
        Some("{ double_puppet: { as_token: double-puppet-token-for-tests } }"),
    )
    .await?;
    carol.send_message(bob_tg, "are you there?").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "are you there?").await?;

    // Bob answers from the Telegram app on his phone: it is his own
    // message in the room, sent as him, and not bridged back.
    let (bob_phone, _bob_phone_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550002")).await??;
    let carol_tg = resolve(&bob_phone, "carol").await?;
    bob_phone.send_message(carol_tg, "yes, on my phone").await?;
    let mine = says(&bob, &room, "yes, on my phone").await?;
    assert_eq!(mine["sender"], bob.user_id.as_str());
    assert_eq!(
        next_incoming(&mut carol_updates).await?.text(),
        "yes, on my phone"
    );
    let echo = tokio::time::timeout(Duration::from_secs(2), next_incoming(&mut carol_updates));
    assert!(echo.await.is_err(), "Carol got Bob's message twice");
    Ok(())
}

#[tokio::test]
async fn a_new_login_gets_rooms_only_for_its_most_recent_chats_up_to_the_limit() -> Result<()> {
    let (server, env) = setup_full("", Some("{ sync_create_limit: 1 }")).await?;
    let (carol, _carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;
    let bob_tg = resolve(&carol, "bob").await?;
    carol.send_message(bob_tg, "an older chat").await?;
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let group = channel(&carol, "Newer", "", false, vec![bob_tg]).await?;
    carol.send_message(group, "the newest chat").await?;

    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, "+15550002").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "the newest chat").await?;
    // Only one room: the older chat's comes when it is next active.
    assert!(
        bob.wait_for_invite(Duration::from_secs(3)).await.is_err(),
        "a second room was made"
    );
    carol.send_message(bob_tg, "the older chat again").await?;
    let older = bob.wait_for_invite(WAIT).await?;
    bob.join(&older).await?;
    says(&bob, &older, "the older chat again").await?;
    Ok(())
}

#[tokio::test]
async fn the_bridge_reaches_telegram_through_a_socks5_proxy() -> Result<()> {
    let relayed = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let proxy = socks5_proxy(relayed.clone()).await?;
    let BobAndCarol {
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol_with(&format!("proxy: 'socks5://127.0.0.1:{proxy}'"), None).await?;
    carol.send_message(bob_tg, "through the proxy").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "through the proxy").await?;
    bob.send_text(&room, "and back").await?;
    assert_eq!(next_incoming(&mut carol_updates).await?.text(), "and back");
    // The login flow's connection and the login's own, at least.
    assert!(relayed.load(std::sync::atomic::Ordering::Relaxed) >= 2);
    Ok(())
}
