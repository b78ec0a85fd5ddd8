//! Idle users: a Matrix user who has not spoken on a network for
//! `idle_timeout_seconds` is disconnected from it, after a warning. `!active`
//! resets the clock. Idle connections cost the IRC network a client slot
//! each, and large networks ask bridges to let them go.

use crate::commands::{command, network_and_rest, network_name};
use crate::network::IrcNetwork;
use crate::state::NetworkState;
use causeway_core::commands::{Command, CommandContext, CommandResult};
use causeway_core::format::human_duration;
use std::time::Duration;

pub fn all(network: &IrcNetwork) -> Vec<Command> {
    vec![command(
        network,
        "active",
        "Actions",
        "[network]",
        "Mark yourself as active, so your connection is not closed for idleness.",
        active,
    )]
}

async fn active(network: IrcNetwork, ctx: CommandContext) -> CommandResult {
    let (net, _) = network_and_rest(&network, &ctx, 0, |_| false)?;
    network.mark_active(&net, &ctx.sender);
    let timeout = network.network(&net)?.idle_timeout_seconds;
    let reply = if timeout == 0 {
        format!(
            "{} never disconnects idle users, so there is nothing to reset.",
            network_name(&network, &net)
        )
    } else {
        format!(
            "Marked you as active on {}: your connection stays open for at least {}.",
            network_name(&network, &net),
            human_duration(timeout)
        )
    };
    ctx.reply(&reply).await?;
    Ok(())
}

impl IrcNetwork {
    /// The user just did something on `network`: the idle clock restarts.
    pub(crate) fn mark_active(&self, network: &str, mxid: &str) {
        if let Some(state) = self.state(network) {
            state.mark_active(mxid);
        }
    }

    /// Checks connections now and then: warns, then disconnects, the idle.
    pub(crate) fn watch_idle_users(&self) {
        let shortest = self
            .inner
            .config
            .networks
            .values()
            .filter(|n| n.idle_timeout_seconds > 0)
            .map(|n| n.idle_warning_seconds.clamp(1, n.idle_timeout_seconds))
            .min();
        let Some(shortest) = shortest else { return };
        let every = Duration::from_secs(shortest.div_ceil(4).clamp(1, 60));
        let this = self.clone();
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                this.check_idle_users().await;
            }
        });
    }

    async fn check_idle_users(&self) {
        for (network, state) in &self.inner.networks {
            let Ok(net) = self.network(network) else {
                continue;
            };
            if net.idle_timeout_seconds == 0 {
                continue;
            }
            for (mxid, _) in state.puppets() {
                self.check_idle_user(network, state, &mxid).await;
            }
        }
    }

    /// Warns a user idle long enough, then disconnects them.
    async fn check_idle_user(&self, network: &str, state: &NetworkState, mxid: &str) {
        let Ok(net) = self.network(network) else {
            return;
        };
        let Some(idle) = state.idle_for(mxid) else {
            state.mark_active(mxid);
            return;
        };
        let timeout = Duration::from_secs(net.idle_timeout_seconds);
        let warn_at = timeout.saturating_sub(Duration::from_secs(net.idle_warning_seconds));
        if idle >= timeout {
            state.forget_activity(mxid);
            if self.drop_puppet(network, mxid, "idle").await.is_some() {
                let text = format!("You were idle on {}, so I disconnected you. You reconnect as soon as you speak in one of its rooms again.", net.name);
                self.tell_user(network, mxid, &text).await;
            }
        } else if idle >= warn_at && state.warn_once(mxid) {
            let text = format!(
                "You have been idle on {} for {}: I will disconnect you in {} unless you speak in one of its rooms or send `!active`.",
                net.name,
                human_duration(idle.as_secs()),
                human_duration((timeout - idle).as_secs().max(1))
            );
            self.tell_user(network, mxid, &text).await;
        }
    }
}
