//! Ghost lifecycle: register once, set the profile only when it changes.

use crate::bridge::Bridge;
use crate::network::GhostInfo;
use crate::store::GhostRow;
use anyhow::Result;
use ruma::OwnedUserId;

pub(crate) async fn ensure(bridge: &Bridge, info: &GhostInfo) -> Result<OwnedUserId> {
    let mxid = bridge.ghost_mxid(&info.id)?;
    if bridge
        .inner()
        .ghosts
        .get(&info.id)
        .is_some_and(|known| *known == *info)
    {
        return Ok(mxid);
    }
    let store = bridge.store();
    let hs = bridge.homeserver();
    let mut row = store.get_ghost(&info.id).await?.unwrap_or(GhostRow {
        remote_id: info.id.clone(),
        mxid: mxid.to_string(),
        displayname: None,
        avatar_mxc: None,
        registered: false,
    });
    if !row.registered {
        hs.register(mxid.localpart()).await?;
        row.registered = true;
        store.put_ghost(&row).await?;
    }
    if info.displayname.is_some() && row.displayname != info.displayname {
        if let Some(name) = &info.displayname {
            hs.set_displayname(&mxid, name).await?;
        }
        row.displayname = info.displayname.clone();
        store.put_ghost(&row).await?;
    }
    if info.avatar_mxc.is_some() && row.avatar_mxc != info.avatar_mxc {
        if let Some(mxc) = &info.avatar_mxc {
            hs.set_avatar_url(&mxid, mxc).await?;
        }
        row.avatar_mxc = info.avatar_mxc.clone();
        store.put_ghost(&row).await?;
    }
    bridge.inner().ghosts.insert(info.id.clone(), info.clone());
    Ok(mxid)
}
