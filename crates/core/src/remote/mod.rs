//! Remote→Matrix: events from the network, sent in order per portal.
//!
//! Queueing is [`crate::outbox`]'s: committed first, one lane per portal.
//! Here each event becomes Matrix events. A send that fails because the
//! homeserver is down is retried until it is back; transaction IDs are
//! derived from the remote IDs, so a retry, even after a crash of the
//! bridge, never sends twice. A restart of Synapse between taking a send
//! and answering it is the exception: it forgets the IDs (see the README's
//! "No duplicates out").

use crate::bridge::Bridge;
use crate::homeserver::{HsError, Retry};
use crate::ids::{send_txn_id, PartId, PortalKey, RemoteMessageId};
use crate::network::{GhostInfo, PortalInfo};
use crate::store::{now_ms, MessageRow, PortalRow, ReactionRow, Write};
use anyhow::Result;
use ruma::{EventId, OwnedRoomId, RoomId, UserId};
use serde_json::{json, Value};

mod event;
mod pipelined;
pub use event::{PowerTarget, RemoteEvent, RemoteMembership};
pub(crate) use pipelined::{submit, Submitted};

/// Retries an event while the homeserver is unreachable or failing, so the
/// queue behind it waits in order instead of skipping ahead. A new
/// message's mappings go to `writes`, for the caller to commit; other
/// events write theirs at once.
pub(crate) async fn handle_until_delivered(
    bridge: &Bridge,
    key: &PortalKey,
    event: &RemoteEvent,
    known_parts: Option<Vec<MessageRow>>,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let mut attempt = 0;
    loop {
        match handle(bridge, key, event, known_parts.clone(), writes).await {
            Err(err) if is_transient(&err) => {
                let wait = Retry::FOREVER.backoff(attempt);
                tracing::warn!(portal = %key, ?wait, "homeserver unavailable, will retry: {err:#}");
                tokio::time::sleep(wait).await;
                attempt += 1;
            }
            other => return other,
        }
    }
}

fn is_transient(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause
            .downcast_ref::<HsError>()
            .is_some_and(HsError::is_transient)
    })
}

async fn portal_room(bridge: &Bridge, key: &PortalKey) -> Result<(PortalRow, OwnedRoomId)> {
    let row = match bridge.store().get_portal(key).await? {
        Some(row) if row.room_id.is_some() => row,
        _ => {
            bridge
                .ensure_portal_room(&PortalInfo {
                    key: key.clone(),
                    name: Some(key.id.to_string()),
                    ..Default::default()
                })
                .await?
        }
    };
    let room = Bridge::parse_room(row.room_id.as_deref().unwrap_or_default())?;
    Ok((row, room))
}

async fn first_event(
    bridge: &Bridge,
    key: &PortalKey,
    id: &RemoteMessageId,
) -> Result<Option<MessageRow>> {
    Ok(bridge
        .store()
        .message_parts(key, id)
        .await?
        .into_iter()
        .next())
}

/// The mapping of a message's part sent to Matrix, to commit.
fn message_row(
    key: &PortalKey,
    id: &RemoteMessageId,
    part: &PartId,
    event_id: &EventId,
    room: &RoomId,
    sender: &UserId,
    timestamp: Option<i64>,
) -> Write {
    Write::Message(MessageRow {
        portal: key.clone(),
        remote_id: id.clone(),
        part: part.clone(),
        event_id: event_id.to_string(),
        room_id: room.to_string(),
        sender: sender.to_string(),
        timestamp: timestamp.unwrap_or_else(now_ms),
    })
}

