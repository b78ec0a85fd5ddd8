//! The users the bridge knows are joined to each room, so that a ghost that
//! is in pays no join request before it speaks. Kept per room and typed: a
//! lookup borrows the IDs it is given and allocates nothing, and each
//! message a ghost sends looks its membership up.

use dashmap::DashMap;
use ruma::{OwnedRoomId, OwnedUserId, RoomId, UserId};
use std::collections::HashSet;

#[derive(Default)]
pub struct JoinedMembers(DashMap<OwnedRoomId, HashSet<OwnedUserId>>);

impl JoinedMembers {
    pub fn contains(&self, room: &RoomId, user: &UserId) -> bool {
        self.0.get(room).is_some_and(|users| users.contains(user))
    }

    pub fn insert(&self, room: &RoomId, user: &UserId) {
        self.0
            .entry(room.to_owned())
            .or_default()
            .insert(user.to_owned());
    }

    /// After a leave, kick or ban; a room with nobody left known is dropped.
    pub fn remove(&self, room: &RoomId, user: &UserId) {
        self.0.remove_if_mut(room, |_, users| {
            users.remove(user);
            users.is_empty()
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ruma::{room_id, user_id};

    #[test]
    fn a_member_is_known_joined_until_removed() {
        let joined = JoinedMembers::default();
        let (room, ghost) = (room_id!("!r:hs"), user_id!("@_irc_a:hs"));
        assert!(!joined.contains(room, ghost));
        joined.insert(room, ghost);
        assert!(joined.contains(room, ghost));
        joined.remove(room, ghost);
        assert!(!joined.contains(room, ghost));
    }

    #[test]
    fn a_membership_is_kept_per_room_and_per_user() {
        let joined = JoinedMembers::default();
        let (room, other_room) = (room_id!("!r:hs"), room_id!("!s:hs"));
        let (ghost, other_ghost) = (user_id!("@_irc_a:hs"), user_id!("@_irc_b:hs"));
        joined.insert(room, ghost);
        joined.insert(room, other_ghost);
        joined.remove(room, other_ghost);
        assert!(joined.contains(room, ghost));
        assert!(!joined.contains(other_room, ghost));
        assert!(!joined.contains(room, other_ghost));
    }

    #[test]
    fn a_room_with_nobody_left_known_is_dropped() {
        let joined = JoinedMembers::default();
        let (room, ghost) = (room_id!("!r:hs"), user_id!("@_irc_a:hs"));
        joined.insert(room, ghost);
        joined.remove(room, ghost);
        assert!(joined.0.is_empty());
    }
}
