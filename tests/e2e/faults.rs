//! Failure cases: bad requests, a crash between the 200 and the processing
//! or before the network confirmed taking a message, a homeserver reset,
//! and a homeserver outage.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::{body, MatrixClient};
use reqwest::Method;
use serde_json::{json, Value};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_causeway-testnet");
const WAIT: Duration = Duration::from_secs(30);

async fn env() -> Result<TestEnv> {
    TestEnv::start(std::path::Path::new(BIN), EnvOptions::default()).await
}

async fn portal(env: &TestEnv, user: &MatrixClient, chat: &str) -> Result<String> {
    env.control(
        "/remote/portal",
        json!({ "portal": chat, "invite": user.user_id }),
    )
    .await?;
    let room = user.wait_for_invite(WAIT).await?;
    user.join(&room).await?;
    Ok(room)
}

/// From now on the network takes what it is sent but confirms none of it.
async fn hold_confirmations(env: &TestEnv) -> Result<()> {
    env.control(
        "/remote/hold",
        json!({ "hold": true, "confirmations": true }),
    )
    .await?;
    Ok(())
}

#[tokio::test]
async fn bad_requests_get_matrix_errors_and_the_server_keeps_serving() -> Result<()> {
    let env = env().await?;
    let txn = "/_matrix/app/v1/transactions/bad";
    let cases: Vec<(Option<&str>, Vec<u8>, u16, &str)> = vec![
        (None, b"{}".to_vec(), 401, "M_MISSING_TOKEN"),
        (Some("wrong-token"), b"{}".to_vec(), 403, "M_FORBIDDEN"),
        (
            Some(&env.hs_token),
            b"{not json".to_vec(),
            400,
            "M_NOT_JSON",
        ),
        (
            Some(&env.hs_token),
            br#"{"events": {"a": 1}}"#.to_vec(),
            400,
            "M_BAD_JSON",
        ),
    ];
    for (token, bytes, status, errcode) in cases {
        let (got, reply) = env.appservice(Method::PUT, txn, token, Some(bytes)).await?;
        assert_eq!(
            (got, reply["errcode"].as_str()),
            (status, Some(errcode)),
            "{reply}"
        );
    }
    // Oversized bodies, declared up front or streamed in chunks: 413.
    let head = format!("PUT {txn} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {}\r\nContent-Type: application/json\r\n", env.hs_token);
    let declared = raw_exchange(
        env.bridge_port,
        format!("{head}Content-Length: {}\r\n\r\n", 11 * 1024 * 1024),
        false,
    )
    .await?;
    assert!(
        declared.starts_with("HTTP/1.1 413") && declared.contains("M_TOO_LARGE"),
        "{declared}"
    );
    let streamed = raw_exchange(
        env.bridge_port,
        format!("{head}Transfer-Encoding: chunked\r\n\r\n"),
        true,
    )
    .await?;
    assert!(
        streamed.starts_with("HTTP/1.1 413") && streamed.contains("M_TOO_LARGE"),
        "{streamed}"
    );
    let (status, reply) = env
        .appservice(
            Method::GET,
            "/_matrix/app/v1/nothing/here",
            Some(&env.hs_token),
            None,
        )
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (404, Some("M_UNRECOGNIZED"))
    );
    let (status, reply) = env
        .appservice(
            Method::GET,
            "/_matrix/app/v1/users/@_testnet_missing-x:localhost",
            Some(&env.hs_token),
            None,
        )
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (404, Some("M_NOT_FOUND"))
    );
    let (status, _) = env
        .appservice(
            Method::GET,
            "/_matrix/app/v1/users/@_testnet_erin:localhost",
            Some(&env.hs_token),
            None,
        )
        .await?;
    assert_eq!(status, 200);
    let (status, reply) = env
        .appservice(
            Method::GET,
            "/_matrix/app/v1/thirdparty/protocol/testnet",
            Some(&env.hs_token),
            None,
        )
        .await?;
    assert_eq!(
        (status, reply["location_fields"][0].as_str()),
        (200, Some("chat"))
    );
    let (status, reply) = env
        .appservice(
            Method::GET,
            "/users/@_testnet_missing-y:localhost",
            Some(&env.hs_token),
            None,
        )
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (404, Some("M_NOT_FOUND")),
        "the legacy path is served"
    );
    // Still serving, and the homeserver's ping of us works.
    let (status, _) = env.appservice(Method::GET, "/health", None, None).await?;
    assert_eq!(status, 200);
    let ping: Value = reqwest::Client::new()
        .post(format!(
            "{}/_matrix/client/v1/appservice/testnet/ping",
            env.synapse.url()
        ))
        .bearer_auth(&env.as_token)
        .json(&json!({ "transaction_id": "test-ping" }))
        .send()
        .await?
        .json()
        .await?;
    assert!(ping["duration_ms"].is_u64(), "{ping}");
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", env.bridge_port))
        .await?
        .text()
        .await?;
    assert!(
        metrics.contains("causeway_appservice_errors_total"),
        "{metrics}"
    );
    Ok(())
}

