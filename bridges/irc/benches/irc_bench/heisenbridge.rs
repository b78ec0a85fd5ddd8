//! Side by side with heisenbridge (PyPI), in one run: the same Synapse, the
//! same ngircd, the same number of Matrix users each with their own IRC
//! connection, and the same messages. heisenbridge goes first and is stopped
//! before causeway's users connect, so each is measured alone. Prints
//! CPU-seconds per 1,000 messages and RSS per connection for each bridge,
//! and their ratios.

use super::{count_on_irc, usage};
use anyhow::{ensure, Context, Result};
use causeway_testkit::env::TestEnv;
use causeway_testkit::ircd::{Ngircd, RawIrc};
use causeway_testkit::matrix_client::MatrixClient;
use causeway_testkit::process::cpu_during;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const VERSION: &str = "1.15.4";
const WAIT: Duration = Duration::from_secs(60);

/// heisenbridge in a venv cached beside Synapse's.
fn install() -> Result<PathBuf> {
    let venv =
        Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("../../.cache/heisenbridge-{VERSION}"));
    let python = venv.join("bin/python");
    if !python.exists() {
        let made = Command::new("python3")
            .arg("-m")
            .arg("venv")
            .arg(&venv)
            .status()?;
        ensure!(
            made.success(),
            "cannot make a venv (apt-get install python3-venv)"
        );
        let installed = Command::new(venv.join("bin/pip"))
            .args(["install", "-q", &format!("heisenbridge=={VERSION}")])
            .status()?;
        ensure!(installed.success(), "cannot install heisenbridge from PyPI");
    }
    Ok(python)
}

struct Heisenbridge(Child);

