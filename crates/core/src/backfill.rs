//! History from account networks: when a portal is made, its chat's latest
//! messages; when a login connects again, what the chat said meanwhile.
//! Pages go through the portal's durable outbox like live events, so order
//! holds and a crash loses nothing; a message already bridged (same remote
//! ID) is not sent again, so a page fetched twice repeats nothing. Each
//! portal keeps a cursor: the last message a page brought.

use crate::bridge::Bridge;
use crate::ids::{PortalKey, RemoteMessageId};
use crate::remote::RemoteEvent;
use crate::store::LoginRow;
use anyhow::Result;

/// Why history is fetched, which sets how much.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Occasion {
    /// The portal's room was just made.
    Created,
    /// The login connected again after being away.
    CatchUp,
}

fn cursor_key(portal: &PortalKey) -> String {
    format!("backfill-cursor|{}|{}", portal.id, portal.receiver_str())
}

impl Bridge {
    /// Fetches a portal's history through `login` and queues it; returns
    /// how many messages were queued.
    pub(crate) async fn backfill(
        &self,
        portal: &PortalKey,
        login: &LoginRow,
        occasion: Occasion,
    ) -> Result<usize> {
        let Some(history) = self.network().backfill() else {
            return Ok(0);
        };
        let config = &self.config().bridge.backfill;
        let limit = match occasion {
            Occasion::Created => config.initial_messages,
            Occasion::CatchUp => config.catchup_messages,
        };
        if limit == 0 {
            return Ok(0);
        }
        let Some(row) = self.store().get_portal(portal).await? else {
            return Ok(0);
        };
        // A new room starts from the chat's latest messages.
        let cursor = match occasion {
            Occasion::Created => None,
            Occasion::CatchUp => self
                .store()
                .kv_get(&cursor_key(portal))
                .await?
                .map(RemoteMessageId),
        };
        let messages = history
            .fetch_history(&row, login, cursor.as_ref(), limit)
            .await?;
        let Some(last) = messages.last().map(|m| m.id.clone()) else {
            return Ok(0);
        };
        let count = messages.len();
        for message in messages {
            let event = RemoteEvent::Message {
                id: message.id,
                sender: message.sender,
                parts: message.parts,
                timestamp: Some(message.timestamp),
                reply_to: message.reply_to,
            };
            self.queue_remote(portal, event).await?;
        }
        // Committed to the outbox: the cursor may move past them.
        self.store().kv_set(&cursor_key(portal), &last.0).await?;
        metrics::counter!("causeway_backfilled_messages_total").increment(count as u64);
        tracing::info!(portal = %portal, count, ?occasion, "history queued");
        Ok(count)
    }

    /// Backfills in the background, logging a failure.
    pub(crate) fn spawn_backfill(&self, portal: PortalKey, login: LoginRow, occasion: Occasion) {
        let bridge = self.clone();
        tokio::spawn(async move {
            if let Err(err) = bridge.backfill(&portal, &login, occasion).await {
                tracing::warn!(portal = %portal, "cannot fetch the chat's history: {err:#}");
            }
        });
    }

    /// A login connected again: each of its portals catches up.
    pub(crate) async fn catch_up(&self, login: &LoginRow) -> Result<()> {
        if self.network().backfill().is_none() {
            return Ok(());
        }
        for portal in self.store().portals_of_login(&login.login_id).await? {
            self.spawn_backfill(portal, login.clone(), Occasion::CatchUp);
        }
        Ok(())
    }
}
