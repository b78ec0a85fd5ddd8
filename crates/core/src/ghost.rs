//! Ghost lifecycle: register once, set the profile only when it changes.

use crate::bridge::Bridge;
use crate::network::GhostInfo;
use crate::store::GhostRow;
use anyhow::Result;
use ruma::OwnedUserId;

/// A ghost whose profile is on the homeserver as `info` says, with its
/// MXID: every message of a remote user asks for both, and making the MXID
/// again each time (template, escaping, validation) took nearly 2% of the
/// bridge's CPU for a line from IRC.
pub(crate) struct KnownGhost {
    pub info: GhostInfo,
    pub mxid: OwnedUserId,
}

pub(crate) async fn ensure(bridge: &Bridge, info: &GhostInfo) -> Result<OwnedUserId> {
    if let Some(known) = bridge.inner().ghosts.get(&info.id) {
        if known.info == *info {
            return Ok(known.mxid.clone());
        }
    }
    let mxid = bridge.ghost_mxid(&info.id)?;
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
    let known = KnownGhost {
        info: info.clone(),
        mxid: mxid.clone(),
    };
    bridge.inner().ghosts.insert(info.id.clone(), known);
    Ok(mxid)
}
