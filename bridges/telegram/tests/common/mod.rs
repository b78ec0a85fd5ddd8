//! What the Telegram bridge's end-to-end tests share: the MTProto test
//! server with its key service, a bridge pointed at it, and Telegram users
//! on their own grammers clients.

#![allow(dead_code)]

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use causeway_tg_testserver::{AccountSpec, TestServer};
use grammers_client::sender::{SenderPool, UpdatesConfiguration};
use grammers_client::Client;
use grammers_session::storages::MemorySession;
use grammers_session::SessionData;
use std::future::IntoFuture;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

pub const BIN: &str = env!("CARGO_BIN_EXE_causeway-telegram");
pub const WAIT: Duration = Duration::from_secs(30);
pub const API_HASH: &str = "0123456789abcdef0123456789abcdef";
/// The token of the bot account every test server has.
pub const BOT_TOKEN: &str = "4242:relay-bot-token";

pub fn account(phone: &str, name: &str, password: Option<&str>) -> AccountSpec {
    AccountSpec {
        phone: phone.into(),
        first_name: name.into(),
        last_name: None,
        username: Some(name.to_lowercase()),
        password: password.map(str::to_owned),
        home_dc: 2,
        echo: false,
        about: None,
        bot_token: None,
    }
}

/// The test server with its key service, and a bridge pointed at it.
pub async fn setup() -> Result<(Arc<TestServer>, TestEnv)> {
    setup_with("").await
}

/// Like [`setup`], with more of the network section, as `key: value, …`.
pub async fn setup_with(extra: &str) -> Result<(Arc<TestServer>, TestEnv)> {
    setup_full(extra, None).await
}

