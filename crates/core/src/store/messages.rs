//! Message and reaction mappings between remote IDs and Matrix event IDs.
//! Edits, replies, redactions and deduplication all go through these.

use super::script::Script;
use super::{now_ms, numbered_rows, rows_per_statement, Store, Write, MAX_BINDS};
use crate::ids::{PartId, PortalKey, RemoteMessageId, RemoteUserId};
use anyhow::Result;
use sqlx::Row;
use std::collections::HashMap;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MessageRow {
    pub portal: PortalKey,
    pub remote_id: RemoteMessageId,
    pub part: PartId,
    pub event_id: String,
    pub room_id: String,
    pub sender: String,
    pub timestamp: i64,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReactionRow {
    pub portal: PortalKey,
    pub remote_message_id: RemoteMessageId,
    pub remote_sender: RemoteUserId,
    pub emoji: String,
    pub event_id: String,
}

// The statements of the hot path, named so that `super::plans` checks how
// the database runs each.

const MESSAGE_COLUMNS: &str =
    "portal_id, receiver, remote_id, part_id, event_id, room_id, sender, timestamp";
const REACTION_COLUMNS: &str =
    "portal_id, receiver, remote_message_id, remote_sender, emoji, event_id";

pub(super) fn message_by_event_sql() -> String {
    format!("SELECT {MESSAGE_COLUMNS} FROM message WHERE bridge_id = $1 AND event_id = $2")
}

/// The parts of `messages` remote messages of one portal, in key order.
pub(super) fn message_parts_sql(messages: usize) -> String {
    let ids: Vec<String> = (4..4 + messages).map(|n| format!("${n}")).collect();
    format!(
        "SELECT {MESSAGE_COLUMNS} FROM message WHERE bridge_id = $1 AND portal_id = $2 \
         AND receiver = $3 AND remote_id IN ({}) ORDER BY remote_id, part_id",
        ids.join(", ")
    )
}

pub(super) fn reaction_by_event_sql() -> String {
    format!("SELECT {REACTION_COLUMNS} FROM reaction WHERE bridge_id = $1 AND event_id = $2")
}

pub(super) fn find_reaction_sql() -> String {
    format!(
        "SELECT {REACTION_COLUMNS} FROM reaction WHERE bridge_id = $1 \
         AND portal_id = $2 AND receiver = $3 AND remote_message_id = $4 AND remote_sender = $5 AND emoji = $6"
    )
}

pub(super) fn reactions_on_sql() -> String {
    format!(
        "SELECT {REACTION_COLUMNS} FROM reaction WHERE bridge_id = $1 \
         AND portal_id = $2 AND receiver = $3 AND remote_message_id = $4"
    )
}

/// Records `rows` message mappings of 9 binds each.
pub(super) fn insert_messages_sql(rows: usize) -> String {
    format!(
        "INSERT INTO message (bridge_id, {MESSAGE_COLUMNS}) VALUES {} ON CONFLICT DO NOTHING",
        numbered_rows(rows, 9)
    )
}

pub(super) const INSERT_REACTION: &str = "INSERT INTO reaction (bridge_id, portal_id, receiver, remote_message_id, remote_sender, emoji, event_id, timestamp) \
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING";
pub(super) const DELETE_MESSAGE: &str =
    "DELETE FROM message WHERE bridge_id = $1 AND event_id = $2";
pub(super) const DELETE_REACTION: &str =
    "DELETE FROM reaction WHERE bridge_id = $1 AND event_id = $2";

impl Store {
    /// Records a mapping. A second mapping for the same event is ignored, so
    /// that replaying an event after a crash is harmless.
    pub async fn put_message(&self, msg: &MessageRow) -> Result<()> {
        self.apply(vec![Write::Message(msg.clone())]).await
    }

    /// The mapping of a Matrix event, committed or held (see
    /// [`Store::hold_messages`]).
    pub async fn message_by_event(&self, event_id: &str) -> Result<Option<MessageRow>> {
        if let Some(held) = self.held_messages.get(event_id) {
            return Ok(Some(held));
        }
        let row = sqlx::query(&message_by_event_sql())
            .bind(&self.bridge_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(message_from_row).transpose()
    }

    /// All parts of a remote message, first part first.
    pub async fn message_parts(
        &self,
        portal: &PortalKey,
        remote_id: &RemoteMessageId,
    ) -> Result<Vec<MessageRow>> {
        let mut found = self
            .parts_of_messages(portal, std::slice::from_ref(remote_id))
            .await?;
        Ok(found.remove(remote_id).unwrap_or_default())
    }

    /// The parts of several remote messages of a portal at once, first part
    /// first; a message with no mapping has no entry.
    pub async fn parts_of_messages(
        &self,
        portal: &PortalKey,
        remote_ids: &[RemoteMessageId],
    ) -> Result<HashMap<RemoteMessageId, Vec<MessageRow>>> {
        let mut found: HashMap<RemoteMessageId, Vec<MessageRow>> = HashMap::new();
        for chunk in remote_ids.chunks(MAX_BINDS - 3) {
            let sql = message_parts_sql(chunk.len());
            let mut query = sqlx::query(&sql)
                .bind(&self.bridge_id)
                .bind(portal.id.as_str())
                .bind(portal.receiver_str());
            for id in chunk {
                query = query.bind(id.as_str());
            }
            for row in query.fetch_all(&self.pool).await? {
                let row = message_from_row(row)?;
                found.entry(row.remote_id.clone()).or_default().push(row);
            }
        }
        Ok(found)
    }

    pub async fn delete_message(&self, event_id: &str) -> Result<()> {
        self.apply(vec![Write::DeleteMessage(event_id.to_owned())])
            .await
    }

    pub async fn put_reaction(&self, reaction: &ReactionRow) -> Result<()> {
        self.apply(vec![Write::Reaction(reaction.clone())]).await
    }

    pub async fn reaction_by_event(&self, event_id: &str) -> Result<Option<ReactionRow>> {
        let row = sqlx::query(&reaction_by_event_sql())
            .bind(&self.bridge_id)
            .bind(event_id)
            .fetch_optional(&self.pool)
            .await?;
        row.map(reaction_from_row).transpose()
    }

    pub async fn find_reaction(
        &self,
        portal: &PortalKey,
        message: &RemoteMessageId,
        sender: &RemoteUserId,
        emoji: &str,
    ) -> Result<Option<ReactionRow>> {
        let row = sqlx::query(&find_reaction_sql())
            .bind(&self.bridge_id)
            .bind(portal.id.as_str())
            .bind(portal.receiver_str())
            .bind(message.as_str())
            .bind(sender.as_str())
            .bind(emoji)
            .fetch_optional(&self.pool)
            .await?;
        row.map(reaction_from_row).transpose()
    }

    /// Every reaction bridged on one message, for networks that report a
    /// message's reactions as a whole set.
    pub async fn reactions_on(
        &self,
        portal: &PortalKey,
        message: &RemoteMessageId,
    ) -> Result<Vec<ReactionRow>> {
        let rows = sqlx::query(&reactions_on_sql())
            .bind(&self.bridge_id)
            .bind(portal.id.as_str())
            .bind(portal.receiver_str())
            .bind(message.as_str())
            .fetch_all(&self.pool)
            .await?;
        rows.into_iter().map(reaction_from_row).collect()
    }

    pub async fn delete_reaction(&self, event_id: &str) -> Result<()> {
        self.apply(vec![Write::DeleteReaction(event_id.to_owned())])
            .await
    }
}

fn portal_key(row: &sqlx::any::AnyRow) -> Result<PortalKey> {
    let receiver: String = row.try_get("receiver")?;
    Ok(PortalKey {
        id: row.try_get::<String, _>("portal_id")?.into(),
        receiver: (!receiver.is_empty()).then(|| receiver.into()),
    })
}

fn message_from_row(row: sqlx::any::AnyRow) -> Result<MessageRow> {
    Ok(MessageRow {
        portal: portal_key(&row)?,
        remote_id: row.try_get::<String, _>("remote_id")?.into(),
        part: row.try_get::<String, _>("part_id")?.into(),
        event_id: row.try_get("event_id")?,
        room_id: row.try_get("room_id")?,
        sender: row.try_get("sender")?,
        timestamp: row.try_get("timestamp")?,
    })
}

fn reaction_from_row(row: sqlx::any::AnyRow) -> Result<ReactionRow> {
    Ok(ReactionRow {
        portal: portal_key(&row)?,
        remote_message_id: row.try_get::<String, _>("remote_message_id")?.into(),
        remote_sender: row.try_get::<String, _>("remote_sender")?.into(),
        emoji: row.try_get("emoji")?,
        event_id: row.try_get("event_id")?,
    })
}

/// Inserts mappings, many rows a statement.
pub(super) fn put_messages<'q>(
    script: &mut Script<'q>,
    bridge_id: &'q str,
    rows: &[&'q MessageRow],
) {
    for chunk in rows.chunks(rows_per_statement(9)) {
        script.statement(&insert_messages_sql(chunk.len()));
        for msg in chunk {
            script
                .bind(bridge_id)
                .bind(msg.portal.id.as_str())
                .bind(msg.portal.receiver_str())
                .bind(msg.remote_id.as_str())
                .bind(msg.part.as_str())
                .bind(msg.event_id.as_str())
                .bind(msg.room_id.as_str())
                .bind(msg.sender.as_str())
                .bind(msg.timestamp);
        }
    }
}

pub(super) fn put_reaction<'q>(
    script: &mut Script<'q>,
    bridge_id: &'q str,
    reaction: &'q ReactionRow,
) {
    script
        .statement(INSERT_REACTION)
        .bind(bridge_id)
        .bind(reaction.portal.id.as_str())
        .bind(reaction.portal.receiver_str())
        .bind(reaction.remote_message_id.as_str())
        .bind(reaction.remote_sender.as_str())
        .bind(reaction.emoji.as_str())
        .bind(reaction.event_id.as_str())
        .bind(now_ms());
}

/// Deletes a message's mapping by its event ID.
pub(super) fn delete_message<'q>(script: &mut Script<'q>, bridge_id: &'q str, event_id: &'q str) {
    script
        .statement(DELETE_MESSAGE)
        .bind(bridge_id)
        .bind(event_id);
}

