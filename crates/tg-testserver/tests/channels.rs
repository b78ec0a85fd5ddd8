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

#[tokio::test]
async fn a_channels_details_members_title_and_about_are_read_and_changed() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let (input, group) = create(&alice, "Details", false).await?;
    bounded(
        "join",
        bob.client.invoke(&tl::functions::channels::JoinChannel {
            channel: input.clone(),
        }),
    )
    .await??;

    let about = tl::functions::messages::EditChatAbout {
        peer: group.into(),
        about: "What we do".into(),
    };
    bounded("about", alice.client.invoke(&about)).await??;
    let full = bounded(
        "full",
        bob.client.invoke(&tl::functions::channels::GetFullChannel {
            channel: input.clone(),
        }),
    )
    .await??;
    let tl::enums::messages::ChatFull::Full(full) = full;
    let tl::enums::ChatFull::ChannelFull(details) = full.full_chat else {
        anyhow::bail!("not a channel")
    };
    assert_eq!(
        (details.about.as_str(), details.participants_count),
        ("What we do", Some(2))
    );

    let request = tl::functions::channels::GetParticipants {
        channel: input.clone(),
        filter: tl::enums::ChannelParticipantsFilter::ChannelParticipantsRecent,
        offset: 0,
        limit: 100,
        hash: 0,
    };
    let tl::enums::channels::ChannelParticipants::Participants(members) =
        bounded("participants", bob.client.invoke(&request)).await??
    else {
        anyhow::bail!("not modified");
    };
    let alice_id = server.user_id("15550001").unwrap_or_default();
    assert_eq!(members.count, 2);
    assert!(
        matches!(&members.participants[0], tl::enums::ChannelParticipant::Creator(c) if c.user_id == alice_id)
    );

    let rename = tl::functions::channels::EditTitle {
        channel: input,
        title: "Renamed".into(),
    };
    bounded("rename", alice.client.invoke(&rename)).await??;
    loop {
        if let Update::Raw(raw) = bounded("update", bob_updates.next()).await?? {
            if matches!(&raw.raw, tl::enums::Update::Channel(c) if Some(c.channel_id) == group.id.bare_id())
            {
                break;
            }
        }
    }
    // A bob-only request: his own profile's bio is empty.
    let me = bounded(
        "full user",
        bob.client.invoke(&tl::functions::users::GetFullUser {
            id: tl::enums::InputUser::UserSelf,
        }),
    )
    .await??;
    let tl::enums::users::UserFull::Full(me) = me;
    let tl::enums::UserFull::Full(me) = me.full_user;
    assert_eq!(me.about, None);
    Ok(())
}

#[tokio::test]
async fn a_forward_keeps_its_origin_and_a_channel_photo_downloads_byte_identical() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let (input, group) = create(&alice, "Forwards", false).await?;
    bounded(
        "join",
        bob.client.invoke(&tl::functions::channels::JoinChannel {
            channel: input.clone(),
        }),
    )
    .await??;

    // Alice forwards one of her private messages into the group.
    let to_bob = peer(&alice, "bob").await?;
    let original = bounded("send", alice.client.send_message(to_bob, "worth sharing")).await??;
    bounded(
        "forward",
        alice
            .client
            .forward_messages(group, &[original.id()], to_bob),
    )
    .await??;
    let forwarded = loop {
        if let Update::NewMessage(m) = bounded("update", bob_updates.next()).await?? {
            if m.peer_id() == group.id {
                break m;
            }
        }
    };
    assert_eq!(forwarded.text(), "worth sharing");
    let alice_id = server.user_id("15550001").unwrap_or_default();
    assert!(matches!(
        forwarded.forward_header(),
        Some(tl::enums::MessageFwdHeader::Header(h)) if h.from_id == Some(tl::enums::Peer::User(tl::types::PeerUser { user_id: alice_id }))
    ));

    // A new picture for the channel, fetched by a member through its peer.
    let picture: Vec<u8> = (0..3000u32).map(|i| (i % 7) as u8).collect();
    let uploaded = bounded(
        "upload",
        alice
            .client
            .upload_stream(&mut picture.as_slice(), picture.len(), "pic.jpg".into()),
    )
    .await??;
    let edit = tl::functions::channels::EditPhoto {
        channel: input,
        photo: tl::enums::InputChatPhoto::InputChatUploadedPhoto(
            tl::types::InputChatUploadedPhoto {
                file: Some(uploaded.raw),
                video: None,
                video_start_ts: None,
                video_emoji_markup: None,
            },
        ),
    };
    let tl::enums::Updates::Updates(updates) =
        bounded("editPhoto", alice.client.invoke(&edit)).await??
    else {
        anyhow::bail!("no updates");
    };
    let photo_id = updates
        .chats
        .iter()
        .find_map(|c| match c {
            tl::enums::Chat::Channel(c) if Some(c.id) == group.id.bare_id() => match &c.photo {
                tl::enums::ChatPhoto::Photo(p) => Some(p.photo_id),
                _ => None,
            },
            _ => None,
        })
        .ok_or_else(|| anyhow::anyhow!("the channel has no photo"))?;
    let request = tl::functions::upload::GetFile {
        precise: false,
        cdn_supported: false,
        location: tl::enums::InputFileLocation::InputPeerPhotoFileLocation(
            tl::types::InputPeerPhotoFileLocation {
                big: true,
                peer: group.into(),
                photo_id,
            },
        ),
        offset: 0,
        limit: 1024 * 1024,
    };
    let tl::enums::upload::File::File(file) =
        bounded("getFile", bob.client.invoke(&request)).await??
    else {
        anyhow::bail!("a CDN redirect");
    };
    assert_eq!(file.bytes, picture);
    Ok(())
}
