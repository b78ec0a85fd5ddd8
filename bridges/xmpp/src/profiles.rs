//! XMPP users' profiles from their vCard-temp: a display name for private
//! chats and an avatar everywhere.
//!
//! Each JID's vCard is fetched once per run, in the background, so that no
//! message waits for it; the ghost is updated when it arrives, and every
//! ghost built afterwards carries it.

use crate::network::XmppNetwork;
use crate::stanza::{self, ns};
use base64::Engine;
use causeway_core::network::GhostInfo;

/// Avatars larger than this are not copied.
const MAX_PHOTO_BYTES: usize = 1024 * 1024;

#[derive(Clone, Debug, Default)]
pub struct Profile {
    pub name: Option<String>,
    pub avatar_mxc: Option<String>,
}

/// Fills in what is known of `bare`'s profile, and fetches it the first
/// time. `use_name` is false where a MUC nick names the ghost instead;
/// where it is true, the ghost's given name is the fallback for a vCard
/// without one.
pub fn fill(net: &XmppNetwork, ghost: &mut GhostInfo, bare: &str, use_name: bool) {
    let known = net.inner.profiles.get(bare).map(|p| p.clone());
    if let Some(Some(profile)) = &known {
        apply(ghost, profile, use_name);
        return;
    }
    let fallback = ghost.clone();
    if use_name {
        // Until the vCard is in, the name is left alone: an event queued
        // now must not overwrite the vCard's name with the fallback.
        ghost.displayname = None;
    }
    if known.is_some() {
        return;
    }
    net.inner.profiles.insert(bare.to_owned(), None);
    let (net, bare) = (net.clone(), bare.to_owned());
    tokio::spawn(async move {
        let profile = fetch(&net, &bare).await.unwrap_or_default();
        net.inner
            .profiles
            .insert(bare.clone(), Some(profile.clone()));
        let mut updated = fallback;
        apply(&mut updated, &profile, use_name);
        if let Ok(bridge) = net.bridge() {
            if let Err(err) = bridge.ensure_ghost(&updated).await {
                tracing::info!(%bare, "cannot update a ghost's profile: {err:#}");
            }
        }
    });
}

fn apply(ghost: &mut GhostInfo, profile: &Profile, use_name: bool) {
    if profile.avatar_mxc.is_some() {
        ghost.avatar_mxc = profile.avatar_mxc.clone();
    }
    if use_name && profile.name.is_some() {
        ghost.displayname = profile.name.clone();
    }
}

async fn fetch(net: &XmppNetwork, bare: &str) -> Option<Profile> {
    let mut iq = stanza::new("iq", &net.config().component_jid, bare, Some("get"), None);
    iq.append_child(stanza::empty("vCard", ns::VCARD, &[]));
    let reply = match net.component().ok()?.request(iq).await {
        Ok(reply) => reply,
        Err(err) => {
            tracing::debug!(%bare, "no vCard: {err:#}");
            return None;
        }
    };
    let card = reply.get_child("vCard", ns::VCARD)?;
    let text = |name: &str| {
        card.get_child(name, ns::VCARD)
            .map(|e| e.text().trim().to_owned())
            .filter(|t| !t.is_empty())
    };
    // Prosody fills NICKNAME with the username; FN is what people set.
    let name = text("FN")
        .or_else(|| text("NICKNAME"))
        .map(|n| n.chars().filter(|c| !c.is_control()).take(100).collect());
    let mut profile = Profile {
        name,
        avatar_mxc: None,
    };
    if let Some(photo) = card.get_child("PHOTO", ns::VCARD) {
        let data: String = photo
            .get_child("BINVAL", ns::VCARD)
            .map(|b| b.text())
            .unwrap_or_default()
            .split_whitespace()
            .collect();
        let mime = photo
            .get_child("TYPE", ns::VCARD)
            .map(|t| t.text())
            .filter(|t| t.starts_with("image/"))
            .unwrap_or_else(|| "image/png".into());
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(data)
            .ok()?;
        // An empty PHOTO is common (bifrost #335): no avatar, no error.
        if !bytes.is_empty() && bytes.len() <= MAX_PHOTO_BYTES {
            let bridge = net.bridge().ok()?;
            match bridge
                .homeserver()
                .upload(bridge.bot(), bytes, &mime, "avatar")
                .await
            {
                Ok(mxc) => profile.avatar_mxc = Some(mxc),
                Err(err) => tracing::info!(%bare, "cannot upload an avatar: {err}"),
            }
        }
    }
    Some(profile)
}
