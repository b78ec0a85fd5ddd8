//! Layer-230 objects the server answers with. The generated types have no
//! defaults, so each is written out once here with what a fresh Telegram
//! account would show.

use crate::state::{Account, Channel, Group};
use grammers_tl_types as tl;

pub fn now() -> i32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i32)
        .unwrap_or_default()
}

/// An account as `viewer` sees it: itself, or another user with an access
/// hash, never `min`.
pub fn user(account: &Account, viewer: i64) -> tl::enums::User {
    tl::enums::User::User(tl::types::User {
        is_self: account.id == viewer,
        contact: false,
        mutual_contact: false,
        deleted: false,
        bot: account.spec.bot_token.is_some(),
        bot_chat_history: false,
        bot_nochats: false,
        verified: false,
        restricted: false,
        min: false,
        bot_inline_geo: false,
        support: false,
        scam: false,
        apply_min_photo: false,
        fake: false,
        bot_attach_menu: false,
        premium: false,
        attach_menu_enabled: false,
        bot_can_edit: false,
        close_friend: false,
        stories_hidden: false,
        stories_unavailable: false,
        contact_require_premium: false,
        bot_business: false,
        bot_has_main_app: false,
        bot_forum_view: false,
        bot_forum_can_manage_topics: false,
        bot_can_manage_bots: false,
        bot_guestchat: false,
        bot_guard: false,
        id: account.id,
        access_hash: Some(account.access_hash),
        first_name: Some(account.spec.first_name.clone()),
        last_name: account.spec.last_name.clone(),
        username: account.spec.username.clone(),
        phone: Some(account.spec.phone.clone()),
        photo: None,
        status: None,
        // Shares its flag with `bot`: a bot must carry it.
        bot_info_version: account.spec.bot_token.is_some().then_some(1),
        restriction_reason: None,
        bot_inline_placeholder: None,
        lang_code: None,
        emoji_status: None,
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        bot_active_users: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_community_id: None,
    })
}

pub fn peer_user(id: i64) -> tl::enums::Peer {
    tl::enums::Peer::User(tl::types::PeerUser { user_id: id })
}

/// A text message in a private chat, as its box holder sees it.
pub fn private_message(
    id: i32,
    out: bool,
    from: i64,
    chat_with: i64,
    text: &str,
    date: i32,
) -> tl::types::Message {
    tl::types::Message {
        out,
        mentioned: false,
        media_unread: false,
        silent: false,
        post: false,
        from_scheduled: false,
        legacy: false,
        edit_hide: false,
        pinned: false,
        noforwards: false,
        invert_media: false,
        offline: false,
        video_processing_pending: false,
        paid_suggested_post_stars: false,
        paid_suggested_post_ton: false,
        id,
        from_id: Some(peer_user(from)),
        from_boosts_applied: None,
        from_rank: None,
        peer_id: peer_user(chat_with),
        saved_peer_id: None,
        fwd_from: None,
        via_bot_id: None,
        via_business_bot_id: None,
        guestchat_via_from: None,
        reply_to: None,
        date,
        message: text.to_owned(),
        media: None,
        reply_markup: None,
        entities: None,
        views: None,
        forwards: None,
        replies: None,
        edit_date: None,
        post_author: None,
        grouped_id: None,
        reactions: None,
        restriction_reason: None,
        ttl_period: None,
        quick_reply_shortcut_id: None,
        effect: None,
        factcheck: None,
        report_delivery_until_date: None,
        paid_message_stars: None,
        suggested_post: None,
        schedule_repeat_period: None,
        summary_from_language: None,
        rich_message: None,
    }
}

/// `help.getConfig`: the DCs this server plays, all on loopback, so the
/// client keeps talking here.
pub fn config(this_dc: i32, ports: &[u16; 2]) -> tl::enums::Config {
    tl::enums::Config::Config(tl::types::Config {
        default_p2p_contacts: false,
        preload_featured_stickers: false,
        revoke_pm_inbox: true,
        blocked_mode: false,
        force_try_ipv6: false,
        date: now(),
        expires: now() + 3600,
        test_mode: true,
        this_dc,
        dc_options: crate::DCS
            .iter()
            .zip(ports)
            .map(|(id, port)| {
                tl::enums::DcOption::Option(tl::types::DcOption {
                    ipv6: false,
                    media_only: false,
                    tcpo_only: false,
                    cdn: false,
                    r#static: false,
                    this_port_only: false,
                    id: *id,
                    ip_address: "127.0.0.1".into(),
                    port: i32::from(*port),
                    secret: None,
                })
            })
            .collect(),
        dc_txt_domain_name: String::new(),
        chat_size_max: 200,
        megagroup_size_max: 200_000,
        forwarded_count_max: 100,
        online_update_period_ms: 210_000,
        offline_blur_timeout_ms: 5_000,
        offline_idle_timeout_ms: 30_000,
        online_cloud_timeout_ms: 300_000,
        notify_cloud_delay_ms: 30_000,
        notify_default_delay_ms: 1_500,
        push_chat_period_ms: 60_000,
        push_chat_limit: 2,
        edit_time_limit: 172_800,
        revoke_time_limit: i32::MAX,
        revoke_pm_time_limit: i32::MAX,
        rating_e_decay: 2_419_200,
        stickers_recent_limit: 200,
        channels_read_media_period: 604_800,
        tmp_sessions: None,
        call_receive_timeout_ms: 20_000,
        call_ring_timeout_ms: 90_000,
        call_connect_timeout_ms: 30_000,
        call_packet_timeout_ms: 10_000,
        me_url_prefix: "https://t.me/".into(),
        autoupdate_url_prefix: None,
        gif_search_username: None,
        venue_search_username: None,
        img_search_username: None,
        static_maps_provider: None,
        caption_length_max: 1024,
        message_length_max: 4096,
        webfile_dc_id: 2,
        suggested_lang_code: None,
        lang_pack_version: None,
        base_lang_pack_version: None,
        reactions_default: None,
        autologin_token: None,
    })
}

