//! The real whatsapp-rust client, with our database store, pairs with the
//! test server by QR code, connects, and comes back from its stored session.

use causeway_core::ids::LoginId;
use causeway_core::store::{test_store, SecretBox, Store};
use causeway_wa_testserver::WaTestServer;
use causeway_whatsapp::store::WaStore;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::http::UreqHttpClient;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::TokioRuntime;

const PHONE: &str = "4412345678";

/// A client on `store`'s rows for `login`, pointed at the server; its
/// events arrive on the returned channel.
async fn client(
    server: &WaTestServer,
    store: &Store,
    login: &str,
) -> (BotHandle, mpsc::UnboundedReceiver<Arc<Event>>) {
    let backend = WaStore::new(
        store.clone(),
        SecretBox::from_key(&[4; 32]),
        LoginId::from(login),
    );
    let (events, received) = mpsc::unbounded_channel();
    let bot = Bot::builder()
        .with_backend(backend)
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(server.url()))
        .with_http_client(UreqHttpClient::new())
        .with_runtime(TokioRuntime)
        .with_version((2, 3000, 1_000_000_000))
        .on_event(move |event, _client| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        })
        .build()
        .await
        .expect("the client builds");
    (bot.spawn(), received)
}

/// Waits for the first event `pick` accepts, up to `limit`.
async fn expect<T>(
    events: &mut mpsc::UnboundedReceiver<Arc<Event>>,
    limit: Duration,
    what: &str,
    pick: impl Fn(&Event) -> Option<T>,
) -> T {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .unwrap_or_else(|_| panic!("no {what} within {limit:?}"))
            .expect("the client's events ended");
        if let Some(found) = pick(&event) {
            return found;
        }
    }
}

fn connected(event: &Event) -> Option<()> {
    matches!(event, Event::Connected(_)).then_some(())
}

#[tokio::test]
async fn a_client_pairs_by_qr_code_and_comes_back_from_its_stored_session() {
    let _ = tracing_subscriber::fmt().with_env_filter("warn").try_init();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(PHONE, "Alice");
    let (store, _dir) = test_store().await;

    let (bot, mut events) = client(&server, &store, "alice").await;
    let code = expect(
        &mut events,
        Duration::from_secs(10),
        "QR code",
        |e| match e {
            Event::PairingQrCode(qr) => Some(qr.code.clone()),
            _ => None,
        },
    )
    .await;
    server.scan_qr(&code, PHONE).unwrap();
    let paired = expect(
        &mut events,
        Duration::from_secs(10),
        "pair success",
        |e| match e {
            Event::PairSuccess(success) => Some(success.id.to_string()),
            _ => None,
        },
    )
    .await;
    assert_eq!(paired, format!("{PHONE}:1@s.whatsapp.net"));
    let started = Instant::now();
    expect(
        &mut events,
        Duration::from_secs(30),
        "connection",
        connected,
    )
    .await;
    println!("connected {:?} after pairing", started.elapsed());
    assert_eq!(server.devices_of(PHONE), [1]);
    assert_eq!(server.logged_in_count(PHONE), 1);
    bot.shutdown().await;

    // A new process: the stored session logs in with no QR code.
    let (bot, mut events) = client(&server, &store, "alice").await;
    expect(
        &mut events,
        Duration::from_secs(10),
        "connection",
        |e| match e {
            Event::PairingQrCode(_) => panic!("a stored session asked for a QR code"),
            other => connected(other),
        },
    )
    .await;
    assert_eq!(server.devices_of(PHONE), [1]);
    bot.shutdown().await;
}
