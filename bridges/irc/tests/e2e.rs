//! The IRC bridge end to end: real Synapse, real ngircd, and a raw-socket IRC
//! client on the other side.

use anyhow::Result;
use causeway_testkit::env::{tail, TestEnv};
use causeway_testkit::ircd::{Ngircd, RawIrc};
use causeway_testkit::matrix_client::body;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(30);

mod common;

/// The `<URL>` an IRC line links to.
fn link_in(line: &str) -> String {
    line.split_once('<')
        .and_then(|(_, rest)| rest.split_once('>'))
        .map(|(url, _)| url.to_owned())
        .unwrap_or_default()
}

async fn setup(dir: &std::path::Path) -> Result<(Ngircd, TestEnv)> {
    common::setup_with(dir, "").await
}

#[tokio::test]
async fn join_a_channel_and_talk_both_ways_with_an_irc_user() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    alice.send_text(&admin_room, "!help").await?;
    alice
        .wait_for_text(&admin_room, "`!join [network] #channel [key]`")
        .await?;

    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#test").await?;
    alice.send_text(&admin_room, "!join #test").await?;
    alice
        .wait_for_text(&admin_room, "Joined #test on Local IRC")
        .await?;
    let room = alice.wait_for_invite(WAIT).await?;
    alice.join(&room).await?;
    assert_eq!(alice.resolve_alias("#_local_#test:localhost").await?, room);

    // Matrix → IRC, through alice's own connection.
    alice.send_text(&room, "hello irc").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #test :hello irc"))
        .await?;

    // IRC → Matrix, from bob's ghost; IRC formatting is escaped HTML.
    bob.send("PRIVMSG #test :hi \x02matrix\x02 <script>x</script>")
        .await?;
    let from_bob = alice.wait_for_text(&room, "hi matrix").await?;
    assert_eq!(from_bob["sender"], "@_local_bob:localhost");
    assert_eq!(
        from_bob["content"]["formatted_body"],
        "hi <b>matrix</b> &lt;script&gt;x&lt;/script&gt;"
    );
    bob.send("PRIVMSG #test :\x01ACTION waves\x01").await?;
    let action = alice.wait_for_text(&room, "waves").await?;
    assert_eq!(action["content"]["msgtype"], "m.emote");

    // A reply addresses the person; an edit goes out as a correction.
    let bob_event = from_bob["event_id"].as_str().unwrap_or_default().to_owned();
    let reply = alice
        .send(&room, "m.room.message", serde_json::json!({ "msgtype": "m.text", "body": "agreed", "m.relates_to": { "m.in_reply_to": { "event_id": bob_event } } }))
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #test :bob: agreed"))
        .await?;
    alice
        .send(&room, "m.room.message", serde_json::json!({ "msgtype": "m.text", "body": "* agreed!", "m.new_content": { "msgtype": "m.text", "body": "agreed!" }, "m.relates_to": { "rel_type": "m.replace", "event_id": reply } }))
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #test :* agreed!"))
        .await?;

    // Her nick in IRC text mentions her, until she turns that off.
    bob.send("PRIVMSG #test :alice[m]: ping").await?;
    let ping = alice.wait_for_text(&room, "alice[m]: ping").await?;
    assert_eq!(
        ping["content"]["formatted_body"],
        "<a href=\"https://matrix.to/#/@alice:localhost\">alice[m]</a>: ping"
    );
    assert_eq!(
        ping["content"]["m.mentions"]["user_ids"][0],
        "@alice:localhost"
    );
    alice.send_text(&admin_room, "!feature mentions").await?;
    alice
        .wait_for_text(&admin_room, "`mentions` is on (the default) for you.")
        .await?;
    alice
        .send_text(&admin_room, "!feature mentions false")
        .await?;
    alice
        .wait_for_text(&admin_room, "`mentions` is now off for you.")
        .await?;
    alice.send_text(&admin_room, "!feature sparkles").await?;
    alice
        .wait_for_text(&admin_room, "There is no feature `sparkles`")
        .await?;
    bob.send("PRIVMSG #test :alice[m]: quiet ping").await?;
    let quiet = alice.wait_for_text(&room, "quiet ping").await?;
    assert!(quiet["content"].get("m.mentions").is_none(), "{quiet}");
    Ok(())
}

