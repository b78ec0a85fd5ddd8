//! `bridge <room@service>` and `unbridge` for MUCs: the core checks the
//! Matrix room and the caller; this checks the MUC and joins or leaves it.

use super::{disco_room, ensure_puppet, portal_info, remove_puppet, track};
use crate::addressing;
use crate::network::XmppNetwork;
use anyhow::Result;
use async_trait::async_trait;
use causeway_core::network::{PlumbHandling, PortalInfo};
use causeway_core::store::PortalRow;
use causeway_core::Bridge;
use xmpp_parsers::jid::BareJid;

#[async_trait]
impl PlumbHandling for XmppNetwork {
    async fn plumb_target(&self, _user: &str, chat_id: &str) -> Result<Result<PortalInfo, String>> {
        let room = match BareJid::new(chat_id) {
            Ok(room) if room.node().is_some() => room,
            _ => {
                return Ok(Err(format!(
                    "`{chat_id}` is not a group chat address: give one like `room@conference.example.com`."
                )))
            }
        };
        let disco = match disco_room(self, &room).await {
            Ok(disco) => disco,
            Err(why) => return Ok(Err(why)),
        };
        // Our occupants join as the component's users, which such a room
        // would turn away.
        let closed = [
            ("muc_passwordprotected", "needs a password"),
            ("muc_membersonly", "is for its members only"),
        ];
        if let Some((_, why)) = closed
            .iter()
            .find(|(feature, _)| disco.features.iter().any(|f| f == feature))
        {
            return Ok(Err(format!("{room} {why}, so the bridge cannot join it.")));
        }
        Ok(Ok(portal_info(&room, &disco.name)))
    }

    async fn bridged(&self, portal: &PortalRow) -> Result<()> {
        let (Some(room), Some(room_id)) = (
            addressing::muc_of_portal(&portal.key),
            portal.room_id.as_deref(),
        ) else {
            return Ok(());
        };
        track(self, &room);
        let bridge = self.bridge()?;
        let members = bridge
            .homeserver()
            .joined_members_named(bridge.bot(), &Bridge::parse_room(room_id)?)
            .await?;
        for (mxid, name) in members {
            if !bridge.is_bridge_user(mxid.as_str()) {
                ensure_puppet(self, &room, mxid.as_str(), name.as_deref(), true);
            }
        }
        Ok(())
    }

    async fn unbridged(&self, portal: &PortalRow) -> Result<()> {
        let Some(room) = addressing::muc_of_portal(&portal.key) else {
            return Ok(());
        };
        let puppets: Vec<String> = self
            .inner
            .mucs
            .get(room.as_str())
            .map(|state| state.puppets.keys().cloned().collect())
            .unwrap_or_default();
        for mxid in puppets {
            remove_puppet(self, &room, &mxid, Some("unbridged from Matrix"));
        }
        self.inner.mucs.remove(room.as_str());
        Ok(())
    }
}
