//! A basic group of three real grammers clients: made, renamed, and
//! talked in, with each member's own message IDs.

use anyhow::Result;
use common::*;
use grammers_client::tl;
use grammers_client::update::Update;
use grammers_session::types::{PeerAuth, PeerId, PeerRef};

mod common;

#[tokio::test]
async fn a_group_is_made_renamed_and_talked_in_by_everyone() -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let mut bob = logged_in(&server, &db, "tg-bob", "+15550002").await?;
    let mut bob_updates = updates_of(&mut bob).await?;
    let bob_ref = peer(&alice, "bob").await?;
    let bob_input = tl::enums::InputUser::User(tl::types::InputUser {
        user_id: bob_ref.id.bare_id().unwrap_or_default(),
        access_hash: bob_ref.auth.hash(),
    });
    let create = tl::functions::messages::CreateChat {
        users: vec![bob_input],
        title: "Team".into(),
        ttl_period: None,
    };
    let tl::enums::messages::InvitedUsers::Users(invited) =
        bounded("createChat", alice.client.invoke(&create)).await??;
    let tl::enums::Updates::Updates(updates) = invited.updates else {
        anyhow::bail!("no updates")
    };
    let chat_id = match updates.chats.first() {
        Some(tl::enums::Chat::Chat(chat)) => chat.id,
        other => anyhow::bail!("no chat in {other:?}"),
    };
    let group = PeerRef {
        id: PeerId::chat(chat_id).expect("a chat ID"),
        auth: PeerAuth::default(),
    };

    bounded("send", alice.client.send_message(group, "hello team")).await??;
    let got = loop {
        if let Update::NewMessage(m) = bounded("update", bob_updates.next()).await?? {
            if !m.outgoing() && m.text() == "hello team" {
                break m;
            }
        }
    };
    assert_eq!(got.peer_id(), group.id);
    bounded("send", bob.client.send_message(group, "hi alice")).await??;

    let rename = tl::functions::messages::EditChatTitle {
        chat_id,
        title: "Renamed team".into(),
    };
    bounded("rename", alice.client.invoke(&rename)).await??;
    let title = loop {
        if let Update::NewMessage(m) = bounded("update", bob_updates.next()).await?? {
            if let Some(tl::enums::MessageAction::ChatEditTitle(a)) = m.action() {
                break a.title.clone();
            }
        }
    };
    assert_eq!(title, "Renamed team");

    let mut history = alice.client.iter_messages(group);
    let mut texts = Vec::new();
    while let Some(message) = bounded("history", history.next()).await?? {
        texts.push(message.text().to_owned());
    }
    assert_eq!(texts, ["hi alice", "hello team"]);
    Ok(())
}
