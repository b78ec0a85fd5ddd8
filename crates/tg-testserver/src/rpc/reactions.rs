//! Reactions: each user's on each copy of a message, from Telegram's
//! standard set; anything else is `REACTION_INVALID`, as in a chat that
//! allows only the defaults.

use super::messages::{own_copy, target};
use super::{error, Reply};
use crate::state::{State, StoredMessage};
use crate::tl_build::{self, now};
use grammers_tl_types::{self as tl, Serializable};

/// Telegram's standard reactions, without variation selectors.
const STANDARD: &[&str] = &[
    "👍",
    "👎",
    "❤",
    "🔥",
    "🥰",
    "👏",
    "😁",
    "🤔",
    "🤯",
    "😱",
    "🤬",
    "😢",
    "🎉",
    "🤩",
    "🤮",
    "💩",
    "🙏",
    "👌",
    "🕊",
    "🤡",
    "🥱",
    "🥴",
    "😍",
    "🐳",
    "❤\u{200d}🔥",
    "🌚",
    "🌭",
    "💯",
    "🤣",
    "⚡",
    "🍌",
    "🏆",
    "💔",
    "🤨",
    "😐",
    "🍓",
    "🍾",
    "💋",
    "🖕",
    "😈",
    "😴",
    "😭",
    "🤓",
    "👻",
    "👨\u{200d}💻",
    "👀",
    "🎃",
    "🙈",
    "😇",
    "😨",
    "🤝",
    "✍",
    "🤗",
    "🫡",
    "🎅",
    "🎄",
    "☃",
    "💅",
    "🤪",
    "🗿",
    "🆒",
    "💘",
    "🙉",
    "🦄",
    "😘",
    "💊",
    "🙊",
    "😎",
    "👾",
    "🤷",
    "😡",
];

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
    target(state, user, &request.peer)?;
    for reaction in request.reaction.iter().flatten() {
        let allowed = match reaction {
            tl::enums::Reaction::Emoji(emoji) => STANDARD.contains(&emoji.emoticon.as_str()),
            _ => false,
        };
        if !allowed {
            return Err(error(400, "REACTION_INVALID"));
        }
    }
    let stored = own_copy(state, user, request.msg_id)?;
    let date = now();
    let mut result = None;
    for (owner, id) in std::iter::once((user, request.msg_id)).chain(stored.copies) {
        let Some(entry) = state.messages.get_mut(&(owner, id)) else {
            continue;
        };
        entry.reactions.retain(|(who, _, _)| *who != user);
        for reaction in request.reaction.iter().flatten() {
            entry.reactions.push((user, reaction.clone(), date));
        }
        let entry = entry.clone();
        let update = tl::enums::Update::MessageReactions(tl::types::UpdateMessageReactions {
            peer: entry.message.peer_id.clone(),
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
