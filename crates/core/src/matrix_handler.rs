//! Turns one Matrix event into a call on the network, or on the management
//! room when the room is no portal.

use crate::access::Access;
use crate::bridge::Bridge;
use crate::ids::{PartId, RemoteMessageId};
use crate::matrix_event::*;
use crate::store::{MessageRow, PortalRow, ReactionRow, Write};
use anyhow::Result;
use serde_json::Value;

fn str_at<'a>(v: &'a Value, pointer: &str) -> Option<&'a str> {
    v.pointer(pointer).and_then(Value::as_str)
}

fn meta(event: &Value) -> MatrixEventMeta {
    MatrixEventMeta {
        event_id: str_at(event, "/event_id").unwrap_or_default().to_owned(),
        room_id: str_at(event, "/room_id").unwrap_or_default().to_owned(),
        sender: str_at(event, "/sender").unwrap_or_default().to_owned(),
        timestamp: event
            .get("origin_server_ts")
            .and_then(Value::as_i64)
            .unwrap_or_default(),
    }
}

/// Handles one timeline event. Mapping changes are pushed to `writes`, which
/// the caller commits together with the event's processed mark.
pub(crate) async fn handle_timeline(
    bridge: &Bridge,
    event: &Value,
    recovered: bool,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let meta = meta(event);
    let kind = str_at(event, "/type").unwrap_or_default();
    let is_member = kind == "m.room.member";
    // Our own echoes; membership changes of real users by us still matter.
    if bridge.is_bridge_user(&meta.sender) && !is_member {
        return Ok(());
    }
    // The ingress log deduplicates new events; one replayed after a crash
    // may have been delivered already, which its mapping shows.
    let store = bridge.store();
    if recovered
        && (store.message_by_event(&meta.event_id).await?.is_some()
            || store.reaction_by_event(&meta.event_id).await?.is_some())
    {
        tracing::debug!(event_id = meta.event_id, "already bridged, skipping");
        return Ok(());
    }
    metrics::counter!("causeway_matrix_events_total", "type" => metric_type(kind)).increment(1);
    let Some(portal) = bridge.store().portal_by_room(&meta.room_id).await? else {
        return crate::management::handle_non_portal_event(bridge, event, meta).await;
    };
    let access = crate::access::check(bridge, kind, event, &meta).await;
    if access == Access::Refused {
        return Ok(());
    }
    let result = match kind {
        "m.room.message" => handle_message(bridge, &portal, event, &meta, access, writes).await,
        "m.reaction" => handle_reaction(bridge, &portal, event, &meta, writes).await,
        "m.room.redaction" => handle_redaction(bridge, &portal, event, &meta, writes).await,
        "m.room.member" => handle_membership(bridge, &portal, event, meta.clone()).await,
        "m.room.topic" => match bridge.network().topics() {
            Some(topics) => {
                topics
                    .handle_matrix_topic(
                        &portal,
                        &meta.sender,
                        str_at(event, "/content/topic").unwrap_or_default(),
                    )
                    .await
            }
            None => Ok(()),
        },
        _ => Ok(()),
    };
    if let Err(err) = &result {
        // A user's own joins and leaves fail quietly; a kick or ban someone
        // made is an action they expect to see happen.
        let own_membership =
            kind == "m.room.member" && str_at(event, "/state_key") == Some(meta.sender.as_str());
        if !bridge.is_bridge_user(&meta.sender) && !own_membership {
            // Nothing is dropped silently: the sender learns it did not arrive.
            // The error may quote the remote side: it is text, not markup.
            let notice = format!(
                "⚠️ Your {} was not bridged: {}",
                match kind {
                    "m.room.message" => "message",
                    "m.room.member" => "kick or ban",
                    _ => "event",
                },
                crate::format::escape_markdown(&format!("{err:#}"))
            );
            if let Err(send_err) = bridge.bot_notice(&meta.room_id, &notice).await {
                tracing::warn!(%send_err, "cannot tell the room about a failed delivery");
            }
        }
    }
    result
}

fn metric_type(kind: &str) -> &'static str {
    match kind {
        "m.room.message" => "message",
        "m.reaction" => "reaction",
        "m.room.redaction" => "redaction",
        "m.room.member" => "member",
        _ => "other",
    }
}

