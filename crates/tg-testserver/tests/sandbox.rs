//! The sandbox's parts: a scripted user who answers, and the control API
//! that the demo and other languages' tests use.

use anyhow::Result;
use causeway_tg_testserver::{AccountSpec, TestServer};
use common::*;
use std::future::IntoFuture;
use std::sync::Arc;

mod common;

#[tokio::test]
async fn the_echo_user_answers_and_the_control_api_reads_codes_and_sends() -> Result<()> {
    let server = Arc::new(
        TestServer::start(vec![
            account("15550001", "Alice", None),
            AccountSpec {
                echo: true,
                ..account("15550100", "Echo", None)
            },
        ])
        .await?,
    );
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://127.0.0.1:{}", control.local_addr()?.port());
    tokio::spawn(
        axum::serve(
            control,
            causeway_tg_testserver::control_router(server.clone()),
        )
        .into_future(),
    );
    let http = reqwest::Client::new();

    // Logging in with the code the control API shows.
    let db = Db::new().await;
    let session = db.session("tg-alice").await?;
    point_at(&session, &server).await?;
    let mut alice = connect(session);
    let token = bounded(
        "sendCode",
        alice.client.request_login_code("+15550001", API_HASH),
    )
    .await??;
    let codes: serde_json::Value = http
        .get(format!("{base}/codes"))
        .send()
        .await?
        .json()
        .await?;
    let code = codes[0]["code"].as_str().unwrap_or_default().to_owned();
    assert_eq!(codes[0]["phone"], "15550001");
    bounded("signIn", alice.client.sign_in(&token, &code)).await??;

    let mut updates = updates_of(&mut alice).await?;
    let echo = peer(&alice, "echo").await?;
    bounded("send", alice.client.send_message(echo, "hi")).await??;
    assert_eq!(next_texts(&mut updates, 1).await?, ["echo: hi"]);

    let sent: serde_json::Value = http
        .post(format!("{base}/send"))
        .json(&serde_json::json!({ "from": "15550100", "to": "15550001", "text": "from the control API" }))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(sent["ok"], true, "{sent}");
    assert_eq!(next_texts(&mut updates, 1).await?, ["from the control API"]);
    let key: serde_json::Value = http
        .post(format!("{base}/keys"))
        .send()
        .await?
        .json()
        .await?;
    assert_eq!(key["key"].as_str().map(str::len), Some(512));
    Ok(())
}
