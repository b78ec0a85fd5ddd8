//! A Telegram bot, logged in by its token, relays for Matrix users who have
//! no Telegram account, under their names.

use anyhow::Result;
use common::*;

mod common;

#[tokio::test]
async fn a_bot_logged_in_by_token_relays_for_a_member_without_an_account() -> Result<()> {
    let (server, env) = setup().await?;
    // The admin logs the bot in; a wrong token is asked again.
    let admin = env.user("admin").await?;
    let dm = admin.create_dm(&env.bot()).await?;
    says(&admin, &dm, "management room").await?;
    admin.send_text(&dm, "login bot").await?;
    says(&admin, &dm, "token from @BotFather").await?;
    admin.send_text(&dm, "1:not-a-token").await?;
    says(&admin, &dm, "Telegram does not know that token").await?;
    admin.send_text(&dm, BOT_TOKEN).await?;
    says(&admin, &dm, "Logged in to Telegram as RelayBot").await?;

    // Carol's supergroup has Bob and the bot in it.
    let bob = env.user("bob").await?;
    logged_in(&server, &env, &bob, "+15550002").await?;
    let (carol, mut carol_updates) =
        tokio::time::timeout(WAIT, telegram_user(&server, "+15550003")).await??;
    let members = vec![
        resolve(&carol, "bob").await?,
        resolve(&carol, "relaybot").await?,
    ];
    let group = channel(&carol, "Relayed", "", false, members).await?;
    carol.send_message(group, "welcome both").await?;
    let room = bob.wait_for_invite(WAIT).await?;
    bob.join(&room).await?;
    says(&bob, &room, "welcome both").await?;

    // The admin makes the bot the room's relay; a guest without a login
    // writes, and Carol reads it from the bot, under the guest's name.
    admin.send_text(&dm, &format!("set-relay {room}")).await?;
    says(&admin, &dm, "now go through your login").await?;
    let guest = env.user("guest").await?;
    bob.invite(&room, &guest.user_id).await?;
    guest.join(&room).await?;
    guest.send_text(&room, "hello from a guest").await?;
    let got = next_incoming(&mut carol_updates).await?;
    assert_eq!(got.text(), "guest: hello from a guest");
    let bot_id = server.user_id("15550009").unwrap_or_default();
    assert_eq!(
        got.sender().map(|s| s.id().bare_id().unwrap_or_default()),
        Some(bot_id)
    );
    Ok(())
}
