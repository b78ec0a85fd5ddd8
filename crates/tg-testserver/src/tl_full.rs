//! Full profiles and chat details: about texts, members and their ranks,
//! as `users.getFullUser`, `messages.getFullChat`,
//! `channels.getFullChannel` and `channels.getParticipants` answer.
//! The layer-230 types are long; every field not set here is empty.

use crate::state::{Channel, Group};
use grammers_tl_types as tl;

/// Notification settings left as the account's defaults.
pub fn notify_settings() -> tl::enums::PeerNotifySettings {
    tl::enums::PeerNotifySettings::Settings(tl::types::PeerNotifySettings {
        show_previews: None,
        silent: None,
        mute_until: None,
        ios_sound: None,
        android_sound: None,
        other_sound: None,
        stories_muted: None,
        stories_hide_sender: None,
        stories_ios_sound: None,
        stories_android_sound: None,
        stories_other_sound: None,
    })
}

fn peer_settings() -> tl::enums::PeerSettings {
    tl::enums::PeerSettings::Settings(tl::types::PeerSettings {
        report_spam: false,
        add_contact: false,
        block_contact: false,
        share_contact: false,
        need_contacts_exception: false,
        report_geo: false,
        autoarchived: false,
        invite_members: false,
        request_chat_broadcast: false,
        business_bot_paused: false,
        business_bot_can_reply: false,
        geo_distance: None,
        request_chat_title: None,
        request_chat_date: None,
        business_bot_id: None,
        business_bot_manage_url: None,
        charge_paid_message_stars: None,
        registration_month: None,
        phone_country: None,
        name_change_date: None,
        photo_change_date: None,
    })
}

pub fn user_full(id: i64, about: Option<String>) -> tl::enums::UserFull {
    tl::enums::UserFull::Full(tl::types::UserFull {
        blocked: false,
        phone_calls_available: false,
        phone_calls_private: false,
        can_pin_message: false,
        has_scheduled: false,
        video_calls_available: false,
        voice_messages_forbidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        blocked_my_stories_from: false,
        wallpaper_overridden: false,
        contact_require_premium: false,
        read_dates_private: false,
        sponsored_enabled: false,
        can_view_revenue: false,
        bot_can_manage_emoji_status: false,
        display_gifts_button: false,
        noforwards_my_enabled: false,
        noforwards_peer_enabled: false,
        unofficial_security_risk: false,
        id,
        about,
        settings: peer_settings(),
        personal_photo: None,
        profile_photo: None,
        fallback_photo: None,
        notify_settings: notify_settings(),
        bot_info: None,
        pinned_msg_id: None,
        common_chats_count: 0,
        folder_id: None,
        ttl_period: None,
        theme: None,
        private_forward_name: None,
        bot_group_admin_rights: None,
        bot_broadcast_admin_rights: None,
        wallpaper: None,
        stories: None,
        business_work_hours: None,
        business_location: None,
        business_greeting_message: None,
        business_away_message: None,
        business_intro: None,
        birthday: None,
        personal_channel_id: None,
        personal_channel_message: None,
        stargifts_count: None,
        starref_program: None,
        bot_verification: None,
        send_paid_messages_stars: None,
        disallowed_gifts: None,
        stars_rating: None,
        stars_my_pending_rating: None,
        stars_my_pending_rating_date: None,
        main_tab: None,
        saved_music: None,
        note: None,
        bot_manager_id: None,
    })
}

/// A basic group's details: its creator and members.
pub fn chat_full(group: &Group) -> tl::enums::ChatFull {
    let participants = group
        .members
        .iter()
        .map(|&user_id| {
            if user_id == group.creator {
                tl::enums::ChatParticipant::Creator(tl::types::ChatParticipantCreator {
                    user_id,
                    rank: None,
                })
            } else {
                tl::enums::ChatParticipant::Participant(tl::types::ChatParticipant {
                    user_id,
                    inviter_id: group.creator,
                    date: group.date,
                    rank: None,
                })
            }
        })
        .collect();
    tl::enums::ChatFull::Full(tl::types::ChatFull {
        can_set_username: false,
        has_scheduled: false,
        translations_disabled: false,
        has_welcome_messages: false,
        id: group.id,
        about: group.about.clone(),
        participants: tl::enums::ChatParticipants::Participants(tl::types::ChatParticipants {
            chat_id: group.id,
            participants,
            version: 1,
        }),
        chat_photo: None,
        notify_settings: notify_settings(),
        exported_invite: None,
        bot_info: None,
        pinned_msg_id: None,
        folder_id: None,
        call: None,
        ttl_period: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        available_reactions: None,
        reactions_limit: None,
    })
}