/// Like [`setup_with`], with keys of the `bridge` section too.
pub async fn setup_full(extra: &str, bridge: Option<&str>) -> Result<(Arc<TestServer>, TestEnv)> {
    let server = Arc::new(
        TestServer::start(vec![
            account("15550001", "Alice", Some("hunter2")),
            account("15550002", "Bob", None),
            account("15550003", "Carol", None),
            AccountSpec {
                bot_token: Some(BOT_TOKEN.into()),
                ..account("15550009", "RelayBot", None)
            },
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
        "{{ api_id: 12345, api_hash: {API_HASH}, keepalive_seconds: 1, test_server: {{ host: 127.0.0.1, dc_ports: {{ 2: {}, 4: {} }}, key_service: '{keys}' }}{}{extra} }}",
        server.port(),
        server.port_of(4).unwrap_or_default(),
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

/// Bob logged in to the bridge, and Carol on her own Telegram client: the
/// cast of most tests.
pub struct BobAndCarol {
    pub server: Arc<TestServer>,
    pub env: TestEnv,
    pub bob: MatrixClient,
    /// Bob's management room.
    pub dm: String,
    pub carol: Client,
    pub carol_updates: grammers_client::client::UpdateStream,
    /// Bob, as Carol reaches him on Telegram.
    pub bob_tg: grammers_session::types::PeerRef,
}

pub async fn bob_and_carol() -> Result<BobAndCarol> {
    bob_and_carol_with("", None).await
}

/// [`bob_and_carol`] with more of the network and bridge sections.
pub async fn bob_and_carol_with(extra: &str, bridge: Option<&str>) -> Result<BobAndCarol> {
    let (server, env) = setup_full(extra, bridge).await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, "+15550002").await?;
    let (carol, carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;
    let bob_tg = resolve(&carol, "bob").await?;
    Ok(BobAndCarol {
        server,
        env,
        bob,
        dm,
        carol,
        carol_updates,
        bob_tg,
    })
}

/// The MXID of the ghost of the account with this phone number.
pub fn ghost(server: &TestServer, phone: &str) -> String {
    format!(
        "@telegram_{}:localhost",
        server.user_id(phone).unwrap_or_default()
    )
}

/// Bob on his own grammers client, logged in through the test server.
pub async fn telegram_user(
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

pub async fn says(user: &MatrixClient, room: &str, text: &str) -> Result<serde_json::Value> {
    user.wait_for_text(room, text).await
}

/// Logs `user` in with the phone flow, for an account without 2FA; returns
/// the management room.
pub async fn logged_in(
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

/// The next message someone else sends a Telegram user.
pub async fn next_incoming(
    updates: &mut grammers_client::client::UpdateStream,
) -> Result<grammers_client::message::Message> {
    tokio::time::timeout(WAIT, async {
        loop {
            if let grammers_client::update::Update::NewMessage(m) = updates.next().await? {
                if !m.outgoing() {
                    return anyhow::Ok((*m).clone());
                }
            }
        }
    })
    .await?
}

/// Whom a Telegram user reaches by `username`, as a reference to send to.
pub async fn resolve(client: &Client, username: &str) -> Result<grammers_session::types::PeerRef> {
    let found = client
        .resolve_username(username)
        .await?
        .ok_or_else(|| anyhow::anyhow!("nobody is @{username}"))?;
    found
        .to_ref()
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no reference for @{username}"))
}

/// Someone as an `InputUser`, to add to a chat.
pub fn input_user(peer: grammers_session::types::PeerRef) -> grammers_client::tl::enums::InputUser {
    grammers_client::tl::types::InputUser {
        user_id: peer.id.bare_id().unwrap_or_default(),
        access_hash: peer.auth.hash(),
    }
    .into()
}

/// Makes a supergroup or broadcast channel with `members`; returns it.
pub async fn channel(
    owner: &Client,
    title: &str,
    about: &str,
    broadcast: bool,
    members: Vec<grammers_session::types::PeerRef>,
) -> Result<grammers_session::types::PeerRef> {
    let create = grammers_client::tl::functions::channels::CreateChannel {
        broadcast,
        megagroup: !broadcast,
        for_import: false,
        forum: false,
        title: title.into(),
        about: about.into(),
        geo_point: None,
        address: None,
        ttl_period: None,
    };
    let grammers_client::tl::enums::Updates::Updates(updates) = owner.invoke(&create).await? else {
        anyhow::bail!("no updates")
    };
    let Some(grammers_client::tl::enums::Chat::Channel(made)) = updates
        .chats
        .iter()
        .find(|c| matches!(c, grammers_client::tl::enums::Chat::Channel(_)))
    else {
        anyhow::bail!("no channel")
    };
    let peer = grammers_session::types::PeerRef {
        id: grammers_session::types::PeerId::channel(made.id).expect("a channel"),
        auth: grammers_session::types::PeerAuth::from_hash(made.access_hash.unwrap_or_default()),
    };
    owner
        .invoke(&grammers_client::tl::functions::channels::InviteToChannel {
            channel: peer.into(),
            users: members.into_iter().map(input_user).collect(),
        })
        .await?;
    Ok(peer)
}

/// A SOCKS5 proxy on loopback (no authentication, CONNECT to IPv4 only),
/// counting the connections it relayed; returns its port.
pub async fn socks5_proxy(relayed: Arc<std::sync::atomic::AtomicUsize>) -> Result<u16> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let port = listener.local_addr()?.port();
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let relayed = relayed.clone();
            tokio::spawn(async move {
                // Greeting: version 5, methods; we pick "no authentication".
                let mut head = [0u8; 2];
                client.read_exact(&mut head).await?;
                let mut methods = vec![0u8; usize::from(head[1])];
                client.read_exact(&mut methods).await?;
                client.write_all(&[5, 0]).await?;
                // CONNECT to an IPv4 address and port.
                let mut request = [0u8; 10];
                client.read_exact(&mut request).await?;
                anyhow::ensure!(request[1] == 1 && request[3] == 1, "not an IPv4 CONNECT");
                let ip = Ipv4Addr::new(request[4], request[5], request[6], request[7]);
                let port = u16::from_be_bytes([request[8], request[9]]);
                let mut upstream = tokio::net::TcpStream::connect((ip, port)).await?;
                client.write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
                relayed.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                tokio::io::copy_bidirectional(&mut client, &mut upstream).await?;
                anyhow::Ok(())
            });
        }
    });
    Ok(port)
}
