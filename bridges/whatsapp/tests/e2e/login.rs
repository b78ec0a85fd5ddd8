//! Linking the bridge: by pairing code, and giving up at every step.

use crate::common::*;
use anyhow::Result;

#[tokio::test]
async fn login_phone_gives_a_pairing_code_that_links_the_bridge() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login phone +1 555 0100").await?;
    let shown = says(&bob, &dm, "Link with phone number instead").await?;
    let body = shown["content"]["body"].as_str().unwrap_or_default();
    let code = body.split('`').nth(1).unwrap_or_default().to_owned();
    assert_eq!(code.len(), 8, "a pairing code in {body:?}");
    server.enter_pair_code(BOB, &code)?;
    says(&bob, &dm, "Logged in as +15550100 (Bob)").await?;
    Ok(())
}

#[tokio::test]
async fn a_bad_number_is_asked_again_and_cancel_ends_the_login() -> Result<()> {
    let (_server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login phone").await?;
    says(&bob, &dm, "Send your phone number").await?;
    bob.send_text(&dm, "5550100").await?;
    says(&bob, &dm, "is not a phone number in international format").await?;
    bob.send_text(&dm, "cancel").await?;
    says(&bob, &dm, "cancelled").await?;
    // The QR flow can be cancelled while its code is shown.
    bob.send_text(&dm, "login").await?;
    bob.wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    bob.send_text(&dm, "cancel").await?;
    bob.wait_for(&dm, WAIT, |e| {
        e["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("cancelled"))
            && e["sender"] == env.bot().as_str()
    })
    .await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "You have no logins").await?;
    Ok(())
}

#[tokio::test]
async fn logout_unlinks_the_device_and_delete_session_keeps_it_linked() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    let linked = server.devices_of(BOB).len();
    bob.send_text(&dm, "logout").await?;
    says(&bob, &dm, "Logged out of").await?;
    assert_eq!(
        server.devices_of(BOB).len(),
        linked - 1,
        "the device is unlinked"
    );

    let carol = env.user("carol").await?;
    let carol_dm = logged_in(&server, &env, &carol, BOB).await?;
    let linked = server.devices_of(BOB).len();
    carol.send_text(&carol_dm, "delete-session").await?;
    says(&carol, &carol_dm, "Forgot").await?;
    carol.send_text(&carol_dm, "ping").await?;
    says(&carol, &carol_dm, "You have no logins").await?;
    assert_eq!(
        server.devices_of(BOB).len(),
        linked,
        "still linked on WhatsApp"
    );
    // The forgotten login's client is stopped: a message to the account
    // opens no room for Carol.
    server.phone_sends_text(ADA, BOB, "anyone there?")?;
    assert!(
        carol
            .wait_for_invite(std::time::Duration::from_secs(3))
            .await
            .is_err(),
        "no room for a forgotten login"
    );
    Ok(())
}

#[tokio::test]
async fn a_rotated_qr_code_replaces_the_last_and_running_out_says_how_to_retry() -> Result<()> {
    let (server, env) = setup().await?;
    // Two codes: whatsapp-rust shows the first for 60 s, the second for 20.
    server.set_qr_refs(2);
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login").await?;
    let first = bob
        .wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let first_id = first["event_id"].as_str().unwrap_or_default().to_owned();
    let first_code = first["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let replaced = bob
        .wait_for(&dm, std::time::Duration::from_secs(75), |e| {
            e["content"]["m.relates_to"]["rel_type"] == "m.replace"
                && e["content"]["m.relates_to"]["event_id"] == first_id.as_str()
        })
        .await?;
    let second_code = replaced["content"]["m.new_content"]["body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        !second_code.is_empty() && second_code != first_code,
        "a new code"
    );
    bob.wait_for(&dm, std::time::Duration::from_secs(40), |e| {
        e["content"]["body"]
            .as_str()
            .is_some_and(|b| b.contains("expired before it was scanned") && b.contains("login"))
    })
    .await?;
    Ok(())
}