#[tokio::test]
async fn matrix_text_cannot_inject_irc_commands_and_long_lines_are_split() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#safe").await?;
    let room = alice.join("#_local_#safe:localhost").await?;

    alice
        .send_text(&room, "first\r\nQUIT :injected\rJOIN #evil\0")
        .await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #safe :first"))
        .await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #safe :QUIT :injected"))
        .await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #safe :JOIN #evil"))
        .await?;

    // ngircd drops clients that send lines over 512 bytes: the bridge splits.
    let long = "word ".repeat(150);
    alice.send_text(&room, long.trim_end()).await?;
    let mut got = String::new();
    while got.split_whitespace().count() < 150 {
        let line = bob.wait_for(|l| l.contains("PRIVMSG #safe :word")).await?;
        got.push_str(line.rsplit_once(" :").map(|(_, t)| t).unwrap_or_default());
        got.push(' ');
        bob.seen.retain(|l| l != &line);
    }
    assert_eq!(got.split_whitespace().count(), 150);
    alice.send_text(&room, "still connected").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #safe :still connected"))
        .await?;
    assert!(
        !bob.seen
            .iter()
            .any(|l| l.starts_with(":alice[m]!") && l.split(' ').nth(1) == Some("QUIT")),
        "alice's connection must survive"
    );

    // Over the network's line_limit, and a 10 kB message: one line with a
    // link to the whole text, which anyone can open.
    for text in ["1\n2\n3\n4".to_owned(), "ten kilobytes ".repeat(730)] {
        alice.send_text(&room, &text).await?;
        let line = bob
            .wait_for(|l| l.starts_with(":alice[m]!") && l.contains("… (full message at "))
            .await?;
        bob.seen.retain(|l| l != &line);
        assert!(line.len() <= 512, "{line}");
        let url = line
            .rsplit_once("full message at ")
            .map(|(_, u)| u.trim_end_matches(')'))
            .unwrap_or_default();
        assert!(url.ends_with(".txt"), "{url}");
        let fetched = reqwest::get(url).await?;
        assert_eq!(fetched.status(), 200);
        assert_eq!(fetched.text().await?, text);
    }
    Ok(())
}

#[tokio::test]
async fn files_become_actions_with_links_that_only_open_when_signed() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ircd = Ngircd::start(dir.path())?;
    let env = common::bridge_with(ircd.port, "", "{ public_media_max_bytes: 4096 }").await?;
    let alice = env.user("alice").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#files").await?;
    let room = alice.join("#_local_#files:localhost").await?;
    let picture = vec![7u8; 3 * 1024];
    let mxc = alice
        .upload(picture.clone(), "image/png", "cat.png")
        .await?;
    alice
        .send(&room, "m.room.message", serde_json::json!({ "msgtype": "m.image", "body": "cat.png", "url": mxc, "info": { "size": 3072, "mimetype": "image/png" } }))
        .await?;
    let line = bob
        .wait_for(|l| l.contains("PRIVMSG #files :\x01ACTION uploaded an image: cat.png (3 KiB) <"))
        .await?;
    let url = link_in(&line);
    let fetched = reqwest::get(&url).await?;
    assert_eq!(fetched.status(), 200);
    assert_eq!(fetched.headers()["x-content-type-options"], "nosniff");
    assert_eq!(fetched.bytes().await?.to_vec(), picture);

    // A forged signature, or a link to other media, opens nothing.
    let (head, tail) = url.rsplit_once('/').unwrap_or_default();
    let (base, _signature) = head.rsplit_once('/').unwrap_or_default();
    let forged = format!("{base}/AAAAAAAAAAAAAAAA/{tail}");
    let refused = reqwest::get(&forged).await?;
    assert_eq!(refused.status(), 404);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["errcode"], "M_NOT_FOUND");
    // The name and the expiry are signed too.
    let renamed = format!("{head}/cat.html");
    assert_eq!(reqwest::get(&renamed).await?.status(), 404);
    let (before_expiry, signature) = head.rsplit_once('/').unwrap_or_default();
    let (media, expires) = before_expiry.rsplit_once('/').unwrap_or_default();
    let later: u64 = expires.parse::<u64>()? + 3600;
    let extended = format!("{media}/{later}/{signature}/{tail}");
    assert_eq!(reqwest::get(&extended).await?.status(), 404);

    // Files over public_media_max_bytes are not served.
    let big = alice
        .upload(vec![9u8; 5000], "application/octet-stream", "big.bin")
        .await?;
    alice
        .send(
            &room,
            "m.room.message",
            serde_json::json!({ "msgtype": "m.file", "body": "big.bin", "url": big }),
        )
        .await?;
    let line = bob.wait_for(|l| l.contains("big.bin")).await?;
    let url = link_in(&line);
    assert_eq!(reqwest::get(&url).await?.status(), 413);
    Ok(())
}

