//! A whole test setup: Synapse, the test-network bridge as a child process
//! (so it can be killed with SIGKILL), a registered user, and helpers to
//! play the remote side.

use crate::matrix_client::MatrixClient;
use crate::synapse::{free_port, Synapse, SynapseOptions};
use anyhow::{bail, Context, Result};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The provisioning API's shared secret in every test bridge's config.
pub const PROVISIONING_SECRET: &str = "causeway-test-provisioning-secret";

#[derive(Default)]
pub struct EnvOptions {
    pub room_version: Option<String>,
    /// The bridge's network section; the test network's when `None`.
    pub network: Option<serde_yaml::Value>,
    /// Other appservices for Synapse to load, such as a bridge to compare.
    pub extra_registrations: Vec<PathBuf>,
    /// Keys set in the config's `bridge` section, over the example's.
    pub bridge: Option<serde_yaml::Mapping>,
    /// Keys set in the test network's section, such as `account: true`.
    pub testnet: Option<serde_yaml::Mapping>,
    /// Log only warnings (and the start-up line), as an admin runs it:
    /// benchmarks measure the bridge, not its debug logging.
    pub quiet: bool,
}

pub struct TestEnv {
    pub dir: tempfile::TempDir,
    pub synapse: Synapse,
    pub bin: PathBuf,
    pub bridge_port: u16,
    pub control_port: u16,
    pub hs_token: String,
    pub as_token: String,
    pub database_uri: String,
    /// See [`EnvOptions::quiet`].
    quiet: bool,
    bridge: Option<Child>,
    http: reqwest::Client,
}

/// A fresh database for one test: PostgreSQL when `CAUSEWAY_TEST_POSTGRES`
/// holds a server URI, SQLite in the test directory otherwise.
fn fresh_database(dir: &Path) -> Result<String> {
    let Ok(server) = std::env::var("CAUSEWAY_TEST_POSTGRES") else {
        return Ok(format!("sqlite:{}", dir.join("bridge.db").display()));
    };
    let name = format!("causeway_test_{:016x}", rand::random::<u64>());
    let status = Command::new("psql")
        .arg(format!("{server}/postgres"))
        .args(["-q", "-c", &format!("CREATE DATABASE {name}")])
        .status()
        .context("cannot run psql")?;
    if !status.success() {
        bail!("cannot create the test database {name}");
    }
    Ok(format!("{server}/{name}"))
}

