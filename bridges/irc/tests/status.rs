//! The status room and idle connections: what the bridge tells a user about
//! their IRC connection, and when it lets the connection go.

mod common;

use anyhow::Result;
use causeway_testkit::ircd::RawIrc;
use causeway_testkit::matrix_client::body;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

#[tokio::test]
async fn speaking_first_opens_a_status_room_and_a_taken_nick_is_reported_once_with_a_way_out(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    // Someone on IRC already holds the nick alice would get.
    let mut squatter = RawIrc::connect(ircd.port, "alice[m]").await?;
    squatter.join("#st").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#st:localhost").await?;
    alice.send_text(&room, "hello").await?;
    let failed = alice.wait_for_text(&room, "was not bridged").await?;
    assert!(body(&failed).contains("alice[m]"), "{}", body(&failed));

    let status = alice.wait_for_invite(WAIT).await?;
    alice.join(&status).await?;
    let name = alice.state(&status, "m.room.name", "").await?;
    assert_eq!(name["name"], "Local IRC Bridge status");
    alice
        .wait_for_text(&status, "the nick `alice[m]` is not available")
        .await?;
    // Told once, however many messages run into it.
    alice.send_text(&room, "hello?").await?;
    alice
        .wait_for(&room, WAIT, |e| {
            body(e).contains("was not bridged") && e["event_id"] != failed["event_id"]
        })
        .await?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    alice.sync_once(0).await?;
    let told = alice.seen(&status, |e| body(e).contains("is not available"));
    assert_eq!(told.len(), 1, "the nick problem is told once");

    alice.send_text(&status, "!nick alice2").await?;
    alice
        .wait_for_text(&status, "Connected to Local IRC as `alice2`")
        .await?;
    alice.send_text(&room, "hello again").await?;
    squatter
        .wait_for(|l| l.starts_with(":alice2!") && l.ends_with("PRIVMSG #st :hello again"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn idle_users_are_warned_then_disconnected_and_active_resets_the_clock() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(
        dir.path(),
        ", idle_timeout_seconds: 8, idle_warning_seconds: 5",
    )
    .await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#idle").await?;
    let room = alice.join("#_local_#idle:localhost").await?;
    alice.send_text(&room, "hi").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #idle :hi"))
        .await?;

    alice
        .wait_for_text(&admin_room, "I will disconnect you in")
        .await?;
    alice.send_text(&admin_room, "!active").await?;
    alice
        .wait_for_text(&admin_room, "Marked you as active on Local IRC")
        .await?;
    let reset = std::time::Instant::now();
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.contains(" QUIT "))
        .await?;
    assert!(
        reset.elapsed() >= Duration::from_secs(6),
        "!active restarted the clock: the QUIT came {:?} after it",
        reset.elapsed()
    );
    alice
        .wait_for_text(&admin_room, "You were idle on Local IRC")
        .await?;

    // Speaking again reconnects.
    alice.send_text(&room, "back").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #idle :back"))
        .await?;
    Ok(())
}

#[tokio::test]
async fn a_message_the_channel_refuses_gets_a_notice_in_the_room() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = common::setup_with(dir.path(), "").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#quiet").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#quiet:localhost").await?;
    alice.send_text(&room, "before").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #quiet :before"))
        .await?;
    // bob created the channel, so he is its operator: moderated, voice only.
    bob.send("MODE #quiet +m").await?;
    bob.wait_for(|l| l.contains(" MODE #quiet +m")).await?;
    alice.send_text(&room, "after").await?;
    let notice = alice
        .wait_for_text(&room, "IRC did not deliver your last message to #quiet")
        .await?;
    assert!(body(&notice).contains("(404)"), "{}", body(&notice));
    Ok(())
}

#[tokio::test]
async fn a_server_password_lets_the_bot_and_users_connect() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ircd = causeway_testkit::ircd::Ngircd::start_with_password(dir.path(), "letmein")?;
    let env = common::bridge_for(ircd.port, ", password: letmein").await?;
    let mut bob = RawIrc::connect_with(ircd.port, "bob", Some("letmein")).await?;
    bob.join("#locked").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#locked:localhost").await?;
    alice.send_text(&room, "through the door").await?;
    bob.wait_for(|l| {
        l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #locked :through the door")
    })
    .await?;
    bob.send("PRIVMSG #locked :welcome").await?;
    alice.wait_for_text(&room, "welcome").await?;
    Ok(())
}

#[tokio::test]
async fn a_network_that_never_answers_does_not_delay_another() -> Result<()> {
    // Accepts connections, then says nothing, ever.
    let dead = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let dead_port = dead.local_addr()?.port();
    let _silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = dead.accept().await {
            held.push(socket);
        }
    });
    let dir = tempfile::tempdir()?;
    let ircd = causeway_testkit::ircd::Ngircd::start(dir.path())?;
    let network = serde_yaml::from_str(&format!(
        "{{ concurrent_connects: 1, networks: {{ dead: {{ name: Dead IRC, address: 127.0.0.1, port: {dead_port}, bot_nick: causeway }}, local: {{ name: Local IRC, address: 127.0.0.1, port: {}, bot_nick: causeway }} }} }}",
        ircd.port
    ))?;
    let env = causeway_testkit::env::TestEnv::start(
        std::path::Path::new(common::BIN),
        causeway_testkit::env::EnvOptions {
            network: Some(network),
            ..Default::default()
        },
    )
    .await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#live").await?;
    let alice = env.user("alice").await?;
    // The dead network's relay bot now waits out its registration: on its
    // own network's connection slots only.
    let started = std::time::Instant::now();
    let room = alice.join("#_local_#live:localhost").await?;
    alice.send_text(&room, "not held up").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #live :not held up"))
        .await?;
    let took = started.elapsed();
    assert!(
        took < std::time::Duration::from_secs(15),
        "the live network waited {took:?} for the dead one"
    );
    Ok(())
}

#[tokio::test]
async fn the_status_room_comes_with_the_first_message_not_with_joining() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (_ircd, env) = common::setup_with(dir.path(), "").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#quiet:localhost").await?;
    assert!(
        alice.wait_for_invite(Duration::from_secs(3)).await.is_err(),
        "invited before speaking"
    );
    alice.send_text(&room, "hello, first words").await?;
    let status = alice.wait_for_invite(WAIT).await?;
    alice.join(&status).await?;
    alice
        .wait_for_text(&status, "You are connected to Local IRC as `alice[m]`")
        .await?;
    let name = alice.state(&status, "m.room.name", "").await?;
    assert_eq!(name["name"], "Local IRC Bridge status");
    Ok(())
}