#[tokio::test]
async fn media_links_expire_and_each_client_is_rate_limited() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let ircd = Ngircd::start(dir.path())?;
    let bridge = "{ public_media_expiry_hours: 0, public_media_requests_per_minute: 2 }";
    let env = common::bridge_with(ircd.port, "", bridge).await?;
    let alice = env.user("alice").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#files").await?;
    let room = alice.join("#_local_#files:localhost").await?;
    let mxc = alice.upload(vec![1u8; 16], "text/plain", "a.txt").await?;
    alice
        .send(
            &room,
            "m.room.message",
            serde_json::json!({ "msgtype": "m.file", "body": "a.txt", "url": mxc }),
        )
        .await?;
    let line = bob.wait_for(|l| l.contains("a.txt")).await?;
    let url = link_in(&line);
    // With a lifetime of zero hours, the link is dead once its second ends.
    tokio::time::sleep(Duration::from_millis(1100)).await;
    let expired = reqwest::get(&url).await?;
    assert_eq!(expired.status(), 404);
    assert!(expired.text().await?.contains("expired"));
    let limited = reqwest::get(&url).await?;
    assert_eq!(limited.status(), 404);
    let refused = reqwest::get(&url).await?;
    assert_eq!(refused.status(), 429);
    let body: serde_json::Value = refused.json().await?;
    assert_eq!(body["errcode"], "M_LIMIT_EXCEEDED");
    Ok(())
}

#[tokio::test]
async fn nick_listrooms_whois_private_messages_and_quit_work_as_the_guide_says() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#guide").await?;
    alice.send_text(&admin_room, "!join #guide").await?;
    let room = alice.wait_for_invite(WAIT).await?;
    alice.join(&room).await?;
    alice.send_text(&room, "hi all").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #guide :hi all"))
        .await?;

    // !nick shows, changes, and reports the server's refusal.
    alice.send_text(&admin_room, "!nick").await?;
    alice
        .wait_for_text(&admin_room, "Local IRC: `alice[m]`")
        .await?;
    alice.send_text(&admin_room, "!nick Alicia").await?;
    alice.wait_for_text(&admin_room, "is now `Alicia`").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("NICK :Alicia"))
        .await?;
    alice.send_text(&admin_room, "!nick bob").await?;
    let refused = alice
        .wait_for_text(&admin_room, "refused the nick bob")
        .await?;
    assert!(body(&refused).contains("433"), "{}", body(&refused));

    // !listrooms and !whois.
    alice.send_text(&admin_room, "!listrooms").await?;
    alice
        .wait_for_text(
            &admin_room,
            &format!("#guide on Local IRC: https://matrix.to/#/{room}"),
        )
        .await?;
    alice.send_text(&admin_room, "!whois bob").await?;
    alice.wait_for_text(&admin_room, "on channels:").await?;
    alice.send_text(&admin_room, "!whois nosuchnick").await?;
    alice
        .wait_for_text(&admin_room, "There is no `nosuchnick`")
        .await?;
    alice
        .send_text(&admin_room, &format!("!whois {}", alice.user_id))
        .await?;
    alice
        .wait_for_text(&admin_room, "connected to Local IRC as `Alicia`")
        .await?;
    alice.send_text(&admin_room, "!whois elsewhere bob").await?;
    alice
        .wait_for_text(&admin_room, "There is no IRC network `elsewhere`")
        .await?;

    // A private message from IRC opens a DM in Matrix, and the reply goes back.
    bob.send("PRIVMSG Alicia :psst").await?;
    let dm = alice
        .wait_for_invite(WAIT)
        .await
        .map_err(|e| anyhow::anyhow!("{e}; bridge log:\n{}", tail(&env.log(), 25)))?;
    alice.join(&dm).await?;
    let psst = alice.wait_for_text(&dm, "psst").await?;
    assert_eq!(psst["sender"], "@_local_bob:localhost");
    alice.send_text(&dm, "hello bob").await?;
    bob.wait_for(|l| l.starts_with(":Alicia!") && l.ends_with("PRIVMSG bob :hello bob"))
        .await?;

    // A DM that alice starts with an IRC user's ghost reaches them.
    let mut carol = RawIrc::connect(ircd.port, "carol").await?;
    let to_carol = alice.create_room(serde_json::json!({ "is_direct": true, "preset": "trusted_private_chat", "invite": ["@_local_carol:localhost"] })).await?;
    alice
        .wait_for(&to_carol, WAIT, |e| {
            e["state_key"] == "@_local_carol:localhost" && e["content"]["membership"] == "join"
        })
        .await?;
    alice.send_text(&to_carol, "hi carol").await?;
    carol
        .wait_for(|l| l.starts_with(":Alicia!") && l.ends_with("PRIVMSG carol :hi carol"))
        .await?;

    // !quit leaves IRC and the channel rooms.
    alice.send_text(&admin_room, "!quit").await?;
    alice
        .wait_for_text(&admin_room, "You left: #guide (Local IRC)")
        .await?;
    bob.wait_for(|l| l.starts_with(":Alicia!") && l.split(' ').nth(1) == Some("QUIT"))
        .await?;
    let alice_id = alice.user_id.clone();
    alice
        .wait_for(&room, WAIT, |e| {
            e["state_key"] == alice_id.as_str() && e["content"]["membership"] == "leave"
        })
        .await?;
    Ok(())
}

