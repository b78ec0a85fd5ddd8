//! Private chats and basic groups: sending with entities, editing, deleting, reading,
//! typing and reactions, and the difference a client catches up with.
//! Each user has a box of their own, with their own message IDs and pts;
//! a private message is two stored messages, one in each box, twins.

use super::{error, Caller, Reply};
use crate::state::{State, StoredMessage};
use crate::tl_build::{self, now};
use grammers_tl_types::{self as tl, Serializable};

/// A chat a request names: a private chat with a user, or a group.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Target {
    User(i64),
    Group(i64),
}

impl Target {
    /// How the chat appears in the box of `owner`, where the other side
    /// of a private chat is `other`.
    fn peer(self, other: i64) -> tl::enums::Peer {
        match self {
            Target::User(_) => tl_build::peer_user(other),
            Target::Group(id) => tl_build::peer_chat(id),
        }
    }
}

pub(super) fn target(
    state: &State,
    user: i64,
    peer: &tl::enums::InputPeer,
) -> Result<Target, super::RpcError> {
    match peer {
        tl::enums::InputPeer::User(peer) if state.account(peer.user_id).is_some() => {
            Ok(Target::User(peer.user_id))
        }
        tl::enums::InputPeer::PeerSelf => Ok(Target::User(user)),
        tl::enums::InputPeer::Chat(chat) => match state.group(chat.chat_id) {
            Some(group) if group.members.contains(&user) => Ok(Target::Group(group.id)),
            Some(_) => Err(error(403, "CHAT_WRITE_FORBIDDEN")),
            None => Err(error(400, "CHAT_ID_INVALID")),
        },
        _ => Err(error(400, "PEER_ID_INVALID")),
    }
}

/// Everyone but the sender who gets a copy of a message to `target`.
fn recipients(state: &State, user: i64, target: Target) -> Vec<i64> {
    match target {
        Target::User(to) if to != user => vec![to],
        Target::User(_) => Vec::new(),
        Target::Group(id) => state
            .group(id)
            .map(|g| g.members.iter().copied().filter(|m| *m != user).collect())
            .unwrap_or_default(),
    }
}

fn new_message(message: tl::types::Message, pts: i32) -> tl::enums::Update {
    tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
        message: tl::enums::Message::Message(message),
        pts,
        pts_count: 1,
    })
}

fn edit_message(message: tl::types::Message, pts: i32) -> tl::enums::Update {
    tl::enums::Update::EditMessage(tl::types::UpdateEditMessage {
        message: tl::enums::Message::Message(message),
        pts,
        pts_count: 1,
    })
}

fn affected(pts: i32, pts_count: i32) -> Vec<u8> {
    tl::enums::messages::AffectedMessages::Messages(tl::types::messages::AffectedMessages {
        pts,
        pts_count,
    })
    .to_bytes()
}

/// What a sent message carries, from `sendMessage` or `sendMedia`.
pub(super) struct Draft {
    pub peer: tl::enums::InputPeer,
    pub text: String,
    pub entities: Option<Vec<tl::enums::MessageEntity>>,
    pub media: Option<tl::enums::MessageMedia>,
    pub random_id: i64,
    /// Set on a forwarded copy: where it came from.
    pub fwd_from: Option<tl::enums::MessageFwdHeader>,
    /// The message this answers, by its ID in the sender's box.
    pub reply_to: Option<i32>,
}

/// The message ID a reply names, from a send request.
pub(super) fn reply_id(reply_to: &Option<tl::enums::InputReplyTo>) -> Option<i32> {
    match reply_to {
        Some(tl::enums::InputReplyTo::Message(m)) => Some(m.reply_to_msg_id),
        _ => None,
    }
}

/// The header of a reply to message `id`.
pub(super) fn reply_header(id: i32) -> tl::enums::MessageReplyHeader {
    tl::types::MessageReplyHeader {
        reply_to_scheduled: false,
        forum_topic: false,
        quote: false,
        reply_to_ephemeral: false,
        reply_to_msg_id: Some(id),
        reply_to_peer_id: None,
        reply_from: None,
        reply_media: None,
        reply_to_top_id: None,
        quote_text: None,
        quote_entities: None,
        quote_offset: None,
        todo_item_id: None,
        poll_option: None,
    }
    .into()
}

impl From<tl::functions::messages::SendMessage> for Draft {
    fn from(request: tl::functions::messages::SendMessage) -> Self {
        Self {
            peer: request.peer,
            text: request.message,
            entities: request.entities,
            media: None,
            random_id: request.random_id,
            fwd_from: None,
            reply_to: reply_id(&request.reply_to),
        }
    }
}

