//! Remote avatars, fetched from the network once per avatar ID, uploaded
//! once, and their `mxc://` URI reused for every room and ghost that shows
//! them.

use crate::bridge::Bridge;
use anyhow::Result;
use sha2::{Digest, Sha256};

/// The `mxc://` URI for a remote avatar; `None` when the network cannot
/// fetch avatars.
pub(crate) async fn mxc_for(bridge: &Bridge, avatar_id: &str) -> Result<Option<String>> {
    let key = format!("avatar-mxc|{avatar_id}");
    if let Some(mxc) = bridge.store().kv_get(&key).await? {
        return Ok(Some(mxc));
    }
    let Some(fetcher) = bridge.network().avatars() else {
        return Ok(None);
    };
    let (bytes, mime) = fetcher.fetch_avatar(avatar_id).await?;
    let mxc = bridge
        .homeserver()
        .upload(bridge.bot(), bytes, &mime, "avatar")
        .await?;
    bridge.store().kv_set(&key, &mxc).await?;
    metrics::counter!("causeway_avatars_uploaded_total").increment(1);
    Ok(Some(mxc))
}

/// Makes the network's icon known as an `mxc://` URI: `appservice.bot.avatar`
/// when the admin set one, else the icon built into the bridge, uploaded
/// once (keyed by its hash, so a new icon is uploaded anew). The bot wears
/// it, and every room's `m.bridge` shows it.
pub(crate) async fn publish_network_icon(bridge: &Bridge) -> Result<()> {
    let mxc = match bridge.config().appservice.bot.avatar.as_deref() {
        Some(mxc) if !mxc.is_empty() => mxc.to_owned(),
        _ => {
            let icon = bridge.network().info().icon;
            let key = format!("network-icon|{:x}", Sha256::digest(icon));
            match bridge.store().kv_get(&key).await? {
                Some(mxc) => mxc,
                None => {
                    let mxc = bridge
                        .homeserver()
                        .upload(bridge.bot(), icon.to_vec(), "image/png", "icon.png")
                        .await?;
                    bridge.store().kv_set(&key, &mxc).await?;
                    mxc
                }
            }
        }
    };
    let _ = bridge.inner().network_icon.set(mxc.clone());
    // Only a change is sent: every room the bot is in gets a member event.
    let current = bridge.homeserver().get_avatar_url(bridge.bot()).await?;
    if current.as_deref() != Some(mxc.as_str()) {
        bridge
            .homeserver()
            .set_avatar_url(bridge.bot(), &mxc)
            .await?;
    }
    Ok(())
}
