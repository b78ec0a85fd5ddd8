//! What a login's WhatsApp account receives, into Matrix. Messages come
//! through the durability hook ([`message`]), which commits them to the
//! outbox before WhatsApp hears they arrived; the rest (connection, typing,
//! receipts, history) through the client's events ([`spawn`]).

use crate::chat_info::{self, message_id, own_ghost, own_jid};
use crate::client::{Events, WaClient};
use crate::network::WhatsAppNetwork;
use anyhow::Result;
use causeway_core::ids::RemoteMessageId;
use causeway_core::login_state::LoginState;
use causeway_core::network::GhostInfo;
use causeway_core::remote::RemoteEvent;
use causeway_core::store::LoginRow;
use std::sync::Weak;
use wa::message::protocol_message::Type as Protocol;
use whatsapp_rust::types::durability_hook::InboundMessage;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::proto_helpers::MessageExt;
use whatsapp_rust::wacore_binary::JidExt as _;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::Jid;

/// A person by their phone-number JID where WhatsApp gives one alongside a
/// LID, so each contact is one ghost.
fn person(jid: &Jid, alt: Option<&Jid>) -> Jid {
    match alt {
        Some(alt) if jid.is_lid() && alt.is_pn() => alt.to_non_ad(),
        _ => jid.to_non_ad(),
    }
}

/// Who a message, and the chat it is in, are, as portal and ghost IDs.
pub(crate) struct Origin {
    pub chat: Jid,
    pub sender: Jid,
    pub from_me: bool,
}

impl Origin {
    pub(crate) fn of(source: &whatsapp_rust::wacore::types::message::MessageSource) -> Self {
        let sender = person(&source.sender, source.sender_alt.as_ref());
        let chat = if source.chat.is_group() {
            source.chat.to_non_ad()
        } else if source.is_from_me {
            person(&source.chat, source.recipient_alt.as_ref())
        } else {
            sender.clone()
        };
        Self {
            chat,
            sender,
            from_me: source.is_from_me,
        }
    }

    /// The author of the message a key names, as this message's sender
    /// sees it: their own (`from_me`), or the other side's.
    fn author_of(&self, key: &wa::MessageKey, login: &LoginRow) -> Jid {
        if let Some(participant) = key
            .participant
            .as_deref()
            .and_then(|p| p.parse::<Jid>().ok())
        {
            return participant.to_non_ad();
        }
        match (key.from_me.unwrap_or_default(), self.from_me) {
            (true, _) => self.sender.clone(),
            (false, true) => self.chat.clone(),
            (false, false) => own_jid(login),
        }
    }

    fn target(&self, key: &wa::MessageKey, login: &LoginRow) -> RemoteMessageId {
        message_id(
            &self.chat,
            &self.author_of(key, login),
            key.id.as_deref().unwrap_or_default(),
        )
    }
}

/// One received message into its portal's outbox; its room is made first
/// if the chat has none.
pub async fn message(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    inbound: &InboundMessage,
) -> Result<()> {
    let info = &inbound.info;
    if info.source.chat.is_status_broadcast() || info.source.chat.is_newsletter() {
        return Ok(());
    }
    let bridge = network.bridge()?;
    let origin = Origin::of(&info.source);
    let message = inbound.message.get_base_message();
    let push_name = (!info.push_name.is_empty()).then(|| info.push_name.clone());
    let sender = if origin.from_me {
        own_ghost(login)
    } else {
        chat_info::ghost(&origin.sender, push_name.clone())
    };
    let timestamp = info.timestamp.timestamp_millis();
    let Some(event) = event_of(
        network,
        login,
        &origin,
        message,
        sender.clone(),
        info.id.as_str(),
        timestamp,
    )
    .await
    else {
        return Ok(());
    };
    let chat_name = if origin.chat.is_group() {
        None
    } else if origin.from_me {
        crate::contacts::name_of(network, login, &origin.chat).await
    } else {
        push_name.clone()
    };
    crate::contacts::remember_chat(network, login, &origin.chat, chat_name.clone(), timestamp)
        .await?;
    if !origin.from_me {
        if let Some(name) = &push_name {
            crate::contacts::remember_name(network, login, &origin.sender, name).await?;
        }
    }
    let info = chat_info::portal_info(bridge, login, &origin.chat, chat_name);
    if let Some(person) = &info.direct_with {
        // A new DM's person gets their picture; later messages keep it.
        let avatar_id = match bridge.has_room(&info.key).await? {
            true => None,
            false => crate::avatars::avatar_id(network, login, &origin.chat).await,
        };
        bridge
            .ensure_ghost(&GhostInfo {
                id: person.clone(),
                displayname: info.name.clone(),
                avatar_id,
                ..Default::default()
            })
            .await?;
    }
    bridge.ensure_portal_room(&info).await?;
    let event = crate::remote_status::replacing_placeholder(bridge, event).await?;
    for event in one_reaction_each(bridge, &info.key, event).await? {
        bridge.queue_remote(&info.key, event).await?;
    }
    Ok(())
}

