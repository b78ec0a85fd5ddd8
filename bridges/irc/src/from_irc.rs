//! IRC to Matrix: what the relay bot hears in channels, and private
//! messages to Matrix users' connections.

use crate::connection::{Connection, EventReceiver, IrcEvent, IrcMessage, MemberChange};
use crate::format;
use crate::network::{channel_portal, private_portal, IrcNetwork};
use crate::params::is_channel;
use anyhow::Result;
use causeway_core::format::escape_markdown;
use causeway_core::ids::{PartId, RemoteMessageId, RemoteUserId};
use causeway_core::network::PortalInfo;
use causeway_core::remote::{text_content, RemoteEvent, RemoteMembership};
use std::sync::Arc;

/// Numerics that mean a message was not delivered: no such nick or channel
/// (401, 403), cannot send to channel (404: +m, +n, a ban), and services
/// that require a registered nick to speak (477).
fn is_undelivered(code: u16) -> bool {
    matches!(code, 401 | 403 | 404 | 477)
}

impl IrcNetwork {
    pub(crate) async fn run_events(self, mut queue: EventReceiver) {
        while let Some((conn, event)) = queue.recv().await {
            let handled =
                causeway_core::health::guard("irc events", self.handle_event(&conn, event));
            if let Some(Err(err)) = handled.await {
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
            IrcEvent::Message(message) if conn.owner.is_none() && is_channel(&message.target) => {
                if self
                    .state(&conn.network)
                    .is_some_and(|s| s.is_puppet_nick(&conn.fold(&message.from)))
                {
                    return Ok(());
                }
                let event = self.irc_message(&conn.network, &message);
                self.to_channel_room(&conn.network, &message.target, event)
                    .await
            }
            // Private messages reach the Matrix user's own connection.
            IrcEvent::Message(message) if conn.owner.is_some() && !is_channel(&message.target) => {
                let owner = conn.owner.clone().unwrap_or_default();
                let ghost = RemoteUserId(format!("{}/{}", conn.network, message.from));
                let info = PortalInfo {
                    key: private_portal(&conn.network, &message.from, &owner),
                    invite: vec![owner],
                    direct_with: Some(ghost.clone()),
                    metadata: serde_json::json!({ "network": conn.network }),
                    ..Default::default()
                };
                let bridge = self.bridge()?;
                bridge.ensure_portal_room(&info).await?;
                let event = self.irc_message(&conn.network, &message);
                bridge.queue_remote(&info.key, event).await
            }
            IrcEvent::Member {
                channel,
                nick,
                change,
            } if conn.owner.is_none() => self.member_changed(conn, channel, nick, change).await,
            IrcEvent::Modes { channel, changes } if conn.owner.is_none() => {
                self.irc_modes(conn, &channel, &changes).await
            }
            IrcEvent::Topic { channel, topic } if conn.owner.is_none() => {
                self.to_channel_room(&conn.network, &channel, RemoteEvent::Topic { topic })
                    .await
            }
            IrcEvent::Disconnected { reason, channels } => {
                match &conn.owner {
                    None => {
                        tracing::warn!(network = conn.network, "relay bot disconnected: {reason}");
                        if let Some(state) = self.state(&conn.network) {
                            state.set_bot(None);
                        }
                        self.keep_bot_connected(conn.network.clone(), conn.take_unconfirmed());
                    }
                    Some(owner) => {
                        tracing::info!(
                            network = conn.network,
                            owner,
                            "puppet disconnected: {reason}"
                        );
                        let unexpected = self
                            .state(&conn.network)
                            .is_some_and(|s| s.connection_closed(owner, conn));
                        if unexpected {
                            self.reconnect_puppet(conn.network.clone(), owner.clone(), channels);
                        }
                    }
                }
                Ok(())
            }
            IrcEvent::Refused {
                code,
                subject,
                text,
            } => {
                tracing::info!(network = conn.network, owner = ?conn.owner, code, ?subject, "IRC server refused: {text}");
                match (&conn.owner, subject) {
                    (Some(owner), Some(subject)) if is_undelivered(code) => {
                        self.report_undelivered(conn, owner, &subject, code, &text)
                            .await
                    }
                    _ => Ok(()),
                }
            }
            _ => Ok(()),
        }
    }

    async fn member_changed(
        &self,
        bot: &Connection,
        channel: Option<String>,
        who: String,
        change: MemberChange,
    ) -> Result<()> {
        let net = &bot.network;
        match (change, channel) {
            (MemberChange::Names(names), Some(channel)) => {
                for (name, modes) in names {
                    self.member_joined(bot, &channel, &name).await?;
                    if let Some(level) = self.rank_from_names(net, &modes) {
                        self.set_rank(bot, &channel, &name, level).await?;
                    }
                }
            }
            (MemberChange::Joined, Some(channel))
                if !self.returned_from_netsplit(bot, &who, &channel) =>
            {
                self.member_joined(bot, &channel, &who).await?
            }
            (MemberChange::Parted { reason }, Some(channel)) => {
                self.member_left(bot, &channel, &who, reason).await?
            }
            (MemberChange::Kicked { by, reason }, Some(channel)) => {
                self.irc_kick(bot, &channel, &who, &by, reason).await?
            }
            (MemberChange::Quit { reason }, _)
                if reason.as_deref().is_some_and(crate::netsplit::is_netsplit) =>
            {
                let channels = self.channels_of(net, &who);
                self.defer_netsplit_quit(bot, &who, channels);
            }
            (MemberChange::Quit { reason }, _) => {
                for channel in self.channels_of(net, &who) {
                    let why = format!(
                        "quit{}",
                        reason
                            .as_ref()
                            .map(|r| format!(": {r}"))
                            .unwrap_or_default()
                    );
                    self.member_left(bot, &channel, &who, Some(why)).await?;
                }
            }
            (MemberChange::Renamed { new }, _) => {
                for channel in self.channels_of(net, &who) {
                    self.member_left(bot, &channel, &who, Some(format!("is now known as {new}")))
                        .await?;
                    self.member_joined(bot, &channel, &new).await?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// A line the server would not pass on: the sender sees a notice in
    /// the room it came from, rather than a message that silently vanished.
    async fn report_undelivered(
        &self,
        conn: &Connection,
        owner: &str,
        subject: &str,
        code: u16,
        text: &str,
    ) -> Result<()> {
        let key = if is_channel(subject) {
            channel_portal(&conn.network, subject)
        } else {
            private_portal(&conn.network, subject, owner)
        };
        let bridge = self.bridge()?;
        let Some(room) = bridge
            .store()
            .get_portal(&key)
            .await?
            .and_then(|p| p.room_id)
        else {
            return Ok(());
        };
        let notice = format!(
            "⚠️ IRC did not deliver your last message to {}: {} ({code}).",
            escape_markdown(subject),
            escape_markdown(text)
        );
        bridge.bot_notice(&room, &notice).await
    }

    /// Channels (folded) in which the model has `nick`.
    fn channels_of(&self, network: &str, nick: &str) -> Vec<String> {
        let folded = self.fold(network, nick);
        self.state(network)
            .map(|s| s.channels_of(&folded))
            .unwrap_or_default()
    }

    /// Whether a nick is the relay bot or one of our puppets.
    pub(crate) fn is_ours(&self, bot: &Connection, nick: &str) -> bool {
        let folded = bot.fold(nick);
        folded == bot.fold(&bot.nick())
            || self
                .state(&bot.network)
                .is_some_and(|s| s.is_puppet_nick(&folded))
    }

    async fn member_joined(&self, bot: &Connection, channel: &str, who: &str) -> Result<()> {
        if self.is_ours(bot, who) {
            return Ok(());
        }
        self.state_of(&bot.network)?
            .add_member(bot.fold(channel), bot.fold(who), who);
        self.mirror(bot, channel, who, RemoteMembership::Join).await
    }

    /// Takes someone out of the channel's membership model.
    pub(crate) fn forget_member(&self, bot: &Connection, channel: &str, who: &str) {
        if let Some(state) = self.state(&bot.network) {
            state.remove_member(&bot.fold(channel), &bot.fold(who));
        }
    }

    pub(crate) async fn member_left(
        &self,
        bot: &Connection,
        channel: &str,
        who: &str,
        reason: Option<String>,
    ) -> Result<()> {
        self.forget_member(bot, channel, who);
        if self.is_ours(bot, who) {
            return Ok(());
        }
        self.mirror(bot, channel, who, RemoteMembership::Leave { reason })
            .await
    }

    /// Moves the IRC user's ghost in the channel's room, if it is bridged.
    async fn mirror(
        &self,
        bot: &Connection,
        channel: &str,
        who: &str,
        change: RemoteMembership,
    ) -> Result<()> {
        let sender = Self::ghost_info(&bot.network, who);
        self.to_channel_room(
            &bot.network,
            channel,
            RemoteEvent::Membership { sender, change },
        )
        .await
    }

    /// Once a channel's portal exists, brings in the ghosts of everyone in
    /// the channel (the first NAMES arrives before the room is made).
    pub(crate) fn sync_members_when_bridged(&self, network: &str, channel: &str) {
        let (this, network, channel) = (self.clone(), network.to_owned(), channel.to_owned());
        tokio::spawn(async move {
            for _ in 0..100 {
                if this.is_bridged(&network, &channel).await.unwrap_or(false) {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
            }
            // Ask again now that the room exists: NAMES brings in the
            // members with their ranks, MODE the join rules.
            let Ok(bot) = this.bot(&network) else { return };
            for query in ["NAMES", "MODE"] {
                let command = irc::proto::Command::Raw(query.into(), vec![channel.clone()]);
                if let Err(err) = bot.send(command.into()).await {
                    tracing::warn!(network, channel, "cannot ask for {query}: {err:#}");
                }
            }
        });
    }

    /// A line from IRC as a Matrix message from its sender's ghost.
    fn irc_message(&self, network: &str, message: &IrcMessage) -> RemoteEvent {
        let (plain, html) = format::irc_to_matrix(&message.text);
        let (html, mentioned) =
            crate::mentions::add_pills(&plain, html, &self.mentionable(network));
        let mut content = text_content(message.kind.msgtype(), &plain, html.as_deref());
        if !mentioned.is_empty() {
            content["m.mentions"] = serde_json::json!({ "user_ids": mentioned });
        }
        // The server's msgid makes the event's ID stable across replays.
        let id = match &message.msgid {
            Some(msgid) => RemoteMessageId(format!("{network}:{msgid}")),
            None => self.next_message_id(network),
        };
        RemoteEvent::Message {
            id,
            sender: Self::ghost_info(network, &message.from),
            parts: vec![(PartId::default(), content)],
            timestamp: message.time,
            reply_to: None,
        }
    }

    /// Whether a channel has a room.
    async fn is_bridged(&self, network: &str, channel: &str) -> Result<bool> {
        let portal = self
            .bridge()?
            .store()
            .get_portal(&channel_portal(network, channel))
            .await?;
        Ok(portal.is_some_and(|p| p.room_id.is_some()))
    }

    /// Queues an event for a channel's room. Traffic in a channel without a
    /// room has nowhere to go, and is dropped here on purpose.
    ///
    /// IRC acknowledges nothing, so the next line need not wait for this
    /// one's commit: its place in the order is fixed when this returns, and
    /// a burst of lines commits in a few batches.
    pub(crate) async fn to_channel_room(
        &self,
        network: &str,
        channel: &str,
        event: RemoteEvent,
    ) -> Result<()> {
        if !self.is_bridged(network, channel).await? {
            return Ok(());
        }
        let committed = self
            .bridge()?
            .enqueue_remote(&channel_portal(network, channel), event)
            .await?;
        let (network, channel) = (network.to_owned(), channel.to_owned());
        tokio::spawn(async move {
            if let Err(err) = committed.await {
                tracing::warn!(
                    network,
                    channel,
                    "cannot queue an IRC event for Matrix: {err:#}"
                );
            }
        });
        Ok(())
    }
}