/// Sends a request head, then (if `chunked`) 11 MiB of body in chunks while
/// reading the answer, which a server may send before the upload ends.
async fn raw_exchange(port: u16, head: String, chunked: bool) -> Result<String> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    let (mut read, mut write) = stream.into_split();
    write.write_all(head.as_bytes()).await?;
    let writer = tokio::spawn(async move {
        let chunk = format!("{:x}\r\n{}\r\n", 1024 * 1024, " ".repeat(1024 * 1024));
        for _ in 0..11 {
            if !chunked || write.write_all(chunk.as_bytes()).await.is_err() {
                break;
            }
        }
        write
    });
    let mut answer = vec![0u8; 4096];
    let n = tokio::time::timeout(WAIT, read.read(&mut answer)).await??;
    writer.abort();
    Ok(String::from_utf8_lossy(&answer[..n]).into_owned())
}

#[tokio::test]
async fn a_replayed_transaction_is_a_no_op() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "replay").await?;
    let event = json!({ "type": "m.room.message", "event_id": "$replayed-1", "room_id": room, "sender": alice.user_id,
                        "origin_server_ts": 1, "content": { "msgtype": "m.text", "body": "sent twice" } });
    let txn = serde_json::to_vec(&json!({ "events": [event] }))?;
    for _ in 0..3 {
        let (status, _) = env
            .appservice(
                Method::PUT,
                "/_matrix/app/v1/transactions/replay-1",
                Some(&env.hs_token),
                Some(txn.clone()),
            )
            .await?;
        assert_eq!(status, 200);
    }
    // The same event under another txnId is deduplicated by its event ID.
    env.appservice(
        Method::PUT,
        "/_matrix/app/v1/transactions/replay-2",
        Some(&env.hs_token),
        Some(txn),
    )
    .await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == "$replayed-1")
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        env.outbox()
            .iter()
            .filter(|r| r["event_id"] == "$replayed-1")
            .count(),
        1
    );
    Ok(())
}

#[tokio::test]
async fn a_kill_9_between_the_200_and_the_processing_loses_and_duplicates_nothing() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "crash").await?;
    env.control("/remote/hold", json!({ "hold": true })).await?;
    let baseline = received_events(&env).await?;
    let mut sent = Vec::new();
    for i in 0..5 {
        sent.push(alice.send_text(&room, &format!("crash test {i}")).await?);
    }
    // Wait until the homeserver has had its 200 for all five, then crash.
    let started = Instant::now();
    while received_events(&env).await? < baseline + sent.len() as u64 {
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "the events never reached the bridge:\n{}",
            env.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        env.outbox().iter().all(|r| r["kind"] != "message"),
        "held messages were delivered early"
    );
    env.kill_bridge();
    env.start_bridge().await?;
    for id in &sent {
        env.wait_outbox(WAIT, |r| r["event_id"] == id.as_str())
            .await?;
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    let delivered: Vec<String> = env
        .outbox()
        .iter()
        .filter(|r| r["kind"] == "message")
        .filter_map(|r| r["event_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(delivered, sent, "each message once, in order");
    Ok(())
}

#[tokio::test]
async fn a_message_the_network_never_confirmed_taking_is_sent_again_after_a_kill_9() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "unconfirmed").await?;
    hold_confirmations(&env).await?;
    let sent = alice.send_text(&room, "say it again").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == sent.as_str())
        .await?;
    tokio::time::sleep(Duration::from_millis(500)).await;
    env.kill_bridge();
    env.start_bridge().await?;
    let deliveries = |env: &TestEnv| {
        env.outbox()
            .iter()
            .filter(|r| r["event_id"] == sent.as_str())
            .count()
    };
    let started = Instant::now();
    while deliveries(&env) < 2 {
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "a message written but never confirmed was not sent again:\n{}",
            env.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // Confirmed this time: recorded, so the next start leaves it alone. A
    // later message in the room would come after it, in order.
    tokio::time::sleep(Duration::from_secs(1)).await;
    env.kill_bridge();
    env.start_bridge().await?;
    let after = alice.send_text(&room, "and then this").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == after.as_str())
        .await?;
    assert_eq!(deliveries(&env), 2, "sent a third time");
    Ok(())
}

