//! Double puppeting: what a user does on the remote side from their phone
//! or another client appears in Matrix as their own account, sent through
//! the second registration (`bridge.double_puppet`) with identity
//! assertion, as mautrix bridges do. Anything else, and any user not in the
//! room, is shown by the remote user's ghost.

use crate::bridge::Bridge;
use crate::homeserver::Homeserver;
use crate::network::GhostInfo;
use anyhow::Result;
use ruma::{OwnedUserId, RoomId, UserId};
use serde_json::Value;

/// The marker mautrix bridges put in what they send as a user, so that no
/// bridge sends the event back to where it came from.
pub(crate) const SOURCE_FIELD: &str = "fi.mau.double_puppet_source";

/// Who shows a remote user's action in a room, and through which client.
pub(crate) struct Speaker<'a> {
    pub mxid: OwnedUserId,
    pub client: &'a Homeserver,
    /// The user's own account: what it sends carries [`SOURCE_FIELD`].
    pub puppet: bool,
}

impl Speaker<'_> {
    /// Marks content sent as the user, so it is not bridged back.
    pub(crate) fn mark(&self, content: &mut Value) {
        if self.puppet {
            content[SOURCE_FIELD] = Value::from("causeway");
        }
    }
}

impl Bridge {
    /// The speaker for `sender` in `room`: the login's own Matrix user when
    /// the sender is the account of one of our logins, double puppeting is
    /// set up, and that user is in the room; otherwise the sender's ghost,
    /// joined.
    pub(crate) async fn speaker(&self, room: &RoomId, sender: &GhostInfo) -> Result<Speaker<'_>> {
        if let (Some(login), Some(client)) = (&sender.own_login, &self.inner().double_puppet) {
            if let Some(login) = self.store().get_login(self.secrets(), login).await? {
                let user = UserId::parse(login.mxid.as_str())?;
                let local = user.server_name().as_str() == self.config().homeserver.domain;
                if local && self.is_member(room, &user).await? {
                    return Ok(Speaker {
                        mxid: user,
                        client,
                        puppet: true,
                    });
                }
            }
        }
        let ghost = self.ensure_ghost(sender).await?;
        self.ensure_joined(room, &ghost).await?;
        Ok(Speaker {
            mxid: ghost,
            client: self.homeserver(),
            puppet: false,
        })
    }

    async fn is_member(&self, room: &RoomId, user: &UserId) -> Result<bool> {
        let members = self.homeserver().joined_members(self.bot(), room).await?;
        Ok(members.iter().any(|m| m == user))
    }
}
