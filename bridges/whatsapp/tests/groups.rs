//! WhatsApp groups: listed, opened as rooms with their members, and
//! messages both ways with someone on their own WhatsApp client.

use anyhow::Result;
use common::*;

mod common;

const CAROL: &str = "15550103";

#[tokio::test]
async fn a_group_is_listed_opened_with_its_members_and_chats_both_ways() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let group = server.create_group(CAROL, "Lounge", &[BOB, ADA]);
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;

    bob.send_text(&dm, "list groups").await?;
    says(&bob, &dm, &group).await?;
    bob.send_text(&dm, &format!("open {group}")).await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    // The room is the group: its name, and Ada and Carol as ghosts, Carol,
    // who made it, an admin.
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.name" && e["content"]["name"] == "Lounge"
    })
    .await?;
    for member in [ADA, CAROL] {
        bob.wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member" && e["state_key"] == ghost(member).as_str()
        })
        .await?;
    }

    let carol_ghost = ghost(CAROL);
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.power_levels" && e["content"]["users"][carol_ghost.as_str()] == 50
    })
    .await?;

    // Carol writes in the group from her phone; Bob reads it in the room.
    let group_jid: whatsapp_rust::Jid = group.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    carol
        .client()
        .send_text(group_jid, "hello group")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let got = says(&bob, &room, "hello group").await?;
    assert_eq!(got["sender"], ghost(CAROL));

    // Bob answers from Matrix; Carol's client gets it.
    bob.send_text(&room, "hi Carol, from _Matrix_").await?;
    assert_eq!(
        next_text(&mut carol_events).await?,
        "hi Carol, from _Matrix_"
    );
    Ok(())
}
