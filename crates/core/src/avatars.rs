//! Remote avatars, fetched from the network once per avatar ID, uploaded
//! once, and their `mxc://` URI reused for every room and ghost that shows
//! them.

use crate::bridge::Bridge;
use anyhow::Result;

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
