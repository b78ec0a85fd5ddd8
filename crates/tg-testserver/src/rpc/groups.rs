//! Basic groups: creating one, renaming it and removing members. A rename
//! is a service message in every member's box, as Telegram sends it;
//! service messages come through updates and the difference, not history.
//! Bots in the group are also told of members joining and leaving, on
//! their qts.

use super::{error, Caller, Reply};
use crate::state::{Group, State};
use crate::tl_build::{self, now};
use grammers_tl_types::{self as tl, Serializable};

/// The next basic group ID.
fn next_group_id(state: &State) -> i64 {
    5_000 + state.groups.len() as i64
}

pub(super) fn create(
    state: &mut State,
    user: i64,
    request: tl::functions::messages::CreateChat,
) -> Reply {
    let mut members = vec![user];
    for input in &request.users {
        let id = match input {
            tl::enums::InputUser::User(u) => u.user_id,
            _ => continue,
        };
        if state.account(id).is_none() {
            return Err(error(400, "USER_ID_INVALID"));
        }
        if !members.contains(&id) {
            members.push(id);
        }
    }
    let group = Group {
        id: next_group_id(state),
        title: request.title.clone(),
        about: String::new(),
        creator: user,
        members,
        date: now(),
    };
    let (id, members) = (group.id, group.members.clone());
    state.groups.push(group);
    for &added in members.iter().filter(|&&m| m != user) {
        tell_bots(state, id, user, added, true);
    }
    let action = tl::enums::MessageAction::ChatCreate(tl::types::MessageActionChatCreate {
        title: request.title,
        users: members.clone(),
    });
    let updates = announce(state, user, id, action);
    Ok(
        tl::enums::messages::InvitedUsers::Users(tl::types::messages::InvitedUsers {
            updates: state.updates(user, updates),
            missing_invitees: Vec::new(),
        })
        .to_bytes(),
    )
}

pub(super) fn edit_title(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::EditChatTitle,
) -> Reply {
    let group = state
        .groups
        .iter_mut()
        .find(|g| g.id == request.chat_id && g.members.contains(&user))
        .ok_or_else(|| error(400, "CHAT_ID_INVALID"))?;
    group.title = request.title.clone();
    let action = tl::enums::MessageAction::ChatEditTitle(tl::types::MessageActionChatEditTitle {
        title: request.title,
    });
    let updates = announce(state, user, request.chat_id, action);
    state.push(user, Some(caller.conn), updates.clone());
    Ok(state.updates(user, updates).to_bytes())
}

/// `messages.deleteChatUser`: the creator removes a member (or anyone
/// leaves); every member, the removed one too, sees the service message.
pub(super) fn delete_user(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::DeleteChatUser,
) -> Reply {
    let removed = match &request.user_id {
        tl::enums::InputUser::User(u) => u.user_id,
        tl::enums::InputUser::UserSelf => user,
        _ => return Err(error(400, "USER_ID_INVALID")),
    };
    let group = state
        .groups
        .iter()
        .find(|g| g.id == request.chat_id && g.members.contains(&user))
        .ok_or_else(|| error(400, "CHAT_ID_INVALID"))?;
    if removed != user && group.creator != user {
        return Err(error(403, "CHAT_ADMIN_REQUIRED"));
    }
    if !group.members.contains(&removed) {
        return Err(error(400, "USER_NOT_PARTICIPANT"));
    }
    let action = tl::enums::MessageAction::ChatDeleteUser(tl::types::MessageActionChatDeleteUser {
        user_id: removed,
    });
    let updates = announce(state, user, request.chat_id, action);
    tell_bots(state, request.chat_id, user, removed, false);
    if let Some(group) = state.groups.iter_mut().find(|g| g.id == request.chat_id) {
        group.members.retain(|m| *m != removed);
    }
    state.push(user, Some(caller.conn), updates.clone());
    Ok(state.updates(user, updates).to_bytes())
}

/// Puts a service message from `user` into every member's box and pushes
/// it to the others; returns the sender's own updates.
fn announce(
    state: &mut State,
    user: i64,
    chat: i64,
    action: tl::enums::MessageAction,
) -> Vec<tl::enums::Update> {
    let members = state
        .group(chat)
        .map(|g| g.members.clone())
        .unwrap_or_default();
    let mut own = Vec::new();
    for member in members {
        let id = state.next_message_id(member);
        let message = tl_build::service_message(
            id,
            member == user,
            user,
            tl_build::peer_chat(chat),
            action.clone(),
        );
        let update = state.log(member, 1, |pts| {
            tl::enums::Update::NewMessage(tl::types::UpdateNewMessage {
                message,
                pts,
                pts_count: 1,
            })
        });
        if member == user {
            own.push(update);
        } else {
            state.push(member, None, vec![update]);
        }
    }
    own
}

/// Tells every bot in the group that `user` joined or left, through
/// `updateChatParticipant` on the bot's qts, the sequence Telegram keeps
/// for bots apart from pts.
fn tell_bots(state: &mut State, chat: i64, actor: i64, user: i64, joined: bool) {
    let members = state
        .group(chat)
        .map(|g| g.members.clone())
        .unwrap_or_default();
    let bots: Vec<i64> = members
        .into_iter()
        .filter(|&m| state.account(m).is_some_and(|a| a.spec.bot_token.is_some()))
        .collect();
    let participant = tl::enums::ChatParticipant::Participant(tl::types::ChatParticipant {
        user_id: user,
        inviter_id: actor,
        date: now(),
        rank: None,
    });
    let (prev_participant, new_participant) = match joined {
        true => (None, Some(participant)),
        false => (Some(participant), None),
    };
    for bot in bots {
        let update = state.log_qts(bot, |qts| {
            tl::enums::Update::ChatParticipant(tl::types::UpdateChatParticipant {
                chat_id: chat,
                date: now(),
                actor_id: actor,
                user_id: user,
                prev_participant: prev_participant.clone(),
                new_participant: new_participant.clone(),
                invite: None,
                qts,
            })
        });
        state.push(bot, None, vec![update]);
    }
}
