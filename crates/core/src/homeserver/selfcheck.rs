//! The startup self-check: the most common setup mistakes, each caught at
//! start with a sentence that says what to fix.

use super::{Homeserver, HsError};
use anyhow::{bail, Result};

/// Checks, in order, that the homeserver answers, that it knows our as_token,
/// and that it can reach us back. Call it once the appservice listens.
pub async fn self_check(
    hs: &Homeserver,
    appservice_id: &str,
    bot_mxid: &str,
    registration_hint: &str,
) -> Result<()> {
    if let Err(err) = hs.versions().await {
        bail!("cannot reach the homeserver at {}: check homeserver.address in the config and that the homeserver runs ({err})", hs.address());
    }
    match hs.whoami().await {
        Ok(user) if user == bot_mxid => {}
        Ok(user) => bail!(
            "the as_token belongs to {user}, not to the bridge bot {bot_mxid}: check appservice.bot.username and homeserver.domain against the registration"
        ),
        Err(HsError::Matrix { errcode, .. }) if errcode == "M_UNKNOWN_TOKEN" || errcode == "M_MISSING_TOKEN" => bail!(
            "the homeserver does not know this registration: add {registration_hint} to app_service_config_files and restart it"
        ),
        Err(err) => bail!("the homeserver refused the bridge's as_token check: {err}"),
    }
    let txn = format!("causeway-selfcheck-{}", crate::store::now_ms());
    match hs.ping_appservice(appservice_id, &txn).await {
        Ok(ms) => tracing::info!(round_trip_ms = ms, "the homeserver reaches the bridge"),
        Err(HsError::Matrix { status: 404, errcode, .. }) if errcode == "M_UNRECOGNIZED" => {
            tracing::warn!("the homeserver does not support the appservice ping; skipping the reachability check")
        }
        Err(HsError::Matrix { errcode, message, .. }) => match errcode.as_str() {
            "M_URL_NOT_SET" => bail!("the registration has no url: set it to appservice.address and restart the homeserver"),
            "M_CONNECTION_FAILED" => bail!(
                "the homeserver cannot connect to the bridge: check that the registration's url matches appservice.address and that the homeserver can reach it ({message})"
            ),
            "M_BAD_STATUS" => bail!(
                "the homeserver reached the bridge but was refused: the hs_token in the registration and the config differ, regenerate the registration and restart the homeserver ({message})"
            ),
            "M_FORBIDDEN" => bail!("the appservice id {appservice_id:?} does not match the registration's id: fix appservice.id"),
            _ => bail!("the homeserver's ping of the bridge failed: {errcode} {message}"),
        },
        Err(err) => bail!("the homeserver's ping of the bridge failed: {err}"),
    }
    Ok(())
}
