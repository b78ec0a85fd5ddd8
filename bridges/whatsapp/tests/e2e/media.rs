//! Media both ways between a Matrix user and someone on their own
//! WhatsApp client, byte for byte, and the size limit.

use crate::common::*;
use anyhow::Result;
use whatsapp_rust::download::MediaType;
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

const CAROL: &str = "15550103";

fn bytes(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|n| (n as u8).wrapping_mul(31) ^ seed)
        .collect()
}

/// Carol sends Bob a photo with a caption.
async fn send_photo(carol: &whatsapp_rust::Client, photo: &[u8], caption: &str) -> Result<()> {
    let up = carol
        .upload(photo.to_vec(), MediaType::Image, UploadOptions::default())
        .await?;
    let message = wa::Message {
        image_message: MessageField::some(wa::message::ImageMessage {
            url: Some(up.url),
            direct_path: Some(up.direct_path),
            media_key: Some(up.media_key.to_vec()),
            file_enc_sha256: Some(up.file_enc_sha256.to_vec()),
            file_sha256: Some(up.file_sha256.to_vec()),
            file_length: Some(up.file_length),
            mimetype: Some("image/png".into()),
            caption: Some(caption.into()),
            ..Default::default()
        }),
        ..Default::default()
    };
    carol
        .send_message(Jid::pn(BOB), message)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[tokio::test]
async fn a_photo_and_a_document_cross_both_ways_byte_for_byte() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;

    let photo = bytes(300 * 1024, 7);
    send_photo(&carol, &photo, "a cat").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let image = bob
        .wait_for(&room, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    assert_eq!(image["content"]["body"], "a cat");
    assert_eq!(image["content"]["filename"], "photo.png");
    let mxc = image["content"]["url"].as_str().unwrap_or_default();
    assert!(bob.download(mxc).await? == photo, "the photo differs");

    let report = bytes(100 * 1024, 3);
    let mxc = bob
        .upload(report.clone(), "application/pdf", "report.pdf")
        .await?;
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.file", "body": "the report", "filename": "report.pdf", "url": mxc,
            "info": { "mimetype": "application/pdf", "size": report.len() },
        }),
    )
    .await?;
    let (_, message) = next_where(&mut carol_events, |m| m.document_message.is_set()).await?;
    let document = message.document_message.as_option().expect("a document");
    assert_eq!(document.file_name.as_deref(), Some("report.pdf"));
    assert_eq!(document.caption.as_deref(), Some("the report"));
    assert!(
        carol.download(document).await? == report,
        "the document differs"
    );
    Ok(())
}

#[tokio::test]
async fn files_over_the_limit_are_announced_and_refused_visibly() -> Result<()> {
    let (server, env) = setup_with("max_file_bytes: 102400").await?;
    server.add_account(CAROL, "Carol");
    let (carol, _carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, BOB).await?;

    send_photo(&carol, &bytes(200 * 1024, 1), "too big").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let notice = says(&bob, &room, "A photo was not bridged").await?;
    assert!(notice["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .contains("too big"));

    let mxc = bob
        .upload(bytes(200 * 1024, 2), "application/zip", "big.zip")
        .await?;
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({ "msgtype": "m.file", "body": "big.zip", "url": mxc }),
    )
    .await?;
    says(&bob, &room, "over the bridge's limit").await?;
    Ok(())
}
