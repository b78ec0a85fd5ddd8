//! Media downloads streamed from the homeserver, for public links: a file
//! passes through the bridge in chunks, never whole in memory.

use super::{enc, Homeserver, HsError};

/// The authenticated media API's path for an `mxc://` URI. Anything else is
/// refused, so media is only ever fetched from the homeserver.
pub(super) fn download_path(mxc: &str) -> Result<String, HsError> {
    let Some((server, media_id)) = crate::ids::split_mxc(mxc) else {
        return Err(HsError::Matrix {
            status: 400,
            errcode: "M_INVALID_PARAM".into(),
            message: format!("not a valid mxc:// URI: {mxc:?}"),
        });
    };
    Ok(format!(
        "/_matrix/client/v1/media/download/{}/{}",
        enc(server),
        enc(media_id)
    ))
}

impl Homeserver {
    /// Opens the download of one of this homeserver's `mxc://` URIs. The
    /// answer's body is read by the caller, chunk by chunk.
    pub async fn open_download(&self, mxc: &str) -> Result<reqwest::Response, HsError> {
        let url = format!("{}{}", self.base, download_path(mxc)?);
        let response = self
            .http
            .get(url)
            .bearer_auth(&self.as_token)
            .send()
            .await
            .map_err(|e| HsError::Transport(e.to_string()))?;
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let body = response.bytes().await.unwrap_or_default();
        Err(HsError::from_body(status.as_u16(), &body))
    }
}
