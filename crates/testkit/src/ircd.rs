//! ngircd on 127.0.0.1 for tests, and a raw-socket IRC client to play the
//! IRC side. ngircd is strict: it disconnects clients that send lines over
//! 512 bytes, which makes it a good judge of line splitting.

use crate::synapse::free_port;
use anyhow::{bail, Context, Result};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

pub struct Ngircd {
    pub port: u16,
    dir: std::path::PathBuf,
    child: Option<Child>,
}

impl Ngircd {
    /// Starts ngircd (`apt-get install ngircd`) with a config in `dir`.
    pub fn start(dir: &Path) -> Result<Self> {
        Self::start_named(dir, "irc.test.local", free_port()?, None, "")
    }

    /// A server every client must give `password` to (PASS).
    pub fn start_with_password(dir: &Path, password: &str) -> Result<Self> {
        let global = format!("Password = {password}\n");
        Self::start_named(dir, "irc.test.local", free_port()?, None, &global)
    }

    /// Two servers linked to each other, `irc.a.test` and `irc.b.test`: stop
    /// one and the other sees a real netsplit.
    pub fn start_pair(dir: &Path) -> Result<(Self, Self)> {
        let (a_port, b_port) = (free_port()?, free_port()?);
        // `a` connects and reconnects; `b` only accepts, so the two never
        // collide by connecting to each other at once.
        let b = Self::start_named(
            &dir.join("b"),
            "irc.b.test",
            b_port,
            Some(("irc.a.test", None)),
            "",
        )?;
        let a = Self::start_named(
            &dir.join("a"),
            "irc.a.test",
            a_port,
            Some(("irc.b.test", Some(b_port))),
            "",
        )?;
        Ok((a, b))
    }

