//! One contract, run against wacore's `InMemoryBackend` and against our
//! store on the test database (SQLite, or PostgreSQL with
//! `CAUSEWAY_TEST_POSTGRES`): ours must behave as the library's own.

use super::*;
use bytes::Bytes;
use std::sync::Arc;
use wacore::appstate::hash::HashState;
use wacore::appstate::processor::AppStateMutationMAC;
use wacore::store::traits::*;
use wacore::store::Device;

pub(super) fn ours(store: &Store, login: &str) -> WaStore {
    WaStore::new(
        store.clone(),
        SecretBox::from_key(&[5; 32]),
        LoginId::from(login),
    )
}

/// Each contract check, once on the library's store and once on ours.
macro_rules! contract {
    ($($check:ident),* $(,)?) => {
        mod in_memory {
            $(
                #[tokio::test]
                async fn $check() {
                    super::$check(&wacore::store::InMemoryBackend::new()).await;
                }
            )*
        }
        mod on_our_database {
            $(
                #[tokio::test]
                async fn $check() {
                    let (store, _dir) = causeway_core::store::test_store().await;
                    super::$check(&super::ours(&store, "alice")).await;
                }
            )*
        }
    };
}

contract!(
    identities_are_kept_per_address,
    sessions_are_kept_per_address_and_found_per_user,
    prekeys_keep_their_records_and_the_highest_id,
    signed_prekeys_are_listed_in_full,
    sender_keys_are_kept_per_address,
    app_state_keys_remember_the_latest,
    app_state_versions_start_empty_and_round_trip,
    mutation_macs_are_kept_per_collection,
    sender_key_devices_are_tracked_per_group,
    lid_mappings_answer_both_ways_and_follow_a_new_number,
    base_keys_are_compared_per_message,
    device_lists_and_group_metadata_round_trip,
    tc_tokens_keep_the_newer_token_and_expire_when_both_sides_are_stale,
    sent_messages_are_taken_once_and_expire,
    pending_inbound_messages_stay_until_committed,
    message_secrets_keep_the_longer_window,
    the_device_is_created_once_then_saved_and_loaded,
);

async fn identities_are_kept_per_address<B: Backend>(b: &B) {
    b.put_identity("1555:1@s.whatsapp.net", [1; 32])
        .await
        .unwrap();
    b.put_identities_batch(&[
        (Arc::from("1555:2@s.whatsapp.net"), [2; 32]),
        (Arc::from("1555:1@s.whatsapp.net"), [3; 32]),
    ])
    .await
    .unwrap();
    assert_eq!(
        b.load_identity("1555:1@s.whatsapp.net").await.unwrap(),
        Some([3; 32])
    );
    assert_eq!(
        b.load_identity("1555:2@s.whatsapp.net").await.unwrap(),
        Some([2; 32])
    );
    b.delete_identity("1555:2@s.whatsapp.net").await.unwrap();
    assert_eq!(
        b.load_identity("1555:2@s.whatsapp.net").await.unwrap(),
        None
    );
}

async fn sessions_are_kept_per_address_and_found_per_user<B: Backend>(b: &B) {
    assert!(!b.has_signal_state_for_user("1555").await.unwrap());
    b.put_session("1555:3@lid", b"one").await.unwrap();
    b.put_sessions_batch(&[
        (Arc::from("1666@lid"), Bytes::from_static(b"two")),
        (Arc::from("1555:3@lid"), Bytes::from_static(b"three")),
    ])
    .await
    .unwrap();
    assert_eq!(
        b.get_session("1555:3@lid").await.unwrap().unwrap(),
        &b"three"[..]
    );
    assert!(b.has_session("1666@lid").await.unwrap());
    assert!(b.has_signal_state_for_user("1555").await.unwrap());
    assert!(b.has_signal_state_for_user("1666").await.unwrap());
    // A user whose number merely starts like another's has nothing.
    assert!(!b.has_signal_state_for_user("155").await.unwrap());
    b.delete_session("1666@lid").await.unwrap();
    assert!(!b.has_session("1666@lid").await.unwrap());
    assert!(!b.has_signal_state_for_user("1666").await.unwrap());
    // An identity alone is state too.
    b.put_identity("1777@s.whatsapp.net", [7; 32])
        .await
        .unwrap();
    assert!(b.has_signal_state_for_user("1777").await.unwrap());
}

