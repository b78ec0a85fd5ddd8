//! WhatsApp groups: listed, opened as rooms with their members, and
//! messages both ways with someone on their own WhatsApp client.

use crate::common::*;
use anyhow::Result;

const CAROL: &str = "15550103";

#[tokio::test]
async fn a_group_is_listed_opened_with_its_members_and_chats_both_ways() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let group = server.create_group(CAROL, "Lounge", &[BOB, ADA]);
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;

    bob.send_text(&dm, "list groups").await?;
    says(&bob, &dm, &group).await?;
    bob.send_text(&dm, &format!("open {group}")).await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    // The room is the group: its name, and Ada and Carol as ghosts, Carol,
    // who made it, an admin.
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.name" && e["content"]["name"] == "Lounge"
    })
    .await?;
    for member in [ADA, CAROL] {
        bob.wait_for(&room, WAIT, |e| {
            e["type"] == "m.room.member" && e["state_key"] == ghost(member).as_str()
        })
        .await?;
    }

    let carol_ghost = ghost(CAROL);
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.power_levels" && e["content"]["users"][carol_ghost.as_str()] == 50
    })
    .await?;

    // Carol writes in the group from her phone; Bob reads it in the room.
    let group_jid: whatsapp_rust::Jid = group.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    carol
        .client()
        .send_text(group_jid, "hello group")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let got = says(&bob, &room, "hello group").await?;
    assert_eq!(got["sender"], ghost(CAROL));

    // Bob answers from Matrix; Carol's client gets it.
    bob.send_text(&room, "hi Carol, from _Matrix_").await?;
    assert_eq!(
        next_text(&mut carol_events).await?,
        "hi Carol, from _Matrix_"
    );
    Ok(())
}

#[tokio::test]
async fn edits_removals_and_reactions_cross_both_ways() -> Result<()> {
    use whatsapp_rust::waproto::whatsapp as wa;
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let group = server.create_group(CAROL, "Lounge", &[BOB]);
    let group_jid: whatsapp_rust::Jid = group.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (carol, mut carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    bob.send_text(&dm, &format!("open {group}")).await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let wa_err = |e: whatsapp_rust::send::SendError| anyhow::anyhow!("{e}");

    // From WhatsApp: Carol's message, her edit, her reaction to Bob's
    // message, and her removal.
    let sent = carol
        .send_text(group_jid.clone(), "first draft")
        .await
        .map_err(wa_err)?;
    let first = says(&bob, &room, "first draft").await?;
    carol
        .edit_message(
            group_jid.clone(),
            sent.message_id.clone(),
            wa::Message {
                conversation: Some("final text".into()),
                ..Default::default()
            },
        )
        .await
        .map_err(wa_err)?;
    says(&bob, &room, "* final text").await?;
    bob.send_text(&room, "from bob").await?;
    let (bob_id, _) = next_where(&mut carol_events, |m| {
        m.conversation.as_deref() == Some("from bob")
    })
    .await?;
    let bob_event = says(&bob, &room, "from bob").await?;
    let key = wa::MessageKey {
        remote_jid: Some(group.clone()),
        from_me: Some(false),
        id: Some(bob_id.clone()),
        participant: Some(format!("{BOB}@s.whatsapp.net")),
    };
    carol
        .send_reaction(group_jid.clone(), key, "👍")
        .await
        .map_err(wa_err)?;
    let bob_event_id = bob_event["event_id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.reaction"
            && e["content"]["m.relates_to"]["event_id"] == bob_event_id.as_str()
            && e["content"]["m.relates_to"]["key"] == "👍"
    })
    .await?;
    carol
        .revoke_message(
            group_jid.clone(),
            sent.message_id,
            whatsapp_rust::send::RevokeType::Sender,
        )
        .await
        .map_err(wa_err)?;
    let first_id = first["event_id"].as_str().unwrap_or_default().to_owned();
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.redaction" && e["redacts"] == first_id.as_str()
    })
    .await?;

    // From Matrix: Bob's edit, reaction and removal reach Carol.
    bob.send(
        &room,
        "m.room.message",
        serde_json::json!({
            "msgtype": "m.text",
            "body": "* from bob, edited",
            "m.new_content": { "msgtype": "m.text", "body": "from bob, edited" },
            "m.relates_to": { "rel_type": "m.replace", "event_id": bob_event_id },
        }),
    )
    .await?;
    let (_, edit) = next_where(&mut carol_events, |m| m.protocol_message.is_set()).await?;
    let protocol = edit.protocol_message.as_option().expect("an edit");
    assert_eq!(
        protocol
            .edited_message
            .as_option()
            .and_then(|m| m.conversation.clone()),
        Some("from bob, edited".into())
    );
    bob.send(
        &room,
        "m.reaction",
        serde_json::json!({ "m.relates_to": { "rel_type": "m.annotation", "event_id": bob_event_id, "key": "🎉" } }),
    )
    .await?;
    let (_, reaction) = next_where(&mut carol_events, |m| m.reaction_message.is_set()).await?;
    assert_eq!(
        reaction
            .reaction_message
            .as_option()
            .and_then(|r| r.text.clone()),
        Some("🎉".into())
    );
    bob.redact(&room, &bob_event_id).await?;
    let (_, revoke) = next_where(&mut carol_events, |m| {
        m.protocol_message
            .as_option()
            .is_some_and(|p| p.r#type == Some(wa::message::protocol_message::Type::REVOKE))
    })
    .await?;
    assert_eq!(
        revoke
            .protocol_message
            .as_option()
            .and_then(|p| p.key.as_option())
            .and_then(|k| k.id.clone()),
        Some(bob_id)
    );
    Ok(())
}