pub(super) fn send(state: &mut State, caller: &Caller, user: i64, request: Draft) -> Reply {
    let target = target(state, user, &request.peer)?;
    let date = now();
    let own_peer = match target {
        Target::User(to) => to,
        Target::Group(_) => user,
    };
    let id = state.next_message_id(user);
    let mut own = tl_build::private_message(id, true, user, own_peer, &request.text, date);
    own.peer_id = target.peer(own_peer);
    own.entities = request.entities;
    own.media = request.media;
    own.fwd_from = request.fwd_from;
    own.reply_to = request.reply_to.map(reply_header);
    // Each box numbers its messages: a reply names each reader's own copy.
    let replied = request
        .reply_to
        .and_then(|id| state.messages.get(&(user, id)))
        .map(|m| m.copies.clone())
        .unwrap_or_default();
    let copies: Vec<(i64, tl::types::Message)> = recipients(state, user, target)
        .into_iter()
        .map(|to| {
            let mut theirs = own.clone();
            (theirs.id, theirs.out, theirs.peer_id) =
                (state.next_message_id(to), false, target.peer(user));
            theirs.reply_to = replied
                .iter()
                .find(|(owner, _)| *owner == to)
                .map(|(_, id)| reply_header(*id));
            (to, theirs)
        })
        .collect();
    let all: Vec<(i64, i32)> = std::iter::once((user, id))
        .chain(copies.iter().map(|(to, m)| (*to, m.id)))
        .collect();
    let others = |me: (i64, i32)| all.iter().copied().filter(|c| *c != me).collect::<Vec<_>>();
    state.messages.insert(
        (user, id),
        StoredMessage {
            message: own.clone(),
            copies: others((user, id)),
            reactions: Vec::new(),
        },
    );
    let update = state.log(user, 1, |pts| new_message(own.clone(), pts));
    let result = state.updates(
        user,
        vec![
            tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                id,
                random_id: request.random_id,
            }),
            update.clone(),
        ],
    );
    // The sender's other connections see it too.
    state.push(user, Some(caller.conn), vec![update]);
    let echoes: Vec<i64> = match target {
        Target::User(to) if state.account(to).is_some_and(|a| a.spec.echo) => vec![to],
        _ => Vec::new(),
    };
    for (to, theirs) in copies {
        let key = (to, theirs.id);
        state.messages.insert(
            key,
            StoredMessage {
                message: theirs.clone(),
                copies: others(key),
                reactions: Vec::new(),
            },
        );
        let update = state.log(to, 1, |pts| new_message(theirs, pts));
        state.push(to, None, vec![update]);
    }
    // A scripted user answers at once, as its own client would.
    for echo in echoes {
        let text = format!("echo: {}", request.text);
        send_as(state, echo, user, &text);
    }
    Ok(result.to_bytes())
}

/// Sends a private text message from `from` to `to`, as a client of
/// `from`'s would: for scripted users and the control API.
pub(crate) fn send_as(state: &mut State, from: i64, to: i64, text: &str) {
    let Some(hash) = state.account(to).map(|a| a.access_hash) else {
        return;
    };
    let draft = Draft {
        peer: tl::enums::InputPeer::User(tl::types::InputPeerUser {
            user_id: to,
            access_hash: hash,
        }),
        text: text.to_owned(),
        entities: None,
        media: None,
        random_id: rand::random(),
        fwd_from: None,
        reply_to: None,
    };
    let caller = Caller {
        user: Some(from),
        ..Caller::new(0, 2, [0; 8])
    };
    if let Err((code, message)) = send(state, &caller, from, draft) {
        tracing::warn!("a scripted message was refused: {code} {message}");
    }
}

/// A message in `user`'s own box.
pub(super) fn own_copy(
    state: &State,
    user: i64,
    id: i32,
) -> Result<StoredMessage, super::RpcError> {
    state
        .messages
        .get(&(user, id))
        .cloned()
        .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))
}

pub(super) fn edit(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::EditMessage,
) -> Reply {
    target(state, user, &request.peer)?;
    let stored = own_copy(state, user, request.id)?;
    if !stored.message.out {
        return Err(error(403, "MESSAGE_AUTHOR_REQUIRED"));
    }
    let date = now();
    let mut result = None;
    for (owner, id) in std::iter::once((user, request.id)).chain(stored.copies) {
        let Some(entry) = state.messages.get_mut(&(owner, id)) else {
            continue;
        };
        if let Some(text) = &request.message {
            entry.message.message = text.clone();
        }
        entry.message.entities = request.entities.clone();
        entry.message.edit_date = Some(date);
        let message = entry.message.clone();
        let update = state.log(owner, 1, |pts| edit_message(message, pts));
        if owner == user {
            state.push(user, Some(caller.conn), vec![update.clone()]);
            result = Some(state.updates(user, vec![update]));
        } else {
            state.push(owner, None, vec![update]);
        }
    }
    result
        .map(|r| r.to_bytes())
        .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))
}

fn deletion(ids: Vec<i32>, pts: i32) -> tl::enums::Update {
    let pts_count = ids.len() as i32;
    tl::enums::Update::DeleteMessages(tl::types::UpdateDeleteMessages {
        messages: ids,
        pts,
        pts_count,
    })
}

