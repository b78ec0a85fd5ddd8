//! One client connection: the websocket, the handshake, then binary nodes
//! both ways until either side closes.

use crate::noise::{frame, Frames, Responder, Transport};
use crate::{faults, iq, pairing, relay, ConnectionId, DeviceAddress, Outgoing, State, SERVER};
use anyhow::{anyhow, Context, Result};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_websockets::{Message, ServerBuilder, WebSocketStream};
use wacore_binary::builder::NodeBuilder;
use wacore_binary::marshal::{marshal, unmarshal_ref};
use wacore_binary::node::Node;
use waproto::whatsapp as wa;

pub async fn accept_loop(listener: TcpListener, state: Arc<State>) {
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        // Frames are small and answered at once: no Nagle delay.
        let _ = stream.set_nodelay(true);
        let state = state.clone();
        tokio::spawn(async move {
            if let Err(err) = serve(stream, state).await {
                tracing::debug!("a WhatsApp test connection ended: {err:#}");
            }
        });
    }
}

/// A `stream:error` with a code: 515 asks for a reconnect after pairing,
/// 401 says the device was logged out.
pub fn stream_error(code: &str) -> Node {
    NodeBuilder::new("stream:error")
        .attr("code", code.to_owned())
        .build()
}

/// The socket after the handshake: frames in, nodes out.
struct Wire {
    socket: WebSocketStream<TcpStream>,
    frames: Frames,
    transport: Option<Transport>,
}

impl Wire {
    async fn next_frame(&mut self) -> Result<Option<Vec<u8>>> {
        loop {
            if let Some(frame) = self.frames.next()? {
                return Ok(Some(frame));
            }
            match self.socket.next().await {
                Some(Ok(message)) if message.is_binary() => {
                    self.frames.push(&message.into_payload());
                }
                Some(Ok(message)) if message.is_close() => return Ok(None),
                Some(Ok(_)) => {}
                Some(Err(err)) => return Err(err.into()),
                None => return Ok(None),
            }
        }
    }

    async fn send_frame(&mut self, payload: &[u8]) -> Result<()> {
        self.socket
            .send(Message::binary(frame(payload)?))
            .await
            .map_err(Into::into)
    }

    async fn next_node(&mut self) -> Result<Option<Node>> {
        let Some(sealed) = self.next_frame().await? else {
            return Ok(None);
        };
        let transport = self.transport.as_mut().context("no transport yet")?;
        let plain = transport.open(sealed)?;
        let unpacked = wacore_binary::util::unpack(&plain)?;
        Ok(Some(unmarshal_ref(&unpacked)?.to_owned()))
    }

    async fn send_node(&mut self, node: &Node) -> Result<()> {
        let plain = marshal(node)?;
        let transport = self.transport.as_mut().context("no transport yet")?;
        let sealed = transport.seal(&plain)?;
        self.send_frame(&sealed).await
    }
}

async fn serve(stream: TcpStream, state: Arc<State>) -> Result<()> {
    let (_request, socket) = ServerBuilder::new().accept(stream).await?;
    let mut wire = Wire {
        socket,
        frames: Frames::default(),
        transport: None,
    };
    let hello = wire
        .next_frame()
        .await?
        .ok_or_else(|| anyhow!("closed before the ClientHello"))?;
    let (responder, server_hello) = Responder::hello(&state.identity, &hello)?;
    wire.send_frame(&server_hello).await?;
    let finish = wire
        .next_frame()
        .await?
        .ok_or_else(|| anyhow!("closed before the ClientFinish"))?;
    let (noise_key, payload, transport) = responder.finish(&finish)?;
    wire.transport = Some(transport);

    let (sender, mut outgoing) = mpsc::unbounded_channel();
    let id = {
        let mut registry = state.registry();
        registry.next_connection += 1;
        let id = ConnectionId(registry.next_connection);
        registry.connections.insert(id, sender);
        id
    };
    let result = run(&mut wire, &state, id, noise_key, payload, &mut outgoing).await;
    {
        let mut registry = state.registry();
        registry.connections.remove(&id);
        registry.logged_in.remove(&id);
        registry
            .unpaired
            .retain(|_, waiting| waiting.connection != id);
        registry.approved.remove(&id);
        registry.pair_codes.remove(&id);
    }
    result
}

