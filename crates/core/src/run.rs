//! Starting a bridge: database, HTTP listener, self-check, processing.

use crate::appservice::router;
use crate::bridge::Bridge;
use crate::config::Config;
use crate::network::Network;
use crate::store::Store;
use anyhow::{Context, Result};
use std::future::IntoFuture;
use std::sync::Arc;

/// Opens the store and builds the bridge, without starting anything.
pub async fn build(config: Config, network: Arc<dyn Network>) -> Result<Bridge> {
    crate::metrics::install();
    let store = Store::connect(
        &config.database.uri,
        &config.appservice.id,
        config.database.max_open_conns,
    )
    .await?;
    let bridge = Bridge::new(config, store, network)?;
    crate::inbound::init_dispatch_mark(&bridge).await?;
    Ok(bridge)
}

/// The last event an earlier run may have handed to the network: events up
/// to it may have reached the network before a crash, and are checked
/// against the mapping.
pub async fn recovery_point(bridge: &Bridge) -> Result<i64> {
    crate::inbound::recovery_point(bridge).await
}

/// Starts the ingress dispatcher. Call it once the network has started:
/// an event handed to a network that cannot take it yet would fail for good.
pub fn start_dispatcher(bridge: &Bridge, recovery_point: i64) {
    tokio::spawn(crate::inbound::run_dispatcher(
        bridge.clone(),
        recovery_point,
    ));
}

/// Both of the above at once, for a network that is ready already.
pub async fn start_processing(bridge: &Bridge) -> Result<()> {
    start_dispatcher(bridge, recovery_point(bridge).await?);
    Ok(())
}

/// Runs a bridge until SIGINT or SIGTERM.
pub async fn run(config: Config, network: Arc<dyn Network>, registration_hint: &str) -> Result<()> {
    let (host, port) = (config.appservice.hostname.clone(), config.appservice.port);
    let bridge = build(config, network).await?;
    let recovery_point = recovery_point(&bridge).await?;
    let listener = tokio::net::TcpListener::bind((host.as_str(), port))
        .await
        .with_context(|| format!("cannot listen on {host}:{port}: is another bridge running?"))?;
    tracing::info!("listening on {host}:{port}");
    let server = tokio::spawn(
        axum::serve(
            listener,
            router(bridge.clone()).into_make_service_with_connect_info::<std::net::SocketAddr>(),
        )
        .with_graceful_shutdown(shutdown_signal())
        .into_future(),
    );
    let hs = bridge.homeserver();
    crate::homeserver::self_check(
        hs,
        &bridge.config().appservice.id,
        bridge.bot().as_str(),
        registration_hint,
    )
    .await?;
    hs.register(bridge.bot().localpart())
        .await
        .context("cannot register the bridge bot")?;
    bridge.resume_outbox().await?;
    if let Err(err) = crate::avatars::publish_network_icon(&bridge).await {
        tracing::warn!("cannot publish the network's icon: {err:#}");
    }
    if let Some(name) = &bridge.config().appservice.bot.displayname {
        if let Err(err) = hs.set_displayname(bridge.bot(), name).await {
            tracing::warn!(%err, "cannot set the bot's display name");
        }
    }
    bridge
        .network()
        .start(bridge.clone())
        .await
        .context("the network failed to start")?;
    start_dispatcher(&bridge, recovery_point);
    for login in bridge.store().all_logins(bridge.secrets()).await? {
        let bridge = bridge.clone();
        tokio::spawn(async move {
            bridge.connect_login(&login).await;
        });
    }
    tracing::info!(bot = %bridge.bot(), "the bridge is running");
    server.await.context("the HTTP server task failed")??;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(term) => term,
                Err(_) => return std::future::pending().await,
            };
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
