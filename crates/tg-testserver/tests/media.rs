//! Photos and documents both ways through the test server, byte for byte,
//! uploaded and downloaded by the real grammers client.

use anyhow::Result;
use common::*;
use grammers_client::message::InputMessage;
use grammers_client::update::Update;

mod common;

/// Downloads a message's media whole.
async fn download(
    client: &TestClient,
    message: &grammers_client::message::Message,
) -> Result<Vec<u8>> {
    let media = message.media().ok_or_else(|| anyhow::anyhow!("no media"))?;
    let mut chunks = client.client.iter_download(&media);
    let mut bytes = Vec::new();
    while let Some(chunk) = bounded("download", chunks.next()).await?? {
        bytes.extend(chunk);
    }
    Ok(bytes)
}

async fn next_incoming(
    updates: &mut grammers_client::client::UpdateStream,
) -> Result<grammers_client::message::Message> {
    loop {
        if let Update::NewMessage(m) = bounded("update", updates.next()).await?? {
            if !m.outgoing() {
                return Ok((*m).clone());
            }
        }
    }
}

#[tokio::test]
async fn a_photo_and_a_document_cross_both_ways_byte_identical() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let mut alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut alice_updates = updates_of(&mut alice).await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let to_bob = peer(&alice, "bob").await?;
    let to_alice = peer(&bob, "alice").await?;

    // More than one upload part (grammers sends 512 KiB parts).
    let photo: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let uploaded = bounded(
        "upload",
        alice
            .client
            .upload_stream(&mut photo.as_slice(), photo.len(), "cat.jpg".into()),
    )
    .await??;
    bounded(
        "send",
        alice
            .client
            .send_message(to_bob, InputMessage::new().text("a cat").photo(uploaded)),
    )
    .await??;
    let got = next_incoming(&mut bob_updates).await?;
    assert_eq!(got.text(), "a cat");
    assert_eq!(download(&bob, &got).await?, photo);

    let document = b"%PDF-1.4 a small document".to_vec();
    let uploaded = bounded(
        "upload",
        bob.client
            .upload_stream(&mut document.as_slice(), document.len(), "notes.pdf".into()),
    )
    .await??;
    bounded(
        "send",
        bob.client
            .send_message(to_alice, InputMessage::new().text("").document(uploaded)),
    )
    .await??;
    let got = next_incoming(&mut alice_updates).await?;
    assert_eq!(download(&alice, &got).await?, document);
    Ok(())
}
