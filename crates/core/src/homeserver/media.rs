//! Media downloads streamed from the homeserver, for public links: a file
//! passes through the bridge in chunks, never whole in memory.

use super::{Homeserver, HsError};

impl Homeserver {
    /// Opens the download of one of this homeserver's `mxc://` URIs. The
    /// answer's body is read by the caller, chunk by chunk.
    pub async fn open_download(&self, mxc: &str) -> Result<reqwest::Response, HsError> {
        let Some((server, media_id)) = crate::ids::split_mxc(mxc) else {
            return Err(HsError::Matrix {
                status: 400,
                errcode: "M_INVALID_PARAM".into(),
                message: format!("not a valid mxc:// URI: {mxc:?}"),
            });
        };
        let url = format!(
            "{}/_matrix/client/v1/media/download/{}/{}",
            self.base,
            urlencoding::encode(server),
            urlencoding::encode(media_id)
        );
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
