//! The component connection against a real Prosody: handshake, routing,
//! IQ answers, and surviving a server restart with nothing lost. Against a
//! scripted server: a stanza written to a server that died without reading
//! it is sent again.

use causeway_testkit::prosody::{self, Prosody};
use causeway_testkit::xmpp_client::{body_of, XmppClient};
use causeway_xmpp::component::{Component, ConnectTarget, Inbound};
use causeway_xmpp::stanza;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use xmpp_parsers::minidom::Element;

fn target(server: &Prosody) -> ConnectTarget {
    ConnectTarget {
        jid: prosody::COMPONENT.into(),
        secret: prosody::SECRET.into(),
        address: format!("127.0.0.1:{}", server.component_port),
        server_domain: prosody::DOMAIN.into(),
        keepalive: Duration::from_secs(2),
    }
}

async fn next_stanza(
    rx: &mut mpsc::UnboundedReceiver<Inbound>,
    pred: impl Fn(&Element) -> bool,
) -> Element {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let next = tokio::time::timeout_at(deadline, rx.recv())
            .await
            .expect("timed out waiting for a stanza")
            .expect("connection task gone");
        if let Inbound::Stanza(s) = next {
            if pred(&s) {
                return s;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messages_reach_the_component_and_queued_ones_survive_a_server_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Prosody::start(dir.path(), &[("bob", "bobpass")]).unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let component = Component::spawn(target(&server), tx, Arc::new(Vec::new));
    let mut bob = XmppClient::connect(server.c2s_port, "bob", prosody::DOMAIN, "bobpass")
        .await
        .unwrap();
    let alice = "alice_example.com@matrix.xmpp.test";
    loop {
        if component.is_online() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    bob.message(alice, "chat", "hello component").await.unwrap();
    let got = next_stanza(&mut rx, |s| s.name() == "message").await;
    assert_eq!(stanza::body(&got).as_deref(), Some("hello component"));

    // The component answers as any user under its domain.
    let mut reply = stanza::new(
        "message",
        &format!("{alice}/causeway"),
        &bob.jid,
        Some("chat"),
        Some("r1"),
    );
    reply.append_child(stanza::text_element("body", stanza::NS, "hello bob"));
    component.send(reply);
    let seen = bob.wait_for_body("hello bob").await.unwrap();
    assert_eq!(
        seen.attr("from"),
        Some(format!("{alice}/causeway").as_str())
    );

    // IQs get their answers matched back to the request.
    let mut ping = stanza::new("iq", prosody::COMPONENT, prosody::DOMAIN, Some("get"), None);
    ping.append_child(stanza::empty("ping", stanza::ns::PING, &[]));
    component.request(ping).await.unwrap();

    // Stanzas sent while the server is down go out, in order, once it is back.
    server.stop();
    while component.is_online() {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    for n in 0..5 {
        let mut m = stanza::new(
            "message",
            &format!("{alice}/causeway"),
            "bob@xmpp.test",
            Some("chat"),
            Some(&format!("q{n}")),
        );
        m.append_child(stanza::text_element(
            "body",
            stanza::NS,
            &format!("queued {n}"),
        ));
        component.send(m);
    }
    server.restart().unwrap();
    let mut bob = XmppClient::connect(server.c2s_port, "bob", prosody::DOMAIN, "bobpass")
        .await
        .unwrap();
    // Offline messages are stored by Prosody only once bob's session is gone,
    // so the five may arrive live or from offline storage: both are fine.
    let mut bodies = Vec::new();
    while bodies.len() < 5 {
        let m = bob
            .wait_for(Duration::from_secs(30), |e| {
                e.name() == "message" && body_of(e).is_some_and(|b| b.starts_with("queued"))
            })
            .await
            .unwrap();
        bodies.push(body_of(&m).unwrap());
    }
    let expected: Vec<String> = (0..5).map(|n| format!("queued {n}")).collect();
    assert_eq!(bodies, expected);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        bob.drain()
            .iter()
            .all(|e| !body_of(e).is_some_and(|b| b.starts_with("queued"))),
        "duplicates"
    );
}

/// A server that completes the XEP-0114 handshake, then sends `payload`.
/// Returns how many connections it accepted so far.
async fn hostile_server(payload: &'static str) -> (u16, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let count = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let mut buf = vec![0u8; 4096];
                let mut seen = String::new();
                while !seen.contains("<stream:stream") || !seen.contains('>') {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                let _ = socket
                    .write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='matrix.xmpp.test'>")
                    .await;
                let mut seen = String::new();
                while !seen.contains("</handshake>") {
                    let n = socket.read(&mut buf).await.unwrap_or(0);
                    if n == 0 {
                        return;
                    }
                    seen.push_str(&String::from_utf8_lossy(&buf[..n]));
                }
                let _ = socket.write_all(b"<handshake/>").await;
                let _ = socket.write_all(payload.as_bytes()).await;
                // Hold the socket open: the client must notice by itself.
                tokio::time::sleep(Duration::from_secs(30)).await;
            });
        }
    });
    (port, accepted)
}

