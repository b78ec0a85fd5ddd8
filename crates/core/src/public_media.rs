//! Signed public links to Matrix media, for networks whose users have no
//! Matrix account, such as IRC. Homeservers now require a login to download
//! media, so the bridge serves the link itself: it checks the signature and
//! the expiry, then streams the file from its own homeserver and nowhere
//! else, within a size cap, and no faster than each client's rate limit.

use crate::appservice::errors::MatrixError;
use crate::bridge::Bridge;
use axum::body::Body;
use axum::extract::{ConnectInfo, Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use std::net::SocketAddr;

/// Where the links are served, below the bridge's public address.
pub const PATH: &str = "/_causeway/media";

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

/// A link anyone can open to the media at `mxc`, shown as `filename`,
/// until `bridge.public_media_expiry_hours` from now; `None` when public
/// media is off or `mxc` is not an `mxc://` URI.
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
    let expires = now_secs() + config.bridge.public_media_expiry_hours * 3600;
    let name: String = filename
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    let name = if name.is_empty() { "file".into() } else { name };
    let signature = signature(bridge, server, media_id, expires, &name);
    Some(format!(
        "{base}{PATH}/{}/{}/{expires}/{signature}/{}",
        urlencoding::encode(server),
        urlencoding::encode(media_id),
        urlencoding::encode(&name)
    ))
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default()
}

/// The first 12 bytes of the HMAC over everything the link says: 96 bits
/// cannot be guessed, and keep the links short enough for one IRC line.
fn signature(bridge: &Bridge, server: &str, media_id: &str, expires: u64, name: &str) -> String {
    let signed = format!("media\0{server}\0{media_id}\0{expires}\0{name}");
    let mac = bridge.secrets().sign(signed.as_bytes());
    ENGINE.encode(&mac[..12])
}

/// `GET /_causeway/media/{server}/{media_id}/{expires}/{signature}/{filename}`.
pub async fn serve(
    State(bridge): State<Bridge>,
    ConnectInfo(client): ConnectInfo<SocketAddr>,
    Path((server, media_id, expires, given, filename)): Path<(
        String,
        String,
        String,
        String,
        String,
    )>,
) -> Result<Response, MatrixError> {
    let not_found = |why: &str| MatrixError::new(StatusCode::NOT_FOUND, "M_NOT_FOUND", why);
    let config = &bridge.config().bridge;
    if !config.public_media {
        return Err(not_found("no such media"));
    }
    if !bridge.inner().media_rate.allow(&client.ip()) {
        metrics::counter!("causeway_public_media_refused_total", "reason" => "rate").increment(1);
        return Err(MatrixError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "M_LIMIT_EXCEEDED",
            "too many requests: try again in a minute",
        ));
    }
    let expires: u64 = expires.parse().map_err(|_| not_found("no such media"))?;
    let expected = signature(&bridge, &server, &media_id, expires, &filename);
    let matches: bool = subtle::ConstantTimeEq::ct_eq(expected.as_bytes(), given.as_bytes()).into();
    if !matches {
        return Err(not_found("no such media"));
    }
    if expires < now_secs() {
        return Err(not_found("this link has expired"));
    }
    let mxc = format!("mxc://{server}/{media_id}");
    let download = bridge
        .homeserver()
        .open_download(&mxc)
        .await
        .map_err(|err| {
            tracing::info!(mxc, "cannot fetch media for a public link: {err}");
            MatrixError::new(
                StatusCode::BAD_GATEWAY,
                "M_UNKNOWN",
                "the homeserver did not return the media",
            )
        })?;
    let cap = config.public_media_max_bytes;
    let too_large = || {
        MatrixError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "M_TOO_LARGE",
            "this file is larger than the bridge serves",
        )
    };
    if download.content_length().is_some_and(|len| len > cap) {
        return Err(too_large());
    }
    let content_type = download
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let disposition = format!(
        "inline; filename*=UTF-8''{}",
        urlencoding::encode(&filename)
    );
    Ok((
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_DISPOSITION, disposition),
            // The file is someone else's: never let a browser run it as ours.
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".into()),
            (
                header::CONTENT_SECURITY_POLICY,
                "sandbox; default-src 'none'".into(),
            ),
        ],
        Body::from_stream(capped(download, cap)),
    )
        .into_response())
}

/// The body of `download`, chunk by chunk; an error (which ends the
/// response early) once more than `cap` bytes came, for a homeserver that
/// did not say the length up front.
fn capped(
    download: reqwest::Response,
    cap: u64,
) -> impl futures_util::Stream<Item = Result<axum::body::Bytes, std::io::Error>> {
    futures_util::stream::try_unfold((download, 0u64), move |(mut download, sent)| async move {
        let chunk = download.chunk().await.map_err(std::io::Error::other)?;
        let Some(chunk) = chunk else {
            return Ok(None);
        };
        let sent = sent + chunk.len() as u64;
        if sent > cap {
            return Err(std::io::Error::other("the file is over the size cap"));
        }
        Ok(Some((chunk, (download, sent))))
    })
}
