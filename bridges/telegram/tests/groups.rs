//! Group chats through the bridge: a basic group and a supergroup made on
//! Telegram get one room each, carrying text both ways and files.

use anyhow::Result;
use common::*;
use grammers_client::tl;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};

mod common;

/// The next text a Telegram user receives from someone else.
async fn next_text(updates: &mut grammers_client::client::UpdateStream) -> Result<String> {
    Ok(next_incoming(updates).await?.text().to_owned())
}

#[tokio::test]
async fn a_basic_group_and_a_supergroup_each_get_a_room_carrying_text_and_files() -> Result<()> {
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;

    // A basic group: Carol makes it with Bob and writes.
    let create = tl::functions::messages::CreateChat {
        users: vec![input_user(bob_tg)],
        title: "Basic".into(),
        ttl_period: None,
    };
    let tl::enums::messages::InvitedUsers::Users(invited) = carol.invoke(&create).await?;
    let tl::enums::Updates::Updates(updates) = invited.updates else {
        anyhow::bail!("no updates")
    };
    let Some(tl::enums::Chat::Chat(chat)) = updates.chats.first() else {
        anyhow::bail!("no chat")
    };
    let basic = PeerRef {
        id: PeerId::chat(chat.id).expect("a chat"),
        auth: PeerAuth::default(),
    };
    carol.send_message(basic, "hello basic group").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let got = says(&bob, &room, "hello basic group").await?;
    assert_eq!(got["sender"], ghost(&server, "15550003"));
    assert_eq!(bob.state(&room, "m.room.name", "").await?["name"], "Basic");
    // Formatting arrives as Matrix HTML.
    let formatted = grammers_client::message::InputMessage::new()
        .text("plain and bold")
        .fmt_entities(vec![tl::enums::MessageEntity::Bold(
            tl::types::MessageEntityBold {
                offset: 10,
                length: 4,
            },
        )]);
    carol.send_message(basic, formatted).await?;
    let got = says(&bob, &room, "plain and bold").await?;
    assert_eq!(
        got["content"]["formatted_body"],
        "plain and <strong>bold</strong>"
    );
    bob.send_text(&room, "hello from matrix, basic").await?;
    assert_eq!(
        next_text(&mut carol_updates).await?,
        "hello from matrix, basic"
    );

    // A supergroup: one message list for everyone, its own updates.
    let super_group = channel(&carol, "Super", "", false, vec![bob_tg]).await?;
    carol.send_message(super_group, "hello supergroup").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hello supergroup").await?;
    bob.send_text(&room, "hello from matrix, super").await?;
    assert_eq!(
        next_text(&mut carol_updates).await?,
        "hello from matrix, super"
    );

    // A file from Matrix reaches the supergroup byte for byte.
    let notes: Vec<u8> = (0..3000u32).map(|i| (i % 241) as u8).collect();
    let mxc = bob.upload(notes.clone(), "text/plain", "notes.txt").await?;
    let file = serde_json::json!({ "msgtype": "m.file", "body": "notes.txt", "url": mxc, "info": { "mimetype": "text/plain" } });
    bob.send(&room, "m.room.message", file).await?;
    let got = next_incoming(&mut carol_updates).await?;
    let Some(media @ grammers_client::media::Media::Document(_)) = got.media() else {
        anyhow::bail!("no document reached the supergroup");
    };
    let mut bytes = Vec::new();
    let mut chunks = carol.iter_download(&media);
    while let Some(chunk) = chunks.next().await? {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(bytes, notes);

    // Matrix formatting arrives as entities.
    let html = serde_json::json!({ "msgtype": "m.text", "body": "so **very** bold", "format": "org.matrix.custom.html", "formatted_body": "so <strong>very</strong> bold" });
    bob.send(&room, "m.room.message", html).await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.text(), "so very bold");
    assert_eq!(
        got.fmt_entities().map(Vec::as_slice),
        Some(
            &[tl::enums::MessageEntity::Bold(
                tl::types::MessageEntityBold {
                    offset: 3,
                    length: 4
                }
            )][..]
        )
    );
    Ok(())
}
