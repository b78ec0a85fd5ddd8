//! The provisioning API end to end, through a real Synapse with the test
//! network playing an account network: every path its OpenAPI file lists
//! is called, with shared-secret and OpenID auth, and its refusals.

use anyhow::Result;
use causeway_testkit::env::{TestEnv, PROVISIONING_SECRET};
use causeway_testkit::matrix_client::MatrixClient;
use reqwest::Method;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Mutex;
use std::time::Duration;

mod account;

use account::WAIT;

/// Calls the API, remembering which documented path each call used.
struct Api<'a> {
    env: &'a TestEnv,
    http: reqwest::Client,
    called: Mutex<BTreeSet<&'static str>>,
}

/// How a call authenticates.
enum Auth<'a> {
    None,
    Secret(&'a str),
    Raw(&'a str),
}

impl Api<'_> {
    async fn call(
        &self,
        method: Method,
        template: &'static str,
        path: &str,
        auth: Auth<'_>,
        body: Option<Value>,
    ) -> Result<(u16, Value)> {
        self.called.lock().unwrap().insert(template);
        let url = format!(
            "http://127.0.0.1:{}/_causeway/provision/v1{path}",
            self.env.bridge_port
        );
        let mut request = self.http.request(method, url);
        request = match auth {
            Auth::None => request,
            Auth::Secret(user) => request
                .bearer_auth(PROVISIONING_SECRET)
                .query(&[("user_id", user)]),
            Auth::Raw(token) => request.bearer_auth(token),
        };
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status().as_u16();
        Ok((status, response.json().await.unwrap_or(Value::Null)))
    }

    /// A call as `user` through the shared secret that must succeed.
    async fn ok(
        &self,
        method: Method,
        template: &'static str,
        path: &str,
        user: &str,
        body: Option<Value>,
    ) -> Result<Value> {
        let (status, reply) = self
            .call(method, template, path, Auth::Secret(user), body)
            .await?;
        anyhow::ensure!(status == 200, "{path}: {status} {reply}");
        Ok(reply)
    }
}

fn enc(s: &str) -> String {
    s.replace('!', "%21")
        .replace(':', "%3A")
        .replace('+', "%2B")
}