impl TestEnv {
    /// Generates the config and registration with the bridge's own CLI,
    /// starts Synapse with the registration, then starts the bridge.
    pub async fn start(bin: &Path, options: EnvOptions) -> Result<Self> {
        let dir = tempfile::tempdir()?;
        let config_path = dir.path().join("config.yaml");
        let registration_path = dir.path().join("registration.yaml");
        cli(bin, &["-c", &config_path.display().to_string(), "-e"])?;
        let (bridge_port, control_port) = (free_port()?, free_port()?);
        let database_uri = fresh_database(dir.path())?;
        let mut config: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&config_path)?)?;
        config["appservice"]["port"] = bridge_port.into();
        config["appservice"]["address"] = format!("http://127.0.0.1:{bridge_port}").into();
        config["database"]["uri"] = database_uri.clone().into();
        config["bridge"]["secret_key_file"] =
            dir.path().join("secret.key").display().to_string().into();
        config["bridge"]["permissions"] = serde_yaml::from_str(
            "{'*': relay, localhost: user, '@admin:localhost': admin, '@stranger:localhost': none, '@guest:localhost': relay}",
        )?;
        config["provisioning"]["shared_secret"] = PROVISIONING_SECRET.into();
        for (key, value) in options.bridge.into_iter().flatten() {
            config["bridge"][key] = value;
        }
        match options.network {
            Some(network) => config["network"] = network,
            None => {
                config["network"]["control_port"] = control_port.into();
                config["network"]["outbox_file"] =
                    dir.path().join("outbox.jsonl").display().to_string().into();
                for (key, value) in options.testnet.into_iter().flatten() {
                    config["network"][key] = value;
                }
            }
        }
        std::fs::write(&config_path, serde_yaml::to_string(&config)?)?;
        cli(
            bin,
            &[
                "-c",
                &config_path.display().to_string(),
                "-r",
                &registration_path.display().to_string(),
                "-g",
            ],
        )?;
        let registration: serde_yaml::Value =
            serde_yaml::from_str(&std::fs::read_to_string(&registration_path)?)?;
        let token = |key: &str| registration[key].as_str().unwrap_or_default().to_owned();
        // Written by -g when the config sets up double puppeting.
        let double_puppet = causeway_core::cli::double_puppet_registration_path(&registration_path);
        let synapse = Synapse::start(
            &dir.path().join("synapse"),
            SynapseOptions {
                registrations: std::iter::once(registration_path.clone())
                    .chain(double_puppet.exists().then_some(double_puppet))
                    .chain(options.extra_registrations)
                    .collect(),
                room_version: options.room_version,
            },
        )?;
        // The homeserver URL is known only now.
        let text =
            std::fs::read_to_string(&config_path)?.replace("http://127.0.0.1:8008", &synapse.url());
        std::fs::write(&config_path, text)?;
        let mut env = Self {
            hs_token: token("hs_token"),
            as_token: token("as_token"),
            dir,
            synapse,
            bin: bin.to_owned(),
            bridge_port,
            control_port,
            database_uri,
            quiet: options.quiet,
            bridge: None,
            http: reqwest::Client::new(),
        };
        env.start_bridge().await?;
        Ok(env)
    }

    pub fn config_path(&self) -> PathBuf {
        self.dir.path().join("config.yaml")
    }

    pub fn log_path(&self) -> PathBuf {
        self.dir.path().join("bridge.log")
    }

    /// Starts the bridge and waits until it reports that it is running.
    pub async fn start_bridge(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let child = Command::new(&self.bin)
            .args([
                "-c",
                &self.config_path().display().to_string(),
                "-r",
                &self
                    .dir
                    .path()
                    .join("registration.yaml")
                    .display()
                    .to_string(),
            ])
            .env(
                "RUST_LOG",
                match self.quiet {
                    true => "warn,causeway_core::run=info",
                    false => "info,causeway_core=debug,causeway_xmpp=debug,causeway_telegram=debug",
                },
            )
            .stdout(Stdio::from(log.try_clone()?))
            .stderr(Stdio::from(log))
            .spawn()?;
        self.bridge = Some(child);
        let started = Instant::now();
        let runs_before = self.log().matches("the bridge is running").count();
        while started.elapsed() < Duration::from_secs(30) {
            if self.log().matches("the bridge is running").count() > runs_before {
                return Ok(());
            }
            if let Some(status) = self
                .bridge
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                bail!("the bridge exited with {status}:\n{}", self.log());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        bail!("the bridge did not start:\n{}", self.log())
    }

    /// The bridge process's ID, while it runs.
    pub fn bridge_pid(&self) -> Option<u32> {
        self.bridge.as_ref().map(Child::id)
    }

    /// Stops the bridge where it is (SIGSTOP), closing nothing, so that a
    /// test can change the world around it before
    /// [`Self::resume_bridge`] lets it see the change.
    pub fn pause_bridge(&self) -> Result<()> {
        let pid = self.bridge_pid().context("the bridge is not running")?;
        crate::process::signal(pid, "-STOP")
    }

    /// Lets a paused bridge go on (SIGCONT).
    pub fn resume_bridge(&self) -> Result<()> {
        let pid = self.bridge_pid().context("the bridge is not running")?;
        crate::process::signal(pid, "-CONT")
    }

    /// The bridge's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// SIGKILL: no shutdown, no flushing; what is not durable is lost.
    pub fn kill_bridge(&mut self) {
        if let Some(mut child) = self.bridge.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// A fresh user on the homeserver.
    pub async fn user(&self, name: &str) -> Result<MatrixClient> {
        MatrixClient::register(&self.synapse.url(), name).await
    }

    /// The bridge bot's MXID, from the config.
    pub fn bot(&self) -> String {
        let text = std::fs::read_to_string(self.config_path()).unwrap_or_default();
        let config: serde_yaml::Value = serde_yaml::from_str(&text).unwrap_or_default();
        format!(
            "@{}:localhost",
            config["appservice"]["bot"]["username"]
                .as_str()
                .unwrap_or("testbot")
        )
    }

    /// Plays the remote side through the test network's control API.
    pub async fn control(&self, path: &str, body: Value) -> Result<Value> {
        let url = format!("http://127.0.0.1:{}{path}", self.control_port);
        let reply: Value = self.http.post(url).json(&body).send().await?.json().await?;
        if let Some(err) = reply.get("error") {
            bail!("control {path}: {err}");
        }
        Ok(reply)
    }

    /// Everything the bridge delivered to the remote side so far.
    pub fn outbox(&self) -> Vec<Value> {
        std::fs::read_to_string(self.dir.path().join("outbox.jsonl"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }

    /// Waits until the outbox holds a record that matches.
    pub async fn wait_outbox(
        &self,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Result<Value> {
        let started = Instant::now();
        loop {
            if let Some(found) = self.outbox().into_iter().find(&pred) {
                return Ok(found);
            }
            if started.elapsed() > timeout {
                bail!("nothing matching reached the remote side within {timeout:?}; outbox: {:?}\nlog tail:\n{}", self.outbox(), tail(&self.log(), 30));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// A raw request to the bridge's appservice API, as the homeserver makes.
    pub async fn appservice(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Result<(u16, Value)> {
        let mut req = self.http.request(
            method,
            format!("http://127.0.0.1:{}{path}", self.bridge_port),
        );
        if let Some(token) = token {
            req = req.bearer_auth(token);
        }
        if let Some(body) = body {
            req = req.header("content-type", "application/json").body(body);
        }
        let resp = req.send().await?;
        let status = resp.status().as_u16();
        Ok((status, resp.json().await.unwrap_or(Value::Null)))
    }
}

impl Drop for TestEnv {
    fn drop(&mut self) {
        self.kill_bridge();
    }
}

fn cli(bin: &Path, args: &[&str]) -> Result<()> {
    let out = Command::new(bin).args(args).output()?;
    if !out.status.success() {
        bail!(
            "{} {:?} failed: {}",
            bin.display(),
            args,
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(())
}

pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}
