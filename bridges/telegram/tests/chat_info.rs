//! Chat info through the Telegram bridge: a chat's title, about, photo and
//! ranks reach its room and follow changes; a Matrix rename, topic or kick
//! acts on Telegram through the sender's account; a broadcast channel's
//! room is read-only for readers.

use anyhow::Result;
use causeway_testkit::matrix_client::MatrixClient;
use common::*;
use grammers_client::tl;
use grammers_client::update::Update;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};
use serde_json::{json, Value};
use std::time::Instant;

mod common;

/// Waits until a room's state event satisfies `pred`.
async fn state_becomes(
    user: &MatrixClient,
    room: &str,
    event_type: &str,
    pred: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = Instant::now() + WAIT;
    loop {
        let state = user.state(room, event_type, "").await.unwrap_or_default();
        if pred(&state) {
            return Ok(state);
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "{event_type} never matched; last {state}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn a_supergroups_title_about_photo_and_ranks_reach_its_room_and_follow_changes() -> Result<()>
{
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        bob_tg,
        ..
    } = bob_and_carol().await?;
    let group = channel(&carol, "Super", "all about it", false, vec![bob_tg]).await?;
    let photo: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = carol
        .upload_stream(&mut photo.as_slice(), photo.len(), "group.jpg".into())
        .await?;
    carol
        .invoke(&tl::functions::channels::EditPhoto {
            channel: group.into(),
            photo: tl::types::InputChatUploadedPhoto {
                file: Some(uploaded.raw),
                video: None,
                video_start_ts: None,
                video_emoji_markup: None,
            }
            .into(),
        })
        .await?;
    carol.send_message(group, "hello super").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "hello super").await?;

    state_becomes(&bob, &room, "m.room.name", |s| s["name"] == "Super").await?;
    state_becomes(&bob, &room, "m.room.topic", |s| {
        s["topic"] == "all about it"
    })
    .await?;
    let avatar = state_becomes(&bob, &room, "m.room.avatar", |s| s["url"].is_string()).await?;
    let mxc = avatar["url"].as_str().unwrap_or_default();
    assert_eq!(bob.download(mxc).await?, photo);
    let carol_ghost = ghost(&server, "15550003");
    state_becomes(&bob, &room, "m.room.power_levels", |s| {
        s["users"][&carol_ghost] == 75
    })
    .await?;

    carol
        .invoke(&tl::functions::channels::EditTitle {
            channel: group.into(),
            title: "Super renamed".into(),
        })
        .await?;
    state_becomes(&bob, &room, "m.room.name", |s| s["name"] == "Super renamed").await?;
    Ok(())
}

#[tokio::test]
async fn a_matrix_rename_topic_and_kick_act_on_telegram_through_the_senders_account() -> Result<()>
{
    let BobAndCarol {
        server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        ..
    } = bob_and_carol().await?;
    // Bob's phone makes a basic group with Carol; his bridge login sees it.
    let (bob_phone, _bob_phone_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550002")).await??;
    let carol_tg = resolve(&bob_phone, "carol").await?;
    let create = tl::functions::messages::CreateChat {
        users: vec![input_user(carol_tg)],
        title: "Plans".into(),
        ttl_period: None,
    };
    let tl::enums::messages::InvitedUsers::Users(invited) = bob_phone.invoke(&create).await?;
    let tl::enums::Updates::Updates(updates) = invited.updates else {
        anyhow::bail!("no updates")
    };
    let Some(tl::enums::Chat::Chat(chat)) = updates.chats.first() else {
        anyhow::bail!("no chat")
    };
    let chat_id = chat.id;
    let plans = PeerRef {
        id: PeerId::chat(chat_id).expect("a chat"),
        auth: PeerAuth::default(),
    };
    carol.send_message(plans, "made it").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "made it").await?;
    // Bob made the group: his rank there is his in the room.
    let bob_mxid = bob.user_id.clone();
    state_becomes(&bob, &room, "m.room.power_levels", |s| {
        s["users"][&bob_mxid] == 75
    })
    .await?;

    // A rename in Matrix renames the group, for Carol too.
    bob.send_state(&room, "m.room.name", "", json!({ "name": "Plans v2" }))
        .await?;
    let renamed = tokio::time::timeout(WAIT, async {
        loop {
            if let Update::NewMessage(m) = carol_updates.next().await? {
                if let Some(tl::enums::MessageAction::ChatEditTitle(edit)) = m.action() {
                    return anyhow::Ok(edit.title.clone());
                }
            }
        }
    })
    .await??;
    assert_eq!(renamed, "Plans v2");

    // The topic becomes the group's about.
    bob.send_state(&room, "m.room.topic", "", json!({ "topic": "dinner at 8" }))
        .await?;
    let deadline = Instant::now() + WAIT;
    loop {
        let request = tl::functions::messages::GetFullChat { chat_id };
        let tl::enums::messages::ChatFull::Full(full) = carol.invoke(&request).await?;
        if let tl::enums::ChatFull::Full(full) = full.full_chat {
            if full.about == "dinner at 8" {
                break;
            }
        }
        anyhow::ensure!(Instant::now() < deadline, "the about never changed");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }

    // Kicking Carol's ghost removes Carol from the group.
    let carol_id = server.user_id("15550003").unwrap_or_default();
    bob.kick(&room, &format!("@telegram_{carol_id}:localhost"), "bye")
        .await?;
    tokio::time::timeout(WAIT, async {
        loop {
            if let Update::NewMessage(m) = carol_updates.next().await? {
                if let Some(tl::enums::MessageAction::ChatDeleteUser(d)) = m.action() {
                    if d.user_id == carol_id {
                        return anyhow::Ok(());
                    }
                }
            }
        }
    })
    .await??;
    Ok(())
}

#[tokio::test]
async fn a_broadcast_channel_room_is_read_only_for_its_readers() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        bob_tg,
        ..
    } = bob_and_carol().await?;
    let news = channel(&carol, "News", "", true, vec![bob_tg]).await?;
    carol.send_message(news, "first post").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let post = says(&bob, &room, "first post").await?;
    state_becomes(&bob, &room, "m.room.power_levels", |s| {
        s["events_default"] == 50 && s["users"][post["sender"].as_str().unwrap_or("-")] == 50
    })
    .await?;
    assert!(
        bob.send_text(&room, "can I post?").await.is_err(),
        "a reader posted"
    );
    // A photo post arrives as an image from the channel, with its caption.
    let photo: Vec<u8> = (0..5000u32).map(|i| (i % 253) as u8).collect();
    let uploaded = carol
        .upload_stream(&mut photo.as_slice(), photo.len(), "post.jpg".into())
        .await?;
    carol
        .send_message(
            news,
            grammers_client::message::InputMessage::new()
                .text("a photo post")
                .photo(uploaded),
        )
        .await?;
    let image = says(&bob, &room, "a photo post").await?;
    assert_eq!(image["sender"], post["sender"]);
    assert_eq!(image["content"]["msgtype"], "m.image");
    let mxc = image["content"]["url"].as_str().unwrap_or_default();
    assert_eq!(bob.download(mxc).await?, photo);
    Ok(())
}
