//! Turns one Matrix event into a call on the network, or on the management
//! room when the room is no portal. Events arrive typed (ruma's
//! [`AnyTimelineEvent`]); each handler reads the fields it needs.

use crate::access::Access;
use crate::bridge::Bridge;
use crate::ids::{PartId, RemoteMessageId};
use crate::matrix_event::*;
use crate::store::{MessageRow, PortalRow, ReactionRow, Write};
use anyhow::Result;
use ruma::api::appservice::event::push_events::v1::EphemeralData;
use ruma::events::reaction::ReactionEventContent;
use ruma::events::room::member::{MembershipState, OriginalRoomMemberEvent};
use ruma::events::room::message::{MessageType, Relation, RoomMessageEventContent};
use ruma::events::room::redaction::RoomRedactionEvent;
use ruma::events::{
    AnyMessageLikeEvent, AnyStateEvent, AnyTimelineEvent, MessageLikeEvent, StateEvent,
};
use ruma::EventId;

fn meta(event: &AnyTimelineEvent) -> MatrixEventMeta {
    MatrixEventMeta {
        event_id: event.event_id().to_string(),
        room_id: event.room_id().to_string(),
        sender: event.sender().to_string(),
        timestamp: i64::from(event.origin_server_ts().get()),
        login: None,
    }
}

