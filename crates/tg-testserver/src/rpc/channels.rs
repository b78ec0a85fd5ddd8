//! Supergroups and broadcast channels: one message list, one ID sequence
//! and one pts per channel, shared by its members. New messages reach
//! members as `updateNewChannelMessage`; a member that missed some asks
//! `getChannelDifference` from the channel's pts.

use super::{error, Caller, Reply};
use crate::state::{Channel, LoggedUpdate, State};
use crate::tl_build::{self, now};
use grammers_tl_types::{self as tl, Serializable};

fn next_channel_id(state: &State) -> i64 {
    7_000 + state.channels.len() as i64
}

/// The channel an input names, if the hash is right.
pub(super) fn by_input(
    state: &mut State,
    id: i64,
    hash: i64,
) -> Result<&mut Channel, super::RpcError> {
    state
        .channels
        .iter_mut()
        .find(|c| c.id == id && c.access_hash == hash)
        .ok_or_else(|| error(400, "CHANNEL_INVALID"))
}

pub(super) fn input_channel(
    input: &tl::enums::InputChannel,
) -> Result<(i64, i64), super::RpcError> {
    match input {
        tl::enums::InputChannel::Channel(c) => Ok((c.channel_id, c.access_hash)),
        _ => Err(error(400, "CHANNEL_INVALID")),
    }
}

pub(super) fn create(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::CreateChannel,
) -> Reply {
    let channel = Channel {
        id: next_channel_id(state),
        access_hash: rand::random::<i64>() | 1,
        title: request.title,
        about: request.about,
        photo: None,
        broadcast: request.broadcast,
        creator: user,
        members: vec![user],
        date: now(),
        pts: 1,
        next_id: 0,
        messages: Default::default(),
        log: Vec::new(),
    };
    state.channels.push(channel);
    Ok(state.updates(user, Vec::new()).to_bytes())
}

/// `channels.inviteToChannel` (by its creator) and `channels.joinChannel`.
pub(super) fn invite(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::InviteToChannel,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    if channel.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    for input in &request.users {
        if let tl::enums::InputUser::User(u) = input {
            if !channel.members.contains(&u.user_id) {
                channel.members.push(u.user_id);
            }
        }
    }
    Ok(
        tl::enums::messages::InvitedUsers::Users(tl::types::messages::InvitedUsers {
            updates: state.updates(user, Vec::new()),
            missing_invitees: Vec::new(),
        })
        .to_bytes(),
    )
}

pub(super) fn join(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::JoinChannel,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    if !channel.members.contains(&user) {
        channel.members.push(user);
    }
    Ok(
        tl::enums::messages::ChatInviteJoinResult::Ok(
            tl::types::messages::ChatInviteJoinResultOk {
                updates: state.updates(user, Vec::new()),
            },
        )
        .to_bytes(),
    )
}

/// A message to a channel: posted once, pushed to every member.
pub(super) fn send(
    state: &mut State,
    caller: &Caller,
    user: i64,
    id: i64,
    hash: i64,
    request: super::messages::Draft,
) -> Reply {
    let channel = by_input(state, id, hash)?;
    if !channel.members.contains(&user) {
        return Err(error(403, "CHAT_WRITE_FORBIDDEN"));
    }
    if channel.broadcast && channel.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    channel.next_id += 1;
    channel.pts += 1;
    let (message_id, pts) = (channel.next_id, channel.pts);
    let mut message = tl_build::private_message(message_id, false, user, 0, &request.text, now());
    message.peer_id = tl_build::peer_channel(id);
    message.entities = request.entities;
    message.media = request.media;
    message.fwd_from = request.fwd_from;
    message.reply_to = request.reply_to.map(super::messages::reply_header);
    if channel.broadcast {
        // A channel post comes from the channel, not from a person.
        (message.post, message.from_id) = (true, None);
    }
    channel.messages.insert(message_id, message.clone());
    let update = tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
        message: tl::enums::Message::Message(message.clone()),
        pts,
        pts_count: 1,
    });
    channel.log.push(LoggedUpdate {
        pts,
        update: update.clone(),
    });
    let members = channel.members.clone();
    for member in members {
        if member == user {
            continue;
        }
        state.push(member, None, vec![update.clone()]);
    }
    let mut own = message;
    own.out = true;
    let own_update = tl::enums::Update::NewChannelMessage(tl::types::UpdateNewChannelMessage {
        message: tl::enums::Message::Message(own),
        pts,
        pts_count: 1,
    });
    state.push(user, Some(caller.conn), vec![own_update.clone()]);
    Ok(state
        .updates(
            user,
            vec![
                tl::enums::Update::MessageId(tl::types::UpdateMessageId {
                    id: message_id,
                    random_id: request.random_id,
                }),
                own_update,
            ],
        )
        .to_bytes())
}

pub(super) fn difference(
    state: &mut State,
    user: i64,
    request: tl::functions::updates::GetChannelDifference,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    if !channel.members.contains(&user) {
        return Err(error(400, "CHANNEL_PRIVATE"));
    }
    let pts = channel.pts;
    let (mut new_messages, mut other_updates) = (Vec::new(), Vec::new());
    for logged in channel.log.iter().filter(|l| l.pts > request.pts) {
        match &logged.update {
            tl::enums::Update::NewChannelMessage(new) => new_messages.push(new.message.clone()),
            other => other_updates.push(other.clone()),
        }
    }
    if new_messages.is_empty() && other_updates.is_empty() {
        return Ok(tl::enums::updates::ChannelDifference::Empty(
            tl::types::updates::ChannelDifferenceEmpty {
                r#final: true,
                pts,
                timeout: None,
            },
        )
        .to_bytes());
    }
    Ok(
        tl::enums::updates::ChannelDifference::Difference(tl::types::updates::ChannelDifference {
            r#final: true,
            pts,
            timeout: None,
            new_messages,
            other_updates,
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}

/// A channel's messages for `messages.getHistory`, newest first.
pub(super) fn history(state: &State, user: i64, id: i64, offset_id: i32, limit: i32) -> Reply {
    let channel = state
        .channel(id)
        .filter(|c| c.members.contains(&user))
        .ok_or_else(|| error(400, "CHANNEL_PRIVATE"))?;
    let messages: Vec<tl::enums::Message> = channel
        .messages
        .values()
        .rev()
        .filter(|m| offset_id == 0 || m.id < offset_id)
        .take(usize::try_from(limit).unwrap_or(0).clamp(1, 100))
        .map(|m| {
            let mut m = m.clone();
            m.out = matches!(&m.from_id, Some(tl::enums::Peer::User(p)) if p.user_id == user);
            tl::enums::Message::Message(m)
        })
        .collect();
    Ok(
        tl::enums::messages::Messages::ChannelMessages(tl::types::messages::ChannelMessages {
            inexact: false,
            pts: channel.pts,
            count: messages.len() as i32,
            offset_id_offset: None,
            messages,
            topics: Vec::new(),
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}