/// A component connecting to a scripted server on `port`; it reconnects
/// for as long as the receiver lives.
fn spawn_scripted(port: u16) -> (Component, mpsc::UnboundedReceiver<Inbound>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let component = Component::spawn(
        ConnectTarget {
            jid: prosody::COMPONENT.into(),
            secret: "any".into(),
            address: format!("127.0.0.1:{port}"),
            server_domain: prosody::DOMAIN.into(),
            keepalive: Duration::from_secs(2),
        },
        tx,
        Arc::new(Vec::new),
    );
    (component, rx)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_xml_from_the_server_is_logged_and_the_component_reconnects() {
    let (port, accepted) =
        hostile_server("<message from='a@b' to='c@matrix.xmpp.test'><body>broken</bod></message>")
            .await;
    let (component, _inbound) = spawn_scripted(port);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while accepted.load(std::sync::atomic::Ordering::SeqCst) < 2 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the component did not reconnect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Still usable: sending queues without error.
    component.send(stanza::new(
        "presence",
        "x@matrix.xmpp.test",
        "y@xmpp.test",
        None,
        None,
    ));
}

/// Completes the XEP-0114 handshake on `socket`; `None` if it closed.
async fn accept_handshake(socket: &mut tokio::net::TcpStream) -> Option<()> {
    use tokio::io::AsyncWriteExt;
    read_until(socket, &mut String::new(), "<stream:stream").await?;
    socket
        .write_all(b"<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' xmlns:stream='http://etherx.jabber.org/streams' id='abc' from='matrix.xmpp.test'>")
        .await
        .ok()?;
    read_until(socket, &mut String::new(), "</handshake>").await?;
    socket.write_all(b"<handshake/>").await.ok()
}

/// Reads into `seen` until it holds `needle`; `None` if the socket closed.
async fn read_until(
    socket: &mut tokio::net::TcpStream,
    seen: &mut String,
    needle: &str,
) -> Option<()> {
    use tokio::io::AsyncReadExt;
    let mut buf = vec![0u8; 4096];
    while !seen.contains(needle) {
        let n = socket.read(&mut buf).await.ok().filter(|n| *n > 0)?;
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    Some(())
}

/// The next connection's number and what it read up to its first message.
async fn next_seen(seen: &mut mpsc::UnboundedReceiver<(usize, String)>) -> (usize, String) {
    tokio::time::timeout(Duration::from_secs(20), seen.recv())
        .await
        .expect("the server saw no message")
        .expect("the server stopped")
}

/// The IDs of the component's pings in `text`.
fn ping_ids(text: &str) -> Vec<String> {
    text.match_indices("cw-ping-")
        .map(|(at, _)| {
            let digits = text[at + 8..].chars().take_while(char::is_ascii_digit);
            format!("cw-ping-{}", digits.collect::<String>())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_written_to_a_server_that_dies_unanswered_is_sent_again_and_taken_after() {
    use tokio::io::AsyncWriteExt;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (seen_tx, mut seen_rx) = mpsc::unbounded_channel::<(usize, String)>();
    tokio::spawn(async move {
        for connection in 1.. {
            let Ok((mut socket, _)) = listener.accept().await else {
                return;
            };
            if accept_handshake(&mut socket).await.is_none() {
                continue;
            }
            let mut seen = String::new();
            if read_until(&mut socket, &mut seen, "</message>")
                .await
                .is_none()
            {
                continue;
            }
            let _ = seen_tx.send((connection, seen.clone()));
            if connection == 1 {
                // Dies with the message read off the socket, unanswered.
                continue;
            }
            // The second answers every ping, as a live server does.
            let mut answered = 0;
            loop {
                let pings = ping_ids(&seen);
                for id in &pings[answered..] {
                    let reply = format!(
                        "<iq type='result' id='{id}' from='xmpp.test' to='matrix.xmpp.test'/>"
                    );
                    let _ = socket.write_all(reply.as_bytes()).await;
                }
                answered = pings.len();
                let mut buf = [0u8; 4096];
                match tokio::io::AsyncReadExt::read(&mut socket, &mut buf).await {
                    Ok(n) if n > 0 => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
                    _ => return,
                }
            }
        }
    });
    let (component, _inbound) = spawn_scripted(port);
    let mut message = stanza::new(
        "message",
        "alice_example.com@matrix.xmpp.test",
        "bob@xmpp.test",
        Some("chat"),
        Some("m1"),
    );
    message.append_child(stanza::text_element("body", stanza::NS, "take me"));
    let written = component.send_confirmed(message);
    let taken = tokio::spawn({
        let component = component.clone();
        async move { component.taken().await }
    });

    let (first, text) = next_seen(&mut seen_rx).await;
    assert_eq!(first, 1);
    assert!(text.contains("take me"));
    tokio::time::timeout(Duration::from_secs(5), written)
        .await
        .expect("not written")
        .expect("the connection task dropped the message");
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !taken.is_finished(),
        "taken by a server that never answered"
    );
    let (second, text) = next_seen(&mut seen_rx).await;
    assert_eq!(second, 2, "sent again on the next connection");
    assert!(text.contains("take me"));
    tokio::time::timeout(Duration::from_secs(20), taken)
        .await
        .expect("not taken once the server answered")
        .expect("the waiting task failed");
}