async fn prekeys_keep_their_records_and_the_highest_id<B: Backend>(b: &B) {
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 0);
    b.store_prekey(9, b"nine", false).await.unwrap();
    b.store_prekeys_batch(
        &[
            (10, Bytes::from_static(b"ten")),
            (100, Bytes::from_static(b"hundred")),
        ],
        false,
    )
    .await
    .unwrap();
    assert_eq!(b.get_max_prekey_id().await.unwrap(), 100);
    assert_eq!(b.load_prekey(10).await.unwrap().unwrap(), &b"ten"[..]);
    let mut batch = b.load_prekeys_batch(&[9, 11, 100]).await.unwrap();
    batch.sort();
    assert_eq!(
        batch,
        [
            (9, Bytes::from_static(b"nine")),
            (100, Bytes::from_static(b"hundred"))
        ]
    );
    b.remove_prekey(9).await.unwrap();
    // Marking a used-up key uploaded does not bring it back.
    b.mark_prekeys_uploaded(&[9, 10]).await.unwrap();
    assert_eq!(b.load_prekey(9).await.unwrap(), None);
    assert_eq!(b.load_prekey(10).await.unwrap().unwrap(), &b"ten"[..]);
}

async fn signed_prekeys_are_listed_in_full<B: Backend>(b: &B) {
    b.store_signed_prekey(1, b"a").await.unwrap();
    b.store_signed_prekey(2, b"b").await.unwrap();
    assert_eq!(
        b.load_signed_prekey(2).await.unwrap().as_deref(),
        Some(&b"b"[..])
    );
    let mut all = b.load_all_signed_prekeys().await.unwrap();
    all.sort();
    assert_eq!(all, [(1, b"a".to_vec()), (2, b"b".to_vec())]);
    b.remove_signed_prekey(1).await.unwrap();
    assert_eq!(b.load_signed_prekey(1).await.unwrap(), None);
}

async fn sender_keys_are_kept_per_address<B: Backend>(b: &B) {
    let group = "120363@g.us::1555:1@s.whatsapp.net";
    b.put_sender_key(group, b"k1").await.unwrap();
    b.put_sender_keys_batch(&[(Arc::from(group), Bytes::from_static(b"k2"))])
        .await
        .unwrap();
    assert_eq!(
        b.get_sender_key(group).await.unwrap().as_deref(),
        Some(&b"k2"[..])
    );
    b.delete_sender_key(group).await.unwrap();
    assert_eq!(b.get_sender_key(group).await.unwrap(), None);
}

fn sync_key(byte: u8) -> AppStateSyncKey {
    AppStateSyncKey {
        key_data: vec![byte; 32],
        fingerprint: vec![byte],
        timestamp: i64::from(byte),
    }
}

async fn app_state_keys_remember_the_latest<B: Backend>(b: &B) {
    assert_eq!(b.get_latest_sync_key_id().await.unwrap(), None);
    b.set_sync_key(&[1, 2], sync_key(1)).await.unwrap();
    b.set_sync_key(&[0xff], sync_key(2)).await.unwrap();
    assert_eq!(b.get_latest_sync_key_id().await.unwrap(), Some(vec![0xff]));
    let key = b.get_sync_key(&[1, 2]).await.unwrap().unwrap();
    assert_eq!((key.key_data, key.timestamp), (vec![1; 32], 1));
    assert!(b.get_sync_key(&[3]).await.unwrap().is_none());
}

async fn app_state_versions_start_empty_and_round_trip<B: Backend>(b: &B) {
    assert_eq!(b.get_version("regular").await.unwrap().version, 0);
    let mut state = HashState {
        version: 7,
        hash: [9; 128],
        ..HashState::default()
    };
    state.index_value_map.insert("idx".into(), vec![4, 5]);
    b.set_version("regular", state).await.unwrap();
    let back = b.get_version("regular").await.unwrap();
    assert_eq!((back.version, back.hash), (7, [9; 128]));
    assert_eq!(back.index_value_map["idx"], [4, 5]);
    assert_eq!(b.get_version("critical_block").await.unwrap().version, 0);
}

fn mac(index: u8, value: u8) -> AppStateMutationMAC {
    AppStateMutationMAC {
        index_mac: vec![index; 32],
        value_mac: vec![value; 32],
    }
}