/// WhatsApp keeps one reaction per person on a message: a new one takes
/// the place of their last, and an empty one just removes it.
async fn one_reaction_each(
    bridge: &causeway_core::Bridge,
    portal: &causeway_core::ids::PortalKey,
    event: RemoteEvent,
) -> Result<Vec<RemoteEvent>> {
    let RemoteEvent::Reaction {
        target,
        sender,
        emoji,
        timestamp,
    } = event
    else {
        return Ok(vec![event]);
    };
    let mut events: Vec<RemoteEvent> = bridge
        .store()
        .reactions_on(portal, &target)
        .await?
        .into_iter()
        .filter(|r| r.remote_sender == sender.id && r.emoji != emoji)
        .map(|r| RemoteEvent::ReactionRemove {
            target: target.clone(),
            sender: sender.clone(),
            emoji: r.emoji,
        })
        .collect();
    if !emoji.is_empty() {
        events.push(RemoteEvent::Reaction {
            target,
            sender,
            emoji,
            timestamp,
        });
    }
    Ok(events)
}

/// The portal event a message is: a message, an edit, a removal or a
/// reaction; `None` for what the room does not show.
async fn event_of(
    network: &WhatsAppNetwork,
    login: &LoginRow,
    origin: &Origin,
    message: &wa::Message,
    sender: GhostInfo,
    id: &str,
    timestamp: i64,
) -> Option<RemoteEvent> {
    let bridge = network.bridge().ok()?;
    let client = network.client(&login.login_id).ok()?;
    let max = network.config().max_file_bytes;
    if let Some(protocol) = message.protocol_message.as_option() {
        let key = protocol.key.as_option();
        return match (protocol.r#type, key) {
            (Some(Protocol::REVOKE), Some(key)) => {
                let target = origin.target(key, login);
                let author = origin.author_of(key, login);
                if author.user == origin.sender.user {
                    Some(RemoteEvent::MessageRemove { target, sender })
                } else {
                    // A group admin removed someone else's message.
                    Some(RemoteEvent::ModeratedRemove {
                        target,
                        moderator: Some(sender),
                        reason: None,
                    })
                }
            }
            (Some(Protocol::MESSAGE_EDIT), Some(key)) => {
                let edited = protocol.edited_message.as_option()?.get_base_message();
                let content =
                    crate::msgconv::message_parts(bridge, &client.client, login, edited, max)
                        .await
                        .into_iter()
                        .next()?
                        .1;
                Some(RemoteEvent::Edit {
                    target: origin.target(key, login),
                    edit_id: message_id(&origin.chat, &origin.sender, id),
                    sender,
                    content,
                    timestamp: Some(timestamp),
                })
            }
            (Some(Protocol::EPHEMERAL_SETTING), _) => {
                let seconds = protocol.ephemeral_expiration.unwrap_or_default();
                let body = match seconds {
                    0 => "Disappearing messages were turned off.".to_owned(),
                    s => format!(
                        "Disappearing messages were turned on: new messages disappear after {}.",
                        causeway_core::format::human_duration(u64::from(s))
                    ),
                };
                Some(RemoteEvent::Message {
                    id: message_id(&origin.chat, &origin.sender, id),
                    sender,
                    parts: vec![(
                        Default::default(),
                        causeway_core::remote::text_content("m.notice", &body, None),
                    )],
                    timestamp: Some(timestamp),
                    reply_to: None,
                })
            }
            _ => None,
        };
    }
    if let Some(reaction) = message.reaction_message.as_option() {
        let target = origin.target(reaction.key.as_option()?, login);
        let emoji = reaction.text.clone().unwrap_or_default();
        // An empty one takes the sender's reaction back; which one it was
        // is found when it is queued.
        return Some(RemoteEvent::Reaction {
            target,
            sender,
            emoji,
            timestamp: Some(timestamp),
        });
    }
    let parts = crate::msgconv::message_parts(bridge, &client.client, login, message, max).await;
    if parts.is_empty() {
        return None;
    }
    let reply_to = reply_target(origin, message);
    Some(RemoteEvent::Message {
        id: message_id(&origin.chat, &origin.sender, id),
        sender,
        parts,
        timestamp: Some(timestamp),
        reply_to,
    })
}

