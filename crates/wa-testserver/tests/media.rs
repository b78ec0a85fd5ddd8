//! An image both ways through the test server's media host: encrypted and
//! uploaded by one real client, downloaded and decrypted by the other,
//! byte for byte.

mod common;

use causeway_wa_testserver::WaTestServer;
use common::*;
use whatsapp_rust::download::MediaType;
use whatsapp_rust::upload::UploadOptions;
use whatsapp_rust::waproto::buffa::MessageField;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

const ALICE: &str = "4488888888";
const BOB: &str = "4499999999";

async fn send_image(bot: &whatsapp_rust::bot::BotHandle, to: &str, bytes: &[u8], caption: &str) {
    let client = bot.client();
    let uploaded = client
        .upload(bytes.to_vec(), MediaType::Image, UploadOptions::default())
        .await
        .expect("the image uploads");
    let message = wa::Message {
        image_message: MessageField::some(wa::message::ImageMessage {
            url: Some(uploaded.url),
            direct_path: Some(uploaded.direct_path),
            media_key: Some(uploaded.media_key.to_vec()),
            file_enc_sha256: Some(uploaded.file_enc_sha256.to_vec()),
            file_sha256: Some(uploaded.file_sha256.to_vec()),
            file_length: Some(uploaded.file_length),
            mimetype: Some("image/png".to_owned()),
            caption: Some(caption.to_owned()),
            ..Default::default()
        }),
        ..Default::default()
    };
    client.send_message(Jid::pn(to), message).await.unwrap();
}

async fn received_image(
    bot: &whatsapp_rust::bot::BotHandle,
    events: &mut Events,
) -> (Vec<u8>, String) {
    let image = message_where(events, "image", |m| m.image_message.as_option().cloned()).await;
    let bytes = bot
        .client()
        .download(&image)
        .await
        .expect("the image downloads");
    (bytes, image.caption.unwrap_or_default())
}

#[tokio::test]
async fn an_image_goes_both_ways_byte_for_byte() {
    let (server, _store, _dir, (alice, mut alice_events), (bob, mut bob_events)) =
        two_paired((ALICE, "Alice"), (BOB, "Bob")).await;

    let picture: Vec<u8> = (0..200_000u32).map(|n| (n * 7 % 251) as u8).collect();
    send_image(&alice, BOB, &picture, "a picture").await;
    let (bytes, caption) = received_image(&bob, &mut bob_events).await;
    assert_eq!(caption, "a picture");
    assert!(bytes == picture, "Bob's copy differs");

    let answer: Vec<u8> = picture.iter().rev().copied().collect();
    send_image(&bob, ALICE, &answer, "and back").await;
    let (bytes, _) = received_image(&alice, &mut alice_events).await;
    assert!(bytes == answer, "Alice's copy differs");
    // The host holds ciphertext only.
    assert_eq!(server.media_count(), 2);
    alice.shutdown().await;
    bob.shutdown().await;
}

#[tokio::test]
async fn the_media_host_states_the_client_version() {
    let server = WaTestServer::start().await.unwrap();
    let script = reqwest::get(format!("http://{}/sw.js", server.media_addr()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        whatsapp_rust::wacore::version::parse_sw_js(&script),
        Some((2, 3000, 1_000_000_000))
    );
}
