//! Supergroups and broadcast channels with real grammers clients: one
//! message list per channel, its own pts, and getChannelDifference.

use anyhow::Result;
use common::*;
use grammers_client::tl;
use grammers_client::update::Update;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};

mod common;

/// Creates a channel as `client`; returns its input and its reference.
async fn create(
    client: &TestClient,
    title: &str,
    broadcast: bool,
) -> Result<(tl::enums::InputChannel, PeerRef)> {
    let request = tl::functions::channels::CreateChannel {
        broadcast,
        megagroup: !broadcast,
        for_import: false,
        forum: false,
        title: title.into(),
        about: String::new(),
        geo_point: None,
        address: None,
        ttl_period: None,
    };
    let tl::enums::Updates::Updates(updates) =
        bounded("createChannel", client.client.invoke(&request)).await??
    else {
        anyhow::bail!("no updates");
    };
    let (id, hash) = updates
        .chats
        .iter()
        .find_map(|c| match c {
            tl::enums::Chat::Channel(c) if c.title == title => {
                Some((c.id, c.access_hash.unwrap_or_default()))
            }
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("the channel is not in the answer"))?;
    let input = tl::enums::InputChannel::Channel(tl::types::InputChannel {
        channel_id: id,
        access_hash: hash,
    });
    let peer = PeerRef {
        id: PeerId::channel(id).expect("a channel ID"),
        auth: PeerAuth::from_hash(hash),
    };
    Ok((input, peer))
}

async fn next_text(updates: &mut grammers_client::client::UpdateStream) -> Result<(String, bool)> {
    loop {
        if let Update::NewMessage(m) = bounded("update", updates.next()).await?? {
            return Ok((m.text().to_owned(), m.outgoing()));
        }
    }
}

#[tokio::test]
async fn a_supergroup_carries_messages_both_ways_and_heals_its_own_gap() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let (input, group) = create(&alice, "Big group", false).await?;
    let bob_ref = peer(&alice, "bob").await?;
    let invite = tl::functions::channels::InviteToChannel {
        channel: input,
        users: vec![tl::enums::InputUser::User(tl::types::InputUser {
            user_id: bob_ref.id.bare_id().unwrap_or_default(),
            access_hash: bob_ref.auth.hash(),
        })],
    };
    bounded("invite", alice.client.invoke(&invite)).await??;

    bounded("send", alice.client.send_message(group, "welcome")).await??;
    assert_eq!(
        next_text(&mut bob_updates).await?,
        ("welcome".into(), false)
    );
    bounded("send", bob.client.send_message(group, "thanks")).await??;

    // Two posts are never pushed; the third shows the channel's gap.
    server.withhold_pushes(true);
    bounded("send", alice.client.send_message(group, "two")).await??;
    bounded("send", alice.client.send_message(group, "three")).await??;
    server.withhold_pushes(false);
    bounded("send", alice.client.send_message(group, "four")).await??;
    let mut seen = Vec::new();
    while seen.len() < 3 {
        let (text, outgoing) = next_text(&mut bob_updates).await?;
        if !outgoing {
            seen.push(text);
        }
    }
    assert_eq!(seen, ["two", "three", "four"]);

    let mut history = bob.client.iter_messages(group);
    let mut texts = Vec::new();
    while let Some(message) = bounded("history", history.next()).await?? {
        texts.push(message.text().to_owned());
    }
    assert_eq!(texts, ["four", "three", "two", "thanks", "welcome"]);
    Ok(())
}

#[tokio::test]
async fn a_channel_post_reaches_a_subscriber_who_cannot_post() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let (input, channel) = create(&alice, "News", true).await?;
    bounded(
        "join",
        bob.client
            .invoke(&tl::functions::channels::JoinChannel { channel: input }),
    )
    .await??;

    bounded("post", alice.client.send_message(channel, "breaking news")).await??;
    assert_eq!(
        next_text(&mut bob_updates).await?,
        ("breaking news".into(), false)
    );
    let refused = bounded("post", bob.client.send_message(channel, "me too")).await?;
    assert!(
        matches!(refused, Err(grammers_client::InvocationError::Rpc(e)) if e.name == "CHAT_ADMIN_REQUIRED")
    );
    Ok(())
}
