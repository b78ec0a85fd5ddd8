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
    // Names as `bridge.displayname_template` writes them, such as "Ann (WA)".
    let template = &bridge.config().bridge.displayname_template;
    let displayname = info
        .displayname
        .as_ref()
        .map(|name| template.replace("{name}", name));
    if displayname.is_some() && row.displayname != displayname {
        if let Some(name) = &displayname {
            hs.set_displayname(&mxid, name).await?;
        }
        row.displayname = displayname;
        store.put_ghost(&row).await?;
    }
    let avatar_mxc = match (&info.avatar_mxc, &info.avatar_id) {
        (Some(mxc), _) => Some(mxc.clone()),
        (None, Some(id)) => crate::avatars::mxc_for(bridge, id).await?,
        (None, None) => None,
    };
    if avatar_mxc.is_some() && row.avatar_mxc != avatar_mxc {
        if let Some(mxc) = &avatar_mxc {
            hs.set_avatar_url(&mxid, mxc).await?;
        }
        row.avatar_mxc = avatar_mxc;
        store.put_ghost(&row).await?;
    }
    bridge.inner().ghosts.insert(info.id.clone(), info.clone());
    Ok(mxid)
}