/// Handles one timeline event. Mapping changes are pushed to `writes`, which
/// the caller commits together with the event's processed mark.
pub(crate) async fn handle_timeline(
    bridge: &Bridge,
    event: &AnyTimelineEvent,
    recovered: bool,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let meta = meta(event);
    let kind = event.event_type().to_string();
    let member = match event {
        AnyTimelineEvent::State(AnyStateEvent::RoomMember(StateEvent::Original(m))) => Some(m),
        _ => None,
    };
    // Our own echoes; membership changes of real users by us still matter.
    // Ingress leaves new echoes out of the log; this catches those logged
    // before it did, which would otherwise go back to the network.
    if bridge.is_bridge_user(&meta.sender) && member.is_none() {
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
    metrics::counter!("causeway_matrix_events_total", "type" => metric_type(&kind)).increment(1);
    let Some(portal) = bridge.store().portal_by_room(&meta.room_id).await? else {
        return crate::management::handle_non_portal_event(bridge, event, meta).await;
    };
    if let AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
        MessageLikeEvent::Original(message),
    )) = event
    {
        let commands = bridge.commands();
        let prefix = bridge.room_command_prefix();
        if let Some(parsed) = commands.parse_in_portal(message.content.body(), &prefix) {
            return commands
                .dispatch(bridge, &meta.sender, &meta.room_id, &meta.event_id, parsed)
                .await;
        }
    }
    let mut meta = meta;
    let access = crate::access::check(bridge, event, &meta).await;
    if access == Access::Refused {
        return Ok(());
    }
    let access = crate::sender_login::pick(bridge, &portal, event, &mut meta, access).await?;
    if access == Access::Refused {
        return Ok(());
    }
    let result = match event {
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomMessage(
            MessageLikeEvent::Original(message),
        )) => handle_message(bridge, &portal, &message.content, &meta, access, writes).await,
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::Reaction(
            MessageLikeEvent::Original(reaction),
        )) => handle_reaction(bridge, &portal, &reaction.content, &meta, writes).await,
        AnyTimelineEvent::MessageLike(AnyMessageLikeEvent::RoomRedaction(
            RoomRedactionEvent::Original(redaction),
        )) => {
            // Where `redacts` lives depends on the room version.
            let target = redaction
                .redacts
                .as_deref()
                .or(redaction.content.redacts.as_deref());
            let reason = redaction.content.reason.clone();
            handle_redaction(bridge, &portal, target, reason, &meta, writes).await
        }
        AnyTimelineEvent::State(AnyStateEvent::RoomMember(StateEvent::Original(member))) => {
            handle_membership(bridge, &portal, member, meta.clone()).await
        }
        AnyTimelineEvent::State(AnyStateEvent::RoomName(StateEvent::Original(name))) => {
            match bridge.network().names() {
                Some(names) => {
                    names
                        .handle_matrix_name(&portal, &meta.sender, &name.content.name)
                        .await
                }
                None => Ok(()),
            }
        }
        AnyTimelineEvent::State(AnyStateEvent::RoomTopic(StateEvent::Original(topic))) => {
            match bridge.network().topics() {
                Some(topics) => {
                    topics
                        .handle_matrix_topic(&portal, &meta.sender, &topic.content.topic)
                        .await
                }
                None => Ok(()),
            }
        }
        _ => Ok(()),
    };
    if let Err(err) = &result {
        // A user's own joins and leaves fail quietly; a kick or ban someone
        // made is an action they expect to see happen.
        let own_membership = member.is_some_and(|m| m.state_key == *event.sender());
        if !bridge.is_bridge_user(&meta.sender) && !own_membership {
            // Nothing is dropped silently: the sender learns it did not arrive.
            // The error may quote the remote side: it is text, not markup.
            let notice = format!(
                "⚠️ Your {} was not bridged: {}",
                match kind.as_str() {
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
    content: &RoomMessageEventContent,
    meta: &MatrixEventMeta,
    access: Access,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let network = bridge.network();
    let reply_to_id = match &content.relates_to {
        Some(Relation::Replacement(replacement)) => {
            let Some(edits) = network.edits() else {
                anyhow::bail!("this network cannot edit messages")
            };
            let Some(target) = bridge
                .store()
                .message_by_event(replacement.event_id.as_str())
                .await?
            else {
                anyhow::bail!("the edited message was never bridged");
            };
            let new = &replacement.new_content.msgtype;
            let edit = MatrixEdit {
                meta: meta.clone(),
                target,
                new_body: new.body().to_owned(),
                new_html: html_of(new),
            };
            return edits.handle_matrix_edit(portal, &edit).await;
        }
        Some(Relation::Reply(reply)) => Some(&reply.in_reply_to.event_id),
        Some(Relation::Thread(thread)) => thread.in_reply_to.as_ref().map(|r| &r.event_id),
        _ => None,
    };
    let reply_to = match reply_to_id {
        Some(id) => bridge.store().message_by_event(id.as_str()).await?,
        None => None,
    };
    let mut message = MatrixMessage {
        meta: meta.clone(),
        msgtype: content.msgtype().to_owned(),
        body: content.body().to_owned(),
        html: html_of(&content.msgtype),
        url: media_url(&content.msgtype),
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

/// The HTML body of a message (or of a file's caption), when it has one.
fn html_of(msgtype: &MessageType) -> Option<String> {
    let formatted = match msgtype {
        MessageType::Text(m) => m.formatted.as_ref(),
        MessageType::Emote(m) => m.formatted.as_ref(),
        MessageType::Notice(m) => m.formatted.as_ref(),
        MessageType::Image(m) => m.formatted.as_ref(),
        MessageType::File(m) => m.formatted.as_ref(),
        MessageType::Audio(m) => m.formatted.as_ref(),
        MessageType::Video(m) => m.formatted.as_ref(),
        _ => None,
    }?;
    (formatted.format == ruma::events::room::message::MessageFormat::Html)
        .then(|| formatted.body.clone())
}

/// The `mxc://` URI of an unencrypted attachment.
fn media_url(msgtype: &MessageType) -> Option<String> {
    use ruma::events::room::MediaSource;
    let source = match msgtype {
        MessageType::Image(m) => &m.source,
        MessageType::File(m) => &m.source,
        MessageType::Audio(m) => &m.source,
        MessageType::Video(m) => &m.source,
        _ => return None,
    };
    match source {
        MediaSource::Plain(uri) => Some(uri.to_string()),
        MediaSource::Encrypted(_) => None,
    }
}

async fn handle_reaction(
    bridge: &Bridge,
    portal: &PortalRow,
    content: &ReactionEventContent,
    meta: &MatrixEventMeta,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let Some(reactions) = bridge.network().reactions() else {
        anyhow::bail!("this network has no reactions")
    };
    let annotation = &content.relates_to;
    let Some(target) = bridge
        .store()
        .message_by_event(annotation.event_id.as_str())
        .await?
    else {
        anyhow::bail!("the message reacted to was never bridged");
    };
    let reaction = MatrixReaction {
        meta: meta.clone(),
        target: target.clone(),
        key: annotation.key.clone(),
    };
    let remote_sender = reactions.handle_matrix_reaction(portal, &reaction).await?;
    writes.push(Write::Reaction(ReactionRow {
        portal: portal.key.clone(),
        remote_message_id: target.remote_id,
        remote_sender,
        emoji: annotation.key.clone(),
        event_id: meta.event_id.clone(),
    }));
    Ok(())
}

async fn handle_redaction(
    bridge: &Bridge,
    portal: &PortalRow,
    redacts: Option<&EventId>,
    reason: Option<String>,
    meta: &MatrixEventMeta,
    writes: &mut Vec<Write>,
) -> Result<()> {
    let Some(redacts) = redacts.map(EventId::as_str) else {
        return Ok(());
    };
    if bridge.inner().redacting.contains(redacts) {
        tracing::debug!(redacts, "the echo of a redaction the network asked for");
        return Ok(());
    }
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
        reason,
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

/// What a membership event did to its target: a leave sent by someone else
/// is a kick. Knocks and unknown states are nothing the bridge mirrors.
pub(crate) fn membership_change(
    sender: &str,
    target: &str,
    state: &MembershipState,
) -> Option<Membership> {
    Some(match state {
        MembershipState::Join => Membership::Join,
        MembershipState::Invite => Membership::Invite,
        MembershipState::Ban => Membership::Ban,
        MembershipState::Leave if sender != target => Membership::Kick,
        MembershipState::Leave => Membership::Leave,
        _ => return None,
    })
}

/// The change a membership event made, and to whom.
pub(crate) fn parse_membership(event: &OriginalRoomMemberEvent) -> Option<(String, Membership)> {
    let target = event.state_key.as_str();
    let change = membership_change(event.sender.as_str(), target, &event.content.membership)?;
    Some((target.to_owned(), change))
}

async fn handle_membership(
    bridge: &Bridge,
    portal: &PortalRow,
    event: &OriginalRoomMemberEvent,
    meta: MatrixEventMeta,
) -> Result<()> {
    let Some((target, membership)) = parse_membership(event) else {
        return Ok(());
    };
    if matches!(
        membership,
        Membership::Leave | Membership::Kick | Membership::Ban
    ) {
        bridge.forget_joined(&event.room_id, &event.state_key);
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
        reason: event.content.reason.clone(),
        displayname: event.content.displayname.clone(),
        meta,
    };
    handler.handle_matrix_membership(portal, &change).await
}

/// Handles one ephemeral event: typing and read receipts in portals.
pub(crate) async fn handle_ephemeral(bridge: &Bridge, event: &EphemeralData) -> Result<()> {
    match event {
        EphemeralData::Typing(typing) => {
            let room_id = typing.room_id.as_str();
            let Some(portal) = bridge.store().portal_by_room(room_id).await? else {
                return Ok(());
            };
            let Some(handler) = bridge.network().typing() else {
                return Ok(());
            };
            let typing = typing
                .content
                .user_ids
                .iter()
                .map(|user| user.to_string())
                .filter(|user| crate::access::has_own_identity(bridge, user))
                .collect();
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
        EphemeralData::Receipt(receipt) => {
            let room_id = receipt.room_id.as_str();
            let Some(portal) = bridge.store().portal_by_room(room_id).await? else {
                return Ok(());
            };
            let Some(handler) = bridge.network().receipts() else {
                return Ok(());
            };
            for (event_id, receipts) in receipt.content.iter() {
                let Some(readers) = receipts.get(&ruma::events::receipt::ReceiptType::Read) else {
                    continue;
                };
                let Some(target) = bridge.store().message_by_event(event_id.as_str()).await? else {
                    continue;
                };
                for user in readers
                    .keys()
                    .map(|user| user.to_string())
                    .filter(|user| crate::access::has_own_identity(bridge, user))
                {
                    handler
                        .handle_matrix_receipt(
                            &portal,
                            &MatrixReceipt {
                                room_id: room_id.to_owned(),
                                user,
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

    #[test]
    fn a_leave_sent_by_someone_else_is_a_kick() {
        let change = |sender, state| membership_change(sender, "@u:x", &state);
        assert_eq!(
            change("@mod:x", MembershipState::Leave),
            Some(Membership::Kick)
        );
        assert_eq!(
            change("@u:x", MembershipState::Leave),
            Some(Membership::Leave)
        );
        assert_eq!(change("@u:x", MembershipState::Knock), None);
    }
}
