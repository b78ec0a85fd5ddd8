//! Telling users about their IRC connection in their management room, named
//! "<Network> IRC Bridge status" when the bridge creates it: the first
//! connection, a nick someone else holds, a refused login. A problem is told
//! once, not on every message that runs into it.

use crate::connection::{Connection, LoginRefused, NickRefused};
use crate::network::IrcNetwork;

/// A Matrix user's place on one IRC network.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct UserOnNetwork {
    network: String,
    mxid: String,
}

impl UserOnNetwork {
    fn new(network: &str, mxid: &str) -> Self {
        Self {
            network: network.to_owned(),
            mxid: mxid.to_owned(),
        }
    }
}

/// "<Network> IRC Bridge status", as the guide names the room; a network
/// whose name already ends in "IRC" ("Local IRC") does not say it twice.
fn status_room_name(network: &str) -> String {
    let network = network.strip_suffix(" IRC").unwrap_or(network);
    format!("{network} IRC Bridge status")
}

impl IrcNetwork {
    /// Sends a notice to the user's management room, creating it if needed.
    pub(crate) async fn tell_user(&self, network: &str, mxid: &str, text: &str) {
        let result = async {
            let bridge = self.bridge()?;
            let name = status_room_name(&self.network(network)?.name);
            let room = bridge.ensure_management_room(mxid, &name).await?;
            bridge.bot_notice(&room, text).await
        }
        .await;
        if let Err(err) = result {
            tracing::warn!(
                network,
                mxid,
                "cannot tell a user about their connection: {err:#}"
            );
        }
    }

    /// The first connection opens the status room with who the user is on
    /// IRC; after a reported problem, the user learns it is solved.
    pub(crate) async fn report_connected(&self, network: &str, mxid: &str, conn: &Connection) {
        let had_problem = self.state(network).is_some_and(|s| s.clear_report(mxid));
        let first_time = match self.bridge() {
            Ok(bridge) => bridge
                .store()
                .get_user(mxid)
                .await
                .map(|u| u.and_then(|u| u.management_room).is_none())
                .unwrap_or(false),
            Err(_) => false,
        };
        if !first_time && !had_problem {
            return;
        }
        let name = self
            .network(network)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let mut text = format!("You are connected to {name} as `{}`.", conn.nick());
        if let Some(account) = conn.account() {
            text.push_str(&format!(" You are logged in as `{account}`."));
        }
        if first_time {
            text.push_str(" This room is where I tell you about your connection; send `!help` for what you can do here.");
            if !had_problem {
                // Joining connects; the status room comes with the first
                // message, as the guide describes.
                let user = UserOnNetwork::new(network, mxid);
                self.inner.welcomes.insert(user, text);
                return;
            }
        }
        self.tell_user(network, mxid, &text).await;
    }

    /// A user's first message on a network: the welcome their connection
    /// left waiting, if any, opens their status room now.
    pub(crate) async fn welcome_on_first_message(&self, network: &str, mxid: &str) {
        let user = UserOnNetwork::new(network, mxid);
        if let Some((_, text)) = self.inner.welcomes.remove(&user) {
            self.tell_user(network, mxid, &text).await;
        }
    }

    /// A connection the user cannot fix by waiting: a nick in use or a
    /// refused login. Told once until it is solved.
    pub(crate) async fn report_connect_failure(
        &self,
        network: &str,
        mxid: &str,
        err: &anyhow::Error,
    ) {
        let name = self
            .network(network)
            .map(|n| n.name.clone())
            .unwrap_or_default();
        let advice = if let Some(refused) = err.downcast_ref::<NickRefused>() {
            format!(
                "I cannot connect you to {name}: the nick `{}` is not available ({}). Choose another with `!nick {network} NewNick`. Your messages are not sent to IRC until then.",
                refused.nick,
                causeway_core::format::escape_markdown(&refused.reason)
            )
        } else if let Some(refused) = err.downcast_ref::<LoginRefused>() {
            format!(
                "I cannot connect you to {name}: {}. Store the right password with `!storepass {network} password`, or remove it with `!removepass {network}`.",
                causeway_core::format::escape_markdown(&refused.to_string())
            )
        } else {
            return;
        };
        if !self
            .state(network)
            .is_some_and(|s| s.report_once(mxid, &advice))
        {
            return;
        }
        self.tell_user(network, mxid, &advice).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_status_room_names_the_network_and_says_irc_once() {
        assert_eq!(
            status_room_name("Libera.Chat"),
            "Libera.Chat IRC Bridge status"
        );
        assert_eq!(status_room_name("Local IRC"), "Local IRC Bridge status");
    }
}
