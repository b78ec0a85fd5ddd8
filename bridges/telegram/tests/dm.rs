//! The Telegram bridge end to end: real Synapse, the real grammers client
//! in the bridge, and the MTProto test server playing Telegram, with a
//! second grammers client as the person on the other side.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::{body, MatrixClient};
use causeway_tg_testserver::{AccountSpec, TestServer};
use grammers_client::sender::{SenderPool, UpdatesConfiguration};
use grammers_client::update::Update;
use grammers_client::Client;
use grammers_session::storages::MemorySession;
use grammers_session::SessionData;
use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-telegram");
const WAIT: Duration = Duration::from_secs(30);
const API_HASH: &str = "0123456789abcdef0123456789abcdef";

fn account(phone: &str, name: &str, password: Option<&str>) -> AccountSpec {
    AccountSpec {
        phone: phone.into(),
        first_name: name.into(),
        last_name: None,
        username: Some(name.to_lowercase()),
        password: password.map(str::to_owned),
        home_dc: 2,
        echo: false,
        about: None,
    }
}

/// The test server with its key service, and a bridge pointed at it.
async fn setup() -> Result<(Arc<TestServer>, TestEnv)> {
    let server = Arc::new(
        TestServer::start(vec![
            account("15550001", "Alice", Some("hunter2")),
            account("15550002", "Bob", None),
            account("15550003", "Carol", None),
        ])
        .await?,
    );
    let control = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let keys = format!("http://127.0.0.1:{}/keys", control.local_addr()?.port());
    tokio::spawn(
        axum::serve(
            control,
            causeway_tg_testserver::control_router(server.clone()),
        )
        .into_future(),
    );
    let network = serde_yaml::from_str(&format!(
        "{{ api_id: 12345, api_hash: {API_HASH}, keepalive_seconds: 1, test_server: {{ host: 127.0.0.1, dc_ports: {{ 2: {}, 4: {} }}, key_service: '{keys}' }} }}",
        server.port(),
        server.port_of(4).unwrap_or_default(),
    ))?;
    let env = TestEnv::start(
        std::path::Path::new(BIN),
        EnvOptions {
            network: Some(network),
            ..Default::default()
        },
    )
    .await?;
    Ok((server, env))
}

/// Bob on his own grammers client, logged in through the test server.
async fn telegram_user(
    server: &TestServer,
    phone: &str,
) -> Result<(Client, grammers_client::client::UpdateStream)> {
    let mut data = SessionData::default();
    for dc in causeway_tg_testserver::DCS {
        if let Some(option) = data.dc_options.get_mut(&dc) {
            option.ipv4 =
                SocketAddrV4::new(Ipv4Addr::LOCALHOST, server.port_of(dc).unwrap_or_default());
            option.auth_key = Some(server.register_key());
        }
    }
    let session = Arc::new(MemorySession::from(data));
    let SenderPool {
        runner,
        updates,
        handle,
    } = SenderPool::new(session, 12345);
    tokio::spawn(runner.run());
    let client = Client::new(handle);
    let token = client.request_login_code(phone, API_HASH).await?;
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    let code = server
        .sent_codes()
        .into_iter()
        .rev()
        .find(|c| c.phone == digits)
        .map(|c| c.code)
        .unwrap_or_default();
    client.sign_in(&token, &code).await?;
    let stream = client
        .stream_updates(updates, UpdatesConfiguration { catch_up: false })
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok((client, stream))
}

async fn says(user: &MatrixClient, room: &str, text: &str) -> Result<serde_json::Value> {
    user.wait_for_text(room, text).await
}