    fn start_named(
        dir: &Path,
        name: &str,
        port: u16,
        link: Option<(&str, Option<u16>)>,
        global: &str,
    ) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut config = format!(
            "[Global]\nName = {name}\nInfo = test server\nListen = 127.0.0.1\nPorts = {port}\nMotdPhrase = test\nPidFile = {dir}/ngircd.pid\n{global}\
             [Limits]\nMaxConnectionsIP = 0\nMaxJoins = 0\nMaxNickLength = 30\nMaxPenaltyTime = 0\nConnectRetry = 5\n\
             [Options]\nPAM = no\nIdent = no\nDNS = no\n",
            dir = dir.display()
        );
        if let Some((peer, peer_port)) = link {
            config.push_str(&format!(
                "[Server]\nName = {peer}\nHost = 127.0.0.1\nMyPassword = linkpass\nPeerPassword = linkpass\n"
            ));
            if let Some(peer_port) = peer_port {
                config.push_str(&format!("Port = {peer_port}\n"));
            }
        }
        std::fs::write(dir.join("ngircd.conf"), config)?;
        let mut ircd = Self {
            port,
            dir: dir.to_owned(),
            child: None,
        };
        ircd.spawn()?;
        Ok(ircd)
    }

    fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("ngircd.log"))?;
        let child = Command::new(ngircd_binary())
            .args(["-n", "-f"])
            .arg(self.dir.join("ngircd.conf"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start ngircd: install it with apt-get install ngircd")?;
        self.child = Some(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            if started.elapsed() > Duration::from_secs(10) {
                bail!("ngircd did not listen on {}", self.port);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Ok(())
    }

    /// Kills the server: every client connection drops.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP) without closing anything: what clients
    /// write waits unread in its sockets, and dies with it at `stop`.
    pub fn freeze(&self) -> Result<()> {
        let pid = self.child.as_ref().context("ngircd is not running")?.id();
        crate::process::signal(pid, "-STOP").context("cannot freeze ngircd")
    }

    /// Starts it again on the same port, after `stop`.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

/// ngircd lives in /usr/sbin, which is not on every PATH.
fn ngircd_binary() -> &'static str {
    if Path::new("/usr/sbin/ngircd").exists() {
        "/usr/sbin/ngircd"
    } else {
        "ngircd"
    }
}

impl Drop for Ngircd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A plain IRC client over a socket: what an IRC user types, line by line.
pub struct RawIrc {
    pub nick: String,
    read: tokio::io::Lines<BufReader<OwnedReadHalf>>,
    write: OwnedWriteHalf,
    /// Every line received so far.
    pub seen: Vec<String>,
}

impl RawIrc {
    /// Connects and registers; returns after the server's welcome.
    pub async fn connect(port: u16, nick: &str) -> Result<Self> {
        Self::connect_with(port, nick, None).await
    }

    /// Connects with a server password.
    pub async fn connect_with(port: u16, nick: &str, password: Option<&str>) -> Result<Self> {
        let stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        let (read, write) = stream.into_split();
        let mut client = Self {
            nick: nick.to_owned(),
            read: BufReader::new(read).lines(),
            write,
            seen: Vec::new(),
        };
        if let Some(password) = password {
            client.send(&format!("PASS {password}")).await?;
        }
        client.send(&format!("NICK {nick}")).await?;
        let user: String = nick.chars().filter(char::is_ascii_alphanumeric).collect();
        client.send(&format!("USER {user} 0 * :{nick}")).await?;
        client
            .wait_for(|l| l.split(' ').nth(1) == Some("001"))
            .await?;
        Ok(client)
    }

    /// Sends raw bytes followed by CRLF, for text that is not UTF-8.
    pub async fn send_bytes(&mut self, line: &[u8]) -> Result<()> {
        self.write.write_all(line).await?;
        self.write.write_all(b"\r\n").await?;
        Ok(())
    }

    /// Registers the current nick with NickServ (Anope).
    pub async fn register_with_nickserv(&mut self, password: &str) -> Result<()> {
        self.send(&format!(
            "PRIVMSG NickServ :REGISTER {password} someone@example.com"
        ))
        .await?;
        self.wait_for(|l| l.starts_with(":NickServ!") && l.contains("registered"))
            .await?;
        Ok(())
    }

    pub async fn send(&mut self, line: &str) -> Result<()> {
        self.write
            .write_all(format!("{line}\r\n").as_bytes())
            .await?;
        Ok(())
    }

    /// The next line from the server, answering PINGs; `None` when it closes.
    pub async fn next_line(&mut self) -> Result<Option<String>> {
        let line = self.read.next_line().await?;
        if let Some(token) = line.as_deref().and_then(|l| l.strip_prefix("PING ")) {
            self.send(&format!("PONG {token}")).await?;
        }
        Ok(line)
    }

    /// Waits for a line that matches, answering PINGs meanwhile.
    pub async fn wait_for(&mut self, pred: impl Fn(&str) -> bool) -> Result<String> {
        if let Some(line) = self.seen.iter().find(|l| pred(l)) {
            return Ok(line.clone());
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match tokio::time::timeout(left, self.read.next_line()).await {
                Ok(Ok(Some(line))) => line,
                Ok(Ok(None)) => bail!(
                    "{}: the server closed the connection; seen:\n{}",
                    self.nick,
                    self.seen.join("\n")
                ),
                Ok(Err(err)) => return Err(err.into()),
                Err(_) => bail!(
                    "{}: no matching line within 30 s; seen:\n{}",
                    self.nick,
                    self.seen.join("\n")
                ),
            };
            if let Some(token) = line.strip_prefix("PING ") {
                self.send(&format!("PONG {token}")).await?;
            }
            self.seen.push(line.clone());
            if pred(&line) {
                return Ok(line);
            }
        }
    }

    /// Joins a channel and waits for the server's confirmation.
    pub async fn join(&mut self, channel: &str) -> Result<()> {
        self.send(&format!("JOIN {channel}")).await?;
        let (nick, channel) = (self.nick.clone(), channel.to_owned());
        self.wait_for(move |l| {
            l.starts_with(&format!(":{nick}!"))
                && l.contains(" JOIN ")
                && l.to_lowercase().ends_with(&channel.to_lowercase())
        })
        .await?;
        Ok(())
    }
}
