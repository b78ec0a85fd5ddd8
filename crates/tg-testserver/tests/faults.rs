//! Faults the test server injects, as the real client meets them.

use anyhow::Result;
use common::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

mod common;

#[tokio::test]
async fn a_key_the_server_does_not_know_gets_transport_error_404() -> Result<()> {
    let server = server().await?;
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", server.port())).await?;
    // A Full-transport packet whose auth key ID nobody registered.
    let payload = [7u8; 64];
    let mut packet = ((payload.len() + 12) as u32).to_le_bytes().to_vec();
    packet.extend(0u32.to_le_bytes());
    packet.extend(payload);
    let crc = crc32fast::hash(&packet);
    packet.extend(crc.to_le_bytes());
    stream.write_all(&packet).await?;
    let mut answer = [0u8; 4];
    bounded("answer", stream.read_exact(&mut answer)).await??;
    assert_eq!(i32::from_le_bytes(answer), -404);
    Ok(())
}

#[tokio::test]
async fn after_a_dropped_connection_the_client_reconnects_and_misses_nothing() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let to_bob = peer(&alice, "bob").await?;
    bounded("send", alice.client.send_message(to_bob, "before")).await??;
    assert_eq!(next_texts(&mut bob_updates, 1).await?, ["before"]);

    server.drop_connections();
    // Alice's own connection went too: a call that meets the broken one
    // fails, and is tried again on a new one, as the bridge does.
    for text in ["during", "after"] {
        let mut tries = 0;
        loop {
            match bounded("send", alice.client.send_message(to_bob, text)).await? {
                Ok(_) => break,
                Err(grammers_client::InvocationError::Rpc(e)) => anyhow::bail!("refused: {e}"),
                Err(err) if tries < 3 => {
                    tries += 1;
                    eprintln!("retrying after: {err}");
                }
                Err(err) => return Err(err.into()),
            }
        }
    }
    assert_eq!(next_texts(&mut bob_updates, 2).await?, ["during", "after"]);
    Ok(())
}

#[tokio::test]
async fn a_duplicated_key_is_refused_with_406() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    server.duplicate_keys(server.user_id("15550001").unwrap_or_default());
    let refused = bounded("get_me", alice.client.get_me()).await?;
    assert!(
        matches!(&refused, Err(grammers_client::InvocationError::Rpc(e)) if e.code == 406 && e.name == "AUTH_KEY_DUPLICATED"),
        "{refused:?}"
    );
    Ok(())
}
