//! What Matrix users send, to Telegram, through their login in the chat.

use crate::network::TelegramNetwork;
use anyhow::{Context, Result};
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::store::PortalRow;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};

/// The Telegram chat of a DM portal, from what its first message stored.
fn private_peer(portal: &PortalRow) -> Result<(i64, PeerRef)> {
    let peer = &portal.metadata["peer"];
    let user_id = peer["user_id"]
        .as_i64()
        .context("the portal names no Telegram user")?;
    let id = PeerId::user(user_id).context("not a Telegram user ID")?;
    let auth = peer["access_hash"]
        .as_i64()
        .map(PeerAuth::from_hash)
        .unwrap_or_default();
    Ok((user_id, PeerRef { id, auth }))
}

pub async fn message(
    network: &TelegramNetwork,
    portal: &PortalRow,
    message: &MatrixMessage,
) -> Result<RemoteMessageId> {
    let login = message
        .meta
        .login
        .as_ref()
        .context("no Telegram login carries this message")?;
    let client = network.client(&login.login_id)?;
    let (chat, peer) = private_peer(portal)?;
    // Held while sending, so the update of this very message is known as
    // the bridge's own when it comes back.
    let sent = network
        .sending(&login.login_id, chat, || {
            client.client.send_message(peer, message.body.as_str())
        })
        .await?;
    Ok(RemoteMessageId(format!("{chat}:{sent}")))
}
