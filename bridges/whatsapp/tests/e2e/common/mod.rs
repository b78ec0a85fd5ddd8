//! What the WhatsApp bridge's end-to-end tests share: the WhatsApp test
//! server with an account for the Matrix user and scripted contacts that
//! answer, and a bridge pointed at it, on real Synapse.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use causeway_wa_testserver::WaTestServer;
use std::sync::Arc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_causeway-whatsapp");
pub const WAIT: Duration = Duration::from_secs(30);
/// Bob's account; Ada and Grace are scripted contacts that answer.
pub const BOB: &str = "15550100";
pub const ADA: &str = "15550101";
pub const GRACE: &str = "15550102";

/// The test server and a bridge pointed at it.
pub async fn setup() -> Result<(Arc<WaTestServer>, TestEnv)> {
    setup_with("").await
}

/// Like [`setup`], with more of the network section, as `key: value, …`.
pub async fn setup_with(extra: &str) -> Result<(Arc<WaTestServer>, TestEnv)> {
    setup_full(extra, None).await
}

/// Like [`setup_with`], with keys of the `bridge` section too.
pub async fn setup_full(extra: &str, bridge: Option<&str>) -> Result<(Arc<WaTestServer>, TestEnv)> {
    let server = Arc::new(WaTestServer::start().await?);
    server.add_account(BOB, "Bob");
    server.add_scripted_contact(ADA, "Ada");
    server.add_scripted_contact(GRACE, "Grace");
    let network = serde_yaml::from_str(&format!(
        "{{ test_server: {{ url: '{}' }}{}{extra} }}",
        server.url(),
        if extra.is_empty() { "" } else { ", " },
    ))?;
    let env = TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            bridge: bridge.map(serde_yaml::from_str).transpose()?,
            ..Default::default()
        },
    )
    .await?;
    Ok((server, env))
}

pub async fn says(user: &MatrixClient, room: &str, text: &str) -> Result<serde_json::Value> {
    user.wait_for_text(room, text).await
}

/// The ghost of the account with this number.
pub fn ghost(number: &str) -> String {
    format!("@whatsapp_{number}:localhost")
}

/// `user` logs in by scanning the QR code with `phone`'s account; returns
/// the management room.
pub async fn logged_in(
    server: &WaTestServer,
    env: &TestEnv,
    user: &MatrixClient,
    phone: &str,
) -> Result<String> {
    let dm = user.create_dm(&env.bot()).await?;
    says(user, &dm, "management room").await?;
    user.send_text(&dm, "login").await?;
    let qr = user
        .wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let code = qr["content"]["body"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    server.scan_qr(&code, phone)?;
    says(user, &dm, "Logged in as +").await?;
    Ok(dm)
}

/// Someone on their own WhatsApp client (whatsapp-rust, on a test store),
/// linked to `phone`'s account and connected; its events on the channel.
pub async fn whatsapp_user(
    server: &WaTestServer,
    phone: &str,
) -> Result<(
    whatsapp_rust::bot::BotHandle,
    tokio::sync::mpsc::UnboundedReceiver<Arc<whatsapp_rust::types::events::Event>>,
    tempfile::TempDir,
)> {
    use whatsapp_rust::types::events::Event;
    let (store, dir) = causeway_core::store::test_store().await;
    let backend = causeway_whatsapp::store::WaStore::new(
        store,
        causeway_core::store::SecretBox::from_key(&[7; 32]),
        causeway_core::ids::LoginId::from(phone),
    );
    let (events, mut received) = tokio::sync::mpsc::unbounded_channel();
    let bot = whatsapp_rust::bot::Bot::builder()
        .with_backend(backend)
        .with_transport_factory(
            whatsapp_rust::transport::TokioWebSocketTransportFactory::new().with_url(server.url()),
        )
        .with_http_client(LoopbackHttp(whatsapp_rust::http::UreqHttpClient::new()))
        .with_runtime(whatsapp_rust::TokioRuntime)
        .with_version((2, 3000, 1_000_000_000))
        .on_event(move |event, _client| {
            let events = events.clone();
            async move {
                let _ = events.send(event);
            }
        })
        .build()
        .await?
        .spawn();
    let mut linked = false;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = received.recv().await {
            match &*event {
                Event::PairingQrCode(qr) if !linked => {
                    server.scan_qr(&qr.code, phone)?;
                    linked = true;
                }
                Event::Connected(_) if linked => return anyhow::Ok(()),
                _ => {}
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await??;
    Ok((bot, received, dir))
}

/// The next text message a WhatsApp client receives.
pub async fn next_text(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Arc<whatsapp_rust::types::events::Event>>,
) -> Result<String> {
    use whatsapp_rust::types::events::Event;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            if let Event::Messages(batch) = &*event {
                for m in batch.messages.iter() {
                    let text = m.message.conversation.clone().or_else(|| {
                        m.message
                            .extended_text_message
                            .as_option()
                            .and_then(|e| e.text.clone())
                    });
                    if let Some(text) = text {
                        return anyhow::Ok(text);
                    }
                }
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await?
}

/// The next message a WhatsApp client receives that `pick` accepts, with
/// its ID.
pub async fn next_where(
    events: &mut tokio::sync::mpsc::UnboundedReceiver<Arc<whatsapp_rust::types::events::Event>>,
    pick: impl Fn(&whatsapp_rust::waproto::whatsapp::Message) -> bool,
) -> Result<(String, whatsapp_rust::waproto::whatsapp::Message)> {
    use whatsapp_rust::types::events::Event;
    use whatsapp_rust::wacore::proto_helpers::MessageExt;
    tokio::time::timeout(WAIT, async {
        while let Some(event) = events.recv().await {
            if let Event::Messages(batch) = &*event {
                for m in batch.messages.iter() {
                    let message = m.message.get_base_message();
                    if pick(message) {
                        return anyhow::Ok((m.info.id.to_string(), message.clone()));
                    }
                }
            }
        }
        anyhow::bail!("the client stopped")
    })
    .await?
}

/// whatsapp-rust asks its media hosts over `https://`; the test server's
/// is plain HTTP on loopback.
struct LoopbackHttp(whatsapp_rust::http::UreqHttpClient);

#[async_trait::async_trait]
impl whatsapp_rust::wacore::net::HttpClient for LoopbackHttp {
    async fn execute(
        &self,
        mut request: whatsapp_rust::wacore::net::HttpRequest,
    ) -> anyhow::Result<whatsapp_rust::wacore::net::HttpResponse> {
        if let Some(rest) = request.url.strip_prefix("https://127.0.0.1:") {
            request.url = format!("http://127.0.0.1:{rest}");
        }
        self.0.execute(request).await
    }
}
