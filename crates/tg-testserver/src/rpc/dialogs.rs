//! The chat list and a chat's history, from the user's own box.

use super::Reply;
use crate::state::State;
use grammers_tl_types::{self as tl, Serializable};

/// The other side of a private message in `user`'s box.
fn chat_of(message: &tl::types::Message) -> i64 {
    match &message.peer_id {
        tl::enums::Peer::User(p) => p.user_id,
        tl::enums::Peer::Chat(p) => p.chat_id,
        tl::enums::Peer::Channel(p) => p.channel_id,
    }
}

/// Every chat with its latest message, the most recently active first:
/// private chats and basic groups from the user's box, and the channels
/// they are in.
pub(super) fn dialogs(state: &State, user: i64) -> Reply {
    let mut latest: std::collections::BTreeMap<i64, &tl::types::Message> = Default::default();
    for ((owner, _), stored) in &state.messages {
        if *owner != user {
            continue;
        }
        let chat = chat_of(&stored.message);
        if latest.get(&chat).is_none_or(|m| m.id < stored.message.id) {
            latest.insert(chat, &stored.message);
        }
    }
    let mut tops: Vec<&tl::types::Message> = latest.into_values().collect();
    let channel_tops = state
        .channels
        .iter()
        .filter(|c| c.members.contains(&user))
        .filter_map(|c| c.messages.values().max_by_key(|m| m.id));
    tops.extend(channel_tops);
    tops.sort_by_key(|m| std::cmp::Reverse((m.date, m.id)));
    let dialogs = tops
        .iter()
        .map(|m| {
            tl::enums::Dialog::Dialog(tl::types::Dialog {
                pinned: false,
                unread_mark: false,
                view_forum_as_messages: false,
                peer: m.peer_id.clone(),
                top_message: m.id,
                read_inbox_max_id: 0,
                read_outbox_max_id: 0,
                unread_count: 0,
                unread_mentions_count: 0,
                unread_reactions_count: 0,
                unread_poll_votes_count: 0,
                notify_settings: crate::tl_full::notify_settings(),
                pts: None,
                draft: None,
                folder_id: None,
                ttl_period: None,
            })
        })
        .collect();
    Ok(
        tl::enums::messages::Dialogs::Dialogs(tl::types::messages::Dialogs {
            dialogs,
            messages: tops
                .into_iter()
                .map(|m| tl::enums::Message::Message(m.clone()))
                .collect(),
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}

/// A private chat's messages older than `offset_id` (all when 0), newest
/// first, as clients page through history.
pub(super) fn history(
    state: &State,
    user: i64,
    request: tl::functions::messages::GetHistory,
) -> Reply {
    let chat = match request.peer {
        tl::enums::InputPeer::User(p) => p.user_id,
        tl::enums::InputPeer::PeerSelf => user,
        tl::enums::InputPeer::Chat(c) => c.chat_id,
        _ => return Err(super::error(400, "PEER_ID_INVALID")),
    };
    let mut messages: Vec<&tl::types::Message> = state
        .messages
        .iter()
        .filter(|((owner, id), m)| {
            *owner == user
                && chat_of(&m.message) == chat
                && (request.offset_id == 0 || *id < request.offset_id)
                && (request.min_id == 0 || *id > request.min_id)
        })
        .map(|(_, m)| &m.message)
        .collect();
    messages.sort_by_key(|m| std::cmp::Reverse(m.id));
    messages.truncate(usize::try_from(request.limit).unwrap_or(0).clamp(1, 100));
    Ok(
        tl::enums::messages::Messages::Messages(tl::types::messages::Messages {
            messages: messages
                .into_iter()
                .map(|m| tl::enums::Message::Message(m.clone()))
                .collect(),
            topics: Vec::new(),
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}
