//! Room life in a MUC portal: nick changes, kicks, the subject, nick
//! collisions, and files both ways.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_testkit::xmpp_client::{body_of, escape};
use common::*;
use serde_json::json;

mod common;

#[tokio::test]
async fn nick_changes_subjects_and_kicks_on_xmpp_show_in_matrix() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "life").await?;
    let lobby = muc("life");
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member" && e["state_key"] == BOB_GHOST
        })
        .await?;

    bob.send(&format!(
        "<message to='{lobby}' type='groupchat'><subject>Release planning</subject></message>"
    ))
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.topic" && e["content"]["topic"] == "Release planning"
        })
        .await?;

    // A nick change renames the ghost; it does not leave.
    bob.send(&format!("<presence to='{lobby}/robert'/>"))
        .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == BOB_GHOST
                && e["content"]["displayname"] == "robert"
        })
        .await?;
    bob.message(&lobby, "groupchat", "same ghost, new nick")
        .await?;
    let line = alice.wait_for_text(&room, "same ghost, new nick").await?;
    assert_eq!(line["sender"], BOB_GHOST);
    assert!(alice
        .seen(&room, |e| e["state_key"] == BOB_GHOST
            && e["content"]["membership"] == "leave")
        .is_empty());

    // bob owns the room: his kick of alice's puppet removes alice in Matrix.
    bob.iq("set", &lobby, "<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='alice' role='none'><reason>off topic</reason></item></query>").await?;
    let kicked = alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == "@alice:localhost"
                && e["content"]["membership"] == "leave"
        })
        .await?;
    assert!(
        kicked["content"]["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("off topic"),
        "{kicked}"
    );
    Ok(())
}

#[tokio::test]
async fn an_xmpp_moderator_role_lets_a_matrix_user_kick_and_set_the_subject() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    let mut carol = xmpp_user(&server, "carol").await?;
    let lobby = muc("moderated");
    bob.join_muc(&lobby, "bob").await?;
    carol.join_muc(&lobby, "carol").await?;
    let alice = env.user("alice").await?;
    let room = alice.join(&muc_alias("moderated")).await?;
    bob.wait_for(WAIT, |e| {
        e.name() == "presence" && e.attr("from") == Some(&format!("{lobby}/alice"))
    })
    .await?;
    let carol_ghost = "@xmpp_carol=40xmpp.test:localhost";
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member" && e["state_key"] == carol_ghost
        })
        .await?;

    // bob, the owner, makes alice a moderator: she gets power level 50.
    bob.iq("set", &lobby, "<query xmlns='http://jabber.org/protocol/muc#admin'><item nick='alice' role='moderator'/></query>").await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.power_levels" && e["content"]["users"]["@alice:localhost"] == 50
        })
        .await?;

    // Her Matrix kick of carol's ghost is a MUC kick, done by her puppet.
    alice.kick(&room, carol_ghost, "spam").await?;
    let kicked = carol
        .wait_for(WAIT, |e| {
            e.name() == "presence"
                && e.attr("type") == Some("unavailable")
                && e.attr("from") == Some(&format!("{lobby}/carol"))
        })
        .await?;
    assert!(
        String::from(&kicked).contains("307"),
        "{}",
        String::from(&kicked)
    );

    // And her topic is the room's subject.
    alice
        .send_state(
            &room,
            "m.room.topic",
            "",
            json!({ "topic": "Only on-topic talk" }),
        )
        .await?;
    bob.wait_for(WAIT, |e| {
        e.attr("from") == Some(&format!("{lobby}/alice"))
            && e.get_child("subject", "jabber:client")
                .is_some_and(|s| s.text() == "Only on-topic talk")
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn a_taken_nick_is_retried_with_a_suffix_and_told_in_the_room() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    let mut carol = xmpp_user(&server, "carol").await?;
    let lobby = muc("clash");
    bob.join_muc(&lobby, "bob").await?;
    carol.join_muc(&lobby, "alice").await?;
    let alice = env.user("alice").await?;
    let room = alice.join(&muc_alias("clash")).await?;
    bob.wait_for(WAIT, |e| {
        e.name() == "presence" && e.attr("from") == Some(&format!("{lobby}/alice [m]"))
    })
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            body(e).contains("nick is taken") && body(e).contains("alice [m]")
        })
        .await?;
    alice.send_text(&room, "still heard").await?;
    let line = bob.wait_for_body("still heard").await?;
    assert_eq!(
        line.attr("from"),
        Some(format!("{lobby}/alice [m]").as_str())
    );
    Ok(())
}

#[tokio::test]
async fn files_cross_both_ways_as_out_of_band_links() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "files").await?;
    let lobby = muc("files");

    let data = b"hello file contents".to_vec();
    let mxc = alice
        .upload(data.clone(), "text/plain", "notes.txt")
        .await?;
    alice
        .send(
            &room,
            "m.room.message",
            json!({ "msgtype": "m.file", "body": "notes.txt", "url": mxc }),
        )
        .await?;
    let got = bob
        .wait_for(WAIT, |e| {
            e.get_child("x", "jabber:x:oob").is_some()
                && e.attr("from").is_some_and(|f| f.ends_with("/alice"))
        })
        .await?;
    let url = got
        .get_child("x", "jabber:x:oob")
        .and_then(|x| x.get_child("url", "jabber:x:oob"))
        .map(|u| u.text())
        .unwrap_or_default();
    assert_eq!(body_of(&got).as_deref(), Some(url.as_str()));
    let fetched = reqwest::get(&url).await?.bytes().await?;
    assert_eq!(fetched.as_ref(), data.as_slice());

    // The same link sent from XMPP is copied into Matrix as a file.
    bob.send(&format!(
        "<message to='{lobby}' type='groupchat' id='f1'><body>{u}</body><x xmlns='jabber:x:oob'><url>{u}</url></x></message>",
        u = escape(&url)
    ))
    .await?;
    let file = alice
        .wait_for(&room, WAIT, |e| {
            e["sender"] == BOB_GHOST && e["content"]["msgtype"] == "m.file"
        })
        .await?;
    assert!(
        file["content"]["url"]
            .as_str()
            .unwrap_or_default()
            .starts_with("mxc://"),
        "{file}"
    );
    assert_eq!(file["content"]["info"]["size"], data.len());
    Ok(())
}
