//! Sending to Telegram with a `random_id` derived from the Matrix event.
//! Telegram refuses a second message with the same `random_id` from the
//! same account (`RANDOM_ID_DUPLICATE`), so a send replayed after a crash,
//! before the bridge recorded it, never arrives twice. grammers draws a
//! fresh random ID per call, so this sends the raw request itself.

use grammers_client::tl;
use grammers_client::{Client, InvocationError};
use grammers_session::types::PeerRef;
use sha2::{Digest, Sha256};

/// A message for Telegram, in its own terms.
#[derive(Clone, Debug, Default)]
pub struct Outgoing {
    pub text: String,
    pub entities: Vec<tl::enums::MessageEntity>,
    pub media: Option<tl::enums::InputMedia>,
    pub reply_to: Option<i32>,
}

/// What Telegram did with a send.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A new message, with its ID.
    Id(i32),
    /// An earlier attempt of this very send already went through.
    Duplicate,
}

/// The `random_id` of part `part` of a Matrix event: the same for every
/// attempt, different for every event and part.
pub fn random_id(event_id: &str, part: u8) -> i64 {
    let digest = Sha256::new()
        .chain_update(event_id.as_bytes())
        .chain_update([part])
        .finalize();
    let mut bytes = [0u8; 8];
    bytes.copy_from_slice(&digest[..8]);
    i64::from_le_bytes(bytes)
}

/// Sends `message` to `peer` as one Telegram message.
pub async fn send(
    client: &Client,
    peer: PeerRef,
    message: Outgoing,
    random_id: i64,
) -> Result<Sent, InvocationError> {
    let reply_to = message.reply_to.map(|id| {
        tl::types::InputReplyToMessage {
            reply_to_msg_id: id,
            top_msg_id: None,
            reply_to_peer_id: None,
            quote_text: None,
            quote_entities: None,
            quote_offset: None,
            monoforum_peer_id: None,
            todo_item_id: None,
            poll_option: None,
        }
        .into()
    });
    let entities = (!message.entities.is_empty()).then_some(message.entities);
    let result = match message.media {
        Some(media) => {
            client
                .invoke(&tl::functions::messages::SendMedia {
                    silent: false,
                    background: false,
                    clear_draft: false,
                    peer: peer.into(),
                    reply_to,
                    media,
                    message: message.text,
                    random_id,
                    reply_markup: None,
                    entities,
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_floodskip: false,
                    allow_paid_stars: None,
                    suggested_post: None,
                })
                .await
        }
        None => {
            client
                .invoke(&tl::functions::messages::SendMessage {
                    no_webpage: false,
                    silent: false,
                    background: false,
                    clear_draft: false,
                    peer: peer.into(),
                    reply_to,
                    message: message.text,
                    random_id,
                    reply_markup: None,
                    entities,
                    schedule_date: None,
                    schedule_repeat_period: None,
                    send_as: None,
                    noforwards: false,
                    update_stickersets_order: false,
                    invert_media: false,
                    quick_reply_shortcut: None,
                    effect: None,
                    allow_paid_floodskip: false,
                    allow_paid_stars: None,
                    suggested_post: None,
                    rich_message: None,
                })
                .await
        }
    };
    match result {
        Ok(updates) => Ok(sent_id(&updates, random_id).map_or(Sent::Duplicate, Sent::Id)),
        Err(InvocationError::Rpc(rpc)) if rpc.name == "RANDOM_ID_DUPLICATE" => Ok(Sent::Duplicate),
        Err(err) => Err(err),
    }
}

/// The ID Telegram gave the message sent with `random_id`, from the
/// updates answering the send.
fn sent_id(updates: &tl::enums::Updates, random_id: i64) -> Option<i32> {
    let list = match updates {
        tl::enums::Updates::UpdateShortSentMessage(sent) => return Some(sent.id),
        tl::enums::Updates::Updates(u) => &u.updates,
        tl::enums::Updates::Combined(u) => &u.updates,
        _ => return None,
    };
    list.iter().find_map(|update| match update {
        tl::enums::Update::MessageId(m) if m.random_id == random_id => Some(m.id),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_ids_repeat_per_event_and_part_only() {
        assert_eq!(random_id("$a", 0), random_id("$a", 0));
        assert_ne!(random_id("$a", 0), random_id("$a", 1));
        assert_ne!(random_id("$a", 0), random_id("$b", 0));
    }

    #[test]
    fn the_sent_id_is_the_one_paired_with_our_random_id() {
        let updates = tl::enums::Updates::Updates(tl::types::Updates {
            updates: vec![
                tl::types::UpdateMessageId {
                    id: 7,
                    random_id: 1,
                }
                .into(),
                tl::types::UpdateMessageId {
                    id: 9,
                    random_id: 2,
                }
                .into(),
            ],
            users: vec![],
            chats: vec![],
            date: 0,
            seq: 0,
        });
        assert_eq!(sent_id(&updates, 2), Some(9));
        assert_eq!(sent_id(&updates, 3), None);
    }
}
