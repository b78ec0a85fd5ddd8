//! Reactions through the Telegram bridge, both ways, with Telegram's rule
//! that an account has one reaction per message and only allowed emoji.

use anyhow::Result;
use common::*;
use grammers_client::tl;
use grammers_client::update::Update;
use serde_json::json;

mod common;

/// Waits for a reactions update in which `user_id`'s emoji on the message
/// are `wanted` (the user's own reactions come as updates too).
async fn reactions_become(
    updates: &mut grammers_client::client::UpdateStream,
    user_id: i64,
    wanted: &[&str],
) -> Result<()> {
    tokio::time::timeout(WAIT, async {
        loop {
            let Update::Raw(raw) = updates.next().await? else {
                continue;
            };
            let tl::enums::Update::MessageReactions(update) = &raw.raw else {
                continue;
            };
            let tl::enums::MessageReactions::Reactions(reactions) = &update.reactions;
            let emoji = reactions
                .recent_reactions
                .iter()
                .flatten()
                .filter_map(|r| {
                    let tl::enums::MessagePeerReaction::Reaction(r) = r;
                    match (&r.peer_id, &r.reaction) {
                        (tl::enums::Peer::User(u), tl::enums::Reaction::Emoji(e))
                            if u.user_id == user_id =>
                        {
                            Some(e.emoticon.clone())
                        }
                        _ => None,
                    }
                })
                .collect::<Vec<String>>();
            if emoji == wanted {
                return anyhow::Ok(());
            }
        }
    })
    .await?
}

#[tokio::test]
async fn reactions_cross_both_ways_and_a_refused_emoji_is_explained() -> Result<()> {
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;
    let sent = carol.send_message(bob_tg, "react to this").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let shown = says(&bob, &room, "react to this").await?;
    let carol_ghost = ghost(&server, "15550003");
    let reaction_of = |key: &'static str| {
        let (ghost, target) = (carol_ghost.clone(), shown["event_id"].clone());
        move |e: &serde_json::Value| {
            e["type"] == "m.reaction"
                && e["sender"] == ghost.as_str()
                && e["content"]["m.relates_to"]["event_id"] == target
                && e["content"]["m.relates_to"]["key"] == key
        }
    };

    // Carol reacts on Telegram, then changes her mind: the room follows.
    carol.send_reactions(bob_tg, sent.id(), "👍").await?;
    let thumbs = bob.wait_for(&room, WAIT, reaction_of("👍")).await?;
    carol.send_reactions(bob_tg, sent.id(), "❤").await?;
    bob.wait_for(&room, WAIT, reaction_of("❤\u{fe0f}")).await?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.redaction" && e["redacts"] == thumbs["event_id"]
    })
    .await?;

    // Bob reacts in Matrix; Carol sees it, and sees it taken back.
    let bob_id = server.user_id("15550002").unwrap_or_default();
    let reaction = bob
        .send(
            &room,
            "m.reaction",
            json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": shown["event_id"], "key": "🔥" } }),
        )
        .await?;
    reactions_become(&mut carol_updates, bob_id, &["🔥"]).await?;
    bob.redact(&room, &reaction).await?;
    reactions_become(&mut carol_updates, bob_id, &[]).await?;

    // An emoji Telegram does not take is refused in the room, not lost.
    bob.send(
        &room,
        "m.reaction",
        json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": shown["event_id"], "key": "🦆" } }),
    )
    .await?;
    says(&bob, &room, "Telegram does not allow the reaction 🦆").await?;
    Ok(())
}
