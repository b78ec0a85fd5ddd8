//! Corrections, retractions, reactions, replies, typing, read receipts and
//! files, both ways, in a MUC portal.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_testkit::xmpp_client::body_of;
use common::*;
use serde_json::{json, Value};
use xmpp_parsers::minidom::Element;

mod common;

const CLIENT: &str = "jabber:client";

fn child<'a>(e: &'a Element, name: &str, ns: &str) -> Option<&'a Element> {
    e.get_child(name, ns)
}

fn relates(e: &Value, rel: &str) -> Option<String> {
    let r = &e["content"]["m.relates_to"];
    match rel {
        "reply" => r["m.in_reply_to"]["event_id"].as_str().map(str::to_owned),
        _ => (r["rel_type"] == rel).then(|| r["event_id"].as_str().unwrap_or_default().to_owned()),
    }
}

#[tokio::test]
async fn corrections_retractions_reactions_and_replies_cross_both_ways() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "features").await?;
    let lobby = muc("features");

    // XMPP → Matrix.
    let id = bob.message(&lobby, "groupchat", "helo").await?;
    let original = alice.wait_for_text(&room, "helo").await?;
    let original_id = original["event_id"].as_str().unwrap_or_default().to_owned();
    bob.send(&format!("<message to='{lobby}' type='groupchat' id='fix1'><body>hello</body><replace xmlns='urn:xmpp:message-correct:0' id='{id}'/></message>")).await?;
    let edit = alice
        .wait_for(&room, WAIT, |e| {
            relates(e, "m.replace").as_deref() == Some(original_id.as_str())
        })
        .await?;
    assert_eq!(edit["content"]["m.new_content"]["body"], "hello");

    // The room's stanza-id is what reactions and replies point at.
    let reflected = bob
        .wait_for(WAIT, |e| {
            e.attr("id") == Some(id.as_str()) && body_of(e).is_some()
        })
        .await?;
    let sid = reflected
        .children()
        .find(|c| c.name() == "stanza-id" && c.attr("by") == Some(lobby.as_str()))
        .and_then(|c| c.attr("id"))
        .map(str::to_owned)
        .expect("the MUC stamps a stanza-id");
    bob.send(&format!("<message to='{lobby}' type='groupchat' id='r1'><reactions xmlns='urn:xmpp:reactions:0' id='{sid}'><reaction>👍</reaction></reactions></message>")).await?;
    let reaction = alice
        .wait_for(&room, WAIT, |e| e["type"] == "m.reaction")
        .await?;
    assert_eq!(reaction["content"]["m.relates_to"]["key"], "👍");
    assert_eq!(
        reaction["content"]["m.relates_to"]["event_id"],
        original_id.as_str()
    );
    bob.send(&format!("<message to='{lobby}' type='groupchat' id='q1'><body>&gt; hello\nindeed</body><reply xmlns='urn:xmpp:reply:0' id='{sid}'/><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:reply:0'><body start='0' end='8'/></fallback></message>")).await?;
    let reply = alice.wait_for_text(&room, "indeed").await?;
    assert_eq!(
        relates(&reply, "reply").as_deref(),
        Some(original_id.as_str())
    );
    bob.send(&format!("<message to='{lobby}' type='groupchat' id='x1'><retract xmlns='urn:xmpp:message-retract:1' id='{id}'/><body>retracted</body><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/></message>")).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == original_id.as_str()
        })
        .await?;

    // Matrix → XMPP.
    let sent = alice.send_text(&room, "from matrix").await?;
    let arrived = bob.wait_for_body("from matrix").await?;
    assert_eq!(arrived.attr("id"), Some(sent.as_str()));
    alice.send(&room, "m.room.message", json!({ "msgtype": "m.text", "body": "* from matrix, fixed", "m.new_content": { "msgtype": "m.text", "body": "from matrix, fixed" }, "m.relates_to": { "rel_type": "m.replace", "event_id": sent } })).await?;
    let correction = bob.wait_for_body("from matrix, fixed").await?;
    assert_eq!(
        child(&correction, "replace", "urn:xmpp:message-correct:0").and_then(|r| r.attr("id")),
        Some(sent.as_str())
    );

    alice.send(&room, "m.reaction", json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": reply["event_id"], "key": "🎉" } })).await?;
    let reactions = bob
        .wait_for(WAIT, |e| {
            e.attr("from").is_some_and(|f| f.ends_with("/alice"))
                && child(e, "reactions", "urn:xmpp:reactions:0").is_some()
        })
        .await?;
    assert!(String::from(&reactions).contains("🎉"));
    alice.send(&room, "m.room.message", json!({ "msgtype": "m.text", "body": "a reply", "m.relates_to": { "m.in_reply_to": { "event_id": reply["event_id"] } } })).await?;
    let xmpp_reply = bob.wait_for_body("a reply").await?;
    assert!(child(&xmpp_reply, "reply", "urn:xmpp:reply:0")
        .and_then(|r| r.attr("id"))
        .is_some());
    alice.redact(&room, &sent).await?;
    bob.wait_for(WAIT, |e| {
        e.attr("from").is_some_and(|f| f.ends_with("/alice"))
            && child(e, "retract", "urn:xmpp:message-retract:1").is_some()
    })
    .await?;
    Ok(())
}

#[tokio::test]
async fn typing_and_read_markers_cross_both_ways() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "states").await?;
    let lobby = muc("states");

    bob.send(&format!("<message to='{lobby}' type='groupchat'><composing xmlns='http://jabber.org/protocol/chatstates'/></message>")).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.typing"
                && e["content"]["user_ids"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|u| u == BOB_GHOST))
        })
        .await?;

    alice.typing(&room, true).await?;
    bob.wait_for(WAIT, |e| {
        e.attr("from") == Some(&format!("{lobby}/alice"))
            && child(e, "composing", "http://jabber.org/protocol/chatstates").is_some()
    })
    .await?;

    let id = bob.message(&lobby, "groupchat", "read me").await?;
    let event = alice.wait_for_text(&room, "read me").await?;
    alice
        .read_receipt(&room, event["event_id"].as_str().unwrap_or_default())
        .await?;
    let marker = bob
        .wait_for(WAIT, |e| {
            child(e, "displayed", "urn:xmpp:chat-markers:0").is_some()
        })
        .await?;
    assert!(marker.attr("from").is_some_and(|f| f.ends_with("/alice")));

    let seen = alice.send_text(&room, "seen?").await?;
    bob.wait_for_body("seen?").await?;
    bob.send(&format!("<message to='{lobby}' type='groupchat'><displayed xmlns='urn:xmpp:chat-markers:0' id='{seen}'/></message>")).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.receipt" && e["content"].to_string().contains(BOB_GHOST)
        })
        .await?;
    let _ = (id, body, CLIENT);
    Ok(())
}