async fn handle_message(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &Value,
    meta: &MatrixEventMeta,
    access: Access,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let content = event.get("content").cloned().unwrap_or(Value::Null);
    let network = bridge.network();
    if str_at(&content, "/m.relates_to/rel_type") == Some("m.replace") {
        let Some(edits) = network.edits() else {
            anyhow::bail!("this network cannot edit messages")
        };
        let target_id = str_at(&content, "/m.relates_to/event_id").unwrap_or_default();
        let Some(target) = bridge.store().message_by_event(target_id).await? else {
            anyhow::bail!("the edited message was never bridged");
        };
        let new = content.get("m.new_content").unwrap_or(&content);
        let edit = MatrixEdit {
            meta: meta.clone(),
            target,
            new_body: str_at(new, "/body").unwrap_or_default().to_owned(),
            new_html: html_of(new),
        };
        return edits.handle_matrix_edit(portal, &edit).await;
    }
    let reply_to = match str_at(&content, "/m.relates_to/m.in_reply_to/event_id") {
        Some(id) => bridge.store().message_by_event(id).await?,
        None => None,
    };
    let mut message = MatrixMessage {
        meta: meta.clone(),
        msgtype: str_at(&content, "/msgtype").unwrap_or("m.text").to_owned(),
        body: str_at(&content, "/body").unwrap_or_default().to_owned(),
        html: html_of(&content),
        url: str_at(&content, "/url").map(str::to_owned),
        reply_to,
        content: content.clone(),
        relayed: false,
    };
    if access == Access::Relay {
        let name = bridge.room_displayname(&meta.room_id, &meta.sender).await;
        bridge.config().bridge.relay.apply(&mut message, &name);
    }
    let remote_id = network.handle_matrix_message(portal, &message).await?;
    // With no remote ID, the event ID still goes in, so a replay is skipped.
    let remote_id = remote_id.unwrap_or_else(|| RemoteMessageId(format!("mx:{}", meta.event_id)));
    writes.push(Write::Message(MessageRow {
        portal: portal.key.clone(),
        remote_id,
        part: PartId::default(),
        event_id: meta.event_id.clone(),
        room_id: meta.room_id.clone(),
        sender: meta.sender.clone(),
        timestamp: meta.timestamp,
    }));
    Ok(())
}

fn html_of(content: &Value) -> Option<String> {
    (str_at(content, "/format") == Some("org.matrix.custom.html"))
        .then(|| str_at(content, "/formatted_body").map(str::to_owned))
        .flatten()
}

async fn handle_reaction(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &Value,
    meta: &MatrixEventMeta,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let Some(reactions) = bridge.network().reactions() else {
        anyhow::bail!("this network has no reactions")
    };
    let target_id = str_at(event, "/content/m.relates_to/event_id").unwrap_or_default();
    let key = str_at(event, "/content/m.relates_to/key")
        .unwrap_or_default()
        .to_owned();
    let Some(target) = bridge.store().message_by_event(target_id).await? else {
        anyhow::bail!("the message reacted to was never bridged");
    };
    let reaction = MatrixReaction {
        meta: meta.clone(),
        target: target.clone(),
        key: key.clone(),
    };
    let remote_sender = reactions.handle_matrix_reaction(portal, &reaction).await?;
    writes.push(Write::Reaction(ReactionRow {
        portal: portal.key.clone(),
        remote_message_id: target.remote_id,
        remote_sender,
        emoji: key,
        event_id: meta.event_id.clone(),
    }));
    Ok(())
}

async fn handle_redaction(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &Value,
    meta: &MatrixEventMeta,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let redacts = str_at(event, "/redacts")
        .or_else(|| str_at(event, "/content/redacts"))
        .unwrap_or_default();
    let target = if let Some(message) = bridge.store().message_by_event(redacts).await? {
        RedactionTarget::Message(message)
    } else if let Some(reaction) = bridge.store().reaction_by_event(redacts).await? {
        RedactionTarget::Reaction(reaction)
    } else {
        return Ok(());
    };
    let Some(redactions) = bridge.network().redactions() else {
        anyhow::bail!("this network cannot delete messages")
    };
    let redaction = MatrixRedaction {
        meta: meta.clone(),
        target: target.clone(),
        reason: str_at(event, "/content/reason").map(str::to_owned),
    };
    redactions
        .handle_matrix_redaction(portal, &redaction)
        .await?;
    writes.push(match target {
        RedactionTarget::Message(m) => Write::DeleteMessage(m.event_id),
        RedactionTarget::Reaction(r) => Write::DeleteReaction(r.event_id),
    });
    Ok(())
}

