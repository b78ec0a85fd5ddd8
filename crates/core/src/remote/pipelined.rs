//! A new message sent on its portal's [`Pipeline`]: its parts go out
//! behind the messages before it, and the lane goes on to the next one
//! while the homeserver answers (see `homeserver::pipeline` for why).
//!
//! Only a plain message is sent this way. A reply, an edit or a reaction
//! looks an earlier message's mapping up, so it waits for those before it
//! to be answered and committed, and goes the usual way.

use super::{message_row, portal_room};
use crate::bridge::Bridge;
use crate::homeserver::{HsError, Pipeline};
use crate::ids::{send_txn_id, PartId, PortalKey, RemoteMessageId};
use crate::remote::RemoteEvent;
use crate::store::{MessageRow, Write};
use anyhow::{bail, Result};
use ruma::{OwnedEventId, OwnedRoomId, OwnedUserId};
use std::future::Future;
use std::pin::Pin;

type Answer = Pin<Box<dyn Future<Output = Result<OwnedEventId, HsError>> + Send>>;

/// A message whose parts are out, waiting for their answers.
pub(crate) struct Submitted {
    id: RemoteMessageId,
    room: OwnedRoomId,
    sender: OwnedUserId,
    timestamp: Option<i64>,
    parts: Vec<(PartId, Answer)>,
}

/// Sends a plain message's parts not yet on Matrix on `pipeline`, without
/// waiting for the answers. An error means nothing was sent.
pub(crate) async fn submit(
    bridge: &Bridge,
    key: &PortalKey,
    event: &RemoteEvent,
    known_parts: Option<Vec<MessageRow>>,
    pipeline: &Pipeline,
) -> Result<Submitted> {
    let RemoteEvent::Message {
        id,
        sender,
        parts,
        timestamp,
        reply_to: None,
    } = event
    else {
        bail!("only a plain message is pipelined");
    };
    let (_, room) = portal_room(bridge, key).await?;
    let done = match known_parts {
        Some(parts) => parts,
        None => bridge.store().message_parts(key, id).await?,
    };
    let speaker = bridge.speaker(&room, sender).await?;
    let mut answers = Vec::with_capacity(parts.len());
    for (part, content) in parts {
        if done.iter().any(|m| &m.part == part) {
            continue;
        }
        let mut content = content.clone();
        speaker.mark(&mut content);
        let answer = speaker.client.send_pipelined(
            pipeline,
            (&speaker.mxid, &room),
            &send_txn_id(key, id, part),
            &content,
            *timestamp,
        )?;
        answers.push((part.clone(), Box::pin(answer) as Answer));
    }
    Ok(Submitted {
        id: id.clone(),
        room,
        sender: speaker.mxid,
        timestamp: *timestamp,
        parts: answers,
    })
}

impl Submitted {
    /// Waits for the homeserver's answers: the parts' mappings, for the
    /// caller to commit, or the first failure.
    pub(crate) async fn answered(self, key: &PortalKey) -> Result<Vec<Write>, HsError> {
        let mut writes = Vec::with_capacity(self.parts.len());
        for (part, answer) in self.parts {
            let event_id = answer.await?;
            writes.push(message_row(
                key,
                &self.id,
                &part,
                &event_id,
                &self.room,
                &self.sender,
                self.timestamp,
            ));
        }
        Ok(writes)
    }
}