async fn run(
    wire: &mut Wire,
    state: &Arc<State>,
    id: ConnectionId,
    noise_key: [u8; 32],
    payload: wa::ClientPayload,
    outgoing: &mut mpsc::UnboundedReceiver<Outgoing>,
) -> Result<()> {
    let session = match (payload.username, payload.device) {
        (Some(phone), Some(device)) => {
            let phone = phone.to_string();
            match login(state, id, &phone, device, &noise_key) {
                Ok(success) => wire.send_node(&success).await?,
                Err(failure) => {
                    wire.send_node(&failure).await?;
                    let _ = wire.socket.close().await;
                    return Ok(());
                }
            }
            Session::LoggedIn { phone, device }
        }
        _ => {
            let refs = pairing::offer_refs(state, id, noise_key);
            wire.send_node(&refs).await?;
            Session::Pairing { noise_key }
        }
    };
    loop {
        tokio::select! {
            incoming = wire.next_node() => {
                let Some(node) = incoming? else { return Ok(()) };
                for reply in handle(state, id, &session, &node)? {
                    wire.send_node(&reply).await?;
                }
            }
            Some(out) = outgoing.recv() => match out {
                Outgoing::Node(node) => wire.send_node(&node).await?,
                Outgoing::Close(node) => {
                    wire.send_node(&node).await?;
                    let _ = wire.socket.close().await;
                    return Ok(());
                }
                Outgoing::Drop => return Ok(()),
            },
        }
    }
}

/// What the connection is.
pub enum Session {
    /// A new companion, known by its Noise key until it is linked.
    Pairing {
        noise_key: [u8; 32],
    },
    LoggedIn {
        phone: String,
        device: u32,
    },
}

impl Session {
    /// The connection, for the log.
    pub fn who(&self) -> String {
        match self {
            Session::Pairing { .. } => "a pairing client".to_owned(),
            Session::LoggedIn { phone, device } => format!("{phone}:{device}"),
        }
    }
}

/// Checks a returning companion's Noise key against the one it paired
/// with, and answers `<success>`; or `<failure>`, with 401 for a device
/// that is not (or no longer) linked and 402 for a banned account. A login
/// replaces an older connection of the same device.
fn login(
    state: &State,
    id: ConnectionId,
    phone: &str,
    device: u32,
    noise_key: &[u8; 32],
) -> std::result::Result<Node, Box<Node>> {
    let mut registry = state.registry();
    if registry.outdated {
        return Err(Box::new(
            NodeBuilder::new("failure").attr("reason", "405").build(),
        ));
    }
    if let Some(until) = registry.banned.get(phone) {
        let left = until - wacore::time::now_secs();
        if left > 0 {
            return Err(Box::new(faults::temporary_ban(left)));
        }
    }
    let linked = registry
        .accounts
        .get(phone)
        .and_then(|account| account.devices.get(&device))
        .is_some_and(|companion| &companion.noise_key == noise_key);
    if !linked {
        tracing::info!("WhatsApp test server: {phone}:{device} is not linked; logged out");
        return Err(Box::new(
            NodeBuilder::new("failure").attr("reason", "401").build(),
        ));
    }
    let lid = format!("{}:{device}@lid", registry.accounts[phone].lid);
    let older: Vec<ConnectionId> = registry
        .logged_in
        .iter()
        .filter(|(_, who)| who.is(phone, device))
        .map(|(connection, _)| *connection)
        .collect();
    for connection in older {
        registry.logged_in.remove(&connection);
        if let Some(sender) = registry.connections.get(&connection) {
            let _ = sender.send(Outgoing::Close(faults::conflict("replaced")));
        }
    }
    registry
        .logged_in
        .insert(id, DeviceAddress::new(phone, device));
    Ok(NodeBuilder::new("success")
        .attr("t", wacore::time::now_secs().to_string())
        .attr("lid", lid)
        .attr("props", "1")
        .attr("location", "loopback")
        .build())
}

/// Answers one node from the client.
fn handle(
    state: &Arc<State>,
    id: ConnectionId,
    session: &Session,
    node: &Node,
) -> Result<Vec<Node>> {
    match node.tag.as_ref() {
        "iq" => iq::answer(state, id, session, node),
        "message" => relay::message(state, id, session, node),
        "receipt" => relay::receipt(state, session, node),
        "ack" => relay::acked(state, session, node),
        "chatstate" => relay::chatstate(state, session, node),
        "presence" => crate::presence::presence(state, session, node),
        // Acks, receipts and presence need no answer yet.
        tag => {
            tracing::debug!("WhatsApp test server: a <{tag}> from {}", session.who());
            Ok(Vec::new())
        }
    }
}

/// An IQ result from the server, to the request `id`.
pub fn result(id: &str, children: Vec<Node>) -> Node {
    NodeBuilder::new("iq")
        .attr("from", SERVER)
        .attr("type", "result")
        .attr("id", id.to_owned())
        .children(children)
        .build()
}
