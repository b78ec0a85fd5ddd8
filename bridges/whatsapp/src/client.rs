//! One whatsapp-rust client per login: its state in our database (the
//! [`WaStore`]), pointed at the test server when the config says so, and
//! every message it receives committed to the outbox before WhatsApp is
//! told it arrived.

use crate::network::WhatsAppNetwork;
use crate::store::WaStore;
use anyhow::Result;
use causeway_core::ids::LoginId;
use causeway_core::store::LoginRow;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use whatsapp_rust::bot::{Bot, BotHandle};
use whatsapp_rust::http::UreqHttpClient;
use whatsapp_rust::pair_code::PairCodeOptions;
use whatsapp_rust::transport::TokioWebSocketTransportFactory;
use whatsapp_rust::types::durability_hook::{InboundDurabilityHook, InboundMessage};
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::net::{HttpClient, HttpRequest, HttpResponse};
use whatsapp_rust::wacore::store::DevicePropsOverride;
use whatsapp_rust::{Client, TokioRuntime};

/// What a client reports, in order.
pub type Events = mpsc::UnboundedReceiver<Arc<Event>>;

/// The version a test server is told: it has no `sw.js` to read one from.
const TEST_SERVER_VERSION: (u32, u32, u32) = (2, 3000, 1_000_000_000);

/// How long received messages wait for the login they belong to, while a
/// new login is being stored.
const LOGIN_WAIT: Duration = Duration::from_secs(120);

/// A running client. Dropping it stops it.
pub struct WaClient {
    pub client: Arc<Client>,
    handle: BotHandle,
    /// The login the client's messages go to, once it is stored.
    login: watch::Sender<Option<LoginRow>>,
}

impl Drop for WaClient {
    fn drop(&mut self) {
        self.handle.abort();
    }
}

impl WaClient {
    /// The client's messages go to this login from now on.
    pub fn serve(&self, login: &LoginRow) {
        self.login.send_replace(Some(login.clone()));
    }

    /// Disconnects, keeping the session to connect again later.
    pub async fn stop(&self) {
        self.client.disconnect().await;
        self.handle.abort();
    }
}

/// whatsapp-rust's HTTP (media, history blobs). A test server's media host
/// speaks plain HTTP on loopback, where the library asks `https://`.
struct Http {
    client: UreqHttpClient,
    test_server: bool,
}

#[async_trait::async_trait]
impl HttpClient for Http {
    async fn execute(&self, mut request: HttpRequest) -> anyhow::Result<HttpResponse> {
        request.url = fetchable(request.url, self.test_server);
        self.client.execute(request).await
    }
}

/// Where to fetch a WhatsApp media or picture URL: as it is, or, from a
/// test server, over the plain HTTP its loopback hosts speak.
pub(crate) fn fetchable(url: String, test_server: bool) -> String {
    match url.strip_prefix("https://127.0.0.1:") {
        Some(rest) if test_server => format!("http://127.0.0.1:{rest}"),
        _ => url,
    }
}

/// Commits each batch of received messages to the outbox before the
/// library acknowledges them: a crash before that has WhatsApp send them
/// again, and the outbox's message IDs keep a repeat from showing twice.
struct Durable {
    network: WhatsAppNetwork,
    login: watch::Receiver<Option<LoginRow>>,
}

#[async_trait::async_trait]
impl InboundDurabilityHook for Durable {
    async fn on_messages(&self, _client: Arc<Client>, batch: &[InboundMessage]) -> Result<()> {
        let mut login = self.login.clone();
        let row = tokio::time::timeout(LOGIN_WAIT, login.wait_for(Option::is_some))
            .await
            .map_err(|_| anyhow::anyhow!("messages came for a login that was never stored"))??
            .clone()
            .ok_or_else(|| anyhow::anyhow!("no login"))?;
        for message in batch {
            crate::handle_remote::message(&self.network, &row, message).await?;
        }
        Ok(())
    }
}

/// Starts a client on `login`'s stored state (a new device when it has
/// none, which shows QR codes, or a pair code for `pair_phone`).
pub async fn start(
    network: &WhatsAppNetwork,
    login: &LoginId,
    pair_phone: Option<String>,
) -> Result<(WaClient, Events)> {
    let bridge = network.bridge()?;
    let config = network.config();
    let backend = WaStore::new(
        bridge.store().clone(),
        bridge.secrets().clone(),
        login.clone(),
    );
    let (sender, receiver) = watch::channel(None);
    let (events, received) = mpsc::unbounded_channel();
    let mut transport = TokioWebSocketTransportFactory::new();
    if let Some(server) = &config.test_server {
        transport = transport.with_url(server.url.clone());
    }
    let mut builder = Bot::builder()
        .with_backend(backend)
        .with_runtime(TokioRuntime)
        .with_transport_factory(transport)
        .with_http_client(Http {
            client: UreqHttpClient::new(),
            test_server: config.test_server.is_some(),
        })
        .with_device_props(DevicePropsOverride::new().with_os(config.device_name.clone()))
        .with_inbound_durability_hook(Durable {
            network: network.clone(),
            login: receiver,
        })
        .on_event(move |event, _client| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        });
    if config.test_server.is_some() {
        builder = builder.with_version(TEST_SERVER_VERSION);
    }
    if let Some(phone) = pair_phone {
        builder = builder.with_pair_code(PairCodeOptions {
            phone_number: phone,
            ..Default::default()
        });
    }
    let bot = builder.build().await?;
    Ok((
        WaClient {
            client: bot.client(),
            handle: bot.spawn(),
            login: sender,
        },
        received,
    ))
}
