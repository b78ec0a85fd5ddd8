//! A grammers client on our database session, pointed at the test server.

#![allow(dead_code)]

use anyhow::Result;
use causeway_core::ids::LoginId;
use causeway_core::store::{LoginData, SecretBox, Store};
use causeway_telegram::session::{LoginSession, NAMESPACE};
use causeway_tg_testserver::{AccountSpec, TestServer};
use grammers_client::sender::{ConnectionParams, NoRetries, SenderPool};
use grammers_client::Client;
use grammers_session::Session;
use std::future::Future;
use std::net::{Ipv4Addr, SocketAddrV4};
use std::sync::Arc;
use std::time::Duration;

pub const API_ID: i32 = 12345;
pub const API_HASH: &str = "0123456789abcdef0123456789abcdef";

/// grammers panics in its own tasks on protocol mistakes, so every await
/// on it is bounded.
pub async fn bounded<T>(what: &str, future: impl Future<Output = T>) -> Result<T> {
    tokio::time::timeout(Duration::from_secs(20), future)
        .await
        .map_err(|_| anyhow::anyhow!("{what} did not finish in 20 s"))
}

pub fn account(phone: &str, name: &str, password: Option<&str>) -> AccountSpec {
    AccountSpec {
        phone: phone.to_owned(),
        first_name: name.to_owned(),
        last_name: None,
        username: Some(name.to_lowercase()),
        password: password.map(str::to_owned),
        home_dc: 2,
        echo: false,
        about: None,
        bot_token: None,
    }
}

/// Alice and Bob, Carol with a 2FA password, and Dave, who lives in DC 4.
pub async fn server() -> Result<TestServer> {
    TestServer::start(vec![
        account("15550001", "Alice", None),
        account("15550002", "Bob", None),
        account("15550003", "Carol", Some("hunter2")),
        AccountSpec {
            home_dc: 4,
            ..account("15550004", "Dave", None)
        },
        AccountSpec {
            bot_token: Some("4242:bot-token".into()),
            ..account("15550009", "Helper", None)
        },
    ])
    .await
}

/// The database every client of a test keeps its session in.
pub struct Db {
    pub store: Store,
    _dir: tempfile::TempDir,
}

impl Db {
    pub async fn new() -> Self {
        let (store, dir) = causeway_core::store::test_store().await;
        Self { store, _dir: dir }
    }

    pub async fn session(&self, login: &str) -> Result<Arc<LoginSession>> {
        let rows = LoginData::new(
            self.store.clone(),
            SecretBox::from_key(&[4; 32]),
            LoginId::from(login),
            NAMESPACE,
        );
        Ok(Arc::new(LoginSession::load(rows).await?))
    }
}

/// A connected client; its pool runs until the client is dropped.
pub struct TestClient {
    pub client: Client,
    pub updates: Option<tokio::sync::mpsc::Receiver<grammers_session::updates::UpdatesLike>>,
    pool: tokio::task::JoinHandle<()>,
    handle: grammers_client::sender::SenderPoolFatHandle,
}

impl Drop for TestClient {
    fn drop(&mut self) {
        self.handle.quit();
        self.pool.abort();
    }
}

/// Points a session's DCs at the server, each with a fresh key it
/// accepts, as the bridge does for a first login.
pub async fn point_at(session: &LoginSession, server: &TestServer) -> Result<()> {
    for id in causeway_tg_testserver::DCS {
        let mut dc = session.dc_option(id)?.expect("the DC is known");
        dc.ipv4 = SocketAddrV4::new(
            Ipv4Addr::LOCALHOST,
            server.port_of(id).expect("a DC of the server"),
        );
        dc.auth_key = Some(server.register_key());
        session.set_dc_option(&dc).await?;
    }
    session.set_home_dc_id(2).await?;
    Ok(())
}

