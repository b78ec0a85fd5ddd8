//! Bad input from Matrix, as an attacker or a careless client sends it: a
//! huge message, HTML with a script, and content no WhatsApp message fits.

use crate::common::*;
use anyhow::Result;
use whatsapp_rust::Jid;

const CAROL: &str = "15550103";

#[tokio::test]
async fn huge_and_hostile_messages_arrive_whole_and_harmless() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;
    carol
        .client()
        .send_text(Jid::pn(BOB), "hi")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hi").await?;

    // As large as a Matrix event may be: it arrives whole.
    let huge = "0123456789".repeat(6_000);
    bob.send_text(&room, &huge).await?;
    assert_eq!(next_text(&mut carol_events).await?, huge);

    // A script is no text at all; the rest keeps its formatting.
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.text",
            "body": "hello",
            "format": "org.matrix.custom.html",
            "formatted_body": "<script>alert(1)</script><b>hello</b> <img src=x onerror=alert(2)>",
        }),
    )
    .await?;
    assert_eq!(next_text(&mut carol_events).await?, "*hello*");

    // A message kind WhatsApp has no form for is refused in the room.
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({ "msgtype": "m.file", "body": "x", "url": "mxc://elsewhere.example/abc" }),
    )
    .await?;
    says(&bob, &room, "could not be fetched").await?;
    Ok(())
}
