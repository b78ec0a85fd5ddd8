//! Matrix to IRC: messages, corrections and membership, sent through each
//! Matrix user's own connection (or the relay bot's, for relayed users).

use crate::connection::{Confirmation, MessageKind, Unreachable};
use crate::network::{private_portal, IrcNetwork, Target};
use crate::{format, lines};
use anyhow::{bail, Result};
use async_trait::async_trait;
use causeway_core::ids::{RemoteMessageId, RemoteUserId};
use causeway_core::matrix_event::{MatrixEdit, MatrixMembership, MatrixMessage, Membership};
use causeway_core::network::{EditHandling, MembershipHandling, PortalInfo, TopicHandling};
use causeway_core::permissions::Level;
use causeway_core::store::PortalRow;

/// How long a Matrix message waits for an unreachable IRC server.
const RETRY_FOR: std::time::Duration = std::time::Duration::from_secs(120);

impl IrcNetwork {
    pub(crate) async fn deliver_matrix_message(
        &self,
        portal: &PortalRow,
        message: &MatrixMessage,
    ) -> Result<Option<RemoteMessageId>> {
        let Some(target) = Target::of(portal) else {
            bail!("this room is not bridged to IRC");
        };
        let network = target.network();
        let net = self.network(network)?;
        let started = std::time::Instant::now();
        let mut attempt = 0;
        // While the server is unreachable, wait and retry: the room's later
        // messages queue behind this one, so they still go out in order.
        let confirmation = loop {
            match self.send_once(&target, message, net.line_limit).await {
                Err(err)
                    if err.chain().any(|c| c.is::<Unreachable>())
                        && started.elapsed() < RETRY_FOR =>
                {
                    let wait = causeway_core::homeserver::Retry::FOREVER
                        .backoff(attempt)
                        .min(std::time::Duration::from_secs(10));
                    tracing::info!(
                        network,
                        ?wait,
                        "IRC unreachable, will retry a Matrix message: {err:#}"
                    );
                    tokio::time::sleep(wait).await;
                    attempt += 1;
                }
                other => break other?,
            }
        };
        self.inner.awaited.add(portal, confirmation);
        if !message.relayed {
            self.welcome_on_first_message(network, &message.meta.sender)
                .await;
        }
        Ok(Some(self.next_message_id(network)))
    }

    async fn send_once(
        &self,
        target: &Target,
        message: &MatrixMessage,
        line_limit: usize,
    ) -> Result<Confirmation> {
        let network = target.network();
        // A relayed message goes out through the relay bot, already
        // prefixed with its sender's name: they get no connection.
        let puppet = if message.relayed {
            self.bot(network)
                .map_err(|e| e.context(Unreachable("the relay bot is not connected".into())))?
        } else {
            let puppet = self.puppet(network, &message.meta.sender).await?;
            self.mark_active(network, &message.meta.sender);
            puppet
        };
        let destination = match target {
            Target::Channel { channel, .. } => {
                self.join_channel(&puppet, network, channel).await?;
                channel.clone()
            }
            Target::Private { .. } if message.relayed => {
                bail!("a private chat is its owner's own: relayed messages cannot go there")
            }
            Target::Private { nick, owner, .. } if *owner == message.meta.sender => nick.clone(),
            Target::Private { .. } => bail!("only the owner of a private chat can write to it"),
        };
        let limit = lines::payload_limit(&puppet.nick(), &destination);
        let Some(kind) = MessageKind::for_msgtype(&message.msgtype) else {
            if message.url.is_none() {
                bail!("{} messages are not bridged to IRC", message.msgtype);
            }
            let text = self.attachment_text(message)?;
            let lines = lines::split_lines(&text, limit);
            return puppet.say(&destination, MessageKind::Action, &lines).await;
        };
        let mut text = self.irc_text(&message.body, message.html.as_deref());
        // IRC has no replies: address the person replied to, as people do.
        if let Some(replied) = &message.reply_to {
            if let Some(nick) = self.nick_of(network, &replied.sender) {
                text = format!("{nick}: {text}");
            }
        }
        let mut lines = lines::split_lines(&text, limit);
        if lines.len() > line_limit {
            let line = self
                .long_message_line(&puppet.nick(), &text, message, limit)
                .await?;
            lines = vec![line];
        }
        puppet.say(&destination, kind, &lines).await
    }

    /// Connects the Matrix members of a channel's room to the channel, one
    /// after another: the members of a room just plumbed, or everyone after
    /// a restart. Users already connected and in the channel cost nothing.
    pub(crate) fn join_room_members(&self, network: &str, channel: &str, room_id: &str) {
        let (this, network, channel) = (self.clone(), network.to_owned(), channel.to_owned());
        let room_id = room_id.to_owned();
        tokio::spawn(async move {
            let members = async {
                let bridge = this.bridge()?;
                let room = causeway_core::Bridge::parse_room(&room_id)?;
                anyhow::Ok(
                    bridge
                        .homeserver()
                        .joined_members(bridge.bot(), &room)
                        .await?,
                )
            };
            match members.await {
                Ok(members) => {
                    for member in members {
                        let _ = this
                            .matrix_user_joined(&network, &channel, member.as_str())
                            .await;
                    }
                }
                Err(err) => {
                    tracing::warn!(network, channel, "cannot list a room's members: {err:#}")
                }
            }
        });
    }

