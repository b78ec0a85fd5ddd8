//! What WhatsApp can do to a connection, told to the user: a dropped
//! socket (the bridge reconnects by itself), a replaced stream, a
//! temporary ban, and a message that cannot be decrypted.

use crate::common::*;
use anyhow::Result;
use std::time::Duration;

fn bridge_device(server: &causeway_wa_testserver::WaTestServer) -> u32 {
    server
        .devices_of(BOB)
        .into_iter()
        .find(|d| *d != 0)
        .expect("the bridge's device is linked")
}

#[tokio::test]
async fn a_dropped_connection_comes_back_and_what_came_meanwhile_arrives() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.drop_connections(BOB);
    server.phone_sends_text(ADA, BOB, "did you miss me?")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "did you miss me?").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "CONNECTED").await?;
    Ok(())
}

#[tokio::test]
async fn a_replaced_stream_is_told_in_the_management_room() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.replace_stream(BOB, bridge_device(&server));
    says(&bob, &dm, "stream replaced").await?;
    Ok(())
}

#[tokio::test]
async fn a_temporary_ban_is_told_with_its_length() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.ban(BOB, 3600);
    says(
        &bob,
        &dm,
        "banned this account from linked devices for 60 minutes",
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn an_undecryptable_message_shows_a_placeholder() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;
    server.send_undecryptable(ADA, BOB)?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let placeholder = says(&bob, &room, "Waiting for this message").await?;
    assert_eq!(placeholder["sender"], ghost(ADA));
    // The chat goes on: a later message arrives as usual.
    tokio::time::sleep(Duration::from_millis(200)).await;
    server.phone_sends_text(ADA, BOB, "and this one?")?;
    says(&bob, &room, "and this one?").await?;
    Ok(())
}

#[tokio::test]
async fn the_bridge_reconnects_after_a_server_restart() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.phone_sends_text(ADA, BOB, "before")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "before").await?;

    server.restart(Duration::from_secs(2)).await?;
    server.phone_sends_text(ADA, BOB, "after the restart")?;
    says(&bob, &room, "after the restart").await?;
    bob.send_text(&room, "still here").await?;
    says(&bob, &room, "Ada here. You said: still here").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "CONNECTED").await?;
    Ok(())
}

#[tokio::test]
async fn an_outdated_client_is_told_to_update_the_bridge() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.refuse_outdated_clients();
    says(&bob, &dm, "outdated: update the bridge").await?;
    Ok(())
}
