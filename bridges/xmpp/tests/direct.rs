//! Private chats both ways, and the gateway: an XMPP user in a public
//! Matrix room.

use anyhow::{Context, Result};
use causeway_testkit::prosody;
use causeway_testkit::xmpp_client::is_self_presence;
use common::*;
use serde_json::json;

mod common;

#[tokio::test]
async fn private_messages_flow_both_ways_and_either_side_can_start() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let alice = env.user("alice").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    // A tiny PNG as bob's vCard photo, and a full name.
    let png = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8DwHwAFBQIAX8jx0gAAAABJRU5ErkJggg==";
    bob.iq("set", "", &format!("<vCard xmlns='vcard-temp'><FN>Bob Builder</FN><PHOTO><TYPE>image/png</TYPE><BINVAL>{png}</BINVAL></PHOTO></vCard>")).await?;

    // XMPP starts: alice is invited to a DM with bob's ghost.
    bob.message(&jid_of("alice"), "chat", "hi alice, from xmpp")
        .await?;
    let dm = alice.wait_for_invite(WAIT).await?;
    alice.join(&dm).await?;
    let first = alice.wait_for_text(&dm, "hi alice, from xmpp").await?;
    assert_eq!(first["sender"], BOB_GHOST);
    // bob's ghost takes its name and avatar from his vCard.
    let started = std::time::Instant::now();
    loop {
        let profile = alice.profile(BOB_GHOST).await?;
        if profile["displayname"] == "Bob Builder"
            && profile["avatar_url"]
                .as_str()
                .is_some_and(|a| a.starts_with("mxc://"))
        {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < WAIT,
            "the ghost's profile stayed {profile}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    alice.send_text(&dm, "hello bob").await?;
    let reply = bob.wait_for_body("hello bob").await?;
    assert_eq!(
        reply.attr("from"),
        Some(format!("{}/causeway", jid_of("alice")).as_str())
    );
    assert_eq!(reply.attr("type"), Some("chat"));

    // Matrix starts: inviting carol's ghost makes a DM with carol.
    let mut carol = xmpp_user(&server, "carol").await?;
    let carol_ghost = "@xmpp_carol=40xmpp.test:localhost";
    let dm2 = alice.create_dm(carol_ghost).await?;
    alice
        .wait_for(&dm2, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == carol_ghost
                && e["content"]["membership"] == "join"
        })
        .await?;
    alice.send_text(&dm2, "hello carol").await?;
    let got = carol.wait_for_body("hello carol").await?;
    assert_eq!(got.attr("type"), Some("chat"));
    carol.message(&jid_of("alice"), "chat", "hi back").await?;
    let back = alice.wait_for_text(&dm2, "hi back").await?;
    assert_eq!(back["sender"], carol_ghost);

    // A private message through a MUC opens a DM with that occupant.
    let lobby = muc("pm");
    carol.join_muc(&lobby, "carol").await?;
    let room = alice.join(&muc_alias("pm")).await?;
    carol
        .wait_for(WAIT, |e| {
            e.name() == "presence" && e.attr("from") == Some(&format!("{lobby}/alice"))
        })
        .await?;
    carol
        .message(&format!("{lobby}/alice"), "chat", "psst, in private")
        .await?;
    let muc_dm = alice.wait_for_invite(WAIT).await?;
    assert_ne!(muc_dm, room);
    alice.join(&muc_dm).await?;
    alice.wait_for_text(&muc_dm, "psst, in private").await?;
    alice.send_text(&muc_dm, "private reply").await?;
    let reply = carol.wait_for_body("private reply").await?;
    assert_eq!(reply.attr("type"), Some("chat"));
    assert!(alice
        .seen(&room, |e| causeway_testkit::matrix_client::body(e)
            == "psst, in private")
        .is_empty());
    Ok(())
}

