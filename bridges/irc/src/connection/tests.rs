use super::*;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpListener;

/// A server that welcomes one client, then says nothing more; it sends
/// each line it hears on the returned channel.
async fn silent_server() -> (u16, mpsc::UnboundedReceiver<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (heard, lines) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut read = BufReader::new(read).lines();
        while let Ok(Some(line)) = read.next_line().await {
            if line.starts_with("USER ") {
                write
                    .write_all(b":srv 001 quiet :Welcome\r\n:srv 422 quiet :No MOTD\r\n")
                    .await
                    .unwrap();
            }
            let _ = heard.send(line);
        }
    });
    (port, lines)
}

#[tokio::test]
async fn a_quiet_server_is_pinged_then_dropped_when_it_does_not_answer() {
    let (port, mut heard) = silent_server().await;
    let network: NetworkConfig = serde_yaml::from_str(&format!(
        "{{name: Test, address: 127.0.0.1, port: {port}, bot_nick: bot}}"
    ))
    .unwrap();
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
