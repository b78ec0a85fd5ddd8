//! The WhatsApp bridge end to end: real Synapse, the real whatsapp-rust
//! client in the bridge, and the WhatsApp test server playing WhatsApp,
//! with scripted contacts whose phones read and answer.

use crate::common::*;
use anyhow::Result;
use causeway_testkit::matrix_client::body;
use std::time::Duration;

#[tokio::test]
async fn a_user_links_by_qr_code_and_chats_with_a_whatsapp_contact_both_ways() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login").await?;
    says(&bob, &dm, "Linked devices").await?;
    // The QR code is an image whose body is the code itself.
    let qr = bob
        .wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let code = qr["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server.scan_qr(&code, BOB)?;
    says(&bob, &dm, "Logged in as +15550100 (Bob)").await?;
    // Once used, the code is taken out of the room.
    let qr_id = qr["event_id"].as_str().unwrap_or_default().to_owned();
    bob.wait_for(&dm, WAIT, |e| {
        e["type"] == "m.room.redaction" && e["redacts"] == qr_id.as_str()
    })
    .await?;

    // Ada writes from WhatsApp: Bob is invited to a DM with her ghost.
    server.phone_sends_text(ADA, BOB, "hello *from* whatsapp")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let got = says(&bob, &room, "hello *from* whatsapp").await?;
    assert_eq!(got["sender"], ghost(ADA));
    assert_eq!(
        got["content"]["formatted_body"],
        "hello <strong>from</strong> whatsapp"
    );

    // Bob answers from Matrix; Ada's phone reads it and answers back.
    bob.send_text(&room, "hi Ada").await?;
    says(&bob, &room, "Ada here. You said: hi Ada").await?;

    // What Bob types on his phone shows in the room as him.
    server.phone_sends_text(BOB, ADA, "sent from my phone")?;
    let own = says(&bob, &room, "sent from my phone").await?;
    assert_eq!(own["sender"], ghost(BOB));
    tokio::time::sleep(Duration::from_secs(1)).await;
    bob.sync_once(0).await?;
    assert_eq!(
        bob.seen(&room, |e| body(e) == "hi Ada").len(),
        1,
        "Bob's message is not bridged back"
    );
    Ok(())
}

#[tokio::test]
async fn pm_opens_a_dm_and_refuses_numbers_not_on_whatsapp() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    bob.send_text(&dm, "pm +15559999").await?;
    says(&bob, &dm, "Nobody on WhatsApp has `+15559999`").await?;
    bob.send_text(&dm, "pm +1 555 0102").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    bob.send_text(&room, "are you there?").await?;
    says(&bob, &room, "Grace here. You said: are you there?").await?;
    Ok(())
}

#[tokio::test]
async fn unlinking_from_the_phone_is_told_in_the_management_room() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "CONNECTED").await?;
    let device = server
        .devices_of(BOB)
        .into_iter()
        .find(|d| *d != 0)
        .expect("the bridge's device is linked");
    server.unlink(BOB, device)?;
    says(&bob, &dm, "logged this device out").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "LOGGED_OUT").await?;
    // After a restart the login stays out, and says so, rather than start
    // linking a new device unasked.
    let mut env = env;
    env.kill_bridge();
    env.start_bridge().await?;
    says(&bob, &dm, "no longer linked to the phone").await?;
    Ok(())
}

#[tokio::test]
async fn the_guide_story_from_help_to_delete_all_portals() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "help").await?;
    says(&bob, &dm, "`login [flow] [answer]`").await?;
    bob.send_text(&dm, "login").await?;
    let qr = bob
        .wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    server.scan_qr(qr["content"]["body"].as_str().unwrap_or_default(), BOB)?;
    says(&bob, &dm, "Logged in as +15550100 (Bob)").await?;

    server.phone_sends_text(ADA, BOB, "hello")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hello").await?;
    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "Ada (`+15550101`)").await?;
    bob.send_text(&dm, "sync").await?;
    says(&bob, &dm, "Synced").await?;
    bob.send_text(&dm, "delete-all-portals").await?;
    says(&bob, &dm, "Deleted 1 portal room(s)").await?;
    // The bridge has left the room: it is no portal any more.
    let bot = env.bot();
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.member"
            && e["state_key"] == bot.as_str()
            && e["content"]["membership"] == "leave"
    })
    .await?;
    // The chat itself goes on: Ada's next message opens a new room.
    server.phone_sends_text(ADA, BOB, "still there?")?;
    let again = bob.wait_for_invite(WAIT).await?;
    assert_ne!(again, room);
    Ok(())
}