#[tokio::test]
async fn an_xmpp_user_finds_and_joins_a_public_matrix_room_through_the_gateway() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let alice = env.user("alice").await?;
    let room = alice
        .create_room(json!({ "preset": "public_chat", "visibility": "public", "room_alias_name": "public", "name": "Public", "topic": "all welcome" }))
        .await?;
    alice.send_text(&room, "said before bob came").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    let gateway_jid = format!("#public#localhost@{}", prosody::COMPONENT);

    let items = bob
        .iq(
            "get",
            prosody::COMPONENT,
            "<query xmlns='http://jabber.org/protocol/disco#items'/>",
        )
        .await?;
    assert!(
        String::from(&items).contains(&format!("jid='{gateway_jid}'")),
        "{}",
        String::from(&items)
    );

    // Joined as plain MUC clients do, without limiting the history.
    bob.send(&format!(
        "<presence to='{gateway_jid}/bob'><x xmlns='http://jabber.org/protocol/muc'/></presence>"
    ))
    .await?;
    let own = bob
        .wait_for(WAIT, |e| e.name() == "presence" && is_self_presence(e))
        .await?;
    assert_eq!(
        own.attr("from"),
        Some(format!("{gateway_jid}/bob").as_str())
    );
    // Recent messages come as MUC history, marked as delayed.
    let earlier = bob.wait_for_body("said before bob came").await?;
    assert_eq!(
        earlier.attr("from"),
        Some(format!("{gateway_jid}/alice").as_str())
    );
    assert!(earlier.get_child("delay", "urn:xmpp:delay").is_some());
    // alice is an occupant under her name; the subject is the topic.
    bob.wait_for(WAIT, |e| {
        e.name() == "presence" && e.attr("from") == Some(&format!("{gateway_jid}/alice"))
    })
    .await?;
    bob.wait_for(WAIT, |e| {
        e.name() == "message"
            && e.get_child("subject", "jabber:client")
                .is_some_and(|s| s.text() == "all welcome")
    })
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == BOB_GHOST
                && e["content"]["membership"] == "join"
        })
        .await?;

    let sent = alice.send_text(&room, "hello gateway").await?;
    let got = bob.wait_for_body("hello gateway").await?;
    assert_eq!(
        got.attr("from"),
        Some(format!("{gateway_jid}/alice").as_str())
    );
    assert_eq!(got.attr("type"), Some("groupchat"));
    // The room stamps it with its stanza-id, the Matrix event, and says so.
    let sid = got
        .get_child("stanza-id", "urn:xmpp:sid:0")
        .context("no stanza-id on a live message")?;
    assert_eq!(
        (sid.attr("id"), sid.attr("by")),
        (Some(sent.as_str()), Some(gateway_jid.as_str()))
    );
    let info = bob
        .iq(
            "get",
            &gateway_jid,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await?;
    assert!(
        String::from(&info).contains("var='urn:xmpp:sid:0'"),
        "{}",
        String::from(&info)
    );

    bob.message(&gateway_jid, "groupchat", "hi from xmpp")
        .await?;
    let from_bob = alice.wait_for_text(&room, "hi from xmpp").await?;
    assert_eq!(from_bob["sender"], BOB_GHOST);
    // The sender sees their own message come back, as MUC clients expect.
    let echo = bob.wait_for_body("hi from xmpp").await?;
    assert_eq!(
        echo.attr("from"),
        Some(format!("{gateway_jid}/bob").as_str())
    );

    // A nick change: the old nick leaves with 303, and the ghost is renamed.
    bob.send(&format!("<presence to='{gateway_jid}/robert'/>"))
        .await?;
    let change = bob
        .wait_for(WAIT, |e| {
            e.attr("from") == Some(&format!("{gateway_jid}/bob"))
                && e.attr("type") == Some("unavailable")
        })
        .await?;
    assert!(
        String::from(&change).contains("303") && String::from(&change).contains("robert"),
        "{}",
        String::from(&change)
    );
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == BOB_GHOST
                && e["content"]["displayname"] == "robert"
        })
        .await?;

    // Leaving the MUC takes the ghost out of the room.
    bob.send(&format!(
        "<presence type='unavailable' to='{gateway_jid}/robert'/>"
    ))
    .await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member"
                && e["state_key"] == BOB_GHOST
                && e["content"]["membership"] == "leave"
        })
        .await?;

    // A Matrix kick of the ghost removes bob from the MUC, with the reason.
    // The self-presence comes once the ghost is back in the room.
    bob.join_muc(&gateway_jid, "bob").await?;
    alice.kick(&room, BOB_GHOST, "be nice").await?;
    let kicked = bob
        .wait_for(WAIT, |e| {
            e.attr("from") == Some(&format!("{gateway_jid}/bob"))
                && e.attr("type") == Some("unavailable")
        })
        .await?;
    let text = String::from(&kicked);
    assert!(text.contains("307") && text.contains("be nice"), "{text}");
    Ok(())
}
