//! Chat info from an account network, end to end through a real Synapse:
//! the room follows the chat's name, topic, avatar and members, and ghosts
//! get the display-name template and avatars fetched once.

use anyhow::Result;
use causeway_testkit::env::{EnvOptions, TestEnv};
use causeway_testkit::matrix_client::MatrixClient;
use serde_json::{json, Value};
use std::time::Duration;

const BIN: &str = env!("CARGO_BIN_EXE_causeway-testnet");
const WAIT: Duration = Duration::from_secs(30);

async fn env() -> Result<TestEnv> {
    let options = EnvOptions {
        bridge: Some(serde_yaml::from_str(
            "{ displayname_template: '{name} (Test)' }",
        )?),
        testnet: Some(serde_yaml::from_str("{ account: true }")?),
        ..Default::default()
    };
    TestEnv::start(std::path::Path::new(BIN), options).await
}

/// A portal for chat `g1`, joined by `user`.
async fn chat(env: &TestEnv, user: &MatrixClient) -> Result<String> {
    let dm = user.create_dm(&env.bot()).await?;
    user.wait_for_text(&dm, "management room").await?;
    user.send_text(&dm, "create g1").await?;
    let room = user.wait_for_invite(WAIT).await?;
    user.join(&room).await?;
    Ok(room)
}

/// Waits until `check` holds for the room's state event.
async fn wait_state(
    user: &MatrixClient,
    room: &str,
    event_type: &str,
    state_key: &str,
    check: impl Fn(&Value) -> bool,
) -> Result<Value> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if let Ok(content) = user.state(room, event_type, state_key).await {
            if check(&content) {
                return Ok(content);
            }
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "{event_type} never matched"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn member(id: &str, name: &str, avatar: Option<&str>, power: Option<i64>) -> Value {
    json!({ "ghost": { "id": id, "displayname": name, "avatar_mxc": null, "avatar_id": avatar }, "power": power })
}

#[tokio::test]
async fn the_room_follows_the_chats_name_topic_avatar_and_members() -> Result<()> {
    let env = env().await?;
    let alice = env.user("alice").await?;
    let room = chat(&env, &alice).await?;
    let members = [
        member("carol", "Carol", Some("face-1"), Some(50)),
        member("dave", "Dave", None, None),
    ];
    env.control(
        "/remote/chat-info",
        json!({ "portal": "g1", "info": { "name": "Renamed", "topic": "New topic", "avatar_id": "face-1", "members": members } }),
    )
    .await?;
    wait_state(&alice, &room, "m.room.name", "", |c| c["name"] == "Renamed").await?;
    wait_state(&alice, &room, "m.room.topic", "", |c| {
        c["topic"] == "New topic"
    })
    .await?;
    wait_state(&alice, &room, "m.bridge", "causeway://testnet/g1", |c| {
        c["channel"]["displayname"] == "Renamed"
    })
    .await?;
    let avatar = wait_state(&alice, &room, "m.room.avatar", "", |c| c["url"].is_string()).await?;
    let levels = wait_state(&alice, &room, "m.room.power_levels", "", |c| {
        c["users"]["@_testnet_carol:localhost"] == 50
    })
    .await?;
    assert!(levels["users"].get("@_testnet_dave:localhost").is_none());
    let joined = alice.joined_members(&room).await?;
    for ghost in ["@_testnet_carol:localhost", "@_testnet_dave:localhost"] {
        assert!(
            joined.iter().any(|m| m == ghost),
            "{ghost} not in {joined:?}"
        );
    }
    // Ghost names follow the template; one avatar ID is one upload.
    let carol = alice.profile("@_testnet_carol:localhost").await?;
    assert_eq!(carol["displayname"], "Carol (Test)");
    assert_eq!(carol["avatar_url"], avatar["url"]);

    // Dave left the chat: his ghost leaves the room; Alice stays.
    env.control(
        "/remote/chat-info",
        json!({ "portal": "g1", "info": { "members": [member("carol", "Carol", Some("face-1"), Some(50))] } }),
    )
    .await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let joined = alice.joined_members(&room).await?;
        if !joined.iter().any(|m| m == "@_testnet_dave:localhost") {
            assert!(joined.iter().any(|m| m == &alice.user_id));
            break;
        }
        anyhow::ensure!(std::time::Instant::now() < deadline, "dave never left");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    Ok(())
}
