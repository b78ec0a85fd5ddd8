//! A prepared homeserver, copied into each test's Synapse.
//!
//! A Synapse started on an empty database spends about half a CPU-second
//! creating its schema, and over its first minute about one and a half
//! more on background updates; generating its signing key starts Python
//! once more. An end-to-end pass starts Synapse a few hundred times on two
//! cores, mostly for tests that last seconds. So the first test to need it
//! prepares one database and key per cache directory, under a file lock,
//! and every Synapse starts from a copy.

use super::{cache_dir, run, synapse_venv, Synapse, SynapseOptions};
use anyhow::{Context, Result};
use std::path::{Path, PathBuf};
use std::process::Command;

/// The files each test's Synapse starts from.
pub(super) const FILES: [&str; 2] = ["homeserver.db", "signing.key"];

/// How long the background updates may take in the prepared homeserver;
/// run without pauses, they take a few seconds.
const UPDATES_TIMEOUT_SECS: u32 = 180;

/// The directory holding [`FILES`], prepared on first use.
pub(super) fn prepared() -> Result<PathBuf> {
    let version = super::SYNAPSE_VERSION.trim_end_matches(".*");
    let dir = cache_dir().join(format!("synapse-template-{version}"));
    let ready = dir.join(".ready");
    if ready.exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(cache_dir())?;
    let lock = std::fs::File::create(cache_dir().join("synapse-template.lock"))?;
    // Released when `lock` is dropped, or when a test binary dies holding it.
    lock.lock().context("locking the Synapse template")?;
    if ready.exists() {
        return Ok(dir);
    }
    let scratch = cache_dir().join(format!("synapse-template.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&scratch);
    prepare(&scratch, &dir)?;
    let _ = std::fs::remove_dir_all(&scratch);
    std::fs::write(&ready, "")?;
    Ok(dir)
}

/// Runs a Synapse in `scratch` until its background updates are done, and
/// leaves a clean copy of its database and key in `dir`.
fn prepare(scratch: &Path, dir: &Path) -> Result<()> {
    let options = SynapseOptions {
        registrations: Vec::new(),
        room_version: None,
    };
    let mut synapse = Synapse::start_empty(scratch, options)?;
    let database = scratch.join("homeserver.db");
    python(
        "waiting for Synapse's background updates",
        &format!(
            "import sqlite3, sys, time
deadline = time.time() + {UPDATES_TIMEOUT_SECS}
while True:
    db = sqlite3.connect(sys.argv[1])
    left = db.execute('SELECT count(*) FROM background_updates').fetchone()[0]
    db.close()
    if left == 0:
        break
    if time.time() > deadline:
        sys.exit(f'{{left}} background updates still pending')
    time.sleep(0.2)"
        ),
        &database,
        None,
    )?;
    synapse.stop();
    std::fs::create_dir_all(dir)?;
    // SQLite's backup writes one self-contained file, whatever Synapse left
    // in its write-ahead log.
    python(
        "copying the prepared Synapse database",
        "import sqlite3, sys
src, dst = sqlite3.connect(sys.argv[1]), sqlite3.connect(sys.argv[2])
src.backup(dst)
dst.close()",
        &database,
        Some(&dir.join("homeserver.db")),
    )?;
    std::fs::copy(scratch.join("signing.key"), dir.join("signing.key"))?;
    Ok(())
}

fn python(what: &str, script: &str, arg: &Path, second: Option<&Path>) -> Result<()> {
    let mut command = Command::new(synapse_venv()?.join("bin/python"));
    command.args(["-c", script]).arg(arg);
    command.args(second);
    run(&mut command, what)
}