/// A channel's details, with its member count and pts.
pub fn channel_full(channel: &Channel) -> tl::enums::ChatFull {
    tl::enums::ChatFull::ChannelFull(tl::types::ChannelFull {
        can_view_participants: true,
        can_set_username: false,
        can_set_stickers: false,
        hidden_prehistory: false,
        can_set_location: false,
        has_scheduled: false,
        can_view_stats: false,
        blocked: false,
        can_delete_channel: false,
        antispam: false,
        participants_hidden: false,
        translations_disabled: false,
        stories_pinned_available: false,
        view_forum_as_messages: false,
        restricted_sponsored: false,
        can_view_revenue: false,
        paid_media_allowed: false,
        can_view_stars_revenue: false,
        paid_reactions_available: false,
        stargifts_available: false,
        paid_messages_available: false,
        has_welcome_messages: false,
        id: channel.id,
        about: channel.about.clone(),
        participants_count: Some(channel.members.len() as i32),
        admins_count: None,
        kicked_count: None,
        banned_count: None,
        online_count: None,
        read_inbox_max_id: 0,
        read_outbox_max_id: 0,
        unread_count: 0,
        chat_photo: tl::enums::Photo::Empty(tl::types::PhotoEmpty { id: 0 }),
        notify_settings: notify_settings(),
        exported_invite: None,
        bot_info: Vec::new(),
        migrated_from_chat_id: None,
        migrated_from_max_id: None,
        pinned_msg_id: None,
        stickerset: None,
        available_min_id: None,
        folder_id: None,
        linked_chat_id: None,
        location: None,
        slowmode_seconds: None,
        slowmode_next_send_date: None,
        stats_dc: None,
        pts: channel.pts,
        call: None,
        ttl_period: None,
        pending_suggestions: None,
        groupcall_default_join_as: None,
        theme_emoticon: None,
        requests_pending: None,
        recent_requesters: None,
        default_send_as: None,
        available_reactions: None,
        reactions_limit: None,
        stories: None,
        wallpaper: None,
        boosts_applied: None,
        boosts_unrestrict: None,
        emojiset: None,
        bot_verification: None,
        stargifts_count: None,
        send_paid_messages_stars: None,
        main_tab: None,
        guard_bot_id: None,
    })
}

fn admin_rights() -> tl::enums::ChatAdminRights {
    tl::enums::ChatAdminRights::Rights(tl::types::ChatAdminRights {
        change_info: true,
        post_messages: true,
        edit_messages: true,
        delete_messages: true,
        ban_users: true,
        invite_users: true,
        pin_messages: true,
        add_admins: true,
        anonymous: false,
        manage_call: false,
        other: false,
        manage_topics: false,
        post_stories: false,
        edit_stories: false,
        delete_stories: false,
        manage_direct_messages: false,
        manage_ranks: false,
        manage_linked_peers: false,
        manage_welcome_messages: false,
    })
}

/// A channel's members: its creator with full rights, then the others.
pub fn channel_participants(channel: &Channel) -> Vec<tl::enums::ChannelParticipant> {
    channel
        .members
        .iter()
        .map(|&user_id| {
            if user_id == channel.creator {
                tl::enums::ChannelParticipant::Creator(tl::types::ChannelParticipantCreator {
                    user_id,
                    admin_rights: admin_rights(),
                    rank: None,
                })
            } else {
                tl::enums::ChannelParticipant::Participant(tl::types::ChannelParticipant {
                    user_id,
                    date: channel.date,
                    subscription_until_date: None,
                    rank: None,
                })
            }
        })
        .collect()
}