    /// A Matrix user joined a channel's room: their connection joins the
    /// channel too, so IRC sees who is there. A failure is not the room's
    /// problem: it is logged, and told in the user's status room when they
    /// can fix it.
    pub(crate) async fn matrix_user_joined(
        &self,
        network: &str,
        channel: &str,
        mxid: &str,
    ) -> Result<()> {
        let bridge = self.bridge()?;
        if bridge.is_bridge_user(mxid) || bridge.permission_of(mxid) < Level::User {
            return Ok(());
        }
        let joined = async {
            let puppet = self.puppet(network, mxid).await?;
            self.join_channel(&puppet, network, channel).await
        };
        if let Err(err) = joined.await {
            tracing::info!(
                network,
                channel,
                mxid,
                "cannot join a Matrix user to IRC: {err:#}"
            );
        }
        Ok(())
    }

    /// IRC text for a Matrix message: its HTML as IRC codes with pills as
    /// nicks, or its plain body without a reply fallback.
    fn irc_text(&self, body: &str, html: Option<&str>) -> String {
        match html {
            Some(html) => format::matrix_html_to_irc(html, &|mxid| self.nick_of_any(mxid)),
            None => causeway_core::format::strip_plain_reply_fallback(body).to_owned(),
        }
    }

    /// The IRC nick of a Matrix user or ghost on `network`, if known.
    fn nick_of(&self, network: &str, mxid: &str) -> Option<String> {
        let bridge = self.bridge().ok()?;
        if let Some(remote) = bridge.ghost_remote_id(mxid) {
            return remote
                .as_str()
                .split_once('/')
                .filter(|(n, _)| *n == network)
                .map(|(_, nick)| nick.to_owned());
        }
        self.state(network)?.puppet(mxid).map(|c| c.nick())
    }

    /// The IRC nick behind a pill, on whichever network it is.
    fn nick_of_any(&self, mxid: &str) -> Option<String> {
        let remote = self.bridge().ok()?.ghost_remote_id(mxid)?;
        remote
            .as_str()
            .split_once('/')
            .map(|(_, nick)| nick.to_owned())
    }
}

#[async_trait]
impl EditHandling for IrcNetwork {
    /// IRC cannot edit: the correction goes out as a new line, marked `* `.
    async fn handle_matrix_edit(&self, portal: &PortalRow, edit: &MatrixEdit) -> Result<()> {
        let Some(target) = Target::of(portal) else {
            bail!("this room is not bridged to IRC")
        };
        let network = target.network().to_owned();
        let puppet = self.puppet(&network, &edit.meta.sender).await?;
        let destination = match target {
            Target::Channel { channel, .. } => channel,
            Target::Private { nick, .. } => nick,
        };
        let text = format!(
            "* {}",
            self.irc_text(&edit.new_body, edit.new_html.as_deref())
        );
        let lines = lines::split_lines(&text, lines::payload_limit(&puppet.nick(), &destination));
        let limit = self.network(&network)?.line_limit;
        if lines.len() > limit {
            bail!(
                "the correction is {} IRC lines long and this network takes at most {limit}",
                lines.len()
            );
        }
        let confirmation = puppet
            .say(&destination, MessageKind::Privmsg, &lines)
            .await?;
        self.inner.awaited.add(portal, confirmation);
        Ok(())
    }
}

#[async_trait]
impl MembershipHandling for IrcNetwork {
    /// Leaving a channel's room parts the channel.
    async fn handle_matrix_membership(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
    ) -> Result<()> {
        if let (Some(ghost), Membership::Kick | Membership::Ban) =
            (&change.target_ghost, &change.membership)
        {
            return self.matrix_kick(portal, change, ghost).await;
        }
        if let (Membership::Join, None, Some(Target::Channel { network, channel })) =
            (&change.membership, &change.target_ghost, Target::of(portal))
        {
            return self
                .matrix_user_joined(&network, &channel, &change.target)
                .await;
        }
        let leaving = matches!(
            change.membership,
            Membership::Leave | Membership::Kick | Membership::Ban
        );
        if let (true, None, Some(Target::Channel { network, channel })) =
            (leaving, &change.target_ghost, Target::of(portal))
        {
            if let Some(puppet) = self.state(&network).and_then(|s| s.puppet(&change.target)) {
                puppet
                    .send(
                        irc::client::prelude::Command::PART(
                            channel,
                            change.reason.as_deref().map(crate::params::one_line),
                        )
                        .into(),
                    )
                    .await?;
            }
        }
        Ok(())
    }

    /// Inviting an IRC user's ghost to a DM starts a private chat.
    async fn handle_ghost_invite(
        &self,
        inviter: &str,
        ghost: &RemoteUserId,
        _room_id: &str,
    ) -> Result<Option<PortalInfo>> {
        let Some((network, irc_nick)) = ghost.as_str().split_once('/') else {
            return Ok(None);
        };
        self.network(network)?;
        Ok(Some(PortalInfo {
            key: private_portal(network, irc_nick, inviter),
            direct_with: Some(ghost.clone()),
            metadata: serde_json::json!({ "network": network }),
            ..Default::default()
        }))
    }
}

#[async_trait]
impl TopicHandling for IrcNetwork {
    /// A new topic in a channel's room becomes the channel's topic.
    async fn handle_matrix_topic(
        &self,
        portal: &PortalRow,
        sender: &str,
        topic: &str,
    ) -> Result<()> {
        let Some(Target::Channel { network, channel }) = Target::of(portal) else {
            return Ok(());
        };
        if topic.contains(['\r', '\n', '\0']) {
            bail!("IRC topics are one line");
        }
        let puppet = self.puppet(&network, sender).await?;
        self.join_channel(&puppet, &network, &channel).await?;
        puppet
            .send(irc::client::prelude::Command::TOPIC(channel, Some(topic.to_owned())).into())
            .await
    }
}
