//! An XMPP user retracts only what is theirs (XEP-0424), against Prosody:
//! neither a contact in a private chat nor a MUC participant can remove
//! someone else's message from the Matrix room.

use anyhow::Result;
use causeway_testkit::xmpp_client::XmppClient;
use common::*;
use xmpp_parsers::minidom::Element;

mod common;

fn retraction(to: &str, kind: &str, id: &str) -> String {
    format!("<message to='{to}' type='{kind}' id='retract-{id}'><retract xmlns='urn:xmpp:message-retract:1' id='{id}'/><body>retracted</body><fallback xmlns='urn:xmpp:fallback:0' for='urn:xmpp:message-retract:1'/></message>")
}

/// The stanza-id the MUC stamped on a message `client` received.
async fn stanza_id(client: &mut XmppClient, room: &str, body: &str) -> Result<String> {
    let received: Element = client.wait_for_body(body).await?;
    Ok(received
        .children()
        .find(|c| c.name() == "stanza-id" && c.attr("by") == Some(room))
        .and_then(|c| c.attr("id"))
        .map(str::to_owned)
        .expect("the MUC stamps a stanza-id"))
}

#[tokio::test]
async fn a_muc_participant_cannot_retract_another_participants_message() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let (alice, room, mut bob) = portal(&env, &server, "owned").await?;
    let lobby = muc("owned");
    let mut carol = xmpp_user(&server, "carol").await?;
    carol.join_muc(&lobby, "carol").await?;

    let from_alice = alice.send_text(&room, "alice's words").await?;
    let alice_sid = stanza_id(&mut bob, &lobby, "alice's words").await?;
    bob.message(&lobby, "groupchat", "bob's words").await?;
    let from_bob = alice.wait_for_text(&room, "bob's words").await?;
    let bob_sid = stanza_id(&mut carol, &lobby, "bob's words").await?;

    bob.send(&retraction(&lobby, "groupchat", &alice_sid))
        .await?;
    carol
        .send(&retraction(&lobby, "groupchat", &bob_sid))
        .await?;
    // bob's own retraction goes through, after the refused ones.
    bob.send(&retraction(&lobby, "groupchat", &bob_sid)).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == from_bob["event_id"]
        })
        .await?;
    let redactions = alice.seen(&room, |e| e["type"] == "m.room.redaction");
    assert_eq!(redactions.len(), 1, "{redactions:?}");
    assert!(!redactions
        .iter()
        .any(|r| r["redacts"] == from_alice.as_str()));
    Ok(())
}

#[tokio::test]
async fn an_xmpp_contact_cannot_retract_the_matrix_users_message_in_a_dm() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    let alice = env.user("alice").await?;
    let mut bob = xmpp_user(&server, "bob").await?;
    bob.message(&jid_of("alice"), "chat", "hi alice").await?;
    let dm = alice.wait_for_invite(WAIT).await?;
    alice.join(&dm).await?;
    alice.wait_for_text(&dm, "hi alice").await?;

    let mine = alice.send_text(&dm, "alice's own words").await?;
    let received = bob.wait_for_body("alice's own words").await?;
    let id = received.attr("id").unwrap_or_default().to_owned();
    assert_eq!(id, mine);
    bob.send(&retraction(&jid_of("alice"), "chat", &id)).await?;
    bob.message(&jid_of("alice"), "chat", "after the attempt")
        .await?;
    alice.wait_for_text(&dm, "after the attempt").await?;
    let redactions = alice.seen(&dm, |e| e["type"] == "m.room.redaction");
    assert!(redactions.is_empty(), "{redactions:?}");
    Ok(())
}

#[tokio::test]
async fn a_muc_moderators_retraction_removes_anyones_message() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), "").await?;
    // bob made the room, so he moderates it.
    let (alice, room, mut bob) = portal(&env, &server, "moderated").await?;
    let lobby = muc("moderated");
    let mut carol = xmpp_user(&server, "carol").await?;
    carol.join_muc(&lobby, "carol").await?;

    carol.message(&lobby, "groupchat", "carol's spam").await?;
    let spam = alice.wait_for_text(&room, "carol's spam").await?;
    let spam_sid = stanza_id(&mut bob, &lobby, "carol's spam").await?;
    let answer = bob
        .iq("set", &lobby, &format!("<apply-to xmlns='urn:xmpp:fasten:0' id='{spam_sid}'><moderate xmlns='urn:xmpp:message-moderate:0'><retract xmlns='urn:xmpp:message-retract:0'/><reason>spam</reason></moderate></apply-to>"))
        .await?;
    assert_eq!(
        answer.attr("type"),
        Some("result"),
        "{}",
        String::from(&answer)
    );
    let redaction = alice
        .wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.redaction" && e["redacts"] == spam["event_id"]
        })
        .await?;
    assert_eq!(redaction["content"]["reason"], "spam");
    Ok(())
}