async fn bot_joined(user: &MatrixClient, room: &str, bot: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    while !user.joined_members(room).await?.iter().any(|m| m == bot) {
        anyhow::ensure!(std::time::Instant::now() < deadline, "the bot never joined");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test]
async fn every_documented_provisioning_path_works_and_refuses_what_it_must() -> Result<()> {
    let env = account::env("{}").await?;
    let api = Api {
        env: &env,
        http: reqwest::Client::new(),
        called: Mutex::new(BTreeSet::new()),
    };
    let admin = env.user("admin").await?;
    let bob = env.user("bob").await?;
    let (a, b) = (admin.user_id.as_str(), bob.user_id.as_str());

    let (status, doc) = api
        .call(
            Method::GET,
            "/openapi.json",
            "/openapi.json",
            Auth::None,
            None,
        )
        .await?;
    assert_eq!(status, 200);
    let documented: BTreeSet<String> = doc["paths"]
        .as_object()
        .map(|p| p.keys().cloned().collect())
        .unwrap_or_default();

    // Auth: no token, a wrong secret, no user, a user the bridge refuses.
    for (auth, status, errcode) in [
        (Auth::None, 401, "M_MISSING_TOKEN"),
        (Auth::Raw("not-the-secret"), 401, "M_UNKNOWN_TOKEN"),
        (Auth::Raw(PROVISIONING_SECRET), 400, "M_MISSING_PARAM"),
        (Auth::Secret("@stranger:localhost"), 403, "M_FORBIDDEN"),
        (Auth::Raw("openid:forged"), 401, "M_UNKNOWN_TOKEN"),
    ] {
        let (got, reply) = api
            .call(Method::GET, "/logins", "/logins", auth, None)
            .await?;
        assert_eq!(
            (got, reply["errcode"].as_str()),
            (status, Some(errcode)),
            "{reply}"
        );
    }
    // OpenID: a user's own token acts for them, and only for them.
    let openid = format!("openid:{}", admin.openid_token().await?);
    let (status, reply) = api
        .call(Method::GET, "/logins", "/logins", Auth::Raw(&openid), None)
        .await?;
    assert_eq!((status, &reply), (200, &json!({ "logins": [] })));
    let other = format!("/logins?user_id={}", enc(b));
    let (status, _) = api
        .call(Method::GET, "/logins", &other, Auth::Raw(&openid), None)
        .await?;
    assert_eq!(status, 403);

    // Logins: the flows, a password login step by step, a QR login.
    let flows = api
        .ok(Method::GET, "/login/flows", "/login/flows", a, None)
        .await?;
    let ids: Vec<&str> = flows["flows"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["id"].as_str())
        .collect();
    assert!(ids.contains(&"password") && ids.contains(&"qr"), "{flows}");
    let (status, _) = api
        .call(
            Method::POST,
            "/login/start/{flow_id}",
            "/login/start/nope",
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let started = api
        .ok(
            Method::POST,
            "/login/start/{flow_id}",
            "/login/start/password",
            a,
            None,
        )
        .await?;
    assert_eq!(started["step"]["type"], "user_input");
    assert_eq!(started["step"]["fields"][1]["kind"], "password");
    let pid = started["process_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let input = format!("/login/{pid}/input");
    let (status, _) = api
        .call(
            Method::POST,
            "/login/{process_id}/wait",
            &format!("/login/{pid}/wait"),
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 409, "a step waiting for input cannot be waited on");
    let (status, reply) = api
        .call(
            Method::POST,
            "/login/{process_id}/input",
            &input,
            Auth::Secret(a),
            Some(json!({ "fields": { "username": "admin" } })),
        )
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (400, Some("M_BAD_JSON"))
    );
    // Another user's process is nobody's business.
    let (status, _) = api
        .call(
            Method::POST,
            "/login/{process_id}/input",
            &input,
            Auth::Secret(b),
            Some(json!({ "fields": {} })),
        )
        .await?;
    assert_eq!(status, 404);
    let done = api
        .ok(
            Method::POST,
            "/login/{process_id}/input",
            &input,
            a,
            Some(json!({ "fields": { "username": "admin", "password": "correct horse" } })),
        )
        .await?;
    assert_eq!(done["step"]["type"], "complete");
    assert_eq!(done["step"]["login_id"], "test-admin");

    let qr = api
        .ok(
            Method::POST,
            "/login/start/{flow_id}",
            "/login/start/qr",
            a,
            None,
        )
        .await?;
    assert_eq!(qr["step"]["type"], "display_qr");
    let wait = format!(
        "/login/{}/wait",
        qr["process_id"].as_str().unwrap_or_default()
    );
    let refreshed = api
        .ok(Method::POST, "/login/{process_id}/wait", &wait, a, None)
        .await?;
    assert_eq!(refreshed["step"]["data"], "testnet-qr-1");
    let scanned = api
        .ok(Method::POST, "/login/{process_id}/wait", &wait, a, None)
        .await?;
    assert_eq!(scanned["step"]["login_id"], "test-qr");

    let cancelled = api
        .ok(
            Method::POST,
            "/login/start/{flow_id}",
            "/login/start/qr",
            a,
            None,
        )
        .await?;
    let pid = cancelled["process_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    api.ok(
        Method::POST,
        "/login/{process_id}/cancel",
        &format!("/login/{pid}/cancel"),
        a,
        None,
    )
    .await?;
    let (status, _) = api
        .call(
            Method::POST,
            "/login/{process_id}/wait",
            &format!("/login/{pid}/wait"),
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 404, "a cancelled login is gone");

    let logins = api.ok(Method::GET, "/logins", "/logins", a, None).await?;
    let listed: Vec<&str> = logins["logins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|l| l["id"].as_str())
        .collect();
    assert_eq!(listed, ["test-admin", "test-qr"], "{logins}");

    // Contacts, resolving and starting a chat.
    env.control(
        "/remote/directory",
        json!({
            "contacts": [{ "id": "carol", "name": "Carol", "phone": "+15550001" }],
            "chats": [{ "id": "team", "name": "Team chat" }],
        }),
    )
    .await?;
    let contacts = api
        .ok(Method::GET, "/contacts", "/contacts", a, None)
        .await?;
    assert_eq!(contacts["contacts"][0]["name"], "Carol", "{contacts}");
    let (status, reply) = api
        .call(Method::GET, "/contacts", "/contacts", Auth::Secret(b), None)
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (403, Some("M_FORBIDDEN")),
        "bob has no login"
    );
    let carol = api
        .ok(
            Method::GET,
            "/resolve/{identifier}",
            &format!("/resolve/{}?login_id=test-qr", enc("+15550001")),
            a,
            None,
        )
        .await?;
    assert_eq!(carol["mxid"], "@_testnet_carol:localhost");
    let (status, _) = api
        .call(
            Method::GET,
            "/resolve/{identifier}",
            &format!("/resolve/{}", enc("+19999999")),
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let chat = api
        .ok(
            Method::POST,
            "/chats/start/{identifier}",
            &format!("/chats/start/{}", enc("+15550001")),
            a,
            None,
        )
        .await?;
    let dm = chat["room_id"].as_str().unwrap_or_default();
    assert_eq!(admin.wait_for_invite(WAIT).await?, dm);

    // Bridging an existing room, and unbridging it.
    let bot = env.bot();
    let room = admin
        .create_room(json!({
            "preset": "public_chat",
            "invite": [bot],
            "power_level_content_override": { "users": { bot.clone(): 50 } },
        }))
        .await?;
    bot_joined(&admin, &room, &bot).await?;
    let bridge_path = format!("/bridge/{}", enc(&room));
    let (status, _) = api
        .call(
            Method::POST,
            "/bridge/{room_id}",
            &bridge_path,
            Auth::Secret(b),
            Some(json!({ "chat_id": "team" })),
        )
        .await?;
    assert_eq!(status, 403, "bob has no power in the room");
    let bridged = api
        .ok(
            Method::POST,
            "/bridge/{room_id}",
            &bridge_path,
            a,
            Some(json!({ "chat_id": "team" })),
        )
        .await?;
    assert_eq!(bridged["name"], "Team chat");
    let (status, reply) = api
        .call(
            Method::POST,
            "/bridge/{room_id}",
            &bridge_path,
            Auth::Secret(a),
            Some(json!({ "chat_id": "team" })),
        )
        .await?;
    assert_eq!(
        (status, reply["errcode"].as_str()),
        (409, Some("M_BAD_STATE"))
    );
    let unbridge_path = format!("/unbridge/{}", enc(&room));
    api.ok(Method::POST, "/unbridge/{room_id}", &unbridge_path, a, None)
        .await?;
    let (status, _) = api
        .call(
            Method::POST,
            "/unbridge/{room_id}",
            &unbridge_path,
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 404);

    // Logging out.
    api.ok(
        Method::POST,
        "/logout/{login_id}",
        "/logout/test-qr",
        a,
        None,
    )
    .await?;
    let (status, _) = api
        .call(
            Method::POST,
            "/logout/{login_id}",
            "/logout/test-qr",
            Auth::Secret(a),
            None,
        )
        .await?;
    assert_eq!(status, 404);
    let logins = api.ok(Method::GET, "/logins", "/logins", a, None).await?;
    assert_eq!(logins["logins"].as_array().map(Vec::len), Some(1));

    let called: BTreeSet<String> = api
        .called
        .lock()
        .unwrap()
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(
        called, documented,
        "every documented path is called, and only those"
    );
    let _ = bob;
    Ok(())
}
