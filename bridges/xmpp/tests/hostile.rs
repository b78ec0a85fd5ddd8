//! Bad input from either side: refused with a clear error, nothing lost,
//! and the component stays up.

use anyhow::Result;
use causeway_testkit::matrix_client::body;
use causeway_testkit::prosody;
use causeway_testkit::xmpp_client::escape;
use common::*;

mod common;

#[tokio::test]
async fn hostile_and_oversized_input_is_refused_without_harm() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), ", max_message_bytes: 32768").await?;
    let (alice, room, mut bob) = portal(&env, &server, "hostile").await?;
    let lobby = muc("hostile");

    // XHTML with a script arrives sanitised.
    bob.send(&format!("<message to='{lobby}' type='groupchat' id='x1'><body>look</body><html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'><p>look <em>here</em><script>alert(1)</script><img src='http://x/y.png' onerror='alert(2)'/></p></body></html></message>")).await?;
    let look = alice.wait_for_text(&room, "look").await?;
    let html = look["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(
        html.contains("<em>here</em>") && !html.contains("script") && !html.contains("onerror"),
        "{html}"
    );

    // A 1 MB message is refused to its sender and told in the room.
    let long = "x".repeat(1024 * 1024);
    bob.message(&lobby, "groupchat", &long).await?;
    alice
        .wait_for(&room, WAIT, |e| {
            body(e).contains("was not bridged") && body(e).contains("at most")
        })
        .await?;
    // From Matrix, a message over the limit is refused with a notice that
    // says why.
    alice.send_text(&room, &"y".repeat(40 * 1024)).await?;
    alice
        .wait_for(&room, WAIT, |e| body(e).contains("XMPP users get at most"))
        .await?;

    // Control characters Matrix allows and XML does not are dropped.
    alice.send_text(&room, "bell\u{7} and null\u{0}").await?;
    bob.wait_for_body("bell and null").await?;

    // A stanza the parser rejects does not stop the component.
    bob.send(&format!(
        "<message to='{}' type='bogus'><body>bad type</body></message>",
        jid_of("alice")
    ))
    .await?;
    bob.send(&format!(
        "<message to='{lobby}' type='groupchat' id='after'><body>still {}</body></message>",
        escape("<up>")
    ))
    .await?;
    alice.wait_for_text(&room, "still <up>").await?;

    // Unknown namespaces get feature-not-implemented, never silence.
    let err = bob
        .iq(
            "get",
            prosody::COMPONENT,
            "<query xmlns='urn:example:unknown'/>",
        )
        .await
        .unwrap_err()
        .to_string();
    assert!(err.contains("feature-not-implemented"), "{err}");
    bob.iq("get", prosody::COMPONENT, "<ping xmlns='urn:xmpp:ping'/>")
        .await?;
    let info = bob
        .iq(
            "get",
            prosody::COMPONENT,
            "<query xmlns='http://jabber.org/protocol/disco#info'/>",
        )
        .await?;
    assert!(
        String::from(&info).contains("type='matrix'"),
        "{}",
        String::from(&info)
    );
    let card = bob
        .iq("get", &jid_of("alice"), "<vCard xmlns='vcard-temp'/>")
        .await?;
    assert!(
        String::from(&card).contains("<FN>alice</FN>"),
        "{}",
        String::from(&card)
    );

    // Addresses that cannot be a Matrix user, or one that does not exist.
    for to in [
        format!("odd\\zzescape@{}", prosody::COMPONENT),
        jid_of("nobody"),
    ] {
        let id = bob.message(&to, "chat", "anyone there?").await?;
        let bounce = bob
            .wait_for(WAIT, |e| {
                e.attr("id") == Some(id.as_str()) && e.attr("type") == Some("error")
            })
            .await?;
        assert!(
            String::from(&bounce).contains("item-not-found"),
            "{}",
            String::from(&bounce)
        );
    }
    Ok(())
}

#[tokio::test]
async fn a_remote_nick_in_a_bot_notice_stays_text() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (server, env) = setup(dir.path(), ", max_message_bytes: 16").await?;
    let (alice, room, _bob) = portal(&env, &server, "markup").await?;
    let lobby = muc("markup");
    let mut carol = xmpp_user(&server, "carol").await?;
    let nick = "*[click](https://evil.example)*";
    carol.join_muc(&lobby, nick).await?;
    carol
        .message(&lobby, "groupchat", "a body over sixteen bytes")
        .await?;
    let notice = alice
        .wait_for(&room, WAIT, |e| body(e).contains("was not bridged"))
        .await?;
    let html = notice["content"]["formatted_body"]
        .as_str()
        .unwrap_or_default();
    assert!(!html.contains("<a") && !html.contains("<em>"), "{html}");
    assert!(html.contains("[click](https://evil.example)"), "{html}");
    Ok(())
}
