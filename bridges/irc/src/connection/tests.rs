use super::*;
use std::time::Instant;
use tokio::io::AsyncWriteExt;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

/// How a scripted server behaves once it has welcomed its client.
#[derive(Clone, Copy, PartialEq)]
enum Script {
    /// It says nothing more, and answers nothing.
    Silent,
    /// It answers the PING that follows a message.
    Answering,
    /// It hangs up on that PING: the message dies unanswered.
    HangingUp,
    /// It goes on talking, but never answers that PING.
    Ignoring,
}

/// A server that welcomes one client, then follows `script`; it sends each
/// line it hears on the returned channel.
async fn scripted_server(script: Script) -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (heard, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read).lines();
        let mut chatter = tokio::time::interval(PING_AFTER / 4);
        loop {
            let line = tokio::select! {
                line = read.next_line() => match line {
                    Ok(Some(line)) => line,
                    _ => return,
                },
                _ = chatter.tick(), if script == Script::Ignoring => {
                    let _ = write.write_all(b":srv NOTICE talker :tick\r\n").await;
                    continue;
                }
            };
            let _ = heard.send(line.clone());
            if line.starts_with("USER ") {
                let welcome = ":srv 001 talker :Welcome\r\n\
                               :srv 005 talker DEAF=D :are supported by this server\r\n\
                               :srv 422 talker :No MOTD\r\n";
                write.write_all(welcome.as_bytes()).await.unwrap();
            }
            let Some(token) = line.strip_prefix("PING :causeway-ack-") else {
                continue;
            };
            match script {
                Script::HangingUp => return,
                Script::Answering => {
                    let pong = format!(":srv PONG srv :causeway-ack-{token}\r\n");
                    write.write_all(pong.as_bytes()).await.unwrap();
                }
                Script::Silent | Script::Ignoring => {}
            }
        }
    });
    (port, lines)
}

fn network_on(port: u16) -> NetworkConfig {
    serde_yaml::from_str(&format!(
        "{{name: Test, address: 127.0.0.1, port: {port}, bot_nick: bot}}"
    ))
    .unwrap()
}

async fn connect_to(network: &NetworkConfig, events: EventSender) -> Arc<Connection> {
    connect_as(None, network, events).await
}

/// Connects as `owner`'s own connection, or as the relay bot's.
async fn connect_as(
    owner: Option<&str>,
    network: &NetworkConfig,
    events: EventSender,
) -> Arc<Connection> {
    let params = ConnectParams {
        network_id: "test",
        network,
        nick: "talker".into(),
        username: "talker".into(),
        realname: "talker".into(),
        owner: owner.map(str::to_owned),
        sasl: None,
    };
    connect(params, events).await.unwrap()
}

/// What the server heard from a connection of `owner`'s by the time it
/// confirmed a message: everything sent at registration came before it.
async fn heard_from(owner: Option<&str>) -> Vec<String> {
    let (port, mut heard) = scripted_server(Script::Answering).await;
    let (events, _happened) = mpsc::unbounded_channel();
    let conn = connect_as(owner, &network_on(port), events).await;
    let said = ["hello".to_owned()];
    let confirmation = conn.say("#c", MessageKind::Privmsg, &said).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), confirmation.wait())
        .await
        .expect("confirmed")
        .unwrap();
    std::iter::from_fn(|| heard.try_recv().ok()).collect()
}

#[tokio::test]
async fn a_matrix_users_connection_goes_deaf_to_channels_where_the_server_offers_it() {
    let lines = heard_from(Some("@alice:hs")).await;
    assert!(lines.iter().any(|l| l == "MODE talker +D"), "{lines:?}");
}

#[tokio::test]
async fn the_relay_bots_connection_keeps_hearing_channels() {
    let lines = heard_from(None).await;
    assert!(!lines.iter().any(|l| l.starts_with("MODE")), "{lines:?}");
}

#[test]
fn the_deaf_mode_is_the_letter_isupport_names() {
    assert_eq!(incoming::deaf_mode("DEAF=D"), Some('D'));
    assert_eq!(incoming::deaf_mode("DEAF"), Some('d'));
    for other in ["DEAF=", "DEAF=DD", "DEAF=1", "DEAFEN", "CASEMAPPING=ascii"] {
        assert_eq!(incoming::deaf_mode(other), None, "{other}");
    }
}

#[tokio::test]
async fn a_message_is_taken_once_the_server_answers_the_ping_after_it() {
    let (port, mut heard) = scripted_server(Script::Answering).await;
    let (events, _happened) = mpsc::unbounded_channel();
    let conn = connect_to(&network_on(port), events).await;
    let said = ["one".to_owned(), "two".to_owned()];
    let confirmation = conn.say("#c", MessageKind::Privmsg, &said).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), confirmation.wait())
        .await
        .expect("confirmed")
        .unwrap();
    let mut lines = Vec::new();
    while let Ok(line) = heard.try_recv() {
        lines.push(line);
    }
    let ping = lines
        .iter()
        .rposition(|l| l.starts_with("PING :causeway-ack-"));
    let last_message = lines.iter().rposition(|l| l.starts_with("PRIVMSG"));
    assert!(
        ping > last_message,
        "a PING follows the last line: {lines:?}"
    );
}

