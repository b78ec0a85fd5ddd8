//! What a client asks to show a chat or a person: full profiles, a
//! group's or channel's details and members, and changing its title or
//! description.

use super::channels::{by_input, input_channel};
use super::{error, Reply};
use crate::state::State;
use crate::tl_full;
use grammers_tl_types::{self as tl, Serializable};

pub(super) fn full_user(
    state: &State,
    user: i64,
    request: tl::functions::users::GetFullUser,
) -> Reply {
    let id = match request.id {
        tl::enums::InputUser::UserSelf => user,
        tl::enums::InputUser::User(u) => u.user_id,
        _ => return Err(error(400, "USER_ID_INVALID")),
    };
    let account = state
        .account(id)
        .ok_or_else(|| error(400, "USER_ID_INVALID"))?;
    Ok(
        tl::enums::users::UserFull::Full(tl::types::users::UserFull {
            full_user: tl_full::user_full(id, account.spec.about.clone()),
            chats: Vec::new(),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}

pub(super) fn full_chat(
    state: &State,
    user: i64,
    request: tl::functions::messages::GetFullChat,
) -> Reply {
    let group = state
        .group(request.chat_id)
        .filter(|g| g.members.contains(&user))
        .ok_or_else(|| error(400, "CHAT_ID_INVALID"))?;
    Ok(
        tl::enums::messages::ChatFull::Full(tl::types::messages::ChatFull {
            full_chat: tl_full::chat_full(group),
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}

pub(super) fn full_channel(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::GetFullChannel,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    let full_chat = tl_full::channel_full(channel);
    Ok(
        tl::enums::messages::ChatFull::Full(tl::types::messages::ChatFull {
            full_chat,
            chats: state.chats_of(user),
            users: state.users_for(user),
        })
        .to_bytes(),
    )
}

pub(super) fn participants(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::GetParticipants,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    let all = tl_full::channel_participants(channel);
    let count = all.len() as i32;
    let page = all
        .into_iter()
        .skip(usize::try_from(request.offset).unwrap_or(0))
        .take(usize::try_from(request.limit).unwrap_or(0).clamp(1, 200))
        .collect();
    Ok(tl::enums::channels::ChannelParticipants::Participants(
        tl::types::channels::ChannelParticipants {
            count,
            participants: page,
            chats: state.chats_of(user),
            users: state.users_for(user),
        },
    )
    .to_bytes())
}

/// `messages.editChatAbout`, for basic groups and channels alike.
pub(super) fn edit_about(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::EditChatAbout,
) -> Reply {
    match request.peer {
        tl::enums::InputPeer::Chat(c) => {
            let group = state
                .groups
                .iter_mut()
                .find(|g| g.id == c.chat_id && g.members.contains(&user))
                .ok_or_else(|| error(400, "CHAT_ID_INVALID"))?;
            group.about = request.about;
        }
        tl::enums::InputPeer::Channel(c) => {
            let channel = by_input(state, c.channel_id, c.access_hash)?;
            if channel.creator != user {
                return Err(error(403, "CHAT_ADMIN_REQUIRED"));
            }
            channel.about = request.about;
        }
        _ => return Err(error(400, "PEER_ID_INVALID")),
    }
    Ok(true.to_bytes())
}

/// `channels.editTitle`: members are told with `updateChannel`, and
/// fetch the channel again, as Telegram has them do.
pub(super) fn edit_channel_title(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::EditTitle,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let channel = by_input(state, id, hash)?;
    if channel.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    channel.title = request.title;
    let members = channel.members.clone();
    let update = tl::enums::Update::Channel(tl::types::UpdateChannel { channel_id: id });
    for member in members.into_iter().filter(|m| *m != user) {
        state.push(member, None, vec![update.clone()]);
    }
    Ok(state.updates(user, vec![update]).to_bytes())
}

/// A channel's new photo (or none): members are told with `updateChannel`.
pub(super) fn set_channel_photo(
    state: &mut State,
    user: i64,
    id: i64,
    hash: i64,
    photo: Option<i64>,
) -> Reply {
    let channel = by_input(state, id, hash)?;
    if channel.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    channel.photo = photo;
    let members = channel.members.clone();
    let update = tl::enums::Update::Channel(tl::types::UpdateChannel { channel_id: id });
    for member in members.into_iter().filter(|m| *m != user) {
        state.push(member, None, vec![update.clone()]);
    }
    Ok(state.updates(user, vec![update]).to_bytes())
}

/// `channels.editBanned` taking away `view_messages`: the creator removes
/// a member, and the others are told with `updateChannel`.
pub(super) fn ban(
    state: &mut State,
    user: i64,
    request: tl::functions::channels::EditBanned,
) -> Reply {
    let (id, hash) = input_channel(&request.channel)?;
    let removed = match &request.participant {
        tl::enums::InputPeer::User(u) => u.user_id,
        _ => return Err(error(400, "PARTICIPANT_ID_INVALID")),
    };
    let tl::enums::ChatBannedRights::Rights(rights) = &request.banned_rights;
    let channel = by_input(state, id, hash)?;
    if channel.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    if !channel.members.contains(&removed) {
        return Err(error(400, "USER_NOT_PARTICIPANT"));
    }
    if rights.view_messages {
        channel.members.retain(|m| *m != removed);
    }
    let members = channel.members.clone();
    let update = tl::enums::Update::Channel(tl::types::UpdateChannel { channel_id: id });
    for member in members.into_iter().filter(|m| *m != user) {
        state.push(member, None, vec![update.clone()]);
    }
    Ok(state.updates(user, vec![update]).to_bytes())
}