async fn mutation_macs_are_kept_per_collection<B: Backend>(b: &B) {
    b.put_mutation_macs("regular", 1, &[mac(1, 10), mac(2, 20)])
        .await
        .unwrap();
    b.put_mutation_macs("regular_low", 1, &[mac(1, 30)])
        .await
        .unwrap();
    assert_eq!(
        b.get_mutation_mac("regular", &[1; 32]).await.unwrap(),
        Some(vec![10; 32])
    );
    let found = b
        .get_mutation_macs("regular", &[[1; 32], [2; 32], [3; 32]])
        .await
        .unwrap();
    assert_eq!(found.len(), 2);
    assert_eq!(found[&[2; 32]], vec![20; 32]);
    b.delete_mutation_macs("regular", &[vec![1; 32]])
        .await
        .unwrap();
    assert_eq!(b.get_mutation_mac("regular", &[1; 32]).await.unwrap(), None);
    b.clear_mutation_macs("regular").await.unwrap();
    assert_eq!(b.get_mutation_mac("regular", &[2; 32]).await.unwrap(), None);
    assert_eq!(
        b.get_mutation_mac("regular_low", &[1; 32]).await.unwrap(),
        Some(vec![30; 32])
    );
}

pub(super) async fn sorted_devices<B: Backend>(b: &B, group: &str) -> Vec<(String, bool)> {
    let mut devices = b.get_sender_key_devices(group).await.unwrap();
    devices.sort();
    devices
}

async fn sender_key_devices_are_tracked_per_group<B: Backend>(b: &B) {
    let (g1, g2) = ("1@g.us", "2@g.us");
    b.set_sender_key_status(g1, &[("a:1@lid", true), ("b:2@lid", false)])
        .await
        .unwrap();
    b.set_sender_key_status(g2, &[("a:1@lid", true)])
        .await
        .unwrap();
    b.set_sender_key_status(g1, &[("b:2@lid", true)])
        .await
        .unwrap();
    assert_eq!(
        sorted_devices(b, g1).await,
        [("a:1@lid".into(), true), ("b:2@lid".into(), true)]
    );
    // A group whose ID starts like another's shares nothing with it.
    assert!(sorted_devices(b, "1@g.u").await.is_empty());
    b.delete_sender_key_device_rows(&["a:1@lid"]).await.unwrap();
    assert_eq!(sorted_devices(b, g1).await, [("b:2@lid".into(), true)]);
    assert!(sorted_devices(b, g2).await.is_empty());
    b.set_sender_key_status(g2, &[("c:3@lid", false)])
        .await
        .unwrap();
    b.clear_sender_key_devices(g1).await.unwrap();
    assert!(sorted_devices(b, g1).await.is_empty());
    assert_eq!(sorted_devices(b, g2).await.len(), 1);
    b.clear_all_sender_key_devices().await.unwrap();
    assert!(sorted_devices(b, g2).await.is_empty());
}

pub(super) fn mapping(lid: &str, phone: &str) -> LidPnMappingEntry {
    LidPnMappingEntry {
        lid: lid.into(),
        phone_number: phone.into(),
        created_at: 1,
        updated_at: 2,
        learning_source: "usync".into(),
    }
}

async fn lid_mappings_answer_both_ways_and_follow_a_new_number<B: Backend>(b: &B) {
    b.put_lid_mapping(&mapping("100", "4412")).await.unwrap();
    b.put_lid_mappings(&[mapping("200", "4413")]).await.unwrap();
    assert_eq!(
        b.get_lid_mapping("100")
            .await
            .unwrap()
            .unwrap()
            .phone_number,
        "4412"
    );
    assert_eq!(b.get_pn_mapping("4413").await.unwrap().unwrap().lid, "200");
    // The LID moves to a new number: the old number no longer answers.
    b.put_lid_mapping(&mapping("100", "4499")).await.unwrap();
    assert!(b.get_pn_mapping("4412").await.unwrap().is_none());
    assert_eq!(b.get_pn_mapping("4499").await.unwrap().unwrap().lid, "100");
    let mut all: Vec<_> = b
        .get_all_lid_mappings()
        .await
        .unwrap()
        .into_iter()
        .map(|m| (m.lid, m.phone_number))
        .collect();
    all.sort();
    assert_eq!(
        all,
        [("100".into(), "4499".into()), ("200".into(), "4413".into())]
    );
}

async fn base_keys_are_compared_per_message<B: Backend>(b: &B) {
    b.save_base_key("1555:1@lid", "M1", b"base").await.unwrap();
    assert!(b
        .has_same_base_key("1555:1@lid", "M1", b"base")
        .await
        .unwrap());
    assert!(!b
        .has_same_base_key("1555:1@lid", "M1", b"other")
        .await
        .unwrap());
    assert!(!b
        .has_same_base_key("1555:1@lid", "M2", b"base")
        .await
        .unwrap());
    b.delete_base_key("1555:1@lid", "M1").await.unwrap();
    assert!(!b
        .has_same_base_key("1555:1@lid", "M1", b"base")
        .await
        .unwrap());
}

