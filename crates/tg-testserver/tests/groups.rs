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

/// A member for `createChat`, as `client` knows them.
async fn input_user(client: &TestClient, username: &str) -> Result<tl::enums::InputUser> {
    let found = peer(client, username).await?;
    Ok(tl::enums::InputUser::User(tl::types::InputUser {
        user_id: found.id.bare_id().unwrap_or_default(),
        access_hash: found.auth.hash(),
    }))
}

/// Who joined (`true`) or left, from the next participant update.
async fn next_membership(
    updates: &mut grammers_client::client::UpdateStream,
) -> Result<(i64, bool, i32)> {
    next_matching(updates, |u| match u {
        Update::Raw(raw) => match &raw.raw {
            tl::enums::Update::ChatParticipant(p) => {
                Some((p.user_id, p.new_participant.is_some(), p.qts))
            }
            _ => None,
        },
        _ => None,
    })
    .await
}

#[tokio::test]
async fn a_bot_in_a_group_follows_members_on_qts_and_catches_up_on_them_after_a_restart(
) -> Result<()> {
    let server = server().await?;
    let db = Db::new().await;
    let alice = logged_in(&server, &db, "tg-alice", "+15550001").await?;
    let session = db.session("tg-bot").await?;
    point_at(&session, &server).await?;
    let mut bot = connect(session);
    bounded(
        "bot login",
        bot.client.bot_sign_in("4242:bot-token", API_HASH),
    )
    .await??;
    let mut bot_updates = updates_of(&mut bot).await?;
    let (bob, carol, helper) = (
        server.user_id("15550002").unwrap(),
        server.user_id("15550003").unwrap(),
        server.user_id("15550009").unwrap(),
    );

    let create = tl::functions::messages::CreateChat {
        users: vec![
            input_user(&alice, "bob").await?,
            input_user(&alice, "carol").await?,
            input_user(&alice, "helper").await?,
        ],
        title: "With a bot".into(),
        ttl_period: None,
    };
    let tl::enums::messages::InvitedUsers::Users(invited) =
        bounded("createChat", alice.client.invoke(&create)).await??;
    let chat_id = match &invited.updates {
        tl::enums::Updates::Updates(u) => match u.chats.first() {
            Some(tl::enums::Chat::Chat(chat)) => chat.id,
            other => anyhow::bail!("no chat in {other:?}"),
        },
        other => anyhow::bail!("no updates in {other:?}"),
    };
    let mut joined = Vec::new();
    for _ in 0..3 {
        joined.push(next_membership(&mut bot_updates).await?);
    }
    // New accounts start at qts 1, so the three joins are 2, 3 and 4.
    assert_eq!(
        joined,
        [(bob, true, 2), (carol, true, 3), (helper, true, 4)]
    );

    // The bot is away while Bob and Carol are removed; started again from
    // its stored session, it gets both from the difference, in order and
    // once.
    bounded("sync", bot_updates.sync_update_state())
        .await?
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    drop(bot_updates);
    drop(bot);
    for name in ["bob", "carol"] {
        let remove = tl::functions::messages::DeleteChatUser {
            revoke_history: false,
            chat_id,
            user_id: input_user(&alice, name).await?,
        };
        bounded("deleteChatUser", alice.client.invoke(&remove)).await??;
    }
    let mut bot = connect(db.session("tg-bot").await?);
    let mut bot_updates = updates_of(&mut bot).await?;
    let left = [
        next_membership(&mut bot_updates).await?,
        next_membership(&mut bot_updates).await?,
    ];
    assert_eq!(left, [(bob, false, 5), (carol, false, 6)]);
    let state = bounded(
        "getState",
        bot.client.invoke(&tl::functions::updates::GetState {}),
    )
    .await??;
    let tl::enums::updates::State::State(state) = state;
    assert_eq!(state.qts, 6);
    Ok(())
}
