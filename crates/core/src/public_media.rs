//! Signed public links to Matrix media, for networks whose users have no
//! Matrix account, such as IRC. Homeservers now require a login to download
//! media, so the bridge serves the link itself: it checks the signature,
//! then fetches the file from its own homeserver and nowhere else.

use crate::appservice::errors::MatrixError;
use crate::bridge::Bridge;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

/// Where the links are served, below the bridge's public address.
pub const PATH: &str = "/_causeway/media";

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A link anyone can open to the media at `mxc`, shown as `filename`; `None`
/// when public media is off or `mxc` is not an `mxc://` URI.
pub fn url(bridge: &Bridge, mxc: &str, filename: &str) -> Option<String> {
    let config = bridge.config();
    if !config.bridge.public_media {
        return None;
    }
    let (server, media_id) = crate::ids::split_mxc(mxc)?;
    let base = match config.appservice.public_address.trim_end_matches('/') {
        "" => config.appservice.address.trim_end_matches('/'),
        public => public,
    };
    let signature = signature(bridge, server, media_id);
    let name: String = filename
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    Some(format!(
        "{base}{PATH}/{}/{}/{signature}/{}",
        urlencoding::encode(server),
        urlencoding::encode(media_id),
        urlencoding::encode(if name.is_empty() { "file" } else { &name })
    ))
}

/// The first 12 bytes of the HMAC: 96 bits cannot be guessed, and keep the
/// links short enough for one IRC line.
fn signature(bridge: &Bridge, server: &str, media_id: &str) -> String {
    let mac = bridge
        .secrets()
        .sign(format!("media\0{server}\0{media_id}").as_bytes());
    ENGINE.encode(&mac[..12])
}

/// `GET /_causeway/media/{server}/{media_id}/{signature}/{filename}`.
pub async fn serve(
    State(bridge): State<Bridge>,
    Path((server, media_id, given, filename)): Path<(String, String, String, String)>,
) -> Result<Response, MatrixError> {
    let not_found = || MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", "no such media");
    if !bridge.config().bridge.public_media {
        return Err(not_found());
    }
    let expected = signature(&bridge, &server, &media_id);
    let matches: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into();
    if !matches {
        return Err(not_found());
    }
    let mxc = format!("mxc://{server}/{media_id}");
    let (bytes, content_type) = bridge.homeserver().download(&mxc).await.map_err(|err| {
        tracing::info!(mxc, "cannot fetch media for a public link: {err}");
        MatrixError::new(
            StatusCode::BAD_GATEWAY,
            "M_UNKNOWN",
            "the homeserver did not return the media",
        )
    })?;
    let disposition = format!(
        "inline; filename*=UTF-8''{}",
        urlencoding::encode(&filename)
    );
    Ok((
        [
            (
                header::CONTENT_TYPE,
                content_type.unwrap_or_else(|| "application/octet-stream".into()),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            // The file is someone else's: never let a browser run it as ours.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".into(),
            ),
        ],
        bytes,
    )
        .into_response())
}