#[tokio::test]
async fn a_membership_change_behind_an_unconfirmed_message_does_not_hold_up_the_room() -> Result<()>
{
    let env = env().await?;
    let alice = env.user("alice").await?;
    let bob = env.user("bob").await?;
    let room = portal(&env, &alice, "busy").await?;
    hold_confirmations(&env).await?;
    let first = alice.send_text(&room, "not confirmed yet").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == first.as_str())
        .await?;
    // Neither looks up an earlier message, so neither waits for the
    // network to confirm the first.
    alice.typing(&room, true).await?;
    alice.invite(&room, &bob.user_id).await?;
    bob.join(&room).await?;
    let second = bob.send_text(&room, "still flowing").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == second.as_str())
        .await?;
    Ok(())
}

/// How many events the bridge has stored, from its /metrics.
async fn received_events(env: &TestEnv) -> Result<u64> {
    let metrics = reqwest::get(format!("http://127.0.0.1:{}/metrics", env.bridge_port))
        .await?
        .text()
        .await?;
    let line = metrics
        .lines()
        .find(|l| l.starts_with("causeway_events_received_total"));
    Ok(line
        .and_then(|l| l.split_whitespace().last())
        .and_then(|n| n.parse::<f64>().ok())
        .unwrap_or(0.0) as u64)
}

#[tokio::test]
async fn a_homeserver_reset_to_txn_id_1_still_flows() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&room, "management room").await?;
    env.synapse.reset()?;
    let bob = env.user("bob").await?;
    let room = bob.create_dm(&env.bot()).await?;
    bob.wait_for_text(&room, "management room").await?;
    bob.send_text(&room, "help").await?;
    bob.wait_for_text(&room, "`create <chat id>`").await?;
    Ok(())
}

#[tokio::test]
async fn while_the_homeserver_is_down_remote_messages_wait_and_then_arrive_in_order_once(
) -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "outage").await?;
    env.control("/remote/event", json!({ "portal": "outage", "kind": "message", "sender": "bob", "id": "before", "text": "before the outage" })).await?;
    alice.wait_for_text(&room, "before the outage").await?;
    env.synapse.stop();
    for i in 0..5 {
        let event = json!({ "portal": "outage", "kind": "message", "sender": "bob", "id": format!("down{i}"), "text": format!("queued {i}"), "queue_only": true });
        env.control("/remote/event", event).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    env.synapse.restart()?;
    alice.wait_for_text(&room, "queued 4").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.sync_once(0).await?;
    let queued: Vec<String> = alice
        .seen(&room, |e| body(e).starts_with("queued"))
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(
        queued,
        ["queued 0", "queued 1", "queued 2", "queued 3", "queued 4"]
    );
    Ok(())
}

#[tokio::test]
async fn a_bridge_whose_token_the_homeserver_does_not_know_says_how_to_register_it() -> Result<()> {
    let mut env = env().await?;
    env.kill_bridge();
    let config = std::fs::read_to_string(env.config_path())?
        .replace(&env.as_token, "not-the-registered-token");
    std::fs::write(env.config_path(), config)?;
    let err = env
        .start_bridge()
        .await
        .expect_err("the bridge must refuse to run")
        .to_string();
    assert!(
        err.contains("the homeserver does not know this registration: add")
            && err.contains("registration.yaml to app_service_config_files"),
        "{err}"
    );
    Ok(())
}