fn device_list(user: &str, devices: &[u32]) -> DeviceListRecord {
    DeviceListRecord {
        user: user.into(),
        devices: devices
            .iter()
            .map(|&d| DeviceInfo::new(d, Some(d)))
            .collect(),
        timestamp: 5,
        phash: Some("2:abc".into()),
        raw_id: Some(3),
    }
}

async fn device_lists_and_group_metadata_round_trip<B: Backend>(b: &B) {
    b.update_device_list(device_list("1555", &[0, 1]))
        .await
        .unwrap();
    b.update_device_lists(vec![
        device_list("1666", &[0]),
        device_list("1555", &[0, 2]),
    ])
    .await
    .unwrap();
    let record = b.get_devices("1555").await.unwrap().unwrap();
    let ids: Vec<u32> = record.devices.iter().map(|d| d.device_id).collect();
    assert_eq!((ids, record.raw_id), (vec![0, 2], Some(3)));
    b.delete_devices("1555").await.unwrap();
    assert!(b.get_devices("1555").await.unwrap().is_none());
    assert!(b.get_devices("1666").await.unwrap().is_some());

    b.put_group_metadata("1@g.us", b"v1").await.unwrap();
    b.put_group_metadata("1@g.us", b"v2").await.unwrap();
    assert_eq!(
        b.get_group_metadata("1@g.us").await.unwrap().as_deref(),
        Some(&b"v2"[..])
    );
    b.delete_group_metadata("1@g.us").await.unwrap();
    assert!(b.get_group_metadata("1@g.us").await.unwrap().is_none());
}

async fn tc_tokens_keep_the_newer_token_and_expire_when_both_sides_are_stale<B: Backend>(b: &B) {
    let jid = "100@lid";
    b.touch_tc_token_sender_timestamp(jid, 50).await.unwrap();
    let placeholder = b.get_tc_token(jid).await.unwrap().unwrap();
    assert!(placeholder.token.is_empty());
    // A real token replaces the placeholder, and keeps our sender bucket.
    b.store_received_tc_token(jid, b"t1", 10).await.unwrap();
    let entry = b.get_tc_token(jid).await.unwrap().unwrap();
    assert_eq!(
        (entry.token, entry.sender_timestamp),
        (b"t1".to_vec(), Some(50))
    );
    // An older token does not replace a newer one.
    b.store_received_tc_token(jid, b"t0", 5).await.unwrap();
    assert_eq!(b.get_tc_token(jid).await.unwrap().unwrap().token, b"t1");
    // The sender bucket only moves forward.
    b.touch_tc_token_sender_timestamp(jid, 40).await.unwrap();
    assert_eq!(
        b.get_tc_token(jid).await.unwrap().unwrap().sender_timestamp,
        Some(50)
    );
    b.put_tc_token(
        "200@lid",
        &TcTokenEntry {
            token: b"x".to_vec(),
            token_timestamp: 1,
            sender_timestamp: None,
        },
    )
    .await
    .unwrap();
    let mut jids = b.get_all_tc_token_jids().await.unwrap();
    jids.sort();
    assert_eq!(jids, ["100@lid", "200@lid"]);
    // 100's token is stale but its sender bucket is live; 200 is stale.
    assert_eq!(b.delete_expired_tc_tokens(20, 45).await.unwrap(), 1);
    assert_eq!(b.get_all_tc_token_jids().await.unwrap(), ["100@lid"]);
    b.delete_tc_token(jid).await.unwrap();
    assert!(b.get_tc_token(jid).await.unwrap().is_none());
}

async fn sent_messages_are_taken_once_and_expire<B: Backend>(b: &B) {
    b.store_sent_message("1@g.us", "M1", b"payload")
        .await
        .unwrap();
    b.store_sent_message("1@g.us", "M2", b"other")
        .await
        .unwrap();
    assert_eq!(
        b.take_sent_message("1@g.us", "M1")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"payload"[..])
    );
    assert_eq!(b.take_sent_message("1@g.us", "M1").await.unwrap(), None);
    let now = wacore::time::now_secs();
    assert_eq!(b.delete_expired_sent_messages(now - 60).await.unwrap(), 0);
    assert_eq!(b.delete_expired_sent_messages(now + 60).await.unwrap(), 1);
    assert_eq!(b.take_sent_message("1@g.us", "M2").await.unwrap(), None);
}

