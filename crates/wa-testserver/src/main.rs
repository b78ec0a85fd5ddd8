//! `causeway-wa-sandbox`: a WhatsApp sandbox network for the demo, so that a
//! newcomer can try the WhatsApp bridge with no phone. It is the test
//! server, with an account for you, two scripted contacts that answer what
//! they are sent, and a group of the three of you.
//!
//! ```text
//! causeway-wa-sandbox serve                 # the network, on 127.0.0.1:24450
//! causeway-wa-sandbox scan '<QR code text>' # "scan" the bridge's QR code
//! causeway-wa-sandbox pair-code <code>      # or type its pair code
//! causeway-wa-sandbox send <contact> <text> # a contact writes to you
//! ```
//!
//! This is not WhatsApp: nothing here reaches the real network.

use anyhow::{bail, Context, Result};
use causeway_wa_testserver::{control, WaTestServer};
use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::sync::Arc;

/// Your account in the sandbox.
const YOU: &str = "15550100";
/// Scripted contacts: number and name.
const CONTACTS: [(&str, &str); 2] = [("15550101", "Ada"), ("15550102", "Grace")];

#[derive(Parser)]
#[command(about = "A WhatsApp sandbox network on loopback, for the Causeway demo")]
struct Cli {
    /// Where the control API listens (the other commands talk to it).
    #[arg(long, default_value = "127.0.0.1:24451", global = true)]
    control: SocketAddr,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the sandbox network.
    Serve {
        /// Where WhatsApp clients connect (`ws://<this>/ws/chat`).
        #[arg(long, default_value = "127.0.0.1:24450")]
        listen: SocketAddr,
    },
    /// Your phone scans a QR code the bridge shows (its text).
    Scan { code: String },
    /// You type the bridge's pair code on your phone.
    PairCode { code: String },
    /// A contact (its number or name) writes to you.
    Send { contact: String, text: String },
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    match run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("causeway-wa-sandbox: {err:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve {
        listen: SocketAddr::from(([127, 0, 0, 1], 24450)),
    }) {
        Command::Serve { listen } => serve(listen, cli.control).await,
        Command::Scan { code } => {
            call(
                cli.control,
                "/scan",
                serde_json::json!({"code": code, "phone": YOU}),
            )
            .await
        }
        Command::PairCode { code } => {
            call(
                cli.control,
                "/pair-code",
                serde_json::json!({"phone": YOU, "code": code}),
            )
            .await
        }
        Command::Send { contact, text } => {
            let from = CONTACTS
                .iter()
                .find(|(number, name)| contact == *number || contact.eq_ignore_ascii_case(name))
                .map(|(number, _)| *number)
                .with_context(|| format!("no sandbox contact {contact:?}: try Ada or Grace"))?;
            call(
                cli.control,
                "/send",
                serde_json::json!({"from": from, "to": YOU, "text": text}),
            )
            .await
        }
    }
}

async fn serve(listen: SocketAddr, control: SocketAddr) -> Result<()> {
    let server = Arc::new(WaTestServer::start_on(listen).await?);
    server.add_account(YOU, "You");
    for (number, name) in CONTACTS {
        server.add_scripted_contact(number, name);
    }
    let members: Vec<&str> = CONTACTS.iter().map(|(number, _)| *number).collect();
    let group = server.create_group(YOU, "Sandbox lounge", &members);
    tokio::spawn(send_history_to_new_devices(server.clone(), group.clone()));
    let api = tokio::net::TcpListener::bind(control)
        .await
        .with_context(|| format!("the control API cannot listen on {control}"))?;
    println!(
        "WhatsApp SANDBOX (not WhatsApp): clients connect to {}",
        server.url()
    );
    println!("  you are +{YOU}; contacts that answer: Ada +15550101, Grace +15550102");
    println!("  group: {group} (Sandbox lounge)");
    println!("  link a device: causeway-wa-sandbox scan '<the QR code text>'");
    axum::serve(api, control::router(server))
        .with_graceful_shutdown(stopped())
        .await?;
    Ok(())
}

/// Your phone sends each newly linked device some recent history, as a
/// real phone does: a chat with Ada and the group, so that the bridge has
/// rooms to make with messages in them.
async fn send_history_to_new_devices(server: Arc<WaTestServer>, group: String) {
    use causeway_wa_testserver::{HistoryChat, HistoryMessage};
    let mut known: Vec<u32> = server.devices_of(YOU);
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        let devices = server.devices_of(YOU);
        for device in devices.iter().filter(|d| !known.contains(d)) {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or_default();
            let message =
                |id: &str, from_me, participant: Option<&str>, text: &str, ago| HistoryMessage {
                    id: id.into(),
                    from_me,
                    participant: participant.map(|p| format!("{p}@s.whatsapp.net")),
                    text: text.into(),
                    timestamp: now - ago,
                };
            let chats = [
                HistoryChat {
                    jid: format!("{}@s.whatsapp.net", CONTACTS[0].0),
                    name: Some(CONTACTS[0].1.into()),
                    messages: vec![
                        message(
                            "3EB0SANDBOX01",
                            false,
                            None,
                            "Welcome to the sandbox!",
                            3600,
                        ),
                        message("3EB0SANDBOX02", true, None, "Thanks, Ada.", 3500),
                    ],
                },
                HistoryChat {
                    jid: group.clone(),
                    name: Some("Sandbox lounge".into()),
                    messages: vec![message(
                        "3EB0SANDBOX03",
                        false,
                        Some(CONTACTS[1].0),
                        "Tea at four, everyone.",
                        1800,
                    )],
                },
            ];
            if let Err(err) = server.send_history(YOU, *device, &chats) {
                tracing::warn!("cannot send history to device {device}: {err:#}");
            }
        }
        known = devices;
    }
}

/// Ctrl-C, or the SIGTERM the demo script stops its services with.
async fn stopped() {
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .expect("a SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

async fn call(control: SocketAddr, path: &str, body: serde_json::Value) -> Result<()> {
    let response = reqwest::Client::new()
        .post(format!("http://{control}{path}"))
        .json(&body)
        .send()
        .await
        .with_context(|| format!("is the sandbox running? nothing answers on {control}"))?;
    let ok = response.status().is_success();
    let answer: serde_json::Value = response.json().await.unwrap_or_default();
    if !ok {
        bail!(
            "{}",
            answer["error"].as_str().unwrap_or("the sandbox refused")
        );
    }
    println!("{answer}");
    Ok(())
}
