//! `bridge.permissions` on MUC traffic, against Prosody: users get their
//! own occupant, relay users speak through the bridge bot's occupant under
//! their name, and users without permission reach the MUC not at all.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_testkit::xmpp_client::body_of;
use common::*;

mod common;

#[tokio::test]
async fn relay_users_speak_through_the_bot_and_others_not_at_all() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "perms").await?;
    let (guest, stranger) = (env.user("guest").await?, env.user("stranger").await?);
    guest.join(&room).await?;
    stranger.join(&room).await?;

    stranger.send_text(&room, "stranger was here").await?;
    alice
        .wait_for_text(&room, "is not allowed to use this bridge")
        .await?;
    guest.send_text(&room, "hello from a guest").await?;
    let relayed = bob.wait_for_body("guest: hello from a guest").await?;
    let from = relayed.attr("from").unwrap_or_default().to_owned();
    assert!(
        from.starts_with(&format!("{}/", muc("perms"))) && !from.ends_with("/guest"),
        "{from}"
    );
    alice.send_text(&room, "alice speaks").await?;
    bob.wait_for_body("alice speaks").await?;

    // Neither visitor became an occupant, and the stranger's words went nowhere.
    let leaked: Vec<String> = bob
        .drain()
        .iter()
        .filter(|e| {
            let from = e.attr("from").unwrap_or_default();
            from.ends_with("/guest")
                || from.ends_with("/stranger")
                || body_of(e).is_some_and(|b| b.contains("stranger"))
        })
        .map(String::from)
        .collect();
    assert!(leaked.is_empty(), "{leaked:?}");
    alice.sync_once(0).await?;
    let told = alice.seen(&room, |e| {
        body(e).contains("is not allowed to use this bridge")
    });
    assert_eq!(told.len(), 1, "{told:?}");
    Ok(())
}

#[tokio::test]
async fn mucs_outside_the_allow_list_cannot_be_opened_by_alias() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let extra = ", dynamic_mucs: { allow: ['public-.*@.*'] }";
    let (server, env) = setup(dir.path(), extra).await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    bob.join_muc(&muc("private"), "bob").await?;
    bob.join_muc(&muc("public-lobby"), "bob").await?;
    let alice = env.user("alice").await?;
    let refused = alice.join(&muc_alias("private")).await;
    assert!(refused.is_err(), "{refused:?}");
    alice.join(&muc_alias("public-lobby")).await?;
    Ok(())
}
