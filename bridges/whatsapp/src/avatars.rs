//! Profile and group pictures for the core's avatar cache. An avatar ID
//! names the login that may ask, the chat or person, and the picture's own
//! ID, so a new picture is a new ID and fetched once.

use crate::network::WhatsAppNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::LoginId;
use causeway_core::network::AvatarFetching;
use causeway_core::store::LoginRow;
use whatsapp_rust::Jid;

/// Pictures are small; anything bigger is not one.
const MAX_BYTES: usize = 10 * 1024 * 1024;

/// The avatar ID of `whose` current picture, as `login` sees it; `None`
/// when they have none (or hide it).
pub(crate) async fn avatar_id(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    whose: &Jid,
) -> Option<String> {
    let client = network.client(&login.login_id).ok()?;
    let picture = client
        .client
        .contacts()
        .get_profile_picture(whose, false)
        .await
        .ok()??;
    Some(format!(
        "{}|{}|{}",
        login.login_id,
        whose.to_non_ad_string(),
        picture.id
    ))
}

#[async_trait]
impl AvatarFetching for WhatsAppNetwork {
    async fn fetch_avatar(&self, avatar_id: &str) -> Result<(Vec<u8>, String)> {
        let mut fields = avatar_id.splitn(3, '|');
        let (Some(login), Some(whose)) = (fields.next(), fields.next()) else {
            anyhow::bail!("not a WhatsApp avatar ID: {avatar_id}");
        };
        let whose: Jid = whose
            .parse()
            .map_err(|e| anyhow::anyhow!("not a WhatsApp JID in {avatar_id}: {e:?}"))?;
        let client = self.client(&LoginId::from(login))?;
        let picture = client
            .client
            .contacts()
            .get_profile_picture(&whose, false)
            .await
            .map_err(|e| anyhow::anyhow!("WhatsApp gave no picture: {e}"))?
            .context("the picture is gone")?;
        let url = crate::client::fetchable(picture.url, self.config().test_server.is_some());
        let response = reqwest::get(&url).await?.error_for_status()?;
        let mime = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .filter(|m| m.starts_with("image/"))
            .unwrap_or("image/jpeg")
            .to_owned();
        let bytes = response.bytes().await?;
        anyhow::ensure!(bytes.len() <= MAX_BYTES, "the picture is too large");
        Ok((bytes.to_vec(), mime))
    }
}
