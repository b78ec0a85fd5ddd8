//! `messages.forwardMessages`: copies of messages from one chat into
//! another, each marked with where it came from and sent like any new
//! message, random ID and all.

use super::messages::Draft;
use super::{error, Caller, Reply};
use crate::state::State;
use grammers_tl_types::{self as tl, Deserializable, Serializable};

/// The message `id` of `peer` as `user` sees it.
fn source(
    state: &State,
    user: i64,
    peer: &tl::enums::InputPeer,
    id: i32,
) -> Option<tl::types::Message> {
    match peer {
        tl::enums::InputPeer::Channel(c) => state
            .channel(c.channel_id)
            .filter(|ch| ch.members.contains(&user))
            .and_then(|ch| ch.messages.get(&id).cloned()),
        _ => state.messages.get(&(user, id)).map(|m| m.message.clone()),
    }
}

pub(super) fn forward(
    state: &mut State,
    caller: &Caller,
    user: i64,
    request: tl::functions::messages::ForwardMessages,
) -> Reply {
    if request.id.len() != request.random_id.len() {
        return Err(error(400, "RANDOM_ID_INVALID"));
    }
    let mut updates = Vec::new();
    for (id, random_id) in request.id.iter().zip(&request.random_id) {
        let original = source(state, user, &request.from_peer, *id)
            .ok_or_else(|| error(400, "MESSAGE_ID_INVALID"))?;
        let draft = Draft {
            peer: request.to_peer.clone(),
            text: original.message.clone(),
            entities: original.entities.clone(),
            media: original.media.clone(),
            random_id: *random_id,
            fwd_from: Some(tl::enums::MessageFwdHeader::Header(
                tl::types::MessageFwdHeader {
                    imported: false,
                    saved_out: false,
                    from_id: original.from_id.clone().or(Some(original.peer_id.clone())),
                    from_name: None,
                    date: original.date,
                    channel_post: original.post.then_some(original.id),
                    post_author: None,
                    saved_from_peer: None,
                    saved_from_msg_id: None,
                    saved_from_id: None,
                    saved_from_name: None,
                    saved_date: None,
                    psa_type: None,
                },
            )),
            reply_to: None,
        };
        let sent = super::send(state, caller, draft)?;
        if let Ok(tl::enums::Updates::Updates(sent)) = tl::enums::Updates::from_bytes(&sent) {
            updates.extend(sent.updates);
        }
    }
    Ok(state.updates(user, updates).to_bytes())
}