pub fn connect(session: Arc<LoginSession>) -> TestClient {
    let params = ConnectionParams {
        retry_policy: Box::new(NoRetries),
        ..Default::default()
    };
    let SenderPool {
        runner,
        updates,
        handle,
    } = SenderPool::with_configuration(session, API_ID, params);
    let pool = tokio::spawn(runner.run());
    TestClient {
        client: Client::new(handle.clone()),
        updates: Some(updates),
        pool,
        handle,
    }
}

/// The code the server last sent to `phone`.
pub fn last_code(server: &TestServer, phone: &str) -> String {
    let phone: String = phone.chars().filter(char::is_ascii_digit).collect();
    server
        .sent_codes()
        .into_iter()
        .rev()
        .find(|c| c.phone == phone)
        .map(|c| c.code)
        .unwrap_or_default()
}

/// A client logged in to `phone` by code.
pub async fn logged_in(
    server: &TestServer,
    db: &Db,
    login: &str,
    phone: &str,
) -> Result<TestClient> {
    let session = db.session(login).await?;
    point_at(&session, server).await?;
    let client = connect(session);
    let token = bounded(
        "sendCode",
        client.client.request_login_code(phone, API_HASH),
    )
    .await??;
    bounded(
        "signIn",
        client.client.sign_in(&token, &last_code(server, phone)),
    )
    .await??;
    Ok(client)
}

/// The texts of the next `n` new messages a client is told about.
pub async fn next_texts(
    updates: &mut grammers_client::client::UpdateStream,
    n: usize,
) -> Result<Vec<String>> {
    let mut texts = Vec::new();
    while texts.len() < n {
        match bounded("an update", updates.next()).await?? {
            grammers_client::update::Update::NewMessage(message) if !message.outgoing() => {
                texts.push(message.text().to_owned())
            }
            _ => {}
        }
    }
    Ok(texts)
}

/// A stream of a client's updates, from now on.
pub async fn updates_of(client: &mut TestClient) -> Result<grammers_client::client::UpdateStream> {
    let updates = client.updates.take().expect("updates taken once");
    // From the state stored at login: a stream that fetched its state only
    // when first read would miss what was sent before that.
    let config = grammers_client::sender::UpdatesConfiguration { catch_up: true };
    bounded("stream", client.client.stream_updates(updates, config))
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))
}

/// Whom `client` reaches by `username`, as a reference to send to.
pub async fn peer(client: &TestClient, username: &str) -> Result<grammers_session::types::PeerRef> {
    let found = bounded("resolve", client.client.resolve_username(username))
        .await??
        .ok_or_else(|| anyhow::anyhow!("nobody is @{username}"))?;
    bounded("to_ref", found.to_ref())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?
        .ok_or_else(|| anyhow::anyhow!("no reference for @{username}"))
}

/// The next update that `pick` recognises.
pub async fn next_matching<T>(
    updates: &mut grammers_client::client::UpdateStream,
    pick: impl Fn(&grammers_client::update::Update) -> Option<T>,
) -> Result<T> {
    loop {
        let update = bounded("an update", updates.next()).await??;
        if let Some(found) = pick(&update) {
            return Ok(found);
        }
    }
}

/// A client's updates, read in order, from which each step takes the first
/// it recognises; the others stay for later steps.
pub struct Inbox {
    stream: grammers_client::client::UpdateStream,
    unread: Vec<grammers_client::update::Update>,
}

impl Inbox {
    pub fn new(stream: grammers_client::client::UpdateStream) -> Self {
        Self {
            stream,
            unread: Vec::new(),
        }
    }

    /// The first update, kept or new, that `pick` recognises.
    pub async fn next_matching<T>(
        &mut self,
        pick: impl Fn(&grammers_client::update::Update) -> Option<T>,
    ) -> Result<T> {
        if let Some((at, found)) = self
            .unread
            .iter()
            .enumerate()
            .find_map(|(at, update)| pick(update).map(|found| (at, found)))
        {
            self.unread.remove(at);
            return Ok(found);
        }
        loop {
            let update = bounded("an update", self.stream.next()).await??;
            match pick(&update) {
                Some(found) => return Ok(found),
                None => self.unread.push(update),
            }
        }
    }
}
