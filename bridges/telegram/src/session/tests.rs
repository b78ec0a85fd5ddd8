//! One contract, run against grammers' `MemorySession` and against ours on
//! the test database (SQLite, or PostgreSQL with `CAUSEWAY_TEST_POSTGRES`):
//! ours must behave as grammers' own, and keep it all across a reload.

use super::*;
use causeway_core::ids::LoginId;
use causeway_core::store::{SecretBox, Store};
use grammers_session::storages::MemorySession;
use grammers_session::types::{PeerAuth, PeerRef};
use std::net::{Ipv4Addr, SocketAddrV4};

fn rows(store: &Store, login: &str) -> LoginData {
    LoginData::new(
        store.clone(),
        SecretBox::from_key(&[9; 32]),
        LoginId::from(login),
        NAMESPACE,
    )
}

fn loopback_dc(key: u8) -> DcOption {
    let mut option = SessionData::default().dc_options[&2].clone();
    option.ipv4 = SocketAddrV4::new(Ipv4Addr::LOCALHOST, 24443);
    option.auth_key = Some([key; 256]);
    option
}

fn user(id: i64, hash: Option<i64>) -> PeerInfo {
    PeerInfo::User {
        id,
        auth: hash.map(PeerAuth::from_hash),
        bot: Some(false),
        is_self: None,
    }
}

fn state(pts: i32, channels: &[(i64, i32)]) -> UpdatesState {
    UpdatesState {
        pts,
        qts: 3,
        date: 1_700_000_000,
        seq: 7,
        channels: channels
            .iter()
            .map(|&(id, pts)| ChannelState { id, pts })
            .collect(),
    }
}

fn sorted(mut state: UpdatesState) -> UpdatesState {
    state.channels.sort_by_key(|c| c.id);
    state
}

/// What every session must do, as grammers' memory session does it.
async fn contract<S: Session>(session: &S)
where
    S::Error: std::fmt::Debug,
{
    // A new session is grammers' default one.
    assert_eq!(session.home_dc_id().unwrap(), 2);
    assert!(session.dc_option(2).unwrap().is_some());
    assert_eq!(session.dc_option(99).unwrap(), None);
    assert_eq!(
        session.updates_state().await.unwrap(),
        UpdatesState::default()
    );

    session.set_home_dc_id(4).await.unwrap();
    assert_eq!(session.home_dc_id().unwrap(), 4);
    session.set_dc_option(&loopback_dc(1)).await.unwrap();
    assert_eq!(session.dc_option(2).unwrap(), Some(loopback_dc(1)));

    // A peer seen later without its access hash keeps the one it had.
    session.cache_peer(user(10, Some(555))).await.unwrap();
    session.cache_peer(user(10, None)).await.unwrap();
    let id = user(10, None).id();
    assert_eq!(
        session.peer_ref(id).await.unwrap(),
        Some(PeerRef {
            id,
            auth: PeerAuth::from_hash(555)
        })
    );
    session
        .cache_peers(vec![user(11, Some(1)), PeerInfo::Chat { id: 12 }])
        .await
        .unwrap();
    assert_eq!(
        session.peer(user(11, None).id()).await.unwrap(),
        Some(user(11, Some(1)))
    );
    assert!(session
        .peer(PeerInfo::Chat { id: 12 }.id())
        .await
        .unwrap()
        .is_some());
    assert_eq!(session.peer(user(13, None).id()).await.unwrap(), None);

    // The update state: all at once, then piece by piece.
    session
        .set_update_state(UpdateState::All(state(100, &[(1, 10), (2, 20)])))
        .await
        .unwrap();
    session
        .set_update_state(UpdateState::Channel { id: 2, pts: 21 })
        .await
        .unwrap();
    session
        .set_update_state(UpdateState::Primary {
            pts: 101,
            date: 1_700_000_001,
            seq: 8,
        })
        .await
        .unwrap();
    session
        .set_update_state(UpdateState::Secondary { qts: 4 })
        .await
        .unwrap();
    let expected = UpdatesState {
        pts: 101,
        qts: 4,
        date: 1_700_000_001,
        seq: 8,
        channels: vec![
            ChannelState { id: 1, pts: 10 },
            ChannelState { id: 2, pts: 21 },
        ],
    };
    assert_eq!(sorted(session.updates_state().await.unwrap()), expected);
}

#[tokio::test]
async fn grammers_memory_session_meets_the_contract() {
    contract(&MemorySession::default()).await;
}

#[tokio::test]
async fn the_database_session_meets_the_contract() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let session = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    contract(&session).await;
}

#[tokio::test]
async fn a_reloaded_session_has_everything_that_was_stored() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let session = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    contract(&session).await;
    // A full state that drops a channel forgets its row too.
    session
        .set_update_state(UpdateState::All(state(200, &[(1, 11)])))
        .await
        .unwrap();

    let reloaded = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    assert_eq!(reloaded.home_dc_id().unwrap(), 4);
    assert_eq!(reloaded.dc_option(2).unwrap(), Some(loopback_dc(1)));
    assert_eq!(
        reloaded.peer(user(10, None).id()).await.unwrap(),
        Some(user(10, Some(555)))
    );
    assert_eq!(
        reloaded.updates_state().await.unwrap(),
        state(200, &[(1, 11)])
    );
}

#[tokio::test]
async fn each_login_has_its_own_session() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let first = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    first.set_dc_option(&loopback_dc(1)).await.unwrap();
    let second = LoginSession::load(rows(&store, "tg-2")).await.unwrap();
    assert_ne!(second.dc_option(2).unwrap(), Some(loopback_dc(1)));
    second.set_dc_option(&loopback_dc(2)).await.unwrap();
    let first = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    assert_eq!(first.dc_option(2).unwrap(), Some(loopback_dc(1)));
}

#[tokio::test]
async fn the_self_user_id_finds_the_accounts_own_user() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let session = LoginSession::load(rows(&store, "tg-1")).await.unwrap();
    assert_eq!(session.peer(PeerId::self_user()).await.unwrap(), None);
    let own = PeerInfo::User {
        id: 42,
        auth: Some(PeerAuth::from_hash(7)),
        bot: Some(false),
        is_self: Some(true),
    };
    session.cache_peer(user(10, Some(5))).await.unwrap();
    session.cache_peer(own.clone()).await.unwrap();
    assert_eq!(session.peer(PeerId::self_user()).await.unwrap(), Some(own));
}

#[tokio::test]
async fn a_peer_seen_again_unchanged_is_not_written_again() {
    let (store, _dir) = causeway_core::store::test_store().await;
    let rows = rows(&store, "tg-1");
    let session = LoginSession::load(rows.clone()).await.unwrap();
    session.cache_peer(user(10, Some(5))).await.unwrap();
    let key = LoginSession::peer_key(user(10, None).id()).unwrap();
    // Its row gone behind the session's back shows whether it is written.
    rows.delete(&key).await.unwrap();
    session.cache_peer(user(10, Some(5))).await.unwrap();
    session.cache_peers(vec![user(10, Some(5))]).await.unwrap();
    assert_eq!(rows.keys(PEER).await.unwrap(), Vec::<String>::new());
    // A change (a new access hash) is written.
    session.cache_peers(vec![user(10, Some(6))]).await.unwrap();
    assert_eq!(rows.keys(PEER).await.unwrap(), [key]);
}