pub(super) fn delete(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::DeleteMessages,
) -> Reply {
    let mut own = Vec::new();
    let mut by_owner: std::collections::BTreeMap<i64, Vec<i32>> = Default::default();
    for id in request.id {
        if let Some(stored) = state.messages.remove(&(user, id)) {
            own.push(id);
            if request.revoke && stored.message.out {
                for (owner, copy) in stored.copies {
                    if state.messages.remove(&(owner, copy)).is_some() {
                        by_owner.entry(owner).or_default().push(copy);
                    }
                }
            }
        }
    }
    let count = own.len() as i32;
    if count == 0 {
        return Ok(affected(state.pts(user), 0));
    }
    let update = state.log(user, count, |pts| deletion(own, pts));
    state.push(user, Some(caller.conn), vec![update]);
    for (owner, ids) in by_owner {
        let update = state.log(owner, ids.len() as i32, |pts| deletion(ids, pts));
        state.push(owner, None, vec![update]);
    }
    Ok(affected(state.pts(user), count))
}

pub(super) fn read(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::ReadHistory,
) -> Reply {
    let chat = target(state, user, &request.peer)?;
    let in_chat = |m: &StoredMessage, owner: i64| match chat {
        Target::User(other) => m.message.peer_id == tl_build::peer_user(other) && owner == user,
        Target::Group(id) => m.message.peer_id == tl_build::peer_chat(id) && owner == user,
    };
    // 0 reads everything, as clients send it.
    let wanted = if request.max_id == 0 {
        i32::MAX
    } else {
        request.max_id
    };
    let read: Vec<StoredMessage> = state
        .messages
        .iter()
        .filter(|((owner, id), m)| in_chat(m, *owner) && *id <= wanted)
        .map(|(_, m)| m.clone())
        .collect();
    let max_id = read.iter().map(|m| m.message.id).max().unwrap_or_default();
    let own_peer = match chat {
        Target::User(other) => tl_build::peer_user(other),
        Target::Group(id) => tl_build::peer_chat(id),
    };
    let update = state.log(user, 1, |pts| {
        tl::enums::Update::ReadHistoryInbox(tl::types::UpdateReadHistoryInbox {
            folder_id: None,
            peer: own_peer,
            top_msg_id: None,
            max_id,
            still_unread_count: 0,
            pts,
            pts_count: 1,
        })
    });
    state.push(user, Some(caller.conn), vec![update]);
    // Each sender learns up to which of their own messages were read.
    let mut read_up_to: std::collections::BTreeMap<i64, i32> = Default::default();
    for message in read.iter().filter(|m| !m.message.out) {
        let sender = match &message.message.from_id {
            Some(tl::enums::Peer::User(p)) => p.user_id,
            _ => continue,
        };
        for (owner, id) in &message.copies {
            if *owner == sender {
                let best = read_up_to.entry(sender).or_default();
                *best = (*best).max(*id);
            }
        }
    }
    for (sender, max_id) in read_up_to {
        let peer = match chat {
            Target::User(_) => tl_build::peer_user(user),
            Target::Group(id) => tl_build::peer_chat(id),
        };
        let update = state.log(sender, 1, |pts| {
            tl::enums::Update::ReadHistoryOutbox(tl::types::UpdateReadHistoryOutbox {
                peer,
                max_id,
                pts,
                pts_count: 1,
            })
        });
        state.push(sender, None, vec![update]);
    }
    Ok(affected(state.pts(user), 1))
}

pub(super) fn typing(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::SetTyping,
) -> Reply {
    let chat = target(state, user, &request.peer)?;
    let update = match chat {
        Target::User(_) => tl::enums::Update::UserTyping(tl::types::UpdateUserTyping {
            user_id: user,
            top_msg_id: None,
            action: request.action,
        }),
        Target::Group(id) => tl::enums::Update::ChatUserTyping(tl::types::UpdateChatUserTyping {
            chat_id: id,
            from_id: tl_build::peer_user(user),
            action: request.action,
        }),
    };
    for to in recipients(state, user, chat) {
        state.push(to, None, vec![update.clone()]);
    }
    Ok(true.to_bytes())
}

/// What moved a user's pts after `pts` and qts after `qts`, with the state
/// it leads to.
pub(super) fn difference(
    state: &State,
    user: i64,
    pts: i32,
    qts: i32,
) -> tl::enums::updates::Difference {
    let (mut new_messages, mut other_updates) = (Vec::new(), Vec::new());
    let user_box = state.boxes.get(&user);
    let log = user_box.map(|b| b.log.as_slice()).unwrap_or_default();
    for logged in log.iter().filter(|l| l.pts > pts) {
        match &logged.update {
            tl::enums::Update::NewMessage(new) => new_messages.push(new.message.clone()),
            other => other_updates.push(other.clone()),
        }
    }
    let qts_log = user_box.map(|b| b.qts_log.as_slice()).unwrap_or_default();
    other_updates.extend(
        qts_log
            .iter()
            .filter(|l| l.pts > qts)
            .map(|l| l.update.clone()),
    );
    if new_messages.is_empty() && other_updates.is_empty() {
        return tl::enums::updates::Difference::Empty(tl::types::updates::DifferenceEmpty {
            date: now(),
            seq: 0,
        });
    }
    tl::enums::updates::Difference::Difference(tl::types::updates::Difference {
        new_messages,
        new_encrypted_messages: Vec::new(),
        other_updates,
        chats: state.chats_of(user),
        users: state.users_for(user),
        state: state.update_state(user),
    })
}
