//! A real Synapse on 127.0.0.1, with a fresh data directory and a free port.
//!
//! Synapse comes from PyPI in a venv cached under `.cache/` at the workspace
//! root (or `$CAUSEWAY_CACHE_DIR`); it is installed on first use.

use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

mod template;

pub const SYNAPSE_VERSION: &str = "1.163.*";
pub const SHARED_SECRET: &str = "causeway-test-shared-secret";

pub fn cache_dir() -> PathBuf {
    std::env::var_os("CAUSEWAY_CACHE_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.cache"))
}

/// The venv with Synapse, installed if missing.
pub fn synapse_venv() -> Result<PathBuf> {
    python_venv(
        "synapse-venv-1.163",
        &[
            &format!("matrix-synapse=={SYNAPSE_VERSION}"),
            "psycopg2-binary",
        ],
    )
}

/// The Python mautrix-telegram 0.15.3 with its Telethon (layer 204): the
/// Telegram bridge's rival in the side-by-side benchmark, and a client of
/// another layer for the MTProto test server. cryptg is its compiled
/// crypto, as its users install it.
pub fn mautrix_telegram_venv() -> Result<PathBuf> {
    python_venv(
        "mautrix-telegram-venv-0.15.3",
        &["mautrix-telegram[sqlite]==0.15.3", "cryptg<0.6"],
    )
}