/// Deletes a reaction's mapping by its event ID.
pub(super) fn delete_reaction<'q>(script: &mut Script<'q>, bridge_id: &'q str, event_id: &'q str) {
    script
        .statement(DELETE_REACTION)
        .bind(bridge_id)
        .bind(event_id);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::test_store;

    #[tokio::test]
    async fn message_parts_map_both_ways_and_ignore_replays() {
        let (store, _dir) = test_store().await;
        let portal = PortalKey::shared("#c");
        let part = |p: &str, ev: &str| MessageRow {
            portal: portal.clone(),
            remote_id: "m1".into(),
            part: p.into(),
            event_id: ev.into(),
            room_id: "!r".into(),
            sender: "@s:x".into(),
            timestamp: 5,
        };
        store.put_message(&part("0", "$a")).await.unwrap();
        store.put_message(&part("1", "$b")).await.unwrap();
        store.put_message(&part("0", "$a")).await.unwrap();
        assert_eq!(
            store
                .message_parts(&portal, &"m1".into())
                .await
                .unwrap()
                .len(),
            2
        );
        assert_eq!(
            store
                .message_by_event("$b")
                .await
                .unwrap()
                .unwrap()
                .part
                .as_str(),
            "1"
        );
        store.delete_message("$b").await.unwrap();
        assert!(store.message_by_event("$b").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn reactions_are_found_by_event_and_by_target() {
        let (store, _dir) = test_store().await;
        let reaction = ReactionRow {
            portal: PortalKey::shared("#c"),
            remote_message_id: "m1".into(),
            remote_sender: "bob".into(),
            emoji: "👍".into(),
            event_id: "$r".into(),
        };
        store.put_reaction(&reaction).await.unwrap();
        assert_eq!(
            store.reaction_by_event("$r").await.unwrap().as_ref(),
            Some(&reaction)
        );
        let found = store
            .find_reaction(&reaction.portal, &"m1".into(), &"bob".into(), "👍")
            .await
            .unwrap();
        assert_eq!(found, Some(reaction));
        store.delete_reaction("$r").await.unwrap();
        assert!(store.reaction_by_event("$r").await.unwrap().is_none());
    }
}
