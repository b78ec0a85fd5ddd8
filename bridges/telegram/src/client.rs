//! One grammers client per login: its session from our database, pointed
//! at the test server when the config says so, and its connection pool
//! running until the login is disconnected.

use crate::config::TelegramConfig;
use crate::session::LoginSession;
use anyhow::{Context, Result};
use grammers_client::sender::{SenderPool, SenderPoolFatHandle};
use grammers_client::Client;
use grammers_session::updates::UpdatesLike;
use grammers_session::Session;
use std::net::SocketAddrV4;
use std::sync::Arc;
use tokio::sync::mpsc;

/// A connected client.
pub struct TgClient {
    pub client: Client,
    pub session: Arc<LoginSession>,
    handle: SenderPoolFatHandle,
    pool: tokio::task::JoinHandle<()>,
}

impl Drop for TgClient {
    fn drop(&mut self) {
        self.handle.quit();
        self.pool.abort();
    }
}

/// With a test server configured, points every DC of the session at it,
/// with a key from its key service where the session has none for it yet.
pub async fn prepare(session: &LoginSession, config: &TelegramConfig) -> Result<()> {
    let Some(server) = &config.test_server else {
        return Ok(());
    };
    for (&dc, &port) in &server.dc_ports {
        let address = SocketAddrV4::new(server.host, port);
        let mut option = session
            .dc_option(dc)?
            .with_context(|| format!("grammers knows no DC {dc}"))?;
        if option.ipv4 == address && option.auth_key.is_some() {
            continue;
        }
        option.ipv4 = address;
        option.auth_key = Some(fetch_key(&server.key_service).await?);
        session.set_dc_option(&option).await?;
    }
    Ok(())
}

async fn fetch_key(service: &str) -> Result<[u8; 256]> {
    #[derive(serde::Deserialize)]
    struct Key {
        key: String,
    }
    let reply: Key = reqwest::Client::new()
        .post(service)
        .send()
        .await?
        .error_for_status()?
        .json()
        .await?;
    let bytes = hex::decode(reply.key).context("the key service sent no hex key")?;
    bytes
        .try_into()
        .map_err(|_| anyhow::anyhow!("the key service sent a key that is not 256 bytes"))
}

/// Connects a client on a session; returns it with its update channel.
pub fn connect(
    session: Arc<LoginSession>,
    config: &TelegramConfig,
) -> (TgClient, mpsc::Receiver<UpdatesLike>) {
    let params = grammers_client::sender::ConnectionParams {
        device_model: config.device_model.clone(),
        app_version: env!("CARGO_PKG_VERSION").into(),
        proxy_url: config.proxy.clone(),
        retry_policy: Box::new(crate::flood::FloodPolicy {
            max_wait: std::time::Duration::from_secs(config.flood_wait_max_seconds),
        }),
        ..Default::default()
    };
    let SenderPool {
        runner,
        updates,
        handle,
    } = SenderPool::with_configuration(session.clone(), config.api_id, params);
    let pool = tokio::spawn(runner.run());
    let client = Client::new(handle.clone());
    (
        TgClient {
            client,
            session,
            handle,
            pool,
        },
        updates,
    )
}
