//! What the phone sends a new device, and what a restart keeps.

use crate::common::*;
use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_wa_testserver::{HistoryChat, HistoryMessage};
use std::time::Duration;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

#[tokio::test]
async fn recent_chats_from_the_phone_get_rooms_with_their_history_in_order() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    let device = server
        .devices_of(BOB)
        .into_iter()
        .find(|d| *d != 0)
        .expect("the bridge's device is linked");
    let message = |id: &str, from_me, text: &str, ago| HistoryMessage {
        id: id.into(),
        from_me,
        participant: None,
        text: text.into(),
        timestamp: now() - ago,
    };
    let recent = HistoryChat {
        jid: format!("{ADA}@s.whatsapp.net"),
        name: Some("Ada".into()),
        messages: vec![
            message("3EB0A1", false, "are you there?", 120),
            message("3EB0A2", true, "yes, *here*", 60),
        ],
    };
    let old = HistoryChat {
        jid: format!("{GRACE}@s.whatsapp.net"),
        name: Some("Grace".into()),
        messages: vec![message("3EB0G1", false, "last month", 30 * 86_400)],
    };
    server.send_history(BOB, device, &[recent, old])?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "yes, *here*").await?;
    bob.sync_once(0).await?;
    let texts: Vec<String> = bob
        .seen(&room, |e| e["type"] == "m.room.message")
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(texts, ["are you there?", "yes, *here*"]);
    let own = bob.seen(&room, |e| body(e) == "yes, *here*");
    assert_eq!(own[0]["sender"], ghost(BOB));
    // The month-old chat waits for a message; `list contacts` knows it.
    tokio::time::sleep(Duration::from_secs(1)).await;
    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "Grace").await?;
    Ok(())
}

#[tokio::test]
async fn a_killed_bridge_comes_back_linked_and_delivers_what_came_meanwhile_once() -> Result<()> {
    let (server, mut env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    server.phone_sends_text(ADA, BOB, "before the crash")?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "before the crash").await?;

    env.kill_bridge();
    for n in 1..=3 {
        server.phone_sends_text(ADA, BOB, &format!("while down {n}"))?;
    }
    env.start_bridge().await?;
    says(&bob, &room, "while down 3").await?;
    bob.send_text(&room, "after the restart").await?;
    says(&bob, &room, "Ada here. You said: after the restart").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    bob.sync_once(0).await?;
    let texts: Vec<String> = bob
        .seen(&room, |e| body(e).starts_with("while down"))
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(texts, ["while down 1", "while down 2", "while down 3"]);
    // The session was restored: no second QR code.
    assert_eq!(
        bob.seen(&dm, |e| e["content"]["msgtype"] == "m.image")
            .len(),
        1
    );
    Ok(())
}
