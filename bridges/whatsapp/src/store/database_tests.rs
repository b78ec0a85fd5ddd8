//! What only a database can show of our store: state that outlives the
//! process, logins kept apart, values sealed at rest, keys whose parts need
//! escaping, and forgetting.

use super::tests::{mapping, ours, sorted_devices};
use wacore::store::traits::*;

#[tokio::test]
async fn state_outlives_the_store_that_wrote_it() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let first = ours(&store, "alice");
    first.create().await.unwrap();
    let registration = first.load().await.unwrap().unwrap().registration_id;
    first.put_session("1555:1@lid", b"ratchet").await.unwrap();
    drop(first);
    let again = ours(&store, "alice");
    assert_eq!(
        again.load().await.unwrap().unwrap().registration_id,
        registration
    );
    assert_eq!(
        again.get_session("1555:1@lid").await.unwrap().unwrap(),
        &b"ratchet"[..]
    );
}

#[tokio::test]
async fn logins_do_not_see_each_other() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let (alice, bob) = (ours(&store, "alice"), ours(&store, "bob"));
    alice.put_session("1555:1@lid", b"a").await.unwrap();
    alice.create().await.unwrap();
    assert!(bob.get_session("1555:1@lid").await.unwrap().is_none());
    assert!(!bob.exists().await.unwrap());
}

#[tokio::test]
async fn keys_and_sessions_are_sealed_at_rest() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let alice = ours(&store, "alice");
    alice
        .put_session("1555:1@lid", b"session-secret-bytes")
        .await
        .unwrap();
    alice
        .put_identity("1555:1@lid", *b"identity-key-bytes-32-long-xxxxx")
        .await
        .unwrap();
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT value FROM login_data")
        .fetch_all(store.pool())
        .await
        .unwrap();
    assert_eq!(stored.len(), 2);
    for value in stored {
        assert!(!value
            .windows(14)
            .any(|w| w == b"session-secret" || w == b"identity-key-b"));
    }
}

#[tokio::test]
async fn parts_with_slashes_and_percents_stay_apart() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let b = ours(&store, "alice");
    b.set_sender_key_status("a/b@g.us", &[("x%2F:1@lid", true)])
        .await
        .unwrap();
    b.set_sender_key_status("a", &[("b@g.us/x:1@lid", true)])
        .await
        .unwrap();
    assert_eq!(
        sorted_devices(&b, "a/b@g.us").await,
        [("x%2F:1@lid".into(), true)]
    );
    assert_eq!(
        sorted_devices(&b, "a").await,
        [("b@g.us/x:1@lid".into(), true)]
    );
    b.store_sent_message("1@g.us", "id/with/slashes", b"p")
        .await
        .unwrap();
    assert!(b
        .take_sent_message("1@g.us", "id/with/slashes")
        .await
        .unwrap()
        .is_some());
}

#[tokio::test]
async fn forgetting_removes_every_row() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let alice = ours(&store, "alice");
    alice.create().await.unwrap();
    alice.put_session("1555:1@lid", b"s").await.unwrap();
    alice
        .put_lid_mapping(&mapping("100", "4412"))
        .await
        .unwrap();
    alice.forget().await.unwrap();
    assert!(!alice.exists().await.unwrap());
    assert!(alice.get_session("1555:1@lid").await.unwrap().is_none());
    assert!(alice.get_pn_mapping("4412").await.unwrap().is_none());
}

#[tokio::test]
async fn an_unlinked_login_stays_unlinked_when_a_stopping_client_saves_its_device_again() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let alice = ours(&store, "alice");
    alice.create().await.unwrap();
    let mut device = alice.load().await.unwrap().unwrap();
    device.pn = Some("15550100@s.whatsapp.net".parse().unwrap());
    alice.save(&device).await.unwrap();
    assert!(alice.is_linked().await.unwrap());
    alice.mark_unlinked().await.unwrap();
    alice.forget().await.unwrap();
    alice.save(&device).await.unwrap();
    assert!(!alice.is_linked().await.unwrap());
}