#[tokio::test]
async fn group_names_topics_and_members_follow_both_ways() -> Result<()> {
    use whatsapp_rust::features::GroupSubject;
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let group = server.create_group(BOB, "Lounge", &[CAROL, ADA]);
    let group_jid: whatsapp_rust::Jid = group.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (carol, _carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;
    bob.send_text(&dm, &format!("open {group}")).await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.member" && e["state_key"] == ghost(ADA).as_str()
    })
    .await?;

    // Carol renames the group on WhatsApp: the room follows.
    carol
        .groups()
        .set_subject(group_jid.clone(), GroupSubject::new("Parlour")?)
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bob.wait_for(&room, WAIT, |e| {
        e["type"] == "m.room.name" && e["content"]["name"] == "Parlour"
    })
    .await?;

    // Bob, who made the group, sets the topic and removes Ada from Matrix.
    bob.send_state(
        &room,
        "m.room.topic",
        "",
        serde_json::json!({ "topic": "tea at four" }),
    )
    .await?;
    bob.kick(&room, &ghost(ADA), "moved away").await?;
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let metadata = carol
            .groups()
            .get_metadata(&group_jid)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let ada_gone = !metadata
            .participants
            .iter()
            .any(|p| p.jid.user.as_str() == ADA);
        if metadata.description.as_deref() == Some("tea at four") && ada_gone {
            break;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "WhatsApp did not follow: {metadata:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}

#[tokio::test]
async fn a_group_picture_and_a_contact_picture_become_avatars() -> Result<()> {
    let (server, env) = setup().await?;
    server.add_account(CAROL, "Carol");
    let group = server.create_group(CAROL, "Lounge", &[BOB]);
    let group_jid: whatsapp_rust::Jid = group.parse().map_err(|e| anyhow::anyhow!("{e:?}"))?;
    let (carol, _carol_events, _store) = whatsapp_user(&server, CAROL).await?;
    let carol = carol.client();
    let group_picture: Vec<u8> = (0..4000u32).map(|n| (n % 251) as u8).collect();
    let own_picture: Vec<u8> = (0..3000u32).map(|n| (n % 241) as u8).collect();
    carol
        .groups()
        .set_profile_picture(group_jid.clone(), group_picture.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    carol
        .profile()
        .set_profile_picture(own_picture.clone())
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let bob = env.user("bob").await?;
    let dm = logged_in(&server, &env, &bob, BOB).await?;

    bob.send_text(&dm, &format!("open {group}")).await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    let avatar = bob
        .wait_for(&room, WAIT, |e| e["type"] == "m.room.avatar")
        .await?;
    let mxc = avatar["content"]["url"].as_str().unwrap_or_default();
    assert!(
        bob.download(mxc).await? == group_picture,
        "the group picture differs"
    );

    // Carol writes to Bob: the new DM, and her ghost, have her picture.
    carol
        .send_text(whatsapp_rust::Jid::pn(BOB), "see my picture?")
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let direct = bob.wait_for_invite(WAIT).await?;
    bob.join(&direct).await?;
    let avatar = bob
        .wait_for(&direct, WAIT, |e| e["type"] == "m.room.avatar")
        .await?;
    let mxc = avatar["content"]["url"].as_str().unwrap_or_default();
    assert!(
        bob.download(mxc).await? == own_picture,
        "Carol's picture differs"
    );
    Ok(())
}
