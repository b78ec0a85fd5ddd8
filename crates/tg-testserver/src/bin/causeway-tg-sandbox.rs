//! The Telegram sandbox of the demo stack: the test server on fixed
//! loopback ports, with demo accounts and a scripted user who answers, and
//! its control API. Log in as +1 555 000 1 and read the code from
//! `GET /codes` on the control port.

use anyhow::Result;
use causeway_tg_testserver::{AccountSpec, TestServer};
use clap::Parser;
use std::sync::Arc;

#[derive(Parser)]
#[command(about = "A Telegram sandbox on 127.0.0.1 for the Causeway demo")]
struct Args {
    /// DC 2's port, where clients start.
    #[arg(long, default_value_t = 24443)]
    dc2_port: u16,
    /// DC 4's port.
    #[arg(long, default_value_t = 24444)]
    dc4_port: u16,
    /// The HTTP control API's port.
    #[arg(long, default_value_t = 24440)]
    control_port: u16,
}

fn account(phone: &str, first_name: &str, username: &str, echo: bool) -> AccountSpec {
    AccountSpec {
        phone: phone.into(),
        first_name: first_name.into(),
        last_name: None,
        username: Some(username.into()),
        password: None,
        home_dc: 2,
        echo,
        about: None,
        bot_token: None,
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt().with_env_filter("info").init();
    let args = Args::parse();
    let accounts = vec![
        account("15550001", "Alice", "alice", false),
        account("15550002", "Bob", "bob", false),
        account("15550100", "Echo", "echo", true),
    ];
    let server = Arc::new(TestServer::start_on(accounts, [args.dc2_port, args.dc4_port]).await?);
    let control = tokio::net::TcpListener::bind(("127.0.0.1", args.control_port)).await?;
    println!(
        "telegram sandbox: DC 2 on 127.0.0.1:{}, DC 4 on 127.0.0.1:{}, control on http://127.0.0.1:{}",
        server.port(),
        server.port_of(4).unwrap_or_default(),
        control.local_addr()?.port()
    );
    axum::serve(control, causeway_tg_testserver::control_router(server)).await?;
    Ok(())
}