impl Drop for Heisenbridge {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What one bridge cost.
struct Cost {
    cpu_per_1000: f64,
    kib_per_connection: f64,
}

impl Cost {
    /// From the CPU-seconds `messages` took, and the RSS `grown` (KiB) while
    /// all users but the warm-up one connected.
    fn of(cpu: f64, messages: usize, grown: u64, users: usize) -> Self {
        Self {
            cpu_per_1000: cpu * 1000.0 / messages as f64,
            kib_per_connection: grown as f64 / (users - 1).max(1) as f64,
        }
    }
}

/// A bridge's RSS once it has had a moment to settle.
async fn settled_rss(pid: u32) -> Result<u64> {
    tokio::time::sleep(Duration::from_secs(3)).await;
    Ok(usage(pid)?.1)
}

pub async fn compare(dir: &Path, users: usize, messages: usize) -> Result<()> {
    ensure!(
        users >= 2,
        "compare at least 2 users: the first warms each bridge up"
    );
    std::fs::create_dir_all(dir)?;
    let python = install()?;
    let ircd = Ngircd::start(&dir.join("ngircd"))?;
    let hb_port = causeway_testkit::synapse::free_port()?;
    let registration = dir.join("heisenbridge.yaml");
    let generated = Command::new(&python)
        .args(["-m", "heisenbridge", "-c"])
        .arg(&registration)
        .args(["--generate", "-l", "127.0.0.1", "-p", &hb_port.to_string()])
        .stdout(Stdio::null())
        .status()?;
    ensure!(generated.success(), "heisenbridge --generate failed");
    let env = super::through_synapse(ircd.port, vec![registration.clone()]).await?;
    let log = std::fs::File::create(dir.join("heisenbridge.log"))?;
    let heisenbridge = Heisenbridge(
        Command::new(&python)
            .args(["-m", "heisenbridge", "-c"])
            .arg(&registration)
            .args([
                "-l",
                "127.0.0.1",
                "-p",
                &hb_port.to_string(),
                "-o",
                "@owner:localhost",
            ])
            .arg(env.synapse.url())
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start heisenbridge")?,
    );
    let mut observer = RawIrc::connect(ircd.port, "observer").await?;
    observer.join("#cmp").await?;

    let owner = env.user("owner").await?;
    let control = dm(&owner, "@heisenbridge:localhost").await?;
    for command in [
        "ADDNETWORK local".to_owned(),
        format!("ADDSERVER local 127.0.0.1 {}", ircd.port),
    ] {
        owner.send_text(&control, &command).await?;
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // Everyone on the homeserver may use it, as with causeway's permissions.
    owner.send_text(&control, "ADDMASK @*:localhost").await?;
    owner.wait_for_text(&control, "Mask added").await?;

    let hb_pid = heisenbridge.0.id();
    let causeway_pid = env.bridge_pid().context("the bridge is not running")?;
    let hb = heisenbridge_cost(&env, &mut observer, hb_pid, users, messages).await?;
    // Each bridge is measured alone: heisenbridge's users would otherwise
    // hear causeway's messages, and it would relay each into their rooms,
    // loading Synapse and the machine while causeway's CPU is read.
    drop(heisenbridge);
    let last = format!(":h{}!", users - 1);
    observer
        .wait_for(|l| l.starts_with(&last) && l.contains(" QUIT"))
        .await?;
    let causeway = causeway_cost(&env, &mut observer, causeway_pid, users, messages).await?;
    println!("side by side with heisenbridge {VERSION}: {users} Matrix users connected each (RSS over all but the first), {messages} messages through Synapse");
    println!(
        "  CPU-s per 1,000 messages: causeway {:.3}, heisenbridge {:.3}: heisenbridge uses {:.1}x",
        causeway.cpu_per_1000,
        hb.cpu_per_1000,
        hb.cpu_per_1000 / causeway.cpu_per_1000
    );
    println!(
        "  RSS per connection:       causeway {:.1} KiB, heisenbridge {:.1} KiB: heisenbridge uses {:.1}x",
        causeway.kib_per_connection,
        hb.kib_per_connection,
        hb.kib_per_connection / causeway.kib_per_connection
    );
    Ok(())
}

/// Opens a DM with a bridge bot; returns the room once the bot is in.
async fn dm(user: &MatrixClient, bot: &str) -> Result<String> {
    let room = user.create_dm(bot).await?;
    let bot = bot.to_owned();
    user.wait_for(&room, WAIT, move |e| {
        e["state_key"] == bot.as_str() && e["content"]["membership"] == "join"
    })
    .await?;
    Ok(room)
}

/// Each user opens the network, connects and joins #cmp through
/// heisenbridge's commands; then the first user talks.
async fn heisenbridge_cost(
    env: &TestEnv,
    observer: &mut RawIrc,
    pid: u32,
    users: usize,
    messages: usize,
) -> Result<Cost> {
    // The first user warms the bridge up (HTTP pools, caches); the cost per
    // connection is measured over the others.
    let mut idle = 0;
    let mut rooms = Vec::new();
    let mut clients = Vec::new();
    for i in 0..users {
        if i == 1 {
            idle = settled_rss(pid).await?;
        }
        let user = env.user(&format!("h{i}")).await?;
        let control = dm(&user, "@heisenbridge:localhost").await?;
        user.send_text(&control, "OPEN local").await?;
        let network_room = user.wait_for_invite(WAIT).await?;
        user.join(&network_room).await?;
        user.send_text(&network_room, "CONNECT").await?;
        // heisenbridge relays the server's welcome into the network room;
        // JOIN before it would be refused as "not connected".
        user.wait_for_text(&network_room, "Welcome to the Internet Relay Network")
            .await?;
        user.send_text(&network_room, "JOIN #cmp").await?;
        let channel_room = user.wait_for_invite(WAIT).await?;
        user.join(&channel_room).await?;
        rooms.push(channel_room);
        clients.push(user);
    }
    let nick = format!(":h{}", users - 1);
    observer
        .wait_for(|l| l.starts_with(&nick) && l.contains(" JOIN "))
        .await?;
    let connected = settled_rss(pid).await?;
    let cpu = talk(&clients[0], &rooms[0], observer, pid, "hb", messages).await?;
    Ok(Cost::of(
        cpu,
        messages,
        connected.saturating_sub(idle),
        users,
    ))
}

/// Each user joins #cmp's portal by its alias and says hello, which opens
/// their connection; then the first user talks.
async fn causeway_cost(
    env: &TestEnv,
    observer: &mut RawIrc,
    pid: u32,
    users: usize,
    messages: usize,
) -> Result<Cost> {
    let mut idle = 0;
    let mut clients = Vec::new();
    let mut room = String::new();
    for i in 0..users {
        let user = env.user(&format!("c{i}")).await?;
        room = user.join("#_local_#cmp:localhost").await?;
        user.send_text(&room, "hello").await?;
        clients.push(user);
        if i == 0 {
            // As for heisenbridge: the first user warms the bridge up.
            count_on_irc(observer, "PRIVMSG #cmp :hello", 1).await?;
            idle = settled_rss(pid).await?;
        }
    }
    count_on_irc(observer, "PRIVMSG #cmp :hello", users - 1).await?;
    let connected = settled_rss(pid).await?;
    let cpu = talk(&clients[0], &room, observer, pid, "cw", messages).await?;
    Ok(Cost::of(
        cpu,
        messages,
        connected.saturating_sub(idle),
        users,
    ))
}

/// Sends `messages` through Synapse and waits for them on IRC; returns the
/// bridge's CPU-seconds meanwhile.
async fn talk(
    user: &MatrixClient,
    room: &str,
    observer: &mut RawIrc,
    pid: u32,
    tag: &str,
    messages: usize,
) -> Result<f64> {
    let (cpu, ()) = cpu_during(pid, async {
        for i in 0..messages {
            user.send_text(room, &format!("{tag} message {i}")).await?;
        }
        count_on_irc(observer, &format!(" :{tag} message "), messages).await
    })
    .await?;
    Ok(cpu)
}