/// Bridges one event; a message's parts already on Matrix are looked up unless `known_parts`.
async fn handle(
    bridge: &Bridge,
    key: &PortalKey,
    event: &RemoteEvent,
    known_parts: Option<Vec<MessageRow>>,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let (row, room) = portal_room(bridge, key).await?;
    let hs = bridge.homeserver();
    match event {
        RemoteEvent::Message {
            id,
            sender,
            parts,
            timestamp,
            reply_to,
        } => {
            let done = match known_parts {
                Some(parts) => parts,
                None => bridge.store().message_parts(key, id).await?,
            };
            let speaker = bridge.speaker(&room, sender).await?;
            let reply_event = match reply_to {
                Some(target) => first_event(bridge, key, target).await?.map(|m| m.event_id),
                None => None,
            };
            for (index, (part, content)) in parts.iter().enumerate() {
                if done.iter().any(|m| &m.part == part) {
                    continue;
                }
                let mut content = content.clone();
                if let (0, Some(reply)) = (index, &reply_event) {
                    // Event content as sent: a reply relation added to what the network built.
                    content["m.relates_to"] = json!({ "m.in_reply_to": { "event_id": reply } });
                }
                speaker.mark(&mut content);
                let txn = send_txn_id(key, id, part);
                let event_id = speaker
                    .client
                    .send(
                        &speaker.mxid,
                        &room,
                        "m.room.message",
                        &txn,
                        &content,
                        *timestamp,
                        Retry::FOREVER,
                    )
                    .await?;
                writes.push(message_row(
                    key,
                    id,
                    part,
                    &event_id,
                    &room,
                    &speaker.mxid,
                    *timestamp,
                ));
            }
        }
        RemoteEvent::Edit {
            target,
            edit_id,
            sender,
            content,
            timestamp,
        } => {
            let Some(original) = first_event(bridge, key, target).await? else {
                anyhow::bail!("edit of unknown message {target}");
            };
            // The user's own edit from their phone is theirs, double puppeted.
            let speaker = bridge.speaker(&room, sender).await?;
            refuse_unless_own(&original, &speaker.mxid, "edit")?;
            let body = content
                .get("body")
                .and_then(Value::as_str)
                .unwrap_or_default();
            // Event content as sent: an edit keeps every field of the new content,
            // including ones ruma has no type for.
            let mut edit = json!({
                "msgtype": content.get("msgtype").cloned().unwrap_or(json!("m.text")),
                "body": format!("* {body}"),
                "m.new_content": content,
                "m.relates_to": { "rel_type": "m.replace", "event_id": original.event_id },
            });
            if let Some(html) = content.get("formatted_body").and_then(Value::as_str) {
                edit["format"] = json!("org.matrix.custom.html");
                edit["formatted_body"] = json!(format!("* {html}"));
            }
            speaker.mark(&mut edit);
            let txn = send_txn_id(key, edit_id, &PartId::new("edit"));
            speaker
                .client
                .send(
                    &speaker.mxid,
                    &room,
                    "m.room.message",
                    &txn,
                    &edit,
                    *timestamp,
                    Retry::FOREVER,
                )
                .await?;
        }
        RemoteEvent::Reaction {
            target,
            sender,
            emoji,
            timestamp,
        } => {
            if bridge
                .store()
                .find_reaction(key, target, &sender.id, emoji)
                .await?
                .is_some()
            {
                return Ok(());
            }
            let Some(original) = first_event(bridge, key, target).await? else {
                anyhow::bail!("reaction to unknown message {target}");
            };
            let speaker = bridge.speaker(&room, sender).await?;
            // Event content as sent: a reaction.
            let mut content = json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": original.event_id, "key": emoji } });
            speaker.mark(&mut content);
            let txn = send_txn_id(
                key,
                &RemoteMessageId(format!("react\u{0}{target}\u{0}{}\u{0}{emoji}", sender.id)),
                &PartId::default(),
            );
            let event_id = speaker
                .client
                .send(
                    &speaker.mxid,
                    &room,
                    "m.reaction",
                    &txn,
                    &content,
                    *timestamp,
                    Retry::FOREVER,
                )
                .await?;
            let row = ReactionRow {
                portal: key.clone(),
                remote_message_id: target.clone(),
                remote_sender: sender.id.clone(),
                emoji: emoji.clone(),
                event_id: event_id.to_string(),
            };
            bridge.store().put_reaction(&row).await?;
        }
        RemoteEvent::ReactionRemove {
            target,
            sender,
            emoji,
        } => {
            let Some(reaction) = bridge
                .store()
                .find_reaction(key, target, &sender.id, emoji)
                .await?
            else {
                return Ok(());
            };
            let speaker = bridge.speaker(&room, sender).await?;
            let event = EventId::parse(&reaction.event_id)?;
            speaker
                .client
                .redact(
                    &speaker.mxid,
                    &room,
                    &event,
                    &format!("cwredact{}", &reaction.event_id.trim_start_matches('$')),
                    None,
                )
                .await?;
            bridge.store().delete_reaction(&reaction.event_id).await?;
        }
        RemoteEvent::ReactionSet {
            target,
            reactions,
            own,
        } => set_reactions(bridge, key, target, reactions, own.as_ref(), writes).await?,
        RemoteEvent::MessageRemove { target, sender } => {
            let speaker = bridge.speaker(&room, sender).await?;
            let parts = bridge.store().message_parts(key, target).await?;
            if let Some(original) = parts.first() {
                refuse_unless_own(original, &speaker.mxid, "removal")?;
            }
            redact_parts(bridge, &room, (speaker.client, &speaker.mxid), parts, None).await?;
        }
        RemoteEvent::ModeratedRemove {
            target,
            moderator,
            reason,
        } => {
            if row.is_direct() {
                anyhow::bail!("refused a moderator's removal of {target} in a private chat");
            }
            let ghost = match moderator {
                Some(moderator) => bridge.ensure_ghost(moderator).await?,
                None => bridge.bot().to_owned(),
            };
            let parts = bridge.store().message_parts(key, target).await?;
            let actor = (bridge.homeserver(), ghost.as_ref());
            redact_parts(bridge, &room, actor, parts, reason.as_deref()).await?;
        }
        RemoteEvent::Topic { topic } => {
            crate::chat_info::set_topic(bridge, key, &room, topic).await?;
        }
        RemoteEvent::ChatInfo(info) => {
            crate::chat_info::apply(bridge, key, &room, info).await?;
        }
        RemoteEvent::Membership { sender, change } => {
            let ghost = bridge.ensure_ghost(sender).await?;
            match change {
                RemoteMembership::Join => bridge.ensure_joined(&room, &ghost).await?,
                RemoteMembership::Leave { reason } => {
                    bridge.forget_joined(&room, &ghost);
                    match hs.leave(&ghost, &room, reason.as_deref()).await {
                        // Never in the room: nothing to leave.
                        Err(err) if err.errcode() == Some("M_FORBIDDEN") => {}
                        other => other?,
                    }
                }
                RemoteMembership::Kicked { by, reason } => {
                    let kicker = bridge.ensure_ghost(by).await?;
                    bridge.forget_joined(&room, &ghost);
                    if hs
                        .kick(&kicker, &room, &ghost, reason.as_deref())
                        .await
                        .is_err()
                    {
                        let why = format!(
                            "kicked by {}{}",
                            by.displayname.as_deref().unwrap_or(by.id.as_str()),
                            reason
                                .as_ref()
                                .map(|r| format!(": {r}"))
                                .unwrap_or_default()
                        );
                        match hs.leave(&ghost, &room, Some(&why)).await {
                            Err(err) if err.errcode() == Some("M_FORBIDDEN") => {}
                            other => other?,
                        }
                    }
                }
            }
        }
        RemoteEvent::RemoveMatrixUser { mxid, reason, ban } => {
            let user = crate::ruma_user_id(mxid)?;
            bridge.forget_joined(&room, &user);
            if *ban {
                hs.ban(bridge.bot(), &room, &user, reason.as_deref())
                    .await?;
            } else {
                hs.kick(bridge.bot(), &room, &user, reason.as_deref())
                    .await?;
            }
        }
        RemoteEvent::PowerLevel { target, level } => {
            // A Matrix user may hold more power than any remote rank gives:
            // a room admin demoted on the remote side keeps it.
            let (user, unless_above) = match target {
                PowerTarget::Ghost(ghost) => (bridge.ensure_ghost(ghost).await?.to_string(), None),
                PowerTarget::MatrixUser(mxid) => (mxid.clone(), Some(50)),
            };
            crate::portal::set_power_level(bridge, &room, &user, *level, unless_above).await?;
        }
        RemoteEvent::JoinRule { invite_only } => {
            let rule = if *invite_only { "invite" } else { "public" };
            let current = hs
                .state_event(bridge.bot(), &room, "m.room.join_rules", "")
                .await?;
            if current.as_ref().and_then(|c| c["join_rule"].as_str()) != Some(rule) {
                hs.send_state(
                    bridge.bot(),
                    &room,
                    "m.room.join_rules",
                    "",
                    // State content as sent.
                    &json!({ "join_rule": rule }),
                    None,
                )
                .await?;
            }
        }
        RemoteEvent::Typing { sender, typing } => {
            let ghost = bridge.ensure_ghost(sender).await?;
            bridge.ensure_joined(&room, &ghost).await?;
            hs.typing(&ghost, &room, *typing, 30_000).await?;
        }
        RemoteEvent::Receipt { target, sender } => {
            let Some(original) = first_event(bridge, key, target).await? else {
                return Ok(());
            };
            let speaker = bridge.speaker(&room, sender).await?;
            speaker
                .client
                .read_receipt(&speaker.mxid, &room, &EventId::parse(&original.event_id)?)
                .await?;
        }
    }
    Ok(())
}

