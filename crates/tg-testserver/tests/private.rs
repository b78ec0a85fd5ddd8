//! Everything but plain text in a private chat, both ways, with two real
//! grammers clients: entities, edits, deletions, reactions, read receipts,
//! typing, and catching up after being away.

use anyhow::Result;
use common::*;
use grammers_client::message::InputMessage;
use grammers_client::sender::UpdatesConfiguration;
use grammers_client::tl;
use grammers_client::update::Update;

mod common;

#[tokio::test]
async fn entities_edits_deletions_reactions_reads_and_typing_cross_both_ways() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let mut alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut alice_updates = updates_of(&mut alice).await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let to_bob = peer(&alice, "bob").await?;
    let to_alice = peer(&bob, "alice").await?;

    // Formatting arrives as entities.
    let sent = bounded(
        "send",
        alice.client.send_message(
            to_bob,
            InputMessage::new()
                .text("hello bold world")
                .fmt_entities(vec![tl::enums::MessageEntity::Bold(
                    tl::types::MessageEntityBold {
                        offset: 6,
                        length: 4,
                    },
                )]),
        ),
    )
    .await??;
    let got = next_matching(&mut bob_updates, |u| match u {
        Update::NewMessage(m) if !m.outgoing() => Some(m.clone()),
        _ => None,
    })
    .await?;
    assert_eq!(got.text(), "hello bold world");
    assert!(
        matches!(got.fmt_entities().map(Vec::as_slice), Some([tl::enums::MessageEntity::Bold(b)]) if b.offset == 6 && b.length == 4),
        "{:?}",
        got.fmt_entities()
    );

    // An edit reaches the other side under its own message ID there.
    bounded(
        "edit",
        alice.client.edit_message(to_bob, sent.id(), "hello again"),
    )
    .await??;
    let edited = next_matching(&mut bob_updates, |u| match u {
        Update::MessageEdited(m) => Some(m.clone()),
        _ => None,
    })
    .await?;
    assert_eq!((edited.id(), edited.text()), (got.id(), "hello again"));

    // Bob reacts, reads and types; Alice sees each.
    bounded("react", bob.client.send_reactions(to_alice, got.id(), "👍")).await??;
    let reacted = next_matching(&mut alice_updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::MessageReactions(r) => Some(r.clone()),
            _ => None,
        },
        _ => None,
    })
    .await?;
    assert_eq!(reacted.msg_id, sent.id());
    let tl::enums::MessageReactions::Reactions(reactions) = reacted.reactions;
    assert!(
        matches!(&reactions.results[..], [tl::enums::ReactionCount::Count(c)] if c.count == 1 && c.reaction == tl::enums::Reaction::Emoji(tl::types::ReactionEmoji { emoticon: "👍".into() }))
    );

    bounded("read", bob.client.mark_as_read(to_alice)).await??;
    let read = next_matching(&mut alice_updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::ReadHistoryOutbox(r) => Some(r.max_id),
            _ => None,
        },
        _ => None,
    })
    .await?;
    assert_eq!(read, sent.id());

    bounded(
        "typing",
        bob.client
            .action(to_alice)
            .oneshot(tl::enums::SendMessageAction::SendMessageTypingAction),
    )
    .await??;
    let typing = next_matching(&mut alice_updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::UserTyping(t) => Some(t.user_id),
            _ => None,
        },
        _ => None,
    })
    .await?;
    assert_eq!(Some(typing), server.user_id("15550002"));

    // Deleted for both: Bob's copy goes under its own ID.
    bounded("delete", alice.client.delete_messages(to_bob, &[sent.id()])).await??;
    let deleted = next_matching(&mut bob_updates, |u| match u {
        // grammers feeds its own affectedMessages results in as empty
        // deletions, to keep its pts.
        Update::MessageDeleted(d) if !d.messages().is_empty() => Some(d.messages().to_vec()),
        _ => None,
    })
    .await?;
    assert_eq!(deleted, [got.id()]);
    Ok(())
}

#[tokio::test]
async fn a_client_started_again_catches_up_with_what_was_sent_meanwhile() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let to_bob = peer(&alice, "bob").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    bounded("send", alice.client.send_message(to_bob, "before")).await??;
    assert_eq!(next_texts(&mut bob_updates, 1).await?, ["before"]);
    bounded("sync", bob_updates.sync_update_state())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(bob_updates);
    drop(bob);

    bounded("send", alice.client.send_message(to_bob, "while away 1")).await??;
    bounded("send", alice.client.send_message(to_bob, "while away 2")).await??;

    // A new client on the stored session, catching up.
    let mut bob = connect(db.session("tg-bob").await?);
    let updates = bob.updates.take().expect("updates");
    let mut bob_updates = bounded(
        "stream",
        bob.client
            .stream_updates(updates, UpdatesConfiguration { catch_up: true }),
    )
    .await?
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    assert_eq!(
        next_texts(&mut bob_updates, 2).await?,
        ["while away 1", "while away 2"]
    );
    Ok(())
}
