//! One client connection: packets in, decrypted and answered in order;
//! answers and pushed updates out, encrypted, through one writer.

use crate::crypto;
use crate::layer::Codec;
use crate::rpc::{self, Caller};
use crate::service::{self, Envelope};
use crate::state::Pusher;
use crate::transport::Full;
use crate::Inner;
use anyhow::Result;
use grammers_tl_types::{self as tl, Deserializable, Identifiable, Serializable};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

/// What the writer sends: an answer to a client message, or a message of
/// the server's own (a push, `new_session_created`).
enum Outgoing {
    Answer(Vec<u8>),
    Own(Vec<u8>),
}

pub(crate) async fn serve(server: Arc<Inner>, stream: TcpStream, conn: u64, dc: i32) -> Result<()> {
    let (mut reader, mut writer) = stream.into_split();
    let mut inbound = Full::default();
    let Some(first) = inbound.read(&mut reader).await? else {
        return Ok(());
    };
    let key = crypto::key_id_of(&first).and_then(|id| {
        let state = server.state.lock().ok()?;
        state.keys.get(&id).map(|entry| entry.key.clone())
    });
    let Some(key) = key else {
        // No key exchange here: the client must come with a known key.
        Full::send_unknown_key(&mut writer).await?;
        return Ok(());
    };
    let Some(plain) = crypto::decrypt(&key, &first).and_then(|p| service::parse_plaintext(&p))
    else {
        return Ok(());
    };
    let session_id = plain.session_id;
    let (tx, mut rx) = mpsc::unbounded_channel::<Outgoing>();
    let writer_key = key.clone();
    let ids = server.clone();
    let write_task = tokio::spawn(async move {
        let mut outbound = Full::default();
        let mut seq = 0;
        while let Some(out) = rx.recv().await {
            let (body, answer) = match out {
                Outgoing::Answer(body) => (body, true),
                Outgoing::Own(body) => (body, false),
            };
            let msg_id = ids.msg_ids.next(answer);
            seq += 1;
            let plain = service::plaintext(session_id, msg_id, seq * 2 - 1, &body);
            let packet = outbound.frame(&crypto::encrypt(&writer_key, &plain));
            if writer.write_all(&packet).await.is_err() {
                break;
            }
        }
    });
    let created = tl::enums::NewSession::Created(tl::types::NewSessionCreated {
        first_msg_id: plain.message.msg_id,
        unique_id: rand::random(),
        server_salt: 0,
    });
    let _ = tx.send(Outgoing::Own(created.to_bytes()));
    let mut caller = Caller::new(conn, dc, key.id);
    if let Ok(mut state) = server.state.lock() {
        let pusher = pusher(conn, &tx, &caller);
        state.key_pushers.entry(key.id).or_default().push(pusher);
    }
    let mut registered = None;
    let mut dropped = server.drop_connections.subscribe();
    let mut next = Some(plain.message);
    while let Some(message) = next.take() {
        for message in service::unpack(message) {
            answer(&server, &mut caller, &tx, message);
        }
        // A login makes this connection one that updates are pushed to.
        if caller.user != registered {
            registered = caller.user;
            if let (Some(user), Ok(mut state)) = (caller.user, server.state.lock()) {
                let pusher = pusher(conn, &tx, &caller);
                state.pushers.entry(user).or_default().push(pusher);
            }
        }
        let packet = tokio::select! {
            packet = inbound.read(&mut reader) => packet?,
            _ = dropped.changed() => None,
        };
        let Some(packet) = packet else {
            break;
        };
        next = crypto::decrypt(&key, &packet)
            .and_then(|p| service::parse_plaintext(&p))
            .filter(|p| p.session_id == session_id)
            .map(|p| p.message);
        if next.is_none() {
            tracing::warn!("a packet that does not open with its key; closing");
            break;
        }
    }
    if let Ok(mut state) = server.state.lock() {
        state
            .key_pushers
            .entry(key.id)
            .or_default()
            .retain(|p| p.conn != conn);
        if let Some(user) = registered {
            state
                .pushers
                .entry(user)
                .or_default()
                .retain(|p| p.conn != conn);
        }
    }
    drop(tx);
    let _ = write_task.await;
    Ok(())
}

/// A push channel into this connection's writer, for the state to keep.
/// Updates are encoded at the layer the client declared by the time each
/// is sent.
fn pusher(conn: u64, tx: &mpsc::UnboundedSender<Outgoing>, caller: &Caller) -> Pusher {
    let (push_tx, mut push_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let tx = tx.clone();
    let layer = caller.layer.clone();
    tokio::spawn(async move {
        while let Some(mut update) = push_rx.recv().await {
            if let Some(codec) = Codec::for_layer(layer.load(Ordering::Relaxed)) {
                match codec.updates(&update) {
                    Ok(encoded) => update = encoded,
                    Err(e) => {
                        tracing::warn!(
                            "an update cannot be written at the client's layer: {}",
                            e.0
                        );
                        continue;
                    }
                }
            }
            if tx.send(Outgoing::Own(update)).is_err() {
                break;
            }
        }
    });
    Pusher { conn, tx: push_tx }
}

/// Answers one message: pings, acks and RPCs.
fn answer(
    server: &Inner,
    caller: &mut Caller,
    tx: &mpsc::UnboundedSender<Outgoing>,
    message: Envelope,
) {
    let ctor = message.constructor();
    if ctor == tl::types::MsgsAck::CONSTRUCTOR_ID {
        return;
    }
    if ctor == tl::functions::Ping::CONSTRUCTOR_ID
        || ctor == tl::functions::PingDelayDisconnect::CONSTRUCTOR_ID
    {
        let ping_id =
            i64::from_bytes(message.body.get(4..12).unwrap_or_default()).unwrap_or_default();
        let pong = tl::enums::Pong::Pong(tl::types::Pong {
            msg_id: message.msg_id,
            ping_id,
        });
        let _ = tx.send(Outgoing::Answer(pong.to_bytes()));
        return;
    }
    let result = match rpc::handle(server, caller, &message.body) {
        Ok(result) => result,
        Err((code, text)) => service::rpc_error(code, &text),
    };
    let _ = tx.send(Outgoing::Answer(service::rpc_result(
        message.msg_id,
        &result,
    )));
}
