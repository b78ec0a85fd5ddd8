//! Files, replies and long texts through the Telegram bridge, between a
//! Matrix user and a Telegram user on the real grammers client.

use anyhow::Result;
use common::*;
use grammers_client::media::Media;
use grammers_client::message::InputMessage;
use serde_json::json;

mod common;

async fn download(client: &grammers_client::Client, media: &Media) -> Result<Vec<u8>> {
    let mut chunks = client.iter_download(media);
    let mut bytes = Vec::new();
    while let Some(chunk) = chunks.next().await? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Bytes that are not all alike, over more than one upload part.
fn file_of(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
        .collect()
}

#[tokio::test]
async fn files_with_captions_and_replies_cross_both_ways_byte_identical() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;

    // A photo with a caption from Telegram: an image whose body is the
    // caption, and the same bytes in the homeserver.
    let photo = file_of(600 * 1024, 7);
    let uploaded = carol
        .upload_stream(&mut photo.as_slice(), photo.len(), "cat.jpg".into())
        .await?;
    let sent = carol
        .send_message(bob_tg, InputMessage::new().text("a cat").photo(uploaded))
        .await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let image = bob
        .wait_for(&room, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    assert_eq!(image["content"]["body"], "a cat");
    assert_eq!(image["content"]["filename"], "photo.jpg");
    let mxc = image["content"]["url"].as_str().unwrap_or_default();
    assert_eq!(bob.download(mxc).await?, photo);

    // A reply on Telegram is a reply in Matrix.
    carol
        .send_message(
            bob_tg,
            InputMessage::new()
                .text("isn't it?")
                .reply_to(Some(sent.id())),
        )
        .await?;
    let reply = says(&bob, &room, "isn't it?").await?;
    assert_eq!(
        reply["content"]["m.relates_to"]["m.in_reply_to"]["event_id"],
        image["event_id"]
    );

    // A document from Matrix, with a reply to the photo: a file on Telegram
    // with the same name and bytes, answering Carol's photo.
    let document = file_of(300 * 1024, 3);
    let mxc = bob
        .upload(document.clone(), "application/pdf", "notes.pdf")
        .await?;
    bob.send(
        &room,
        "m.room.message",
        json!({
            "msgtype": "m.file", "body": "notes.pdf", "filename": "notes.pdf", "url": mxc,
            "info": { "mimetype": "application/pdf", "size": document.len() },
            "m.relates_to": { "m.in_reply_to": { "event_id": image["event_id"] } },
        }),
    )
    .await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.reply_to_message_id(), Some(sent.id()));
    let Some(Media::Document(file)) = got.media() else {
        anyhow::bail!("no document arrived");
    };
    assert_eq!(file.name(), Some("notes.pdf"));
    assert_eq!(download(&carol, &Media::Document(file)).await?, document);

    // An image with a caption from Matrix: a photo with that caption.
    let png = file_of(2000, 9);
    let mxc = bob.upload(png.clone(), "image/png", "dot.png").await?;
    bob.send(
        &room,
        "m.room.message",
        json!({
            "msgtype": "m.image", "body": "a dot", "filename": "dot.png", "url": mxc,
            "info": { "mimetype": "image/png", "size": png.len() },
        }),
    )
    .await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.text(), "a dot");
    let Some(media @ Media::Photo(_)) = got.media() else {
        anyhow::bail!("no photo arrived");
    };
    assert_eq!(download(&carol, &media).await?, png);
    Ok(())
}

#[tokio::test]
async fn a_text_over_telegrams_limit_arrives_whole_in_pieces() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        mut carol_updates,
        bob_tg,
        ..
    } = bob_and_carol().await?;
    carol.send_message(bob_tg, "write me a lot").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "write me a lot").await?;

    let long: String = (0..1200).map(|n| format!("w{n} ")).collect();
    let long = long.trim_end().to_owned();
    bob.send_text(&room, &long).await?;
    let mut received = String::new();
    while received.len() < long.len() {
        let piece = next_incoming(&mut carol_updates).await?;
        assert!(piece.text().encode_utf16().count() <= 4096);
        received.push_str(piece.text());
    }
    assert_eq!(received, long);
    Ok(())
}

#[tokio::test]
async fn a_file_over_the_size_limit_is_refused_with_a_reason() -> Result<()> {
    let BobAndCarol {
        server: _server,
        env: _env,
        bob,
        carol,
        bob_tg,
        ..
    } = bob_and_carol_with("max_file_bytes: 1000", None).await?;

    // From Telegram: the room is told the file's name and size.
    let big = file_of(5000, 1);
    let uploaded = carol
        .upload_stream(&mut big.as_slice(), big.len(), "big.bin".into())
        .await?;
    carol
        .send_message(bob_tg, InputMessage::new().text("").document(uploaded))
        .await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "big.bin (4.9 KiB) was not bridged").await?;

    // From Matrix: the sender learns why it did not go.
    let mxc = bob
        .upload(big, "application/octet-stream", "big.bin")
        .await?;
    bob.send(
        &room,
        "m.room.message",
        json!({ "msgtype": "m.file", "body": "big.bin", "url": mxc }),
    )
    .await?;
    bob.wait_for(&room, WAIT, |e| {
        e.to_string().contains("larger than the bridge's limit")
    })
    .await?;
    Ok(())
}
