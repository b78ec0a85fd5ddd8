//! What Matrix users send, to Telegram, through their login in the chat.

use crate::network::TelegramNetwork;
use anyhow::{Context, Result};
use causeway_core::ids::RemoteMessageId;
use causeway_core::matrix_event::MatrixMessage;
use causeway_core::store::PortalRow;
use grammers_client::message::InputMessage;

pub async fn message(
    network: &TelegramNetwork,
    portal: &PortalRow,
    message: &MatrixMessage,
) -> Result<RemoteMessageId> {
    let login = message
        .meta
        .login
        .as_ref()
        .context("no Telegram login carries this message")?;
    let client = network.client(&login.login_id)?;
    let peer = crate::chat_info::peer_of(portal)?;
    let chat = crate::chat_info::chat_key(peer.id);
    // Held while sending, so the update of this very message is known as
    // the bridge's own when it comes back.
    let sent = network
        .sending(&login.login_id, &chat, || {
            client.client.send_message(peer, outgoing(message))
        })
        .await?;
    Ok(RemoteMessageId(format!("{chat}:{sent}")))
}

/// A Matrix message's Telegram form: its HTML as entities when it has
/// some, else its body.
fn outgoing(message: &MatrixMessage) -> InputMessage {
    match &message.html {
        Some(html) => {
            let (text, entities) = crate::msgconv::text_to_telegram::convert(html);
            InputMessage::new().text(text).fmt_entities(entities)
        }
        None => InputMessage::new().text(message.body.as_str()),
    }
}
