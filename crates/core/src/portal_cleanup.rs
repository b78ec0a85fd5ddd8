//! Taking portals down: a room the bridge made is emptied (its Matrix users
//! kicked, its ghosts gone, the bot last) and forgotten; a plumbed room is
//! only unlinked, since it belongs to its users.

use crate::bridge::Bridge;
use crate::ids::{LoginId, PortalKey};
use crate::store::PortalRow;
use anyhow::Result;

/// What leaving a portal did.
pub(crate) enum Left {
    /// Nobody else bridged the chat: its room is gone.
    Deleted,
    /// Other logins still bridge the chat: only the user left.
    Stays,
}

const REASON: &str = "This chat's portal was deleted from the bridge";

impl Bridge {
    /// Empties a portal's room and forgets the portal.
    pub(crate) async fn delete_portal_room(&self, portal: &PortalRow) -> Result<()> {
        if portal.plumbed {
            return self.unlink_portal(&portal.key).await;
        }
        if let Some(room) = portal
            .room_id
            .as_deref()
            .map(Bridge::parse_room)
            .transpose()?
        {
            let hs = self.homeserver();
            for member in hs.joined_members(self.bot(), &room).await? {
                if member == *self.bot() {
                    continue;
                }
                let removed = if self.is_bridge_user(member.as_str()) {
                    hs.leave(&member, &room, None).await
                } else {
                    hs.kick(self.bot(), &room, &member, Some(REASON)).await
                };
                if let Err(err) = removed {
                    tracing::warn!(%member, %room, "cannot remove a member of a deleted portal: {err}");
                }
                self.forget_joined(&room, &member);
            }
            hs.leave(self.bot(), &room, Some(REASON)).await?;
            self.forget_joined(&room, self.bot());
        }
        self.store().delete_portal(&portal.key).await?;
        metrics::counter!("causeway_portals_deleted_total").increment(1);
        Ok(())
    }

    /// A user's login leaves a portal: the room is deleted if no other
    /// login bridges the chat; otherwise the user is removed from it.
    pub(crate) async fn leave_portal(
        &self,
        key: &PortalKey,
        login: &LoginId,
        mxid: &str,
    ) -> Result<Left> {
        let Some(portal) = self.store().get_portal(key).await? else {
            self.store().remove_portal_login(key, login).await?;
            return Ok(Left::Deleted);
        };
        let others = self
            .store()
            .portal_logins(key)
            .await?
            .into_iter()
            .filter(|other| other != login)
            .count();
        if others == 0 {
            self.delete_portal_room(&portal).await?;
            return Ok(Left::Deleted);
        }
        self.store().remove_portal_login(key, login).await?;
        if let Some(room) = portal
            .room_id
            .as_deref()
            .map(Bridge::parse_room)
            .transpose()?
        {
            let user = ruma::UserId::parse(mxid)?;
            self.homeserver()
                .kick(
                    self.bot(),
                    &room,
                    &user,
                    Some("You left this chat's portal"),
                )
                .await?;
            self.forget_joined(&room, &user);
        }
        Ok(Left::Stays)
    }
}
