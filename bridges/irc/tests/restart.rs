//! A bridge restart loses nothing a user set up: portals, chosen nicks,
//! usernames and stored passwords.

mod common;

use anyhow::Result;
use causeway_testkit::ircd::RawIrc;

#[tokio::test]
async fn portals_nicks_and_stored_passwords_survive_a_bridge_restart() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, mut env) = common::setup_with(dir.path(), "").await?;
    // ngircd has no services: a client named NickServ sees what is sent to it.
    let mut nickserv = RawIrc::connect(ircd.port, "NickServ").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#persist").await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    alice.send_text(&admin_room, "!nick alicia").await?;
    alice.wait_for_text(&admin_room, "`alicia`").await?;
    alice
        .send_text(&admin_room, "!storepass al1ce:s3cret")
        .await?;
    alice
        .wait_for_text(&admin_room, "Stored your password")
        .await?;
    let room = alice.join("#_local_#persist:localhost").await?;
    alice.send_text(&room, "before").await?;
    bob.wait_for(|l| l.starts_with(":alicia!") && l.ends_with("PRIVMSG #persist :before"))
        .await?;

    env.kill_bridge();
    bob.wait_for(|l| l.starts_with(":alicia!") && l.contains(" QUIT "))
        .await?;
    nickserv.seen.clear();
    bob.seen.clear();
    env.start_bridge().await?;
    bob.wait_for(|l| l.starts_with(":causeway!") && l.contains(" JOIN "))
        .await?;
    // alice is back in the channel before she says anything.
    bob.wait_for(|l| l.starts_with(":alicia!~al1ce@") && l.contains(" JOIN "))
        .await?;

    alice.send_text(&room, "after").await?;
    bob.wait_for(|l| l.starts_with(":alicia!~al1ce@") && l.ends_with("PRIVMSG #persist :after"))
        .await?;
    nickserv
        .wait_for(|l| l.starts_with(":alicia!") && l.ends_with("PRIVMSG NickServ :IDENTIFY s3cret"))
        .await?;
    // The channel's room is the same one, both ways.
    bob.send("PRIVMSG #persist :still here").await?;
    alice.wait_for_text(&room, "still here").await?;
    assert_eq!(
        alice.resolve_alias("#_local_#persist:localhost").await?,
        room
    );
    Ok(())
}