/// The message a message quotes, in the same chat.
fn reply_target(origin: &Origin, message: &wa::Message) -> Option<RemoteMessageId> {
    let (_, context) = crate::msgconv::text_and_context(message);
    let context = context?;
    let quoted = context.stanza_id.as_deref()?;
    let author: Jid = context.participant.as_deref()?.parse().ok()?;
    Some(message_id(&origin.chat, &author.to_non_ad(), quoted))
}

/// Follows a login's client events until the client goes away.
pub fn spawn(
    network: WhatsAppNetwork,
    login: LoginRow,
    client: Weak<WaClient>,
    mut events: Events,
) {
    tokio::spawn(async move {
        while let Some(event) = events.recv().await {
            if client.strong_count() == 0 {
                return;
            }
            if let Err(err) = handle(&network, &login, &event).await {
                tracing::warn!(login = %login.login_id, "a WhatsApp event was not bridged: {err:#}");
            }
        }
    });
}

async fn handle(network: &WhatsAppNetwork, login: &LoginRow, event: &Event) -> Result<()> {
    let bridge = network.bridge()?;
    let report = |state, message: Option<String>| bridge.report_login_state(login, state, message);
    match event {
        Event::Connected(_) => report(LoginState::Connected, None).await,
        Event::Disconnected(_) => report(LoginState::TransientDisconnect, None).await,
        Event::LoggedOut(_) => {
            let store = network.store_of(&login.login_id)?;
            store.mark_unlinked().await?;
            report(
                LoginState::LoggedOut,
                Some("WhatsApp logged this device out (from the phone's Linked devices). Send `login` to link the bridge again.".into()),
            )
            .await;
            network.stop_client(&login.login_id).await;
            store.forget().await?;
        }
        Event::StreamReplaced(_) => {
            report(
                LoginState::UnknownError,
                Some("Another connection took over this WhatsApp session (stream replaced), so the bridge stopped its own. Restart the bridge, or send `login` to link it again.".into()),
            )
            .await;
            network.stop_client(&login.login_id).await;
        }
        Event::ClientOutdated(_) => {
            report(
                LoginState::UnknownError,
                Some(
                    "WhatsApp refuses this bridge's client as outdated: update the bridge.".into(),
                ),
            )
            .await;
            network.stop_client(&login.login_id).await;
        }
        Event::TemporaryBan(ban) => {
            report(
                LoginState::UnknownError,
                Some(format!(
                    "WhatsApp banned this account from linked devices for {} ({:?}). The bridge tries again after that.",
                    causeway_core::format::human_duration(u64::try_from(ban.expire.num_seconds()).unwrap_or_default()),
                    ban.code
                )),
            )
            .await;
        }
        Event::GroupUpdate(update) => {
            crate::chat_admin::group_changed(network, login, update).await?
        }
        Event::HistorySync(history) => {
            crate::backfill::store_history(network, login, history).await?
        }
        Event::ChatPresence(presence) => {
            crate::remote_status::typing(network, login, presence).await?
        }
        Event::Receipt(receipt) => crate::remote_status::receipt(network, login, receipt).await?,
        Event::UndecryptableMessage(undecryptable) => {
            crate::remote_status::undecryptable(network, login, undecryptable).await?
        }
        _ => {}
    }
    Ok(())
}