#[tokio::test]
async fn raw_commands_reach_the_server_and_dangerous_ones_are_refused() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    alice
        .send_text(&admin_room, "!cmd PRIVMSG bob :sent raw")
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG bob :sent raw"))
        .await?;
    alice
        .send_text(&admin_room, "!cmd privmsg bob :lower")
        .await?;
    alice
        .wait_for_text(&admin_room, "`privmsg` is not an IRC command")
        .await?;
    alice.send_text(&admin_room, "!cmd QUIT :bye").await?;
    alice
        .wait_for_text(&admin_room, "`QUIT` cannot be sent raw")
        .await?;
    alice.send_text(&admin_room, "!nosuchcommand").await?;
    alice
        .wait_for_text(&admin_room, "Unknown command `!nosuchcommand`")
        .await?;
    Ok(())
}

#[tokio::test]
async fn irc_users_joining_and_leaving_are_mirrored_in_the_room() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#members").await?;
    let room = alice.join("#_local_#members:localhost").await?;
    let member = |who: &'static str, membership: &'static str| {
        move |e: &serde_json::Value| {
            e["type"] == "m.room.member"
                && e["state_key"] == who
                && e["content"]["membership"] == membership
        }
    };
    // bob was there before the room: NAMES brings him in.
    alice
        .wait_for(&room, WAIT, member("@_local_bob:localhost", "join"))
        .await?;
    let mut carol = RawIrc::connect(ircd.port, "carol").await?;
    carol.join("#members").await?;
    alice
        .wait_for(&room, WAIT, member("@_local_carol:localhost", "join"))
        .await?;
    carol.send("NICK caroline").await?;
    alice
        .wait_for(&room, WAIT, member("@_local_carol:localhost", "leave"))
        .await?;
    alice
        .wait_for(&room, WAIT, member("@_local_caroline:localhost", "join"))
        .await?;
    carol.send("PART #members :bye").await?;
    alice
        .wait_for(&room, WAIT, member("@_local_caroline:localhost", "leave"))
        .await?;
    bob.send("QUIT :gone").await?;
    let quit = alice
        .wait_for(&room, WAIT, member("@_local_bob:localhost", "leave"))
        .await?;
    // ngircd quotes quit reasons; the bridge passes on what the server says.
    let reason = quit["content"]["reason"].as_str().unwrap_or_default();
    assert!(
        reason.starts_with("quit: ") && reason.contains("gone"),
        "{reason}"
    );

    // The other way: a Matrix user joining the room joins the channel
    // without saying a word, and leaving the room parts it.
    let mut erin = RawIrc::connect(ircd.port, "erin").await?;
    erin.join("#members").await?;
    let dave = env.user("dave").await?;
    dave.join(&room).await?;
    erin.wait_for(|l| l.starts_with(":dave[m]!") && l.contains(" JOIN "))
        .await?;
    dave.leave(&room).await?;
    erin.wait_for(|l| l.starts_with(":dave[m]!") && l.contains(" PART "))
        .await?;
    Ok(())
}