pub(crate) fn parse_membership(event: &Value) -> Option<(String, Membership)> {
    let target = str_at(event, "/state_key")?.to_owned();
    let sender = str_at(event, "/sender").unwrap_or_default();
    let membership = match str_at(event, "/content/membership")? {
        "join" => Membership::Join,
        "invite" => Membership::Invite,
        "ban" => Membership::Ban,
        "leave" if sender != target => Membership::Kick,
        "leave" => Membership::Leave,
        _ => return None,
    };
    Some((target, membership))
}

async fn handle_membership(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &Value,
    meta: MatrixEventMeta,
) -> Result<()> {
    let Some((target, membership)) = parse_membership(event) else {
        return Ok(());
    };
    if matches!(
        membership,
        Membership::Leave | Membership::Kick | Membership::Ban
    ) {
        bridge.forget_joined(&meta.room_id, &target);
    }
    // Our own joins and leaves are not news to the network.
    if bridge.is_bridge_user(&meta.sender) && bridge.is_bridge_user(&target) {
        return Ok(());
    }
    let Some(handler) = bridge.network().membership() else {
        return Ok(());
    };
    let change = MatrixMembership {
        target_ghost: bridge.ghost_remote_id(&target),
        target,
        membership,
        reason: str_at(event, "/content/reason").map(str::to_owned),
        displayname: str_at(event, "/content/displayname").map(str::to_owned),
        meta,
    };
    handler.handle_matrix_membership(portal, &change).await
}

pub(crate) async fn handle_ephemeral(bridge: &Bridge, event: &Value) -> Result<()> {
    let room_id = str_at(event, "/room_id").unwrap_or_default();
    let Some(portal) = bridge.store().portal_by_room(room_id).await? else {
        return Ok(());
    };
    match str_at(event, "/type").unwrap_or_default() {
        "m.typing" => {
            let Some(handler) = bridge.network().typing() else {
                return Ok(());
            };
            let typing = event
                .pointer("/content/user_ids")
                .and_then(Value::as_array)
                .map(|ids| {
                    ids.iter()
                        .filter_map(Value::as_str)
                        .filter(|u| crate::access::has_own_identity(bridge, u))
                        .map(str::to_owned)
                        .collect()
                })
                .unwrap_or_default();
            handler
                .handle_matrix_typing(
                    &portal,
                    &MatrixTyping {
                        room_id: room_id.to_owned(),
                        typing,
                    },
                )
                .await
        }
        "m.receipt" => {
            let Some(handler) = bridge.network().receipts() else {
                return Ok(());
            };
            let Some(events) = event.get("content").and_then(Value::as_object) else {
                return Ok(());
            };
            for (event_id, receipts) in events {
                let Some(readers) = receipts.get("m.read").and_then(Value::as_object) else {
                    continue;
                };
                let Some(target) = bridge.store().message_by_event(event_id).await? else {
                    continue;
                };
                for user in readers
                    .keys()
                    .filter(|u| crate::access::has_own_identity(bridge, u))
                {
                    handler
                        .handle_matrix_receipt(
                            &portal,
                            &MatrixReceipt {
                                room_id: room_id.to_owned(),
                                user: user.clone(),
                                target: target.clone(),
                            },
                        )
                        .await?;
                }
            }
            Ok(())
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_leave_sent_by_someone_else_is_a_kick() {
        let kick = json!({ "sender": "@mod:x", "state_key": "@u:x", "content": { "membership": "leave" } });
        assert_eq!(
            parse_membership(&kick),
            Some(("@u:x".into(), Membership::Kick))
        );
        let leave =
            json!({ "sender": "@u:x", "state_key": "@u:x", "content": { "membership": "leave" } });
        assert_eq!(
            parse_membership(&leave).map(|m| m.1),
            Some(Membership::Leave)
        );
        let knock =
            json!({ "sender": "@u:x", "state_key": "@u:x", "content": { "membership": "knock" } });
        assert_eq!(parse_membership(&knock), None);
    }
}
