//! Which portal a Telegram chat is: a private chat belongs to its login; a
//! group, supergroup or channel is shared by every login in it. The
//! portal's metadata keeps what sending there needs (the peer's ID and
//! access hash).

use anyhow::{Context, Result};
use causeway_core::chat_info::ChatKind;
use causeway_core::ids::RemoteUserId;
use causeway_core::network::PortalInfo;
use causeway_core::store::{LoginRow, PortalRow};
use causeway_core::Bridge;
use grammers_session::types::{PeerAuth, PeerId, PeerKind, PeerRef};
use serde_json::json;

/// A chat's ID in portal keys and message IDs: Telegram's "dialog ID",
/// unique across users, groups and channels.
pub(crate) fn chat_key(peer: PeerId) -> String {
    peer.bot_api_dialog_id_unchecked().to_string()
}

/// The portal of a chat, as `login` sees it; `name` is the chat's title
/// (or the person's name), `auth` its access hash when it needs one.
pub(crate) fn portal_info(
    bridge: &Bridge,
    login: &LoginRow,
    peer: PeerRef,
    name: Option<String>,
    broadcast: bool,
) -> PortalInfo {
    let kind = peer.id.kind();
    let direct = kind == PeerKind::User;
    let bare = peer.id.bare_id().unwrap_or_default();
    PortalInfo {
        key: bridge.chat_portal_key(&chat_key(peer.id), &login.login_id, direct),
        name,
        invite: vec![login.mxid.clone()],
        direct_with: direct.then(|| RemoteUserId(bare.to_string())),
        login: Some(login.login_id.clone()),
        metadata: json!({ "peer": { "dialog_id": peer.id.bot_api_dialog_id_unchecked(), "access_hash": peer.auth.hash() } }),
        kind: Some(match kind {
            PeerKind::User => ChatKind::Direct,
            PeerKind::Channel if broadcast => ChatKind::Channel,
            _ => ChatKind::Group,
        }),
        ..Default::default()
    }
}

/// The Telegram chat of a portal, from its metadata.
pub(crate) fn peer_of(portal: &PortalRow) -> Result<PeerRef> {
    let peer = &portal.metadata["peer"];
    let dialog = peer["dialog_id"]
        .as_i64()
        .context("the portal names no Telegram chat")?;
    let id = PeerId::from_bot_api_dialog_id(dialog).context("not a Telegram chat ID")?;
    let auth = peer["access_hash"]
        .as_i64()
        .map(PeerAuth::from_hash)
        .unwrap_or_default();
    Ok(PeerRef { id, auth })
}
