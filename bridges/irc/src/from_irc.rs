//! IRC to Matrix: what the relay bot hears in channels, and private
//! messages to Matrix users' connections.

use crate::connection::{Connection, EventReceiver, IrcEvent, MessageKind};
use crate::network::{channel_portal, is_channel, private_portal, IrcNetwork};
use crate::{format, nick};
use anyhow::Result;
use causeway_core::ids::{PartId, RemoteUserId};
use causeway_core::network::{GhostInfo, PortalInfo};
use causeway_core::remote::{text_content, RemoteEvent};
use std::sync::Arc;

impl IrcNetwork {
    pub(crate) async fn run_events(self, mut queue: EventReceiver) {
        while let Some((conn, event)) = queue.recv().await {
            if let Err(err) = self.handle_event(&conn, event).await {
                tracing::warn!(
                    network = conn.network,
                    "cannot bridge an IRC event: {err:#}"
                );
            }
        }
    }

    async fn handle_event(&self, conn: &Arc<Connection>, event: IrcEvent) -> Result<()> {
        match event {
            // Channel traffic comes through the relay bot only, once.
            IrcEvent::Message {
                from,
                target,
                text,
                kind,
            } if conn.owner.is_none() && is_channel(&target) => {
                if self
                    .inner
                    .puppet_nicks
                    .contains(&(conn.network.clone(), nick::fold(&from, true)))
                {
                    return Ok(());
                }
                let portal = channel_portal(&conn.network, &target);
                let bridge = self.bridge()?;
                if bridge.store().get_portal(&portal).await?.is_none() {
                    return Ok(());
                }
                let (plain, html) = format::irc_to_matrix(&text);
                let msgtype = match kind {
                    MessageKind::Privmsg => "m.text",
                    MessageKind::Notice => "m.notice",
                    MessageKind::Action => "m.emote",
                };
                let sender = GhostInfo {
                    id: RemoteUserId(format!("{}/{from}", conn.network)),
                    displayname: Some(from),
                    avatar_mxc: None,
                };
                let event = RemoteEvent::Message {
                    id: self.next_message_id(&conn.network),
                    sender,
                    parts: vec![(
                        PartId::default(),
                        text_content(msgtype, &plain, html.as_deref()),
                    )],
                    timestamp: None,
                    reply_to: None,
                };
                bridge.queue_remote(&portal, event).await
            }
            // Private messages reach the Matrix user's own connection.
            IrcEvent::Message {
                from,
                target,
                text,
                kind,
            } if conn.owner.is_some() && !is_channel(&target) => {
                let owner = conn.owner.clone().unwrap_or_default();
                let ghost = RemoteUserId(format!("{}/{from}", conn.network));
                let info = PortalInfo {
                    key: private_portal(&conn.network, &from, &owner),
                    invite: vec![owner],
                    direct_with: Some(ghost.clone()),
                    metadata: serde_json::json!({ "network": conn.network }),
                    ..Default::default()
                };
                let bridge = self.bridge()?;
                bridge.ensure_portal_room(&info).await?;
                let (plain, html) = format::irc_to_matrix(&text);
                let msgtype = if kind == MessageKind::Action {
                    "m.emote"
                } else if kind == MessageKind::Notice {
                    "m.notice"
                } else {
                    "m.text"
                };
                let event = RemoteEvent::Message {
                    id: self.next_message_id(&conn.network),
                    sender: GhostInfo {
                        id: ghost,
                        displayname: Some(from),
                        avatar_mxc: None,
                    },
                    parts: vec![(
                        PartId::default(),
                        text_content(msgtype, &plain, html.as_deref()),
                    )],
                    timestamp: None,
                    reply_to: None,
                };
                bridge.queue_remote(&info.key, event).await
            }
            IrcEvent::Disconnected { reason } => {
                match &conn.owner {
                    None => {
                        tracing::warn!(network = conn.network, "relay bot disconnected: {reason}");
                        self.inner.bots.remove(&conn.network);
                        self.keep_bot_connected(conn.network.clone());
                    }
                    Some(owner) => {
                        tracing::info!(
                            network = conn.network,
                            owner,
                            "puppet disconnected: {reason}"
                        );
                        self.inner
                            .puppets
                            .remove(&(conn.network.clone(), owner.clone()));
                        self.inner
                            .puppet_nicks
                            .remove(&(conn.network.clone(), nick::fold(&conn.nick(), true)));
                    }
                }
                Ok(())
            }
            IrcEvent::Refused { code, text } => {
                tracing::info!(network = conn.network, owner = ?conn.owner, code, "IRC server refused: {text}");
                Ok(())
            }
            _ => Ok(()),
        }
    }
}
