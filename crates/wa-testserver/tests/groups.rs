//! A three-member group through the test server: created over `w:g2`,
//! messages fanned out with sender keys, and changes told to every member.

mod common;

use causeway_core::store::test_store;
use causeway_wa_testserver::WaTestServer;
use common::*;
use std::time::Duration;
use whatsapp_rust::types::events::Event;
use whatsapp_rust::wacore::iq::groups::{
    GroupCreateOptions, GroupParticipantOptions, GroupSubject,
};
use whatsapp_rust::wacore::stanza::groups::GroupNotificationAction;
use whatsapp_rust::Jid;

const ALICE: &str = "4455555555";
const BOB: &str = "4466666666";
const CAROL: &str = "4477777777";

#[tokio::test]
async fn a_group_of_three_talks_and_hears_of_its_changes() {
    init_logs();
    let server = WaTestServer::start().await.unwrap();
    for (phone, name) in [(ALICE, "Alice"), (BOB, "Bob"), (CAROL, "Carol")] {
        server.add_account(phone, name);
    }
    let (store, _dir) = test_store().await;
    let (alice, mut alice_events) = paired(&server, &store, "alice", ALICE).await;
    let (bob, mut bob_events) = paired(&server, &store, "bob", BOB).await;
    let (carol, mut carol_events) = paired(&server, &store, "carol", CAROL).await;

    let options = GroupCreateOptions::builder()
        .subject("Lunch")
        .participants(vec![
            GroupParticipantOptions::new(Jid::pn(BOB)),
            GroupParticipantOptions::new(Jid::pn(CAROL)),
        ])
        .build();
    let created = alice.client().groups().create_group(options).await.unwrap();
    let group = created.metadata.id.clone();
    assert_eq!(created.metadata.participants.len(), 3);

    alice
        .client()
        .send_message(group.clone(), text("noon?"))
        .await
        .unwrap();
    for events in [&mut bob_events, &mut carol_events] {
        let (chat, sender, body) = next_text(events).await;
        assert_eq!(
            (chat.as_str(), body.as_str()),
            (group.to_string().as_str(), "noon?")
        );
        assert_eq!(sender, format!("{ALICE}:1@s.whatsapp.net"));
    }
    bob.client()
        .send_message(group.clone(), text("yes"))
        .await
        .unwrap();
    for events in [&mut alice_events, &mut carol_events] {
        let (chat, _, body) = next_text(events).await;
        assert_eq!((chat, body), (group.to_string(), "yes".to_owned()));
    }

    alice
        .client()
        .groups()
        .set_subject(group.clone(), GroupSubject::new("Lunch at noon").unwrap())
        .await
        .unwrap();
    let subject = expect(
        &mut carol_events,
        Duration::from_secs(10),
        "subject change",
        |e| match e {
            Event::GroupUpdate(update) => match &update.action {
                GroupNotificationAction::Subject { subject, .. } => Some(subject.clone()),
                _ => None,
            },
            _ => None,
        },
    )
    .await;
    assert_eq!(subject, "Lunch at noon");
    let info = bob.client().groups().get_metadata(&group).await.unwrap();
    assert_eq!(info.subject, "Lunch at noon");

    for bot in [alice, bob, carol] {
        bot.shutdown().await;
    }
}
