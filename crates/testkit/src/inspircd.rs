//! InspIRCd 3 linked to Anope services on 127.0.0.1, for the parts of IRC
//! that ngircd lacks: IRCv3 capabilities, SASL and NickServ. Both come from
//! Debian (`apt-get install inspircd anope`) and run in the foreground.

use crate::synapse::free_port;
use anyhow::{bail, Context, Result};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const MODULES: &[&str] = &[
    "cap",
    "ircv3",
    "ircv3_servertime",
    "ircv3_echomessage",
    "ircv3_batch",
    "ircv3_msgid",
    "ircv3_ctctags",
    "ircv3_labeledresponse",
    "ircv3_accounttag",
    "ircv3_capnotify",
    "ircv3_chghost",
    "namesx",
    "uhnames",
    "monitor",
    "setname",
    "services_account",
    "sasl",
    "spanningtree",
    "hidechans",
    "chghost",
    "chgident",
    "chgname",
    "servprotect",
];

pub struct InspIrcd {
    pub port: u16,
    dir: PathBuf,
    ircd: Option<Child>,
    services: Option<Child>,
}

impl InspIrcd {
    /// Starts InspIRCd and Anope in `dir`; returns once services have linked.
    pub fn start(dir: &Path) -> Result<Self> {
        std::fs::create_dir_all(dir.join("anope"))?;
        let (port, link_port) = (free_port()?, free_port()?);
        let d = dir.display();
        let mut config = format!(
            r#"<server name="irc.test.local" description="test" network="TestNet">
<admin name="test" nick="test" email="test@test.local">
<bind address="127.0.0.1" port="{port}" type="clients">
<bind address="127.0.0.1" port="{link_port}" type="servers">
<connect allow="*" timeout="60" pingfreq="120" localmax="10000" globalmax="10000" limit="10000" maxconnwarn="no" resolvehostnames="no" useident="no" threshold="1000" commandrate="100000" fakelag="no" hardsendq="1048576" softsendq="65536" recvq="65536">
<pid file="{d}/inspircd.pid">
<log method="file" type="* -USERINPUT -USEROUTPUT" level="default" target="{d}/inspircd.log">
<limits maxnick="30">
<channels users="1000" opers="1000">
<sasl target="services.test.local">
<link name="services.test.local" ipaddr="127.0.0.1" port="{link_port}" allowmask="127.0.0.0/8" sendpass="linkpass" recvpass="linkpass">
<uline server="services.test.local" silent="yes">
"#
        );
        for module in MODULES {
            config.push_str(&format!("<module name=\"{module}\">\n"));
        }
        std::fs::write(dir.join("inspircd.conf"), config)?;
        write_anope_config(&dir.join("anope"), link_port)?;
        let mut server = Self {
            port,
            dir: dir.to_owned(),
            ircd: None,
            services: None,
        };
        server.spawn()?;
        Ok(server)
    }

    fn spawn(&mut self) -> Result<()> {
        let dir = &self.dir;
        let ircd = Command::new(sbin("inspircd"))
            .arg(format!("--config={}", dir.join("inspircd.conf").display()))
            .args(["--nofork", "--runasroot"])
            .stdout(log_file(&dir.join("inspircd.out"))?)
            .stderr(log_file(&dir.join("inspircd.out"))?)
            .spawn()
            .context("cannot start inspircd: install it with apt-get install inspircd")?;
        self.ircd = Some(ircd);
        wait_until(Duration::from_secs(15), "inspircd to listen", || {
            std::net::TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        })?;
        let anope_dir = dir.join("anope");
        let out = dir.join("anope.out");
        let _ = std::fs::remove_file(&out);
        let services = Command::new(sbin("anope"))
            .arg("--nofork")
            .arg(format!("--confdir={}", anope_dir.display()))
            .arg(format!("--dbdir={}", anope_dir.display()))
            .arg(format!("--logdir={}", anope_dir.display()))
            .arg("--modulesdir=/usr/lib/anope")
            .stdout(log_file(&out)?)
            .stderr(log_file(&out)?)
            .spawn()
            .context("cannot start anope: install it with apt-get install anope")?;
        self.services = Some(services);
        wait_until(Duration::from_secs(20), "Anope to link", || {
            std::fs::read_to_string(&out).is_ok_and(|log| {
                log.contains("services.test.local (Services for IRC Networks) is done syncing")
            })
        })
    }

    pub fn stop(&mut self) {
        for child in [self.services.take(), self.ircd.take()]
            .into_iter()
            .flatten()
        {
            let mut child = child;
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for InspIrcd {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Debian's Anope config, pointed at our link and scratch directory. The
/// casemap must be rfc1459: the default "ascii" fails CAPAB with InspIRCd 3.
fn write_anope_config(dir: &Path, link_port: u16) -> Result<()> {
    for entry in std::fs::read_dir("/etc/anope")
        .context("Anope's config is missing: apt-get install anope")?
    {
        let entry = entry?;
        std::fs::copy(entry.path(), dir.join(entry.file_name()))?;
    }
    let path = dir.join("services.conf");
    let d = dir.display();
    let config = std::fs::read_to_string(&path)?
        .replace("port = 7000", &format!("port = {link_port}"))
        .replace("password = \"mypassword\"", "password = \"linkpass\"")
        .replace("\"services.example.com\"", "\"services.test.local\"")
        .replace(
            "\"/var/run/anope/anope.pid\"",
            &format!("\"{d}/anope.pid\""),
        )
        .replace(
            "\"/etc/anope/services.motd\"",
            &format!("\"{d}/services.motd\""),
        )
        .replace("casemap = \"ascii\"", "casemap = \"rfc1459\"");
    std::fs::write(path, config)?;
    // Everything connects from 127.0.0.1: lift the default of 3 sessions per
    // host, which services enforce with a Z-line.
    let operserv = dir.join("operserv.conf");
    let limits = std::fs::read_to_string(&operserv)?
        .replace("defaultsessionlimit = 3", "defaultsessionlimit = 0");
    std::fs::write(operserv, limits)?;
    Ok(())
}

fn sbin(name: &str) -> String {
    let path = format!("/usr/sbin/{name}");
    if Path::new(&path).exists() {
        path
    } else {
        name.to_owned()
    }
}

fn log_file(path: &Path) -> Result<Stdio> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)?;
    Ok(Stdio::from(file))
}

fn wait_until(limit: Duration, what: &str, ready: impl Fn() -> bool) -> Result<()> {
    let started = Instant::now();
    while !ready() {
        if started.elapsed() > limit {
            bail!("timed out waiting for {what}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(())
}