#[tokio::test]
async fn media_uploaded_as_the_bot_downloads_through_the_authenticated_media_api() -> Result<()> {
    let env = env().await?;
    let hs =
        causeway_core::homeserver::Homeserver::new(&env.synapse.url(), &env.as_token, "localhost");
    let bot = ruma::UserId::parse(env.bot().as_str())?;
    let bytes = b"causeway media round trip".to_vec();
    let mxc = hs
        .upload(&bot, bytes.clone(), "text/plain", "note.txt")
        .await?;
    assert!(mxc.starts_with("mxc://localhost/"), "{mxc}");
    let (downloaded, content_type) = hs.download(&mxc).await?;
    assert_eq!(downloaded, bytes);
    assert!(
        content_type
            .as_deref()
            .is_some_and(|t| t.starts_with("text/plain")),
        "{content_type:?}"
    );
    // Only the homeserver's own media is fetched: anything else is refused.
    assert!(hs.download("https://example.org/evil.png").await.is_err());
    assert!(hs.download("mxc://localhost/../../etc").await.is_err());
    Ok(())
}

#[tokio::test]
async fn a_stalled_room_never_delays_another_room() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let slow = portal(&env, &alice, "slow").await?;
    let fast = portal(&env, &alice, "fast").await?;
    env.control("/remote/hold", json!({ "hold": true, "portal": "slow" }))
        .await?;
    // More than the room's queue holds (portal_queue_size, 64).
    const COUNT: usize = 80;
    let mut sent = Vec::new();
    for i in 0..COUNT {
        sent.push(alice.send_text(&slow, &format!("slow {i}")).await?);
    }
    let quick = alice.send_text(&fast, "not kept waiting").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == quick.as_str())
        .await?;
    assert!(
        env.outbox()
            .iter()
            .all(|r| r["kind"] != "message" || r["portal"] != "slow"),
        "held messages were delivered early"
    );

    env.control("/remote/hold", json!({ "hold": false, "portal": "slow" }))
        .await?;
    let last = sent.last().cloned().unwrap_or_default();
    env.wait_outbox(WAIT, |r| r["event_id"] == last.as_str())
        .await?;
    let delivered: Vec<String> = env
        .outbox()
        .iter()
        .filter(|r| r["kind"] == "message" && r["portal"] == "slow")
        .filter_map(|r| r["event_id"].as_str().map(str::to_owned))
        .collect();
    assert_eq!(delivered, sent, "each message once, in order");
    Ok(())
}

#[tokio::test]
async fn remote_events_queued_while_the_homeserver_is_down_survive_a_kill_9() -> Result<()> {
    let mut env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "durable").await?;
    env.control("/remote/event", json!({ "portal": "durable", "kind": "message", "sender": "bob", "id": "before", "text": "before the crash" })).await?;
    alice.wait_for_text(&room, "before the crash").await?;
    env.synapse.stop();
    // Each is committed to the outbox before the network hears back.
    for i in 0..5 {
        let event = json!({ "portal": "durable", "kind": "message", "sender": "bob", "id": format!("q{i}"), "text": format!("kept {i}"), "queue_only": true });
        env.control("/remote/event", event).await?;
    }
    env.kill_bridge();
    env.synapse.restart()?;
    env.start_bridge().await?;
    alice.wait_for_text(&room, "kept 4").await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.sync_once(0).await?;
    let kept: Vec<String> = alice
        .seen(&room, |e| body(e).starts_with("kept"))
        .iter()
        .map(|e| body(e).to_owned())
        .collect();
    assert_eq!(kept, ["kept 0", "kept 1", "kept 2", "kept 3", "kept 4"]);
    Ok(())
}

#[tokio::test]
async fn a_panic_in_a_room_task_is_recovered_and_health_shows_it() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = portal(&env, &alice, "panicky").await?;
    let (status, _) = env.appservice(Method::GET, "/health", None, None).await?;
    assert_eq!(status, 200);

    alice.send_text(&room, "panic in the network").await?;
    let started = Instant::now();
    let report = loop {
        let (status, report) = env.appservice(Method::GET, "/health", None, None).await?;
        if status == 503 {
            break report;
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "/health never showed the panic: {report}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(
        report["components"]["matrix rooms"]["status"], "down",
        "{report}"
    );

    // The room's task goes on: the next message is delivered, and the
    // component is up again, with the panic counted.
    let after = alice.send_text(&room, "after the panic").await?;
    env.wait_outbox(WAIT, |r| r["event_id"] == after.as_str())
        .await?;
    let (status, report) = env.appservice(Method::GET, "/health", None, None).await?;
    assert_eq!(status, 200, "{report}");
    assert_eq!(report["components"]["matrix rooms"]["panics"], 1);
    Ok(())
}
