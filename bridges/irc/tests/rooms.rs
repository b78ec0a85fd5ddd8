//! Rooms that exist before the bridge knows them: plumbing an existing room
//! into a channel, and the third-party lookups that let clients find
//! channels and IRC users.

mod common;

use anyhow::Result;
use causeway_testkit::ircd::RawIrc;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn plumb_and_unlink_bridge_an_existing_room_with_permission_checks() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let bot = env.bot();
    // The test config makes @admin:localhost a bridge admin; alice is a user.
    let admin = env.user("admin").await?;
    let alice = env.user("alice").await?;
    let admin_dm = admin.create_dm(&bot).await?;
    admin.wait_for_text(&admin_dm, "management room").await?;
    let alice_dm = alice.create_dm(&bot).await?;
    alice.wait_for_text(&alice_dm, "management room").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#plumbed").await?;

    // A room of the admin's, where the bot may mark itself (power level 50).
    let strong = serde_json::json!({ "preset": "public_chat", "invite": [bot], "power_level_content_override": { "users": { bot.as_str(): 50 } } });
    let room = admin.create_room(strong).await?;
    let bot_id = bot.clone();
    admin
        .wait_for(&room, WAIT, move |e| {
            e["state_key"] == bot_id.as_str() && e["content"]["membership"] == "join"
        })
        .await?;
    alice.join(&room).await?;

    alice
        .send_text(&alice_dm, &format!("!plumb {room} local #plumbed"))
        .await?;
    alice
        .wait_for_text(&alice_dm, "You do not have permission to use `!plumb`")
        .await?;
    // Where the bot may not set state, plumbing says what to fix.
    let weak_room = admin
        .create_room(serde_json::json!({ "preset": "public_chat", "invite": [bot] }))
        .await?;
    let bot_id = bot.clone();
    admin
        .wait_for(&weak_room, WAIT, move |e| {
            e["state_key"] == bot_id.as_str() && e["content"]["membership"] == "join"
        })
        .await?;
    admin
        .send_text(&admin_dm, &format!("!plumb {weak_room} local #plumbed"))
        .await?;
    admin
        .wait_for_text(&admin_dm, "give @ircbot:localhost power level 50 there")
        .await?;
    admin
        .send_text(&admin_dm, &format!("!plumb {room} local #plumbed"))
        .await?;
    admin
        .wait_for_text(
            &admin_dm,
            &format!("Bridged {room} to #plumbed on Local IRC"),
        )
        .await?;
    let state_key = "causeway://irc/local%2F%23plumbed";
    assert_eq!(
        admin.state(&room, "m.bridge", state_key).await?["channel"]["displayname"],
        "#plumbed"
    );

    bob.send("PRIVMSG #plumbed :into the plumbed room").await?;
    admin.wait_for_text(&room, "into the plumbed room").await?;
    admin.send_text(&room, "from the room").await?;
    bob.wait_for(|l| l.starts_with(":admin[m]!") && l.ends_with("PRIVMSG #plumbed :from the room"))
        .await?;

    // Topics follow both ways.
    bob.send("TOPIC #plumbed :set on irc").await?;
    admin
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "set on irc"
        })
        .await?;
    admin
        .send_state(
            &room,
            "m.room.topic",
            "",
            serde_json::json!({ "topic": "set on matrix" }),
        )
        .await?;
    bob.wait_for(|l| l.starts_with(":admin[m]!") && l.ends_with("TOPIC #plumbed :set on matrix"))
        .await?;

    alice
        .send_text(&alice_dm, &format!("!unlink {room} local #plumbed"))
        .await?;
    alice
        .wait_for_text(&alice_dm, "You need power level 50")
        .await?;
    admin
        .send_text(&admin_dm, &format!("!unlink {room} local #plumbed"))
        .await?;
    admin
        .wait_for_text(&admin_dm, &format!("Unlinked {room} from #plumbed"))
        .await?;
    assert!(
        admin
            .state(&room, "m.bridge", state_key)
            .await?
            .as_object()
            .is_some_and(|c| c.is_empty()),
        "the bridge info is cleared"
    );
    Ok(())
}

#[tokio::test]
async fn third_party_lookups_find_channels_and_users_by_network() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_ircd, env) = common::setup_with(dir.path(), "").await?;
    let get =
        |path: &'static str| env.appservice(reqwest::Method::GET, path, Some(&env.hs_token), None);
    let (status, protocol) = get("/_matrix/app/v1/thirdparty/protocol/irc").await?;
    assert_eq!(
        (status, protocol["instances"][0]["network_id"].as_str()),
        (200, Some("local"))
    );
    let (status, locations) =
        get("/_matrix/app/v1/thirdparty/location/irc?domain=local&channel=%23chat").await?;
    assert_eq!(
        (status, locations[0]["alias"].as_str()),
        (200, Some("#_local_#chat:localhost"))
    );
    let (status, users) =
        get("/_matrix/app/v1/thirdparty/user/irc?domain=127.0.0.1&nick=Bob").await?;
    assert_eq!(
        (status, users[0]["userid"].as_str()),
        (200, Some("@_local_bob:localhost"))
    );
    let (status, _) =
        get("/_matrix/app/v1/thirdparty/location/irc?domain=elsewhere&channel=%23chat").await?;
    assert_eq!(status, 404);
    let (status, _) = get("/_matrix/app/v1/thirdparty/protocol/xmpp").await?;
    assert_eq!(status, 404);
    Ok(())
}
