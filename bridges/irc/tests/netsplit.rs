//! A real netsplit, between two linked ngircd servers, with 200 users on the
//! far side: the room must not see 200 leaves and 200 joins, only the leave
//! of the one user who never came back.

mod common;

use anyhow::{ensure, Result};
use causeway_testkit::ircd::{Ngircd, RawIrc};
use std::time::{Duration, Instant};

const USERS: usize = 200;

#[tokio::test]
async fn a_200_user_netsplit_is_debounced_and_only_the_lost_user_leaves() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (near, mut far) = Ngircd::start_pair(dir.path())?;
    let env = common::bridge_for(near.port, ", netsplit_grace_seconds: 45").await?;
    // Everyone but the watcher is on the far server; carol will not return.
    let nicks: Vec<String> = (1..USERS)
        .map(|i| format!("u{i:03}"))
        .chain(["carol".to_owned()])
        .collect();
    let mut far_side = Vec::new();
    for nick in &nicks {
        let mut client = RawIrc::connect(far.port, nick).await?;
        client.send("JOIN #split").await?;
        far_side.push(client);
    }
    // The watcher, on the near side, sees when the servers link again.
    let mut watcher = RawIrc::connect(near.port, "watcher").await?;
    watcher.join("#split").await?;
    let alice = env.user("alice").await?;
    let room = alice.join("#_local_#split:localhost").await?;
    let ghosts = |members: &[String]| {
        members
            .iter()
            .filter(|m| m.starts_with("@_local_u"))
            .count()
    };
    let started = Instant::now();
    while ghosts(&alice.joined_members(&room).await?) < USERS - 1 {
        ensure!(
            started.elapsed() < Duration::from_secs(240),
            "the ghosts never all joined"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    // The far server goes away and comes back; all but carol return.
    // The server dies first: clients closing their own sockets would be
    // ordinary QUITs, not a split.
    far.stop();
    drop(far_side);
    far.restart()?;
    let mut returned = Vec::new();
    for nick in nicks.iter().filter(|n| *n != "carol") {
        let mut client = RawIrc::connect(far.port, nick).await?;
        client.send("JOIN #split").await?;
        returned.push(client);
    }
    watcher.seen.clear();
    let last = format!(":{}!", nicks[USERS - 2]);
    watcher
        .wait_for(|l| l.starts_with(&last) && l.contains(" JOIN "))
        .await?;

    let carol_left = alice
        .wait_for(&room, Duration::from_secs(120), |e| {
            e["state_key"] == "@_local_carol:localhost" && e["content"]["membership"] == "leave"
        })
        .await?;
    assert_eq!(carol_left["content"]["reason"], "lost in a netsplit");
    alice.sync_once(0).await?;
    let leaves = alice.seen(&room, |e| {
        e["type"] == "m.room.member" && e["content"]["membership"] == "leave"
    });
    assert_eq!(leaves.len(), 1, "only carol left: {leaves:?}");
    assert_eq!(ghosts(&alice.joined_members(&room).await?), USERS - 1);
    Ok(())
}
