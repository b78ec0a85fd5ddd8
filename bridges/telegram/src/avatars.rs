//! Profile and chat photos for the core's avatar cache. An avatar ID (see
//! [`crate::chat_info::avatar_id`]) names the photo, the peer it belongs
//! to, and the login that may fetch it.

use crate::network::TelegramNetwork;
use anyhow::{Context, Result};
use async_trait::async_trait;
use causeway_core::ids::LoginId;
use causeway_core::network::AvatarFetching;
use grammers_client::tl;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};

/// Telegram serves files in chunks of up to 512 KiB.
const CHUNK: i32 = 512 * 1024;
/// Profile photos are small; anything bigger is not a photo.
const MAX_BYTES: usize = 10 * 1024 * 1024;

#[async_trait]
impl AvatarFetching for TelegramNetwork {
    async fn fetch_avatar(&self, avatar_id: &str) -> Result<(Vec<u8>, String)> {
        let mut fields = avatar_id.splitn(4, ':');
        let mut number = || fields.next().and_then(|f| f.parse::<i64>().ok());
        let (photo_id, dialog, hash) = (number(), number(), number());
        let login = fields.next().context("the avatar ID names no login")?;
        let (Some(photo_id), Some(dialog), Some(hash)) = (photo_id, dialog, hash) else {
            anyhow::bail!("not a Telegram avatar ID: {avatar_id}");
        };
        let id = PeerId::from_bot_api_dialog_id(dialog).context("not a Telegram chat")?;
        let peer = PeerRef {
            id,
            auth: PeerAuth::from_hash(hash),
        };
        let client = self.client(&LoginId::from(login))?;
        let location: tl::enums::InputFileLocation = tl::types::InputPeerPhotoFileLocation {
            big: true,
            peer: peer.into(),
            photo_id,
        }
        .into();
        let mut bytes = Vec::new();
        loop {
            let request = tl::functions::upload::GetFile {
                precise: false,
                cdn_supported: false,
                location: location.clone(),
                offset: bytes.len() as i64,
                limit: CHUNK,
            };
            let tl::enums::upload::File::File(chunk) = client.client.invoke(&request).await? else {
                anyhow::bail!("Telegram sent the photo through a CDN");
            };
            let last = chunk.bytes.len() < CHUNK as usize;
            bytes.extend_from_slice(&chunk.bytes);
            anyhow::ensure!(bytes.len() <= MAX_BYTES, "the photo is too large");
            if last {
                return Ok((bytes, "image/jpeg".into()));
            }
        }
    }
}
