//! What the WhatsApp test server's tests share: real whatsapp-rust clients
//! on our database store, pointed at the server, and waiting for their
//! events.

#![allow(dead_code)]

use causeway_core::ids::LoginId;
use causeway_core::store::{SecretBox, Store};
use causeway_wa_testserver::WaTestServer;
use causeway_whatsapp::store::WaStore;
use std::sync::Arc;
use std::time::Duration;
use tempfile::TempDir;
use tokio::sync::mpsc;
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::http::UreqHttpClient;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::wacore::pair_code::PairCodeOptions;
use whatsapp_rust::waproto::whatsapp as wa;
use whatsapp_rust::TokioRuntime;

pub type Events = mpsc::UnboundedReceiver<Arc<Event>>;

/// whatsapp-rust asks its media hosts over `https://`; the test server's
/// media host is plain HTTP on loopback.
pub struct LoopbackHttp(UreqHttpClient);

#[async_trait::async_trait]
impl HttpClient for LoopbackHttp {
    async fn execute(&self, mut request: HttpRequest) -> anyhow::Result<HttpResponse> {
        if let Some(rest) = request.url.strip_prefix("https://127.0.0.1:") {
            request.url = format!("http://127.0.0.1:{rest}");
        }
        self.0.execute(request).await
    }
}

/// A client on `store`'s rows for `login`, pointed at the server; its
/// events arrive on the returned channel.
pub async fn client(server: &WaTestServer, store: &Store, login: &str) -> (BotHandle, Events) {
    client_with(server, store, login, None).await
}

/// A client that, when `pair_code_for` names a number, asks to link by pair
/// code for it instead of by QR code.
pub async fn client_with(
    server: &WaTestServer,
    store: &Store,
    login: &str,
    pair_code_for: Option<&str>,
) -> (BotHandle, Events) {
    let backend = WaStore::new(
        store.clone(),
        SecretBox::from_key(&[4; 32]),
        LoginId::from(login),
    );
    let (events, received) = mpsc::unbounded_channel();
    let mut builder = Bot::builder()
        .with_backend(backend)
        .with_transport_factory(TokioWebSocketTransportFactory::new().with_url(server.url()))
        .with_http_client(LoopbackHttp(UreqHttpClient::new()))
        .with_runtime(TokioRuntime)
        .with_version((2, 3000, 1_000_000_000))
        .on_event(move |event, _client| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    if let Some(phone) = pair_code_for {
        builder = builder.with_pair_code(PairCodeOptions {
            phone_number: phone.to_owned(),
            ..Default::default()
        });
    }
    let bot = builder.build().await.expect("the client builds");
    (bot.spawn(), received)
}

/// The first event `pick` accepts within `limit`, if any.
pub async fn within<T>(
    events: &mut Events,
    limit: Duration,
    pick: impl Fn(&Event) -> Option<T>,
) -> Option<T> {
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        let event = tokio::time::timeout_at(deadline, events.recv())
            .await
            .ok()??;
        if let Some(found) = pick(&event) {
            return Some(found);
        }
    }
}

/// Waits for the first event `pick` accepts, up to `limit`.
pub async fn expect<T>(
    events: &mut Events,
    limit: Duration,
    what: &str,
    pick: impl Fn(&Event) -> Option<T>,
) -> T {
    within(events, limit, pick)
        .await
        .unwrap_or_else(|| panic!("no {what} within {limit:?}"))
}

pub fn connected(event: &Event) -> Option<()> {
    matches!(event, Event::Connected(_)).then_some(())
}

/// The QR code text the client shows first.
pub async fn qr_code(events: &mut Events) -> String {
    expect(events, Duration::from_secs(10), "QR code", |e| match e {
        Event::PairingQrCode(qr) => Some(qr.code.clone()),
        _ => None,
    })
    .await
}

/// A server with two accounts, each with a client linked and connected,
/// on one test database.
pub async fn two_paired(
    (first, first_name): (&str, &str),
    (second, second_name): (&str, &str),
) -> (
    WaTestServer,
    Store,
    TempDir,
    (BotHandle, Events),
    (BotHandle, Events),
) {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    server.add_account(first, first_name);
    server.add_account(second, second_name);
    let (store, dir) = causeway_core::store::test_store().await;
    let a = paired(&server, &store, &first_name.to_lowercase(), first).await;
    let b = paired(&server, &store, &second_name.to_lowercase(), second).await;
    (server, store, dir, a, b)
}

/// A client linked to `phone` by QR code and connected.
pub async fn paired(
    server: &WaTestServer,
    store: &Store,
    login: &str,
    phone: &str,
) -> (BotHandle, Events) {
    let (bot, mut events) = client(server, store, login).await;
    let code = qr_code(&mut events).await;
    server.scan_qr(&code, phone).unwrap();
    expect(
        &mut events,
        Duration::from_secs(30),
        "connection",
        connected,
    )
    .await;
    (bot, events)
}

/// A text message: its chat, its sender, and the text.
pub type Text = (String, String, String);

/// The next `count` text messages to arrive, in order. A batch (the
/// offline queue drains in batches) may hold several.
pub async fn texts(events: &mut Events, count: usize) -> Vec<Text> {
    let mut found = Vec::new();
    while found.len() < count {
        let batch = expect(
            events,
            Duration::from_secs(10),
            "text message",
            |e| match e {
                Event::Messages(batch) => Some(
                    batch
                        .iter()
                        .filter_map(|m| {
                            let text = m.message.conversation.clone()?;
                            Some((
                                m.info.source.chat.to_string(),
                                m.info.source.sender.to_string(),
                                text,
                            ))
                        })
                        .collect::<Vec<_>>(),
                ),
                _ => None,
            },
        )
        .await;
        found.extend(batch);
    }
    found
}

/// The first message (of any kind) that `pick` accepts.
pub async fn message_where<T>(
    events: &mut Events,
    what: &str,
    pick: impl Fn(&wa::Message) -> Option<T>,
) -> T {
    expect(events, Duration::from_secs(10), what, |e| match e {
        Event::Messages(batch) => batch.iter().find_map(|m| pick(&m.message)),
        _ => None,
    })
    .await
}

/// The next text message to arrive.
pub async fn next_text(events: &mut Events) -> Text {
    texts(events, 1).await.remove(0)
}

pub fn init_logs() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).try_init();
}

pub fn text(body: &str) -> wa::Message {
    wa::Message {
        conversation: Some(body.to_owned()),
        ..Default::default()
    }
}