#[tokio::test]
async fn matrix_messages_sent_while_the_ircd_restarts_arrive_in_order_once() -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (mut ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#restart").await?;
    let room = alice.join("#_local_#restart:localhost").await?;
    alice.send_text(&room, "before").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #restart :before"))
        .await?;
    // carol says nothing after the restart: her connection comes back anyway.
    let carol = env.user("carol").await?;
    carol.join(&room).await?;
    carol.send_text(&room, "carol here").await?;
    bob.wait_for(|l| l.ends_with("PRIVMSG #restart :carol here"))
        .await?;

    ircd.stop();
    alice.send_text(&room, "during 1").await?;
    alice.send_text(&room, "during 2").await?;
    tokio::time::sleep(Duration::from_secs(2)).await;
    ircd.restart()?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#restart").await?;

    let first = bob
        .wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #restart :during 1"))
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #restart :during 2"))
        .await?;
    let order: Vec<&String> = bob
        .seen
        .iter()
        .filter(|l| l.contains("PRIVMSG #restart :during"))
        .collect();
    assert_eq!(order.len(), 2, "each once: {order:?}");
    assert_eq!(order[0], &first, "in order");

    // The relay bot rejoins too; IRC keeps no history, so speak once it has.
    bob.wait_for(|l| {
        (l.starts_with(":causeway!") && l.contains(" JOIN "))
            || (l.split(' ').nth(1) == Some("353") && l.contains("causeway"))
    })
    .await?;
    bob.wait_for(|l| {
        (l.starts_with(":carol[m]!") && l.contains(" JOIN "))
            || (l.split(' ').nth(1) == Some("353") && l.contains("carol[m]"))
    })
    .await?;
    bob.send("PRIVMSG #restart :after the restart").await?;
    alice
        .wait_for_text(&room, "after the restart")
        .await
        .map_err(|e| anyhow::anyhow!("{e}; bridge log:\n{}", tail(&env.log(), 20)))?;
    Ok(())
}

#[tokio::test]
async fn storepass_username_and_reconnect_identify_with_nickserv_and_keep_the_password_secret(
) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let (ircd, env) = setup(dir.path()).await?;
    let alice = env.user("alice").await?;
    let admin_room = alice.create_dm(&env.bot()).await?;
    alice.wait_for_text(&admin_room, "management room").await?;
    // ngircd has no services: a plain client named NickServ sees what is sent to it.
    let mut nickserv = RawIrc::connect(ircd.port, "NickServ").await?;
    let mut bob = RawIrc::connect(ircd.port, "bob").await?;
    bob.join("#auth").await?;
    let room = alice.join("#_local_#auth:localhost").await?;
    alice.send_text(&room, "hi").await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!") && l.ends_with("PRIVMSG #auth :hi"))
        .await?;

    let command = alice
        .send_text(&admin_room, "!storepass al1ce:s3cret pass")
        .await?;
    alice
        .wait_for_text(&admin_room, "Stored your password for Local IRC")
        .await?;
    alice
        .wait_for(&admin_room, WAIT, |e| {
            e["type"] == "m.room.redaction"
                && (e["redacts"] == command.as_str() || e["content"]["redacts"] == command.as_str())
        })
        .await?;
    if let Some(path) = env.database_uri.strip_prefix("sqlite:") {
        for file in [path.to_owned(), format!("{path}-wal")] {
            let bytes = std::fs::read(&file).unwrap_or_default();
            assert!(
                !bytes.windows(11).any(|w| w == b"s3cret pass"),
                "the password is in plain text in {file}"
            );
        }
    }

    alice.send_text(&admin_room, "!reconnect").await?;
    alice
        .wait_for_text(&admin_room, "Reconnected to Local IRC as `alice[m]`")
        .await?;
    nickserv
        .wait_for(|l| {
            l.starts_with(":alice[m]!~al1ce@")
                && l.ends_with("PRIVMSG NickServ :IDENTIFY s3cret pass")
        })
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!~al1ce@") && l.contains(" JOIN "))
        .await?;

    alice.send_text(&admin_room, "!username not valid!").await?;
    alice
        .wait_for_text(&admin_room, "Usage: `!username [network] username`")
        .await?;
    alice.send_text(&admin_room, "!username alicia").await?;
    alice.wait_for_text(&admin_room, "will be `alicia`").await?;
    alice.send_text(&admin_room, "!removepass").await?;
    alice
        .wait_for_text(&admin_room, "Removed your password for Local IRC")
        .await?;
    alice.send_text(&admin_room, "!reconnect").await?;
    alice
        .wait_for_text(&admin_room, "Reconnected to Local IRC")
        .await?;
    bob.wait_for(|l| l.starts_with(":alice[m]!~alicia@") && l.contains(" JOIN "))
        .await?;
    assert_eq!(
        nickserv
            .seen
            .iter()
            .filter(|l| l.contains("IDENTIFY"))
            .count(),
        1,
        "no password, no IDENTIFY"
    );
    Ok(())
}