/// A [`RemoteEvent::ReactionSet`]: removals of what is gone, then
/// additions, each as its own event would be handled.
async fn set_reactions(
    bridge: &Bridge,
    key: &PortalKey,
    target: &RemoteMessageId,
    reactions: &[(GhostInfo, String)],
    own: Option<&GhostInfo>,
    writes: &mut Vec<Write>,
) -> Result<()> {
    for row in bridge.store().reactions_on(key, target).await? {
        let kept = reactions
            .iter()
            .any(|(who, emoji)| who.id == row.remote_sender && *emoji == row.emoji);
        if kept {
            continue;
        }
        let sender = match own {
            Some(own) if own.id == row.remote_sender => own.clone(),
            _ => GhostInfo {
                id: row.remote_sender,
                ..Default::default()
            },
        };
        let removal = RemoteEvent::ReactionRemove {
            target: target.clone(),
            sender,
            emoji: row.emoji,
        };
        Box::pin(handle(bridge, key, &removal, None, writes)).await?;
    }
    for (sender, emoji) in reactions {
        let reaction = RemoteEvent::Reaction {
            target: target.clone(),
            sender: sender.clone(),
            emoji: emoji.clone(),
            timestamp: None,
        };
        Box::pin(handle(bridge, key, &reaction, None, writes)).await?;
    }
    Ok(())
}

