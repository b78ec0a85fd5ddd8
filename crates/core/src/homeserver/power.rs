//! Power levels under both the room v10 rules and the v12 rules, where room
//! creators have top power without appearing in `m.room.power_levels`.

use serde_json::{json, Value};

/// Room versions in which creators are privileged (MSC4289).
pub fn is_privileged_creator_version(room_version: &str) -> bool {
    matches!(room_version, "12" | "org.matrix.hydra.11")
}

/// What deciding someone's power needs from a room's state.
pub struct PowerInfo<'a> {
    /// Content of `m.room.create`.
    pub create_content: &'a Value,
    /// Sender of `m.room.create`.
    pub create_sender: &'a str,
    /// Content of `m.room.power_levels`, if the room has one.
    pub power_levels: Option<&'a Value>,
}

/// A user's power; `None` means the unbounded power of a v12 creator.
pub fn user_power(info: &PowerInfo<'_>, user: &str) -> Option<i64> {
    let version = info
        .create_content
        .get("room_version")
        .and_then(Value::as_str)
        .unwrap_or("1");
    if is_privileged_creator_version(version) {
        let extra = info
            .create_content
            .get("additional_creators")
            .and_then(Value::as_array);
        if user == info.create_sender
            || extra.is_some_and(|list| list.iter().any(|c| c.as_str() == Some(user)))
        {
            return None;
        }
    }
    let Some(levels) = info.power_levels else {
        // Without power levels the creator has 100 and everyone else 0.
        return Some(if user == info.create_sender { 100 } else { 0 });
    };
    let as_int = |v: &Value| {
        v.as_i64()
            .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
    };
    Some(
        levels
            .get("users")
            .and_then(|u| u.get(user))
            .and_then(as_int)
            .or_else(|| levels.get("users_default").and_then(as_int))
            .unwrap_or(0),
    )
}

impl super::Homeserver {
    /// Whether `user` has power level 50 or more in `room` (or is a v12
    /// creator), by the rules of the room's version; read as `reader`.
    pub async fn is_moderator(
        &self,
        reader: &ruma::UserId,
        room: &ruma::RoomId,
        user: &str,
    ) -> Result<bool, super::HsError> {
        /// The parts of a state event the power rules read.
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(rename = "type")]
            kind: String,
            state_key: String,
            sender: String,
            content: Value,
        }
        let state = self.room_state(reader, room).await?;
        let entries: Vec<Entry> = state
            .iter()
            .filter_map(|raw| raw.deserialize_as_unchecked().ok())
            .collect();
        let find = |kind: &str| {
            entries
                .iter()
                .find(|e| e.kind == kind && e.state_key.is_empty())
        };
        let Some(create) = find("m.room.create") else {
            return Ok(false);
        };
        let info = PowerInfo {
            create_content: &create.content,
            create_sender: &create.sender,
            power_levels: find("m.room.power_levels")
                .map(|e| &e.content)
                .filter(|c| c.is_object()),
        };
        Ok(user_power(&info, user).is_none_or(|level| level >= 50))
    }
}

/// The `power_level_content_override` for a room the bot creates: the bot on
/// top (listed only where the room version allows creators to be listed),
/// the given users at their levels, and state changes reserved for moderators.
pub fn power_level_override(room_version: &str, bot: &str, users: &[(&str, i64)]) -> Value {
    let mut map = serde_json::Map::new();
    if !is_privileged_creator_version(room_version) {
        map.insert(bot.to_owned(), json!(100));
    }
    for (user, level) in users {
        if *user != bot || !is_privileged_creator_version(room_version) {
            map.insert((*user).to_owned(), json!(level));
        }
    }
    // `power_level_content_override` as sent in `/createRoom`.
    json!({ "users": map, "events_default": 0, "state_default": 50, "invite": 0, "redact": 50, "kick": 50, "ban": 50 })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v12_creators_have_unbounded_power_without_being_listed() {
        let create = json!({ "room_version": "12", "additional_creators": ["@co:x"] });
        let levels = json!({ "users": { "@mod:x": 50 } });
        let info = PowerInfo {
            create_content: &create,
            create_sender: "@bot:x",
            power_levels: Some(&levels),
        };
        assert_eq!(user_power(&info, "@bot:x"), None);
        assert_eq!(user_power(&info, "@co:x"), None);
        assert_eq!(user_power(&info, "@mod:x"), Some(50));
        assert_eq!(user_power(&info, "@other:x"), Some(0));
    }

    #[test]
    fn v10_creators_only_have_what_power_levels_say() {
        let create = json!({ "room_version": "10", "creator": "@bot:x" });
        let levels = json!({ "users": { "@bot:x": 100 }, "users_default": 1 });
        let info = PowerInfo {
            create_content: &create,
            create_sender: "@bot:x",
            power_levels: Some(&levels),
        };
        assert_eq!(user_power(&info, "@bot:x"), Some(100));
        assert_eq!(user_power(&info, "@x:x"), Some(1));
        let bare = PowerInfo {
            create_content: &create,
            create_sender: "@bot:x",
            power_levels: None,
        };
        assert_eq!(user_power(&bare, "@bot:x"), Some(100));
    }

    #[test]
    fn created_rooms_list_the_bot_only_before_v12() {
        let v10 = power_level_override("10", "@bot:x", &[("@u:x", 50)]);
        assert_eq!(v10["users"]["@bot:x"], 100);
        let v12 = power_level_override("12", "@bot:x", &[("@u:x", 50), ("@bot:x", 100)]);
        assert!(v12["users"].get("@bot:x").is_none());
        assert_eq!(v12["users"]["@u:x"], 50);
    }
}
