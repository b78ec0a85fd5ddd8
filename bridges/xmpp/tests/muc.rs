//! MUC portals end to end: real Synapse, real Prosody, and a scripted XMPP
//! user on the other side.

use anyhow::Result;
use causeway_testkit::xmpp_client::{body_of, is_self_presence};
use common::*;

mod common;

#[tokio::test]
async fn an_alias_join_bridges_a_muc_both_ways() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    bob.join_muc(&muc("lobby"), "bob").await?;
    bob.message(&muc("lobby"), "groupchat", "said before the portal existed")
        .await?;

    let alice = env.user("alice").await?;
    let room = alice.join(&muc_alias("lobby")).await?;
    // alice's puppet joins the MUC under her name.
    bob.wait_for(WAIT, |e| {
        e.name() == "presence" && e.attr("from") == Some(&format!("{}/alice", muc("lobby")))
    })
    .await?;
    // Recent history was copied into the new room, from bob's ghost.
    let backfilled = alice
        .wait_for_text(&room, "said before the portal existed")
        .await?;
    assert_eq!(backfilled["sender"], BOB_GHOST);

    alice.send_text(&room, "hello xmpp").await?;
    let got = bob.wait_for_body("hello xmpp").await?;
    assert_eq!(
        got.attr("from"),
        Some(format!("{}/alice", muc("lobby")).as_str())
    );
    assert_eq!(got.attr("type"), Some("groupchat"));

    bob.message(&muc("lobby"), "groupchat", "hi *matrix*")
        .await?;
    let from_bob = alice.wait_for_text(&room, "hi *matrix*").await?;
    assert_eq!(from_bob["sender"], BOB_GHOST);
    assert_eq!(
        from_bob["content"]["formatted_body"],
        "hi <strong>matrix</strong>"
    );
    // No echo: alice's own line did not come back as bob's or anyone's.
    let echoes = alice.seen(&room, |e| {
        causeway_testkit::matrix_client::body(e) == "hello xmpp"
    });
    assert_eq!(echoes.len(), 1, "{echoes:?}");
    let _ = (body_of, is_self_presence);
    Ok(())
}
