//! Linking the bridge: by pairing code, and giving up at every step.

use anyhow::Result;
use common::*;

mod common;

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