#[tokio::test]
async fn a_message_written_to_a_server_that_dies_unanswered_goes_to_the_next_connection() {
    let (port, mut heard) = scripted_server(Script::HangingUp).await;
    let (events, mut happened) = mpsc::unbounded_channel();
    let conn = connect_to(&network_on(port), events.clone()).await;
    let said = ["hello".to_owned()];
    let confirmation = conn.say("#c", MessageKind::Privmsg, &said).await.unwrap();
    while !heard
        .recv()
        .await
        .unwrap()
        .starts_with("PING :causeway-ack-")
    {}
    let unconfirmed = loop {
        if let (closed, IrcEvent::Disconnected { .. }) = happened.recv().await.unwrap() {
            break closed.take_unconfirmed();
        }
    };
    assert!(conn.take_unconfirmed().is_empty(), "taken once");
    let lines: Vec<_> = unconfirmed.iter().map(|u| u.line.as_str()).collect();
    assert_eq!(lines, ["PRIVMSG #c :hello"]);

    let (port, mut heard) = scripted_server(Script::Answering).await;
    let next = connect_to(&network_on(port), events).await;
    next.resend(unconfirmed).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), confirmation.wait())
        .await
        .expect("confirmed by the next server")
        .unwrap();
    while heard.recv().await.unwrap() != "PRIVMSG #c :hello" {}
}

#[tokio::test]
async fn a_line_nobody_waits_for_any_more_is_not_sent_again() {
    let (port, mut heard) = scripted_server(Script::Answering).await;
    let (events, _happened) = mpsc::unbounded_channel();
    let conn = connect_to(&network_on(port), events).await;
    let (given_up, _) = oneshot::channel();
    let (awaited, confirmation) = oneshot::channel();
    let lines = [
        ("PRIVMSG #c retried", given_up),
        ("PRIVMSG #c kept", awaited),
    ];
    let lines = lines.map(|(text, confirmed)| Unconfirmed {
        line: Line::new(text, 0).unwrap(),
        confirmed,
    });
    conn.resend(lines.into()).await.unwrap();
    tokio::time::timeout(Duration::from_secs(5), confirmation)
        .await
        .expect("confirmed")
        .unwrap();
    let mut said = Vec::new();
    while let Ok(line) = heard.try_recv() {
        said.extend(line.strip_prefix("PRIVMSG #c ").map(str::to_owned));
    }
    assert_eq!(said, ["kept"]);
}

#[tokio::test]
async fn a_server_that_talks_but_never_answers_the_ping_after_a_message_is_dropped() {
    let (port, _heard) = scripted_server(Script::Ignoring).await;
    let (events, mut happened) = mpsc::unbounded_channel();
    let conn = connect_to(&network_on(port), events).await;
    let said = ["hello".to_owned()];
    conn.say("#c", MessageKind::Privmsg, &said).await.unwrap();
    let started = Instant::now();
    let disconnected = async {
        loop {
            if let (closed, IrcEvent::Disconnected { reason, .. }) = happened.recv().await.unwrap()
            {
                break (reason, closed.take_unconfirmed());
            }
        }
    };
    let (reason, unconfirmed) = tokio::time::timeout(10 * PING_AFTER, disconnected)
        .await
        .expect("dropped");
    assert!(started.elapsed() >= PING_AFTER, "{:?}", started.elapsed());
    assert_eq!(reason, "the server did not answer a PING");
    assert_eq!(
        unconfirmed.len(),
        1,
        "the message goes to the next connection"
    );
}

#[tokio::test]
async fn a_quiet_server_is_pinged_then_dropped_when_it_does_not_answer() {
    let (port, mut heard) = scripted_server(Script::Silent).await;
    let network = network_on(port);
    let (events, mut happened) = mpsc::unbounded_channel();
    let params = ConnectParams {
        network_id: "test",
        network: &network,
        nick: "quiet".into(),
        username: "quiet".into(),
        realname: "quiet".into(),
        owner: None,
        sasl: None,
    };
    let started = Instant::now();
    connect(params, events).await.unwrap();
    while heard.recv().await.unwrap() != "PING :causeway" {}
    assert!(
        started.elapsed() >= PING_AFTER,
        "pinged after {:?}",
        started.elapsed()
    );
    let reason = loop {
        if let (_, IrcEvent::Disconnected { reason, .. }) = happened.recv().await.unwrap() {
            break reason;
        }
    };
    assert!(
        started.elapsed() >= 2 * PING_AFTER,
        "dropped after {:?}",
        started.elapsed()
    );
    assert_eq!(reason, "the server stopped answering pings");
}
