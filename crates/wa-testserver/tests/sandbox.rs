//! The control API a running server is driven by: a client linked by a
//! `POST /scan`, a message typed on a phone by `POST /send`, and the state
//! read back from `GET /accounts`.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::{control, WaTestServer};
use common::*;
use serde_json::{json, Value};
use std::future::IntoFuture;
use std::sync::Arc;
use std::time::Duration;

const YOU: &str = "15550100";
const ADA: &str = "15550101";

#[tokio::test]
async fn the_control_api_links_a_client_and_types_on_a_phone() {
    init_logs();
    let server = Arc::new(WaTestServer::start().await.unwrap());
    server.add_account(YOU, "You");
    server.add_scripted_contact(ADA, "Ada");
    let api = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", api.local_addr().unwrap());
    tokio::spawn(axum::serve(api, control::router(server.clone())).into_future());
    let http = reqwest::Client::new();

    let (store, _dir) = test_store().await;
    let (bot, mut events) = client(&server, &store, "you").await;
    let code = qr_code(&mut events).await;
    let bad = http
        .post(format!("{base}/scan"))
        .json(&json!({"code": "not,a,code,at all", "phone": YOU}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let body: Value = bad.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("QR"), "{body}");
    let scanned = http
        .post(format!("{base}/scan"))
        .json(&json!({"code": code, "phone": YOU}))
        .send()
        .await
        .unwrap();
    assert!(scanned.status().is_success());
    expect(
        &mut events,
        Duration::from_secs(10),
        "connection",
        connected,
    )
    .await;

    http.post(format!("{base}/send"))
        .json(&json!({"from": ADA, "to": YOU, "text": "welcome to the sandbox"}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap();
    let (chat, _, body) = next_text(&mut events).await;
    assert_eq!(
        (chat, body),
        (
            format!("{ADA}@s.whatsapp.net"),
            "welcome to the sandbox".to_owned()
        )
    );

    let accounts: Value = http
        .get(format!("{base}/accounts"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(accounts[0]["phone"], YOU);
    assert_eq!(accounts[0]["devices"], json!([1]));
    assert_eq!(accounts[1]["phone"], ADA);
    assert_eq!(accounts[1]["scripted"], true);
    bot.shutdown().await;
}
