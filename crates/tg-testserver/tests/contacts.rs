//! Contacts, the chat list and history, through the real grammers client.

use anyhow::Result;
use common::*;
use grammers_client::tl;

mod common;

fn phone_contact(client_id: i64, phone: &str) -> tl::enums::InputContact {
    tl::enums::InputContact::InputPhoneContact(tl::types::InputPhoneContact {
        client_id,
        phone: phone.to_owned(),
        first_name: "Someone".into(),
        last_name: String::new(),
        note: None,
    })
}

#[tokio::test]
async fn a_number_is_imported_resolved_listed_and_searched() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let bob_id = server.user_id("15550002").unwrap_or_default();

    // A number that is on the network becomes a contact; one that is not
    // comes back to retry.
    let request = tl::functions::contacts::ImportContacts {
        contacts: vec![phone_contact(1, "+15550002"), phone_contact(2, "+19990000")],
    };
    let tl::enums::contacts::ImportedContacts::Contacts(imported) =
        bounded("import", alice.client.invoke(&request)).await??;
    assert!(
        matches!(&imported.imported[..], [tl::enums::ImportedContact::Contact(c)] if c.user_id == bob_id && c.client_id == 1)
    );
    assert_eq!(imported.retry_contacts, [2]);

    let resolved = bounded(
        "resolve",
        alice.client.invoke(&tl::functions::contacts::ResolvePhone {
            phone: "15550002".into(),
        }),
    )
    .await??;
    let tl::enums::contacts::ResolvedPeer::Peer(resolved) = resolved;
    assert_eq!(
        resolved.peer,
        tl::enums::Peer::User(tl::types::PeerUser { user_id: bob_id })
    );
    let unknown = bounded(
        "resolve",
        alice.client.invoke(&tl::functions::contacts::ResolvePhone {
            phone: "19990000".into(),
        }),
    )
    .await?;
    assert!(
        matches!(unknown, Err(grammers_client::InvocationError::Rpc(e)) if e.name == "PHONE_NOT_OCCUPIED")
    );

    let tl::enums::contacts::Contacts::Contacts(contacts) = bounded(
        "contacts",
        alice
            .client
            .invoke(&tl::functions::contacts::GetContacts { hash: 0 }),
    )
    .await??
    else {
        anyhow::bail!("contacts not modified");
    };
    assert!(
        matches!(&contacts.contacts[..], [tl::enums::Contact::Contact(c)] if c.user_id == bob_id && !c.mutual)
    );

    let search = tl::functions::contacts::Search {
        broadcasts: false,
        bots: false,
        q: "bo".into(),
        limit: 10,
    };
    let tl::enums::contacts::Found::Found(found) =
        bounded("search", alice.client.invoke(&search)).await??;
    assert_eq!(
        found.my_results,
        [tl::enums::Peer::User(tl::types::PeerUser {
            user_id: bob_id
        })]
    );
    Ok(())
}

#[tokio::test]
async fn the_chat_list_and_a_chats_history_come_newest_first() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let to_bob = peer(&alice, "bob").await?;
    for text in ["first", "second", "third"] {
        bounded("send", alice.client.send_message(to_bob, text)).await??;
    }

    let mut dialogs = bob.client.iter_dialogs();
    let dialog = bounded("dialogs", dialogs.next())
        .await??
        .expect("one dialog");
    assert_eq!(dialog.peer().name(), Some("Alice"));
    assert!(bounded("dialogs", dialogs.next()).await??.is_none());

    let to_alice = peer(&bob, "alice").await?;
    let mut history = bob.client.iter_messages(to_alice);
    let mut texts = Vec::new();
    while let Some(message) = bounded("history", history.next()).await?? {
        texts.push(message.text().to_owned());
    }
    assert_eq!(texts, ["third", "second", "first"]);
    Ok(())
}
