//! What goes wrong on the real network, on demand: a phone that unlinks a
//! device, a second login that replaces a stream, a ban, a dropped socket,
//! acks that do not come, and a message nobody can decrypt.

use crate::{DeviceAddress, Outgoing, Registry, WaTestServer};
use anyhow::{anyhow, Result};
use wacore_binary::builder::NodeBuilder;
use wacore_binary::node::Node;

/// `<stream:error><conflict type=…/></stream:error>`: `replaced` when
/// another connection took over, `device_removed` when the phone unlinked.
pub fn conflict(kind: &str) -> Node {
    NodeBuilder::new("stream:error")
        .children([NodeBuilder::new("conflict")
            .attr("type", kind.to_owned())
            .build()])
        .build()
}

/// The login answer of a banned account: 402, for `seconds` more.
pub fn temporary_ban(seconds: i64) -> Node {
    NodeBuilder::new("failure")
        .attr("reason", "402")
        .attr("code", "101")
        .attr("expire", seconds.to_string())
        .build()
}

impl Registry {
    /// Closes the connections of `phone` (one device, or all) with `last`,
    /// or with no word at all.
    fn close(&mut self, phone: &str, device: Option<u32>, last: Option<Node>) -> usize {
        let connections: Vec<_> = self
            .logged_in
            .iter()
            .filter(|(_, who)| who.phone == phone && device.is_none_or(|d| d == who.device))
            .map(|(connection, _)| *connection)
            .collect();
        for connection in &connections {
            self.logged_in.remove(connection);
            if let Some(sender) = self.connections.get(connection) {
                let _ = sender.send(match &last {
                    Some(node) => Outgoing::Close(node.clone()),
                    None => Outgoing::Drop,
                });
            }
        }
        connections.len()
    }
}

impl WaTestServer {
    /// The phone unlinks a device: a connected one is told it was removed,
    /// and any later login of it fails with 401.
    pub fn unlink(&self, phone: &str, device: u32) -> Result<()> {
        let mut registry = self.state.registry();
        registry
            .accounts
            .get_mut(phone)
            .and_then(|account| account.devices.remove(&device))
            .ok_or_else(|| anyhow!("{phone} has no device {device}"))?;
        registry.pending.remove(&DeviceAddress::new(phone, device));
        registry.close(phone, Some(device), Some(conflict("device_removed")));
        Ok(())
    }

    /// Another connection takes over the device's stream.
    pub fn replace_stream(&self, phone: &str, device: u32) -> usize {
        self.state
            .registry()
            .close(phone, Some(device), Some(conflict("replaced")))
    }

    /// Bans the account for `seconds`: its connections end, and logins fail
    /// with 402 until then.
    pub fn ban(&self, phone: &str, seconds: i64) {
        let mut registry = self.state.registry();
        registry
            .banned
            .insert(phone.to_owned(), wacore::time::now_secs() + seconds);
        registry.close(phone, None, Some(temporary_ban(seconds)));
    }

    /// The server goes down for `down_for`: every socket drops and nobody
    /// can connect, then it listens again on the same port with the same
    /// accounts, as a restarted WhatsApp front end would.
    pub async fn restart(&self, down_for: std::time::Duration) -> Result<()> {
        self.accept
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .abort();
        let phones: Vec<String> = self.state.registry().accounts.keys().cloned().collect();
        for phone in phones {
            self.state.registry().close(&phone, None, None);
        }
        tokio::time::sleep(down_for).await;
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        *self.accept.lock().unwrap_or_else(|e| e.into_inner()) =
            tokio::spawn(crate::conn::accept_loop(listener, self.state.clone()));
        Ok(())
    }

    /// WhatsApp stops serving this client version: every connection drops,
    /// and each login fails with 405.
    pub fn refuse_outdated_clients(&self) {
        let mut registry = self.state.registry();
        registry.outdated = true;
        let phones: Vec<String> = registry.accounts.keys().cloned().collect();
        for phone in phones {
            registry.close(&phone, None, None);
        }
    }

    /// Drops the account's sockets without a word, as a network fault does.
    pub fn drop_connections(&self, phone: &str) -> usize {
        self.state.registry().close(phone, None, None)
    }

    /// While `on`, messages are taken and relayed but not acknowledged.
    pub fn withhold_acks(&self, on: bool) {
        self.state.registry().withhold_acks = on;
    }

    /// Acknowledges messages only after `delay` (zero: at once).
    pub fn delay_acks(&self, delay: std::time::Duration) {
        self.state.registry().ack_delay = delay;
    }

    /// `from`'s phone sends `to`'s devices a message whose ciphertext is
    /// garbage, as a message encrypted to a lost session would be.
    pub fn send_undecryptable(&self, from: &str, to: &str) -> Result<String> {
        let mut registry = self.state.registry();
        if !registry.accounts.contains_key(to) {
            return Err(anyhow!("no account {to}"));
        }
        let devices = registry.devices_of(to);
        let id = format!("3EB0{:016X}", rand10::random::<u64>());
        let garbage: Vec<u8> = (0..64).map(|_| rand10::random::<u8>()).collect();
        let stanza = NodeBuilder::new("message")
            .attr("from", wacore_binary::Jid::pn(from))
            .attr("id", id.clone())
            .attr("t", wacore::time::now_secs().to_string())
            .attr("type", "text")
            .children([NodeBuilder::new("enc")
                .attr("v", "2")
                .attr("type", "msg")
                .bytes(garbage)
                .build()])
            .build();
        for device in devices {
            registry.deliver(to, device, stanza.clone());
        }
        Ok(id)
    }
}
