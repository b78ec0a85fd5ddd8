//! When a Matrix message counts as delivered to IRC: once the server
//! confirmed its lines (see `connection::confirm`), not once they were
//! written. A line written to a server that died unread goes out again on
//! the connection that replaces it, before anything else is sent through
//! that one (see `resend_unconfirmed`); one no connection took is lost for
//! this run, and its event goes out again at the next start.
//!
//! Each room waits only for its own lines: a room that shares no
//! connection with another never waits behind that one's flood control.

use crate::connection::{Confirmation, Connection, Unconfirmed};
use crate::network::IrcNetwork;
use causeway_core::network::{DeliveryConfirmation, Taken};
use causeway_core::store::PortalRow;
use dashmap::DashMap;
use ruma::{OwnedRoomId, RoomId};

/// The confirmations each room's messages still wait for.
#[derive(Default)]
pub(crate) struct Awaited(DashMap<OwnedRoomId, Vec<Confirmation>>);

impl Awaited {
    /// Notes the lines of a message sent for `portal`'s room.
    pub fn add(&self, portal: &PortalRow, confirmation: Confirmation) {
        let Some(room) = portal.room_id.as_deref().and_then(|id| id.parse().ok()) else {
            return;
        };
        self.0.entry(room).or_default().push(confirmation);
    }

    /// Everything `room` waits for now.
    fn take(&self, room: &RoomId) -> Vec<Confirmation> {
        self.0.remove(room).map(|(_, all)| all).unwrap_or_default()
    }
}

impl DeliveryConfirmation for IrcNetwork {
    fn taken(&self, room: &RoomId) -> Taken {
        let awaited = self.inner.awaited.take(room);
        Box::pin(async move {
            for confirmation in awaited {
                confirmation.wait().await?;
            }
            Ok(())
        })
    }
}

impl IrcNetwork {
    /// Sends through `conn` the lines a dropped connection wrote but its
    /// server never confirmed, once `conn` is in the channels they go to.
    pub(crate) async fn resend_unconfirmed(
        &self,
        conn: &Connection,
        network: &str,
        lines: Vec<Unconfirmed>,
    ) {
        if lines.is_empty() {
            return;
        }
        tracing::info!(
            network,
            lines = lines.len(),
            "sending again what the server never confirmed"
        );
        for line in &lines {
            let target = crate::transport::split(line.line.as_str())
                .params
                .first()
                .copied();
            if let Some(channel) = target.filter(|t| crate::params::is_channel(t)) {
                if let Err(err) = self.join_channel(conn, network, channel).await {
                    tracing::warn!(network, channel, "cannot rejoin to send again: {err:#}");
                }
            }
        }
        if let Err(err) = conn.resend(lines).await {
            tracing::warn!(network, "cannot send lines again: {err:#}");
        }
    }
}
