//! Files both ways. Matrix media goes to XMPP as a signed public link in an
//! out-of-band element (XEP-0066); an out-of-band link from XMPP is copied
//! to Matrix when it is safe and small enough, and posted as a link if not.

use anyhow::{bail, Context as _, Result};
use causeway_core::Bridge;
use serde_json::{json, Value};
use std::net::IpAddr;
use std::time::Duration;

/// What the bridge may fetch for an XMPP user.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    pub max_bytes: usize,
    /// Loopback and private networks; off except in tests and closed setups.
    pub allow_private: bool,
}

/// Matrix content for a file linked from XMPP.
pub async fn from_oob(bridge: &Bridge, policy: &FetchPolicy, url: &str) -> Value {
    match fetch_and_upload(bridge, policy, url).await {
        Ok(content) => content,
        Err(err) => {
            tracing::info!(url, "not copying a linked file: {err:#}");
            json!({ "msgtype": "m.text", "body": url })
        }
    }
}

async fn fetch_and_upload(bridge: &Bridge, policy: &FetchPolicy, url: &str) -> Result<Value> {
    let parsed = reqwest::Url::parse(url).context("not a URL")?;
    if !matches!(parsed.scheme(), "http" | "https") {
        bail!("only http and https links are fetched");
    }
    let host = parsed.host_str().context("no host")?.to_owned();
    let port = parsed.port_or_known_default().unwrap_or(80);
    let addrs: Vec<_> = tokio::net::lookup_host((host.as_str(), port))
        .await
        .context("cannot resolve the host")?
        .collect();
    let first = addrs.first().context("the host has no address")?;
    if !policy.allow_private && addrs.iter().any(|a| is_private(a.ip())) {
        bail!("{host} is a private address");
    }
    // Pin the checked address, so a second lookup cannot point elsewhere.
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .timeout(Duration::from_secs(30))
        .resolve(&host, *first)
        .build()?;
    let mut response = client.get(parsed.clone()).send().await?;
    if !response.status().is_success() {
        bail!("the server answered {}", response.status());
    }
    if response.content_length().unwrap_or(0) as usize > policy.max_bytes {
        bail!("the file is larger than {} bytes", policy.max_bytes);
    }
    let mime = response
        .headers()
        .get(reqwest::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/octet-stream")
        .to_owned();
    let mut data = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        data.extend_from_slice(&chunk);
        if data.len() > policy.max_bytes {
            bail!("the file is larger than {} bytes", policy.max_bytes);
        }
    }
    let name = parsed
        .path_segments()
        .and_then(|mut s| s.next_back())
        .filter(|s| !s.is_empty())
        .map(|s| {
            urlencoding::decode(s)
                .map(|c| c.into_owned())
                .unwrap_or_else(|_| s.to_owned())
        })
        .unwrap_or_else(|| "file".into());
    let size = data.len();
    let mxc = bridge
        .homeserver()
        .upload(bridge.bot(), data, &mime, &name)
        .await?;
    let msgtype = match mime.split('/').next() {
        Some("image") => "m.image",
        Some("video") => "m.video",
        Some("audio") => "m.audio",
        _ => "m.file",
    };
    Ok(json!({
        "msgtype": msgtype,
        "body": name,
        "url": mxc,
        "info": { "mimetype": mime, "size": size },
    }))
}

fn is_private(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.octets()[0] == 100 && (v4.octets()[1] & 0xc0) == 64
        }
        IpAddr::V6(v6) => {
            v6.is_loopback()
                || v6.is_unspecified()
                || (v6.segments()[0] & 0xfe00) == 0xfc00
                || (v6.segments()[0] & 0xffc0) == 0xfe80
                || v6
                    .to_ipv4_mapped()
                    .is_some_and(|v4| is_private(IpAddr::V4(v4)))
        }
    }
}

/// The link an XMPP user gets for a Matrix file, if public links are on.
pub fn public_link(bridge: &Bridge, mxc: &str, filename: &str) -> Option<String> {
    causeway_core::public_media::url(bridge, mxc, filename)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_and_loopback_addresses_are_recognised() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "192.168.0.1",
            "169.254.1.1",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
        ] {
            assert!(is_private(private.parse().unwrap()), "{private}");
        }
        for public in ["93.184.216.34", "2606:2800:220:1::1"] {
            assert!(!is_private(public.parse().unwrap()), "{public}");
        }
    }
}
