//! Which login a Matrix event goes out through on an account-shaped
//! network: the sender's own login in that chat; else, for a new
//! message, the portal's relay login, under the sender's name; else none,
//! and the room is told how to log in. Room-shaped networks (IRC, XMPP)
//! have no logins and skip all of this.

use crate::access::{refuse, Access, Refusal};
use crate::bridge::Bridge;
use crate::matrix_event::{MatrixEventMeta, SenderLogin};
use crate::store::{LoginRow, PortalRow};
use anyhow::Result;
use ruma::events::{AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent};

/// Picks the login for a portal event and puts it in `meta`; returns the
/// access that results (relayed through the relay login, or refused).
pub(crate) async fn pick(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &AnyTimelineEvent,
    meta: &mut MatrixEventMeta,
    access: Access,
) -> Result<Access> {
    if !bridge.network().account_shaped() || !needs_login(event) {
        return Ok(access);
    }
    let store = bridge.store();
    if access == Access::Full {
        if let Some(login) = bridge.login_in_portal(portal, &meta.sender).await? {
            meta.login = Some(SenderLogin {
                login_id: login.login_id,
                remote_name: login.remote_name,
                relay: false,
            });
            return Ok(Access::Full);
        }
    }
    let relay = match store.relay_login(&portal.key).await? {
        Some(id) => store.get_login(bridge.secrets(), &id).await?,
        None => None,
    };
    let Some(relay) = relay else {
        return Ok(refuse(bridge, meta, Refusal::NotLoggedIn).await);
    };
    if !is_new_message(event) {
        return Ok(refuse(bridge, meta, Refusal::RelayOnlyMessages).await);
    }
    meta.login = Some(SenderLogin {
        login_id: relay.login_id,
        remote_name: relay.remote_name,
        relay: true,
    });
    Ok(Access::Relay)
}

impl Bridge {
    /// A login of `mxid`'s that is in the portal's chat, if any.
    pub async fn login_in_portal(
        &self,
        portal: &PortalRow,
        mxid: &str,
    ) -> Result<Option<LoginRow>> {
        let own = self.store().logins_of(self.secrets(), mxid).await?;
        // A chat of one login's (a DM) is that login's; others are asked.
        if let Some(receiver) = own
            .iter()
            .find(|login| portal.key.receiver.as_ref() == Some(&login.login_id))
        {
            return Ok(Some(receiver.clone()));
        }
        if own.is_empty() {
            return Ok(None);
        }
        let in_chat = self.store().portal_logins(&portal.key).await?;
        Ok(own
            .into_iter()
            .find(|login| in_chat.contains(&login.login_id)))
    }
}

/// Events that act on the remote chat, and so need a login to go out.
fn needs_login(event: &AnyTimelineEvent) -> bool {
    matches!(
        event,
        AnyTimelineEvent::MessageLike(
            AnyMessageLikeEvent::RoomMessage(_)
                | AnyMessageLikeEvent::Reaction(_)
                | AnyMessageLikeEvent::RoomRedaction(_)
        ) | AnyTimelineEvent::State(AnyStateEvent::RoomTopic(_))
    )
}

/// A message that is not an edit: the only thing a relay sends for others.
fn is_new_message(event: &AnyTimelineEvent) -> bool {
    match event {
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(message)) => {
            !crate::access::is_edit(message)
        }
        _ => false,
    }
}