async fn pending_inbound_messages_stay_until_committed<B: Backend>(b: &B) {
    b.store_pending_inbound("c@s.whatsapp.net", "s@s.whatsapp.net", "A", b"one")
        .await
        .unwrap();
    b.store_pending_inbound_batch(&[
        PendingInboundRow {
            chat: "g@g.us",
            sender: "s@lid",
            id: "B",
            message: b"two",
        },
        PendingInboundRow {
            chat: "g@g.us",
            sender: "t@lid",
            id: "B",
            message: b"three",
        },
    ])
    .await
    .unwrap();
    assert_eq!(
        b.get_pending_inbound("g@g.us", "t@lid", "B")
            .await
            .unwrap()
            .as_deref(),
        Some(&b"three"[..])
    );
    b.delete_pending_inbound("c@s.whatsapp.net", "s@s.whatsapp.net", "A")
        .await
        .unwrap();
    assert!(b
        .get_pending_inbound("c@s.whatsapp.net", "s@s.whatsapp.net", "A")
        .await
        .unwrap()
        .is_none());
    b.delete_pending_inbound_batch(&[PendingInboundKey {
        chat: "g@g.us",
        sender: "s@lid",
        id: "B",
    }])
    .await
    .unwrap();
    let now = wacore::time::now_secs();
    assert_eq!(b.delete_expired_pending_inbound(now - 60).await.unwrap(), 0);
    assert_eq!(b.delete_expired_pending_inbound(now + 60).await.unwrap(), 1);
    assert!(b
        .get_pending_inbound("g@g.us", "t@lid", "B")
        .await
        .unwrap()
        .is_none());
}

fn secret(msg_id: &str, byte: u8, expires_at: i64, message_ts: i64) -> MsgSecretEntry {
    MsgSecretEntry {
        chat: Arc::from("1@g.us"),
        sender: Arc::from("1555@s.whatsapp.net"),
        msg_id: Arc::from(msg_id),
        secret: [byte; 32],
        expires_at,
        message_ts,
    }
}

async fn message_secrets_keep_the_longer_window<B: Backend>(b: &B) {
    let (chat, sender) = ("1@g.us", "1555@s.whatsapp.net");
    b.put_msg_secrets(vec![secret("A", 1, 100, 10), secret("B", 2, 100, 0)])
        .await
        .unwrap();
    // A re-put never shortens the window nor forgets the message time.
    b.put_msg_secrets(vec![secret("A", 3, 50, 0), secret("B", 2, 0, 20)])
        .await
        .unwrap();
    assert_eq!(
        b.get_msg_secret_with_ts(chat, sender, "A").await.unwrap(),
        Some((vec![3; 32], 10))
    );
    b.put_msg_secret(chat, sender, "C", &[4; 32]).await.unwrap();
    assert_eq!(
        b.get_msg_secret(chat, sender, "C").await.unwrap(),
        Some(vec![4; 32])
    );
    // A expires at 100; B and C never do.
    assert_eq!(b.delete_expired_msg_secrets(99).await.unwrap(), 0);
    assert_eq!(b.delete_expired_msg_secrets(100).await.unwrap(), 1);
    assert!(b.get_msg_secret(chat, sender, "A").await.unwrap().is_none());
    assert_eq!(
        b.get_msg_secret_with_ts(chat, sender, "B").await.unwrap(),
        Some((vec![2; 32], 20))
    );
}

async fn the_device_is_created_once_then_saved_and_loaded<B: Backend>(b: &B) {
    assert!(!b.exists().await.unwrap());
    assert!(b.load().await.unwrap().is_none());
    b.create().await.unwrap();
    assert!(b.exists().await.unwrap());
    let mut device = b.load().await.unwrap().unwrap();
    device.push_name = "Alice".into();
    device.pn = Some("4412345678@s.whatsapp.net".parse().unwrap());
    b.save(&device).await.unwrap();
    let back = b.load().await.unwrap().unwrap();
    assert_eq!(back.push_name, "Alice");
    assert_eq!(back.pn, device.pn);
    assert_eq!(back.registration_id, device.registration_id);
    assert_eq!(
        back.identity_key.public_key.public_key_bytes(),
        device.identity_key.public_key.public_key_bytes()
    );
    assert_eq!(*back.device_props, *Device::new().device_props);
}