/// A venv under the cache directory with `packages` from PyPI, installed on
/// first use. A lock directory keeps parallel tests from installing twice.
pub fn python_venv(name: &str, packages: &[&str]) -> Result<PathBuf> {
    let venv = cache_dir().join(name);
    if venv.join("bin/python").exists() && venv.join(".installed").exists() {
        return Ok(venv);
    }
    std::fs::create_dir_all(cache_dir())?;
    let lock = cache_dir().join(format!("{name}.lock"));
    let started = Instant::now();
    while std::fs::create_dir(&lock).is_err() {
        if venv.join(".installed").exists() {
            return Ok(venv);
        }
        if started.elapsed() > Duration::from_secs(600) {
            bail!(
                "timed out waiting for another test to install {name} (remove {} if stale)",
                lock.display()
            );
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let result = (|| {
        run(
            Command::new("python3").args(["-m", "venv"]).arg(&venv),
            "python3 -m venv (install python3-venv)",
        )?;
        run(
            Command::new(venv.join("bin/pip"))
                .args(["install", "-q"])
                .args(packages),
            &format!("pip install {}", packages.join(" ")),
        )?;
        std::fs::write(venv.join(".installed"), packages.join("\n"))?;
        Ok(())
    })();
    let _ = std::fs::remove_dir(&lock);
    result.map(|_| venv)
}

fn run(cmd: &mut Command, what: &str) -> Result<()> {
    let status = cmd.status().with_context(|| format!("cannot run {what}"))?;
    if !status.success() {
        bail!("{what} failed with {status}");
    }
    Ok(())
}

/// A free TCP port on loopback, reserved for this process's lifetime.
///
/// A port asked of the kernel with `bind(:0)` comes from the ephemeral range, so
/// between picking it and the server binding it (seconds, for Synapse) any
/// outgoing connection of a parallel test may take it. These ports come from
/// below that range instead, and each is held by a lock file that the kernel
/// releases when this process ends, so test binaries running side by side never
/// pick the same one.
pub fn free_port() -> Result<u16> {
    use std::sync::atomic::{AtomicU16, Ordering};
    use std::sync::Mutex;
    const FIRST: u16 = 20_000;
    const COUNT: u16 = 12_000;
    static NEXT: AtomicU16 = AtomicU16::new(0);
    static HELD: Mutex<Vec<std::fs::File>> = Mutex::new(Vec::new());
    let dir = std::env::temp_dir().join("causeway-test-ports");
    std::fs::create_dir_all(&dir)?;
    // Processes start at different offsets so they rarely contend for a lock.
    let start = (std::process::id() % u32::from(COUNT)) as u16;
    for _ in 0..COUNT {
        let offset = (start + NEXT.fetch_add(1, Ordering::Relaxed)) % COUNT;
        let port = FIRST + offset;
        let lock = std::fs::File::create(dir.join(port.to_string()))?;
        if lock.try_lock().is_err() {
            continue;
        }
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            HELD.lock().unwrap_or_else(|e| e.into_inner()).push(lock);
            return Ok(port);
        }
    }
    bail!("no free port between {FIRST} and {}", FIRST + COUNT)
}

pub struct SynapseOptions {
    pub registrations: Vec<PathBuf>,
    pub room_version: Option<String>,
}

pub struct Synapse {
    pub port: u16,
    pub dir: PathBuf,
    child: Option<Child>,
    options: SynapseOptions,
}

impl Synapse {
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Synapse's process, for the benches' CPU figures.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// Writes a fresh config into `dir` and starts Synapse, on a copy of
    /// the prepared homeserver (see [`template`]) unless `dir` already has
    /// a database.
    pub fn start(dir: &Path, options: SynapseOptions) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        if !dir.join("homeserver.db").exists() {
            copy_prepared(dir)?;
        }
        Self::start_empty(dir, options)
    }

    /// Starts Synapse in `dir` on whatever database it has, or none.
    fn start_empty(dir: &Path, options: SynapseOptions) -> Result<Self> {
        std::fs::create_dir_all(dir)?;
        let mut synapse = Self {
            port: free_port()?,
            dir: dir.to_owned(),
            child: None,
            options,
        };
        synapse.write_config()?;
        synapse.spawn()?;
        Ok(synapse)
    }

    fn write_config(&self) -> Result<()> {
        let dir = self.dir.display();
        let registrations = self
            .options
            .registrations
            .iter()
            .map(|p| format!("\"{}\"", p.display()))
            .collect::<Vec<_>>()
            .join(", ");
        let unlimited = "{per_second: 10000, burst_count: 100000}";
        let room_version = self
            .options
            .room_version
            .as_ref()
            .map(|v| format!("default_room_version: \"{v}\"\n"))
            .unwrap_or_default();
        // bcrypt_rounds: registering a test user hashes its password, which
        // at Synapse's default of 12 rounds takes a third of a CPU-second.
        // background_updates: the prepared homeserver runs them without
        // pauses, so that it is ready in seconds.
        let config = format!(
            r#"server_name: localhost
public_baseurl: http://127.0.0.1:{port}/
pid_file: {dir}/homeserver.pid
signing_key_path: {dir}/signing.key
log_config: {dir}/log.yaml
media_store_path: {dir}/media
report_stats: false
enable_metrics: false
url_preview_enabled: false
federation_domain_whitelist: []
room_list_publication_rules: [{{action: allow}}]
trusted_key_servers: []
suppress_key_server_warning: true
enable_registration: false
registration_shared_secret: "{SHARED_SECRET}"
bcrypt_rounds: 4
background_updates: {{sleep_enabled: false}}
use_appservice_legacy_authorization: false
app_service_config_files: [{registrations}]
{room_version}listeners:
  - {{port: {port}, bind_addresses: ["127.0.0.1"], type: http, tls: false, x_forwarded: false, resources: [{{names: [client, openid], compress: false}}]}}
database: {{name: sqlite3, args: {{database: {dir}/homeserver.db}}}}
rc_message: {unlimited}
rc_registration: {unlimited}
rc_login: {{address: {unlimited}, account: {unlimited}, failed_attempts: {unlimited}}}
rc_joins: {{local: {unlimited}, remote: {unlimited}}}
rc_joins_per_room: {unlimited}
rc_invites: {{per_room: {unlimited}, per_user: {unlimited}, per_issuer: {unlimited}}}
rc_room_creation: {unlimited}
rc_media_create: {unlimited}
rc_presence: {{per_user: {unlimited}}}
rc_profile: {unlimited}
"#,
            port = self.port,
        );
        std::fs::write(self.dir.join("homeserver.yaml"), config)?;
        let log = format!(
            "version: 1\nformatters: {{f: {{format: '%(asctime)s %(levelname)s %(name)s %(message)s'}}}}\nhandlers: {{file: {{class: logging.FileHandler, filename: {dir}/homeserver.log, formatter: f}}}}\nroot: {{level: INFO, handlers: [file]}}\n"
        );
        std::fs::write(self.dir.join("log.yaml"), log)?;
        if !self.dir.join("signing.key").exists() {
            let venv = synapse_venv()?;
            let script = format!("import signedjson.key as k; k.write_signing_keys(open('{dir}/signing.key', 'w'), [k.generate_signing_key('a_1')])");
            run(
                Command::new(venv.join("bin/python")).args(["-c", &script]),
                "writing the Synapse signing key",
            )?;
        }
        Ok(())
    }

    fn spawn(&mut self) -> Result<()> {
        let venv = synapse_venv()?;
        let log = std::fs::File::create(self.dir.join("stdout.log"))?;
        let child = Command::new(venv.join("bin/python"))
            .args(["-m", "synapse.app.homeserver", "-c"])
            .arg(self.dir.join("homeserver.yaml"))
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()
            .context("cannot start Synapse")?;
        self.child = Some(child);
        self.wait_ready(Duration::from_secs(60))
    }

    fn wait_ready(&mut self, timeout: Duration) -> Result<()> {
        let started = Instant::now();
        let addr = format!("127.0.0.1:{}", self.port);
        while started.elapsed() < timeout {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    let log =
                        std::fs::read_to_string(self.dir.join("stdout.log")).unwrap_or_default();
                    bail!(
                        "Synapse exited with {status}:\n{}",
                        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
                    );
                }
            }
            if let Ok(mut stream) = std::net::TcpStream::connect(&addr) {
                use std::io::{Read, Write};
                let _ = stream.write_all(b"GET /_matrix/client/versions HTTP/1.0\r\n\r\n");
                let mut buf = [0u8; 12];
                if stream.read(&mut buf).is_ok()
                    && (buf.starts_with(b"HTTP/1.0 200") || buf.starts_with(b"HTTP/1.1 200"))
                {
                    return Ok(());
                }
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("Synapse did not answer within {timeout:?}")
    }

    /// Stops Synapse (SIGTERM, then SIGKILL).
    pub fn stop(&mut self) {
        if let Some(child) = self.child.take() {
            let _ = Command::new("kill").arg(child.id().to_string()).status();
            crate::process::wait_or_kill(child, Duration::from_secs(10));
        }
    }

    /// Starts Synapse again on the same port and data, after `stop`.
    pub fn restart(&mut self) -> Result<()> {
        self.stop();
        self.spawn()
    }

    /// Wipes the database: a fresh homeserver, whose txnIds start at 1 again.
    pub fn reset(&mut self) -> Result<()> {
        self.stop();
        for file in ["homeserver.db", "homeserver.db-wal", "homeserver.db-shm"] {
            let _ = std::fs::remove_file(self.dir.join(file));
        }
        copy_prepared(&self.dir)?;
        self.spawn()
    }
}

/// Puts a copy of the prepared homeserver's database and key into `dir`.
fn copy_prepared(dir: &Path) -> Result<()> {
    let prepared = template::prepared()?;
    for file in template::FILES {
        std::fs::copy(prepared.join(file), dir.join(file))
            .with_context(|| format!("copying the prepared Synapse's {file}"))?;
    }
    Ok(())
}

impl Drop for Synapse {
    fn drop(&mut self) {
        self.stop();
    }
}