/// Redacts every part of a message as `actor` (a ghost, or a
/// double-puppeted user through their client), and forgets it. An actor
/// without the power to redact someone else's event (a moderator whose
/// rank has not reached the room yet) leaves it to the bot.
async fn redact_parts(
    bridge: &Bridge,
    room: &ruma::RoomId,
    (client, actor): (&crate::homeserver::Homeserver, &ruma::UserId),
    parts: Vec<MessageRow>,
    reason: Option<&str>,
) -> Result<()> {
    for part in parts {
        let event = EventId::parse(&part.event_id)?;
        let txn = format!("cwredact{}", part.event_id.trim_start_matches('$'));
        let _redacting = Redacting::mark(bridge, &part.event_id);
        match client.redact(actor, room, &event, &txn, reason).await {
            Err(err) if err.errcode() == Some("M_FORBIDDEN") => {
                let txn = format!("{txn}bot");
                bridge
                    .homeserver()
                    .redact(bridge.bot(), room, &event, &txn, reason)
                    .await?;
            }
            other => drop(other?),
        }
        bridge.store().delete_message(&part.event_id).await?;
    }
    Ok(())
}

/// An event marked as being redacted for the network (see
/// `Inner::redacting`) until dropped.
struct Redacting<'a>(&'a Bridge, &'a str);

impl<'a> Redacting<'a> {
    fn mark(bridge: &'a Bridge, event_id: &'a str) -> Self {
        bridge.inner().redacting.insert(event_id.to_owned());
        Self(bridge, event_id)
    }
}

impl Drop for Redacting<'_> {
    fn drop(&mut self) {
        self.0.inner().redacting.remove(self.1);
    }
}

/// A remote user may edit or remove only their own messages, whatever the
/// network let through: one check here covers every network. The refusal
/// is logged by the portal task and the event is dropped, not retried.
fn refuse_unless_own(original: &MessageRow, ghost: &ruma::UserId, what: &str) -> Result<()> {
    if original.sender != ghost.as_str() {
        metrics::counter!("causeway_remote_refused_total", "reason" => "not_own_message")
            .increment(1);
        anyhow::bail!(
            "refused a remote {what} by {ghost} of {}, a message {} sent",
            original.event_id,
            original.sender
        );
    }
    Ok(())
}

/// Content for a text message, with HTML when the network has formatting.
pub fn text_content(msgtype: &str, body: &str, html: Option<&str>) -> Value {
    // Event content as sent, which networks extend with fields of their own.
    let mut content = json!({ "msgtype": msgtype, "body": body });
    if let Some(html) = html {
        content["format"] = json!("org.matrix.custom.html");
        content["formatted_body"] = json!(html);
    }
    content
}
