//! Channel moderation both ways: kicks and bans, operator and voice modes
//! as power levels, and invite-only or keyed channels as invite-only rooms.

use crate::connection::{Connection, ModeChange};
use crate::network::{IrcNetwork, Target};
use anyhow::{bail, Result};
use causeway_core::ids::RemoteUserId;
use causeway_core::matrix_event::{MatrixMembership, Membership};
use causeway_core::remote::{PowerTarget, RemoteEvent, RemoteMembership};
use causeway_core::store::PortalRow;
use irc::proto::Command;

impl IrcNetwork {
    /// The Matrix user behind one of our puppet nicks.
    fn matrix_user_of(&self, network: &str, nick: &str) -> Option<String> {
        let folded = self.fold(network, nick);
        self.state(network)?
            .puppets()
            .into_iter()
            .find(|(_, conn)| self.fold(network, &conn.nick()) == folded)
            .map(|(mxid, _)| mxid)
    }

    /// An IRC KICK: a kicked Matrix user leaves the room too; a kicked IRC
    /// user's ghost is kicked by the kicker's ghost.
    pub(crate) async fn irc_kick(
        &self,
        bot: &Connection,
        channel: &str,
        target: &str,
        by: &str,
        reason: Option<String>,
    ) -> Result<()> {
        let net = &bot.network;
        let why = format!(
            "kicked on IRC by {by}{}",
            reason
                .as_ref()
                .map(|r| format!(": {r}"))
                .unwrap_or_default()
        );
        if let Some(mxid) = self.matrix_user_of(net, target) {
            // A kick the Matrix side asked for is already in the room.
            if self.matrix_user_of(net, by).is_some() {
                return Ok(());
            }
            let event = RemoteEvent::RemoveMatrixUser {
                mxid,
                reason: Some(why),
                ban: false,
            };
            return self.to_channel_room(net, channel, event).await;
        }
        self.forget_member(bot, channel, target);
        if self.is_ours(bot, target) || self.matrix_user_of(net, by).is_some() {
            return Ok(());
        }
        let change = RemoteMembership::Kicked {
            by: Self::ghost_info(net, by),
            reason,
        };
        let event = RemoteEvent::Membership {
            sender: Self::ghost_info(net, target),
            change,
        };
        self.to_channel_room(net, channel, event).await
    }

    /// Status modes become power levels; `i` and `k` make the room
    /// invite-only, as the channel is.
    pub(crate) async fn irc_modes(
        &self,
        bot: &Connection,
        channel: &str,
        changes: &[ModeChange],
    ) -> Result<()> {
        let net = &bot.network;
        let levels = &self.network(net)?.mode_power_levels;
        for change in changes {
            match (change.mode, &change.argument) {
                ('i' | 'k', _) => {
                    let invite_only =
                        self.state_of(net)?
                            .set_lock(bot.fold(channel), change.mode, change.adding);
                    self.to_channel_room(net, channel, RemoteEvent::JoinRule { invite_only })
                        .await?;
                }
                (mode, Some(nick)) if levels.contains_key(&mode.to_string()) => {
                    let level = if change.adding {
                        levels.get(&mode.to_string()).copied().unwrap_or(0)
                    } else {
                        0
                    };
                    self.set_rank(bot, channel, nick, level).await?;
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// An IRC user's power level in the channel's room.
    pub(crate) async fn set_rank(
        &self,
        bot: &Connection,
        channel: &str,
        nick: &str,
        level: i64,
    ) -> Result<()> {
        let target = match self.matrix_user_of(&bot.network, nick) {
            Some(mxid) => PowerTarget::MatrixUser(mxid),
            None if self.is_ours(bot, nick) => return Ok(()),
            None => PowerTarget::Ghost(Self::ghost_info(&bot.network, nick)),
        };
        let event = RemoteEvent::PowerLevel { target, level };
        self.to_channel_room(&bot.network, channel, event).await
    }

    /// The power level for the modes a NAMES entry shows, if any counts.
    pub(crate) fn rank_from_names(&self, network: &str, modes: &[char]) -> Option<i64> {
        let levels = &self.network(network).ok()?.mode_power_levels;
        modes
            .iter()
            .filter_map(|m| levels.get(&m.to_string()).copied())
            .max()
            .filter(|level| *level > 0)
    }

    /// A Matrix kick or ban of an IRC user's ghost: the kicker's own
    /// connection kicks (and bans) them on IRC, if the kicker is an operator
    /// there. The server's refusal becomes the error.
    pub(crate) async fn matrix_kick(
        &self,
        portal: &PortalRow,
        change: &MatrixMembership,
        ghost: &RemoteUserId,
    ) -> Result<()> {
        let Some(Target::Channel { network, channel }) = Target::of(portal) else {
            return Ok(());
        };
        let Some((ghost_network, nick)) = ghost.as_str().split_once('/') else {
            return Ok(());
        };
        if ghost_network != network {
            return Ok(());
        }
        let puppet = self.puppet(&network, &change.meta.sender).await?;
        self.join_channel(&puppet, &network, &channel).await?;
        if change.membership == Membership::Ban {
            let mask = format!("{nick}!*@*");
            let ban = Command::ChannelMODE(
                channel.clone(),
                vec![irc::proto::Mode::Plus(
                    irc::proto::ChannelMode::Ban,
                    Some(mask),
                )],
            );
            puppet.send(ban.into()).await?;
        }
        let reason = change.reason.as_deref().map(crate::params::one_line);
        let kick = Command::KICK(channel.clone(), nick.to_owned(), reason);
        let folded = puppet.fold(nick);
        let replies = puppet
            .request(kick.into(), |m| match &m.command {
                Command::KICK(_, kicked, _) => puppet.fold(kicked) == folded,
                Command::Response(r, _) => matches!(*r as u16, 401 | 403 | 441 | 442 | 482),
                _ => false,
            })
            .await?;
        if let Some(Command::Response(code, args)) = replies.last().map(|m| &m.command) {
            bail!(
                "IRC refused to kick {nick} from {channel}: {} ({})",
                args.last().map(String::as_str).unwrap_or("no reason given"),
                *code as u16
            );
        }
        Ok(())
    }
}
