//! Prosody on 127.0.0.1 for tests (`apt-get install prosody`), with one
//! XMPP domain, a MUC service and the bridge's component.
//!
//! Prosody refuses to run as root and then hangs, so it runs as the
//! `prosody` user from a directory that user owns.

use crate::synapse::free_port;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub const DOMAIN: &str = "xmpp.test";
pub const MUC_DOMAIN: &str = "conference.xmpp.test";
pub const COMPONENT: &str = "matrix.xmpp.test";
pub const SECRET: &str = "component-secret";

pub struct Prosody {
    pub c2s_port: u16,
    pub component_port: u16,
    dir: PathBuf,
    child: Option<Child>,
}

impl Prosody {
    /// Starts Prosody with a config in `dir`, and accounts `name:password`.
    pub fn start(dir: &Path, accounts: &[(&str, &str)]) -> Result<Self> {
        std::fs::create_dir_all(dir.join("data"))?;
        let (c2s_port, component_port) = (free_port()?, free_port()?);
        let config = format!(
            r#"daemonize = false
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
log = {{ debug = "{dir}/prosody.log"; error = "*console" }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "vcard_legacy"; "mam"; "offline" }}
authentication = "internal_plain"
allow_registration = false
c2s_require_encryption = false
allow_unencrypted_plain_auth = true
interfaces = {{ "127.0.0.1" }}
c2s_ports = {{ {c2s_port} }}
component_interfaces = {{ "127.0.0.1" }}
component_ports = {{ {component_port} }}
s2s_ports = {{}}
http_ports = {{}}
https_ports = {{}}
-- Big enough for the tests' 1 MB messages to reach the bridge.
c2s_stanza_size_limit = 4 * 1024 * 1024
component_stanza_size_limit = 8 * 1024 * 1024
VirtualHost "{DOMAIN}"
Component "{MUC_DOMAIN}" "muc"
  modules_enabled = {{ "muc_mam"; "muc_moderation" }}
  muc_room_locking = false
  muc_room_default_public = true
  muc_room_default_public_jids = true
  muc_tombstones = false
Component "{COMPONENT}"
  component_secret = "{SECRET}"
"#,
            dir = dir.display()
        );
        let config_path = dir.join("prosody.cfg.lua");
        std::fs::write(&config_path, config)?;
        chown_to_prosody(dir)?;
        for (name, password) in accounts {
            let status = Command::new("runuser")
                .args(["-u", "prosody", "--", "prosodyctl", "--config"])
                .arg(&config_path)
                .args(["register", name, DOMAIN, password])
                .stdout(Stdio::null())
                .status()
                .context("cannot run prosodyctl: apt-get install prosody")?;
            if !status.success() {
                bail!("prosodyctl register {name} failed");
            }
        }
        let mut prosody = Self {
            c2s_port,
            component_port,
            dir: dir.to_owned(),
            child: None,
        };
        prosody.spawn()?;
        Ok(prosody)
    }

    fn spawn(&mut self) -> Result<()> {
        let child = Command::new("runuser")
            .args(["-u", "prosody", "--", "prosody", "--config"])
            .arg(self.dir.join("prosody.cfg.lua"))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(self.dir.join("stderr.log"))?)
            .spawn()
            .context("cannot start prosody: apt-get install prosody")?;
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let up = [self.c2s_port, self.component_port]
                .iter()
                .all(|port| std::net::TcpStream::connect(("127.0.0.1", *port)).is_ok());
            if up {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("prosody did not start: {}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    pub fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("prosody.log")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.join("stderr.log")).unwrap_or_default();
        format!("{}\n{}", crate::env::tail(&log, 30), err)
    }

    /// Stops the server; its accounts and rooms stay on disk.
    pub fn stop(&mut self) {
        let pid = std::fs::read_to_string(self.dir.join("prosody.pid")).unwrap_or_default();
        if let Ok(pid) = pid.trim().parse::<i32>() {
            let _ = Command::new("kill").arg(pid.to_string()).status();
        }
        if let Some(child) = self.child.take() {
            crate::process::wait_or_kill(child, Duration::from_secs(10));
        }
    }

    /// Stops and starts the server on the same ports and data.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }
}

impl Drop for Prosody {
    fn drop(&mut self) {
        self.stop();
    }
}

fn chown_to_prosody(dir: &Path) -> Result<()> {
    let status = Command::new("chown")
        .args(["-R", "prosody:prosody"])
        .arg(dir)
        .status()?;
    if !status.success() {
        bail!("cannot chown {} to prosody", dir.display());
    }
    // The temp dirs above it must be reachable for the prosody user.
    let mut parent = dir.parent();
    while let Some(p) = parent {
        if p == Path::new("/") {
            break;
        }
        use std::os::unix::fs::PermissionsExt;
        if let Ok(meta) = std::fs::metadata(p) {
            let mode = meta.permissions().mode();
            if mode & 0o001 == 0 {
                let _ = std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode | 0o001));
            }
        }
        parent = p.parent();
    }
    Ok(())
}