pub fn updates_state(pts: i32, qts: i32) -> tl::enums::updates::State {
    tl::enums::updates::State::State(tl::types::updates::State {
        pts,
        qts,
        date: now(),
        seq: 0,
        unread_count: 0,
    })
}

pub fn peer_chat(id: i64) -> tl::enums::Peer {
    tl::enums::Peer::Chat(tl::types::PeerChat { chat_id: id })
}

/// A basic group as one of its members sees it.
pub fn chat(group: &Group, viewer: i64) -> tl::enums::Chat {
    tl::enums::Chat::Chat(tl::types::Chat {
        creator: group.creator == viewer,
        left: false,
        deactivated: false,
        call_active: false,
        call_not_empty: false,
        noforwards: false,
        id: group.id,
        title: group.title.clone(),
        photo: tl::enums::ChatPhoto::Empty,
        participants_count: group.members.len() as i32,
        date: group.date,
        version: 1,
        migrated_to: None,
        admin_rights: None,
        default_banned_rights: None,
    })
}

/// A service message, such as a group's new title.
pub fn service_message(
    id: i32,
    out: bool,
    from: i64,
    chat: tl::enums::Peer,
    action: tl::enums::MessageAction,
) -> tl::enums::Message {
    tl::enums::Message::Service(tl::types::MessageService {
        out,
        mentioned: false,
        media_unread: false,
        reactions_are_possible: false,
        silent: false,
        post: false,
        legacy: false,
        id,
        from_id: Some(peer_user(from)),
        peer_id: chat,
        saved_peer_id: None,
        reply_to: None,
        date: now(),
        action,
        reactions: None,
        ttl_period: None,
    })
}

pub fn peer_channel(id: i64) -> tl::enums::Peer {
    tl::enums::Peer::Channel(tl::types::PeerChannel { channel_id: id })
}

/// A supergroup or broadcast channel as a member sees it, with the access
/// hash grammers needs for `getChannelDifference`.
pub fn channel(channel: &Channel, viewer: i64) -> tl::enums::Chat {
    tl::enums::Chat::Channel(tl::types::Channel {
        creator: channel.creator == viewer,
        left: !channel.members.contains(&viewer),
        broadcast: channel.broadcast,
        verified: false,
        megagroup: !channel.broadcast,
        restricted: false,
        signatures: false,
        min: false,
        scam: false,
        has_link: false,
        has_geo: false,
        slowmode_enabled: false,
        call_active: false,
        call_not_empty: false,
        fake: false,
        gigagroup: false,
        noforwards: false,
        join_to_send: false,
        join_request: false,
        forum: false,
        stories_hidden: false,
        stories_hidden_min: false,
        stories_unavailable: false,
        signature_profiles: false,
        autotranslation: false,
        broadcast_messages_allowed: false,
        monoforum: false,
        forum_tabs: false,
        id: channel.id,
        access_hash: Some(channel.access_hash),
        title: channel.title.clone(),
        username: None,
        photo: match channel.photo {
            Some(photo_id) => tl::enums::ChatPhoto::Photo(tl::types::ChatPhoto {
                has_video: false,
                photo_id,
                stripped_thumb: None,
                dc_id: 2,
            }),
            None => tl::enums::ChatPhoto::Empty,
        },
        date: channel.date,
        restriction_reason: None,
        admin_rights: None,
        banned_rights: None,
        default_banned_rights: None,
        participants_count: Some(channel.members.len() as i32),
        usernames: None,
        stories_max_id: None,
        color: None,
        profile_color: None,
        emoji_status: None,
        level: None,
        subscription_until_date: None,
        bot_verification_icon: None,
        send_paid_messages_stars: None,
        linked_monoforum_id: None,
        linked_community_id: None,
    })
}
