//! Media downloads from the homeserver. Public links stream a file through
//! the bridge in chunks, never whole in memory.

use super::{Homeserver, HsError};
use ruma::api::client::authenticated_media::get_content;
use ruma::OwnedServerName;

/// The authenticated media request for an `mxc://` URI. Anything else is
/// refused, so media is only ever fetched from the homeserver.
pub(super) fn download_request(mxc: &str) -> Result<get_content::v1::Request, HsError> {
    let invalid = || HsError::Matrix {
        status: 400,
        errcode: "M_INVALID_PARAM".into(),
        message: format!("not a valid mxc:// URI: {mxc:?}"),
    };
    let (server, media_id) = crate::ids::split_mxc(mxc).ok_or_else(invalid)?;
    let server = OwnedServerName::try_from(server).map_err(|_| invalid())?;
    let media_id = super::request::path_segment(media_id);
    Ok(get_content::v1::Request::new(media_id, server))
}

impl Homeserver {
    /// Opens the download of one of this homeserver's `mxc://` URIs. The
    /// answer's body is read by the caller, chunk by chunk.
    pub async fn open_download(&self, mxc: &str) -> Result<reqwest::Response, HsError> {
        let request = self.http_request(download_request(mxc)?, None)?;
        let (parts, _) = request.into_parts();
        let response = self
            .downloads
            .get(parts.uri.to_string())
            .headers(parts.headers)
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

    /// Downloads one of this homeserver's files whole, for a network that
    /// must upload it in one piece. A file over `max_bytes` is refused with
    /// `M_TOO_LARGE`, before or while it arrives, never held past the cap.
    pub async fn download_at_most(&self, mxc: &str, max_bytes: u64) -> Result<Vec<u8>, HsError> {
        let too_large = || HsError::Matrix {
            status: 413,
            errcode: "M_TOO_LARGE".into(),
            message: format!("the file is larger than the bridge's limit of {max_bytes} bytes"),
        };
        let mut response = self.open_download(mxc).await?;
        if response.content_length().is_some_and(|n| n > max_bytes) {
            return Err(too_large());
        }
        let mut data = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| HsError::Transport(e.to_string()))?
        {
            if (data.len() + chunk.len()) as u64 > max_bytes {
                return Err(too_large());
            }
            data.extend_from_slice(&chunk);
        }
        Ok(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_mxc_uris_make_a_download_request() {
        assert!(download_request("mxc://hs.example/abc").is_ok());
        for bad in ["https://hs/abc", "mxc://hs/a/b", "mxc://bad server/x"] {
            assert!(download_request(bad).is_err(), "{bad}");
        }
    }
}
