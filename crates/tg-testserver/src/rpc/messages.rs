//! Private chats: sending with entities, editing, deleting, reading,
//! typing and reactions, and the difference a client catches up with.
//! Each user has a box of their own, with their own message IDs and pts;
//! a private message is two stored messages, one in each box, twins.

use super::{error, Caller, Reply};
use crate::state::{State, StoredMessage};
use crate::tl_build::{self, now};
use grammers_tl_types::{self as tl, Serializable};

/// The user a private-chat peer names.
fn peer_user(
    state: &State,
    user: i64,
    peer: &tl::enums::InputPeer,
) -> Result<i64, super::RpcError> {
    let other = match peer {
        tl::enums::InputPeer::User(peer) => peer.user_id,
        tl::enums::InputPeer::PeerSelf => user,
        _ => return Err(error(400, "PEER_ID_INVALID")),
    };
    state
        .account(other)
        .map(|a| a.id)
        .ok_or_else(|| error(400, "PEER_ID_INVALID"))
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

pub(super) fn send(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::SendMessage,
) -> Reply {
    let to = peer_user(state, user, &request.peer)?;
    let date = now();
    let id = state.next_message_id(user);
    let mut own = tl_build::private_message(id, true, user, to, &request.message, date);
    own.entities = request.entities;
    let twin = (to != user).then(|| {
        let twin_id = state.next_message_id(to);
        let mut theirs = own.clone();
        (theirs.id, theirs.out, theirs.peer_id) = (twin_id, false, tl_build::peer_user(user));
        theirs
    });
    state.messages.insert(
        (user, id),
        StoredMessage {
            message: own.clone(),
            twin: twin.as_ref().map(|t| (to, t.id)),
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
    if let Some(theirs) = twin {
        let twin_id = theirs.id;
        state.messages.insert(
            (to, twin_id),
            StoredMessage {
                message: theirs.clone(),
                twin: Some((user, id)),
                reactions: Vec::new(),
            },
        );
        let update = state.log(to, 1, |pts| new_message(theirs, pts));
        state.push(to, None, vec![update]);
    }
    Ok(result.to_bytes())
}

pub(super) fn edit(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::EditMessage,
) -> Reply {
    peer_user(state, user, &request.peer)?;
    let stored = state
        .messages
        .get(&(user, request.id))
        .cloned()
        .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))?;
    if !stored.message.out {
        return Err(error(403, "MESSAGE_AUTHOR_REQUIRED"));
    }
    let date = now();
    let mut copies = vec![(user, request.id)];
    copies.extend(stored.twin);
    let mut result = None;
    for (owner, id) in copies {
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

pub(super) fn delete(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::DeleteMessages,
) -> Reply {
    let mut own = Vec::new();
    let mut twins: Vec<(i64, i32)> = Vec::new();
    for id in request.id {
        if let Some(stored) = state.messages.remove(&(user, id)) {
            own.push(id);
            if request.revoke {
                twins.extend(stored.twin);
            }
        }
    }
    if own.is_empty() {
        return Ok(affected(state.pts(user), 0));
    }
    let count = own.len() as i32;
    let update = state.log(user, count, |pts| {
        tl::enums::Update::DeleteMessages(tl::types::UpdateDeleteMessages {
            messages: own,
            pts,
            pts_count: count,
        })
    });
    state.push(user, Some(caller.conn), vec![update]);
    let mut by_owner: std::collections::BTreeMap<i64, Vec<i32>> = Default::default();
    for (owner, id) in twins {
        if state.messages.remove(&(owner, id)).is_some() {
            by_owner.entry(owner).or_default().push(id);
        }
    }
    for (owner, ids) in by_owner {
        let n = ids.len() as i32;
        let update = state.log(owner, n, |pts| {
            tl::enums::Update::DeleteMessages(tl::types::UpdateDeleteMessages {
                messages: ids,
                pts,
                pts_count: n,
            })
        });
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
    let other = peer_user(state, user, &request.peer)?;
    // 0 reads everything, as clients send it.
    let wanted = if request.max_id == 0 {
        i32::MAX
    } else {
        request.max_id
    };
    let max_id = state
        .messages
        .keys()
        .filter(|(owner, id)| *owner == user && *id <= wanted)
        .map(|(_, id)| *id)
        .max()
        .unwrap_or_default();
    let update = state.log(user, 1, |pts| {
        tl::enums::Update::ReadHistoryInbox(tl::types::UpdateReadHistoryInbox {
            folder_id: None,
            peer: tl_build::peer_user(other),
            top_msg_id: None,
            max_id,
            still_unread_count: 0,
            pts,
            pts_count: 1,
        })
    });
    state.push(user, Some(caller.conn), vec![update]);
    // The sender learns up to which of their own messages were read.
    let read_up_to = state
        .messages
        .iter()
        .filter(|((owner, id), m)| *owner == user && *id <= max_id && !m.message.out)
        .filter_map(|(_, m)| {
            m.twin
                .filter(|(owner, _)| *owner == other)
                .map(|(_, id)| id)
        })
        .max();
    if let Some(max_id) = read_up_to {
        let update = state.log(other, 1, |pts| {
            tl::enums::Update::ReadHistoryOutbox(tl::types::UpdateReadHistoryOutbox {
                peer: tl_build::peer_user(user),
                max_id,
                pts,
                pts_count: 1,
            })
        });
        state.push(other, None, vec![update]);
    }
    Ok(affected(state.pts(user), 1))
}

pub(super) fn typing(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::SetTyping,
) -> Reply {
    let other = peer_user(state, user, &request.peer)?;
    let update = tl::enums::Update::UserTyping(tl::types::UpdateUserTyping {
        user_id: user,
        top_msg_id: None,
        action: request.action,
    });
    state.push(other, None, vec![update]);
    Ok(true.to_bytes())
}

fn message_reactions(stored: &StoredMessage, viewer: i64) -> tl::enums::MessageReactions {
    let mut results: Vec<tl::enums::ReactionCount> = Vec::new();
    for (_, reaction, _) in &stored.reactions {
        let mine = stored
            .reactions
            .iter()
            .any(|(who, r, _)| *who == viewer && r == reaction);
        match results
            .iter_mut()
            .find(|c| matches!(c, tl::enums::ReactionCount::Count(c) if &c.reaction == reaction))
        {
            Some(tl::enums::ReactionCount::Count(count)) => count.count += 1,
            _ => results.push(tl::enums::ReactionCount::Count(tl::types::ReactionCount {
                chosen_order: mine.then_some(0),
                reaction: reaction.clone(),
                count: 1,
            })),
        }
    }
    tl::enums::MessageReactions::Reactions(tl::types::MessageReactions {
        min: false,
        can_see_list: true,
        reactions_as_tags: false,
        results,
        recent_reactions: Some(
            stored
                .reactions
                .iter()
                .map(|(who, reaction, date)| {
                    tl::enums::MessagePeerReaction::Reaction(tl::types::MessagePeerReaction {
                        big: false,
                        unread: *who != viewer,
                        my: *who == viewer,
                        peer_id: tl_build::peer_user(*who),
                        date: *date,
                        reaction: reaction.clone(),
                    })
                })
                .collect(),
        ),
        top_reactors: None,
    })
}

pub(super) fn react(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::SendReaction,
) -> Reply {
    let other = peer_user(state, user, &request.peer)?;
    let stored = state
        .messages
        .get(&(user, request.msg_id))
        .cloned()
        .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))?;
    let mut copies = vec![(user, request.msg_id)];
    copies.extend(stored.twin);
    let date = now();
    let mut result = None;
    for (owner, id) in copies {
        let Some(entry) = state.messages.get_mut(&(owner, id)) else {
            continue;
        };
        entry.reactions.retain(|(who, _, _)| *who != user);
        for reaction in request.reaction.iter().flatten() {
            entry.reactions.push((user, reaction.clone(), date));
        }
        let entry = entry.clone();
        let chat = if owner == user { other } else { user };
        let update = tl::enums::Update::MessageReactions(tl::types::UpdateMessageReactions {
            peer: tl_build::peer_user(chat),
            msg_id: id,
            top_msg_id: None,
            saved_peer_id: None,
            reactions: message_reactions(&entry, owner),
        });
        if owner == user {
            result = Some(state.updates(user, vec![update]));
        } else {
            state.push(owner, None, vec![update]);
        }
    }
    result
        .map(|r| r.to_bytes())
        .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))
}

/// What moved a user's pts after `pts`, with the state it leads to.
pub(super) fn difference(state: &State, user: i64, pts: i32) -> tl::enums::updates::Difference {
    let (mut new_messages, mut other_updates) = (Vec::new(), Vec::new());
    for logged in state
        .boxes
        .get(&user)
        .map(|b| b.log.as_slice())
        .unwrap_or_default()
    {
        if logged.pts <= pts {
            continue;
        }
        match &logged.update {
            tl::enums::Update::NewMessage(new) => new_messages.push(new.message.clone()),
            other => other_updates.push(other.clone()),
        }
    }
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
        chats: Vec::new(),
        users: state
            .accounts
            .iter()
            .map(|a| tl_build::user(a, user))
            .collect(),
        state: tl_build::updates_state(state.pts(user)),
    })
}