#[tokio::test]
async fn a_user_logs_in_with_code_and_password_and_chats_with_a_telegram_user() -> Result<()> {
    let (server, env) = setup().await?;
    let alice = env.user("alice").await?;
    let dm = alice.create_dm(&env.bot()).await?;
    says(&alice, &dm, "management room").await?;

    alice.send_text(&dm, "login").await?;
    says(&alice, &dm, "Send your phone number").await?;
    alice.send_text(&dm, "+1 555 000 1").await?;
    says(&alice, &dm, "Telegram sent you a login code").await?;
    // A wrong code is asked again; the right one leads to the password.
    alice.send_text(&dm, "00000").await?;
    says(&alice, &dm, "That code is wrong").await?;
    let code = server
        .sent_codes()
        .last()
        .map(|c| c.code.clone())
        .unwrap_or_default();
    alice.send_text(&dm, &code).await?;
    says(&alice, &dm, "two-step verification").await?;
    alice.send_text(&dm, "wrong password").await?;
    says(&alice, &dm, "That password is wrong").await?;
    alice.send_text(&dm, "hunter2").await?;
    says(&alice, &dm, "Logged in to Telegram as Alice (@alice)").await?;
    alice.send_text(&dm, "ping").await?;
    says(&alice, &dm, "CONNECTED").await?;

    // Bob writes from Telegram: Alice is invited to a DM with his ghost.
    let (bob, mut bob_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550002")).await??;
    let alice_tg = bob.resolve_username("alice").await?.expect("alice exists");
    let alice_tg = alice_tg
        .to_ref()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .expect("a ref");
    bob.send_message(alice_tg, "hello from telegram").await?;
    let room = alice.wait_for_invite(WAIT).await?;
    alice.join(&room).await?;
    let got = says(&alice, &room, "hello from telegram").await?;
    let bob_id = server.user_id("15550002").unwrap_or_default();
    assert_eq!(got["sender"], format!("@telegram_{bob_id}:localhost"));

    // Alice answers from Matrix; Bob reads it in Telegram, once.
    alice.send_text(&room, "hello from matrix").await?;
    let answer = tokio::time::timeout(WAIT, async {
        loop {
            if let Update::NewMessage(m) = bob_updates.next().await? {
                if !m.outgoing() {
                    return anyhow::Ok(m.text().to_owned());
                }
            }
        }
    })
    .await??;
    assert_eq!(answer, "hello from matrix");
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.sync_once(0).await?;
    assert_eq!(
        alice.seen(&room, |e| body(e) == "hello from matrix").len(),
        1,
        "not bridged back"
    );
    Ok(())
}

#[tokio::test]
async fn a_qr_login_completes_when_the_phone_scans_it_and_logout_ends_it() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = bob.create_dm(&env.bot()).await?;
    says(&bob, &dm, "management room").await?;
    bob.send_text(&dm, "login qr").await?;
    says(&bob, &dm, "Link Desktop Device").await?;
    bob.wait_for(&dm, WAIT, |e| e["content"]["msgtype"] == "m.image")
        .await?;
    let deadline = std::time::Instant::now() + WAIT;
    while server.scan_qr_codes("15550002") == 0 {
        anyhow::ensure!(std::time::Instant::now() < deadline, "no code was shown");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    says(&bob, &dm, "Logged in to Telegram as Bob (@bob)").await?;
    bob.send_text(&dm, "logout").await?;
    says(&bob, &dm, "Logged out of").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "You have no logins").await?;
    Ok(())
}

/// Logs `user` in with the phone flow, for an account without 2FA; returns
/// the management room.
async fn logged_in(
    server: &TestServer,
    env: &TestEnv,
    user: &MatrixClient,
    phone: &str,
) -> Result<String> {
    let dm = user.create_dm(&env.bot()).await?;
    says(user, &dm, "management room").await?;
    user.send_text(&dm, "login").await?;
    says(user, &dm, "Send your phone number").await?;
    user.send_text(&dm, phone).await?;
    says(user, &dm, "Telegram sent you a login code").await?;
    let code = server
        .sent_codes()
        .last()
        .map(|c| c.code.clone())
        .unwrap_or_default();
    user.send_text(&dm, &code).await?;
    says(user, &dm, "Logged in to Telegram").await?;
    Ok(dm)
}

#[tokio::test]
async fn a_session_terminated_on_telegram_is_told_once_and_ends_the_login() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, "+15550002").await?;
    bob.send_text(&dm, "ping").await?;
    says(&bob, &dm, "CONNECTED").await?;
    // Terminated from the phone: the bridge meets it on its next call.
    server.revoke_logins(server.user_id("15550002").unwrap_or_default());
    server.drop_connections();
    says(&bob, &dm, "was logged out").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    bob.sync_once(0).await?;
    assert_eq!(
        bob.seen(&dm, |e| body(e).contains("was logged out")).len(),
        1,
        "told once"
    );
    Ok(())
}

#[tokio::test]
async fn pm_reaches_a_number_that_is_no_contact_yet_and_it_becomes_one() -> Result<()> {
    let (server, env) = setup().await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, "+15550002").await?;
    let (_carol_tg, mut carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;

    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "You have no contacts on Telegram").await?;
    bob.send_text(&dm, "pm +1 555 000 3").await?;
    says(&bob, &dm, "Invited you to a private chat with Carol").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    bob.send_text(&room, "hi carol, from matrix").await?;
    let got = tokio::time::timeout(WAIT, async {
        loop {
            if let Update::NewMessage(m) = carol_updates.next().await? {
                if !m.outgoing() {
                    return anyhow::Ok(m.text().to_owned());
                }
            }
        }
    })
    .await??;
    assert_eq!(got, "hi carol, from matrix");

    // Carol is a contact now, and found by name.
    bob.send_text(&dm, "list contacts").await?;
    says(&bob, &dm, "Carol").await?;
    bob.send_text(&dm, "search car").await?;
    says(&bob, &dm, "Contacts matching").await?;
    bob.send_text(&dm, "pm @nobody_here").await?;
    says(&bob, &dm, "Nobody on Telegram has").await?;
    Ok(())
}
