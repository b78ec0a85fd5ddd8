//! One IRC connection: the relay bot's or a Matrix user's. It registers,
//! sends through flood control (the `irc` crate has none), and reports what
//! it hears as events.

use crate::cap::{Negotiation, SaslLogin};
use crate::config::NetworkConfig;
use crate::nick::{fold, Casemapping};
use crate::transport::{self, Line, LineRefused};
use confirm::Confirmations;
pub use confirm::{Confirmation, Unconfirmed};
use incoming::source_nick;
pub use incoming::{IrcEvent, IrcMessage, MemberChange, MessageKind, ModeChange};

mod confirm;
mod incoming;
mod writer;
use anyhow::{anyhow, bail, Result};
use irc::proto::{Command, Message, Response};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

/// The server could not be reached, or the connection dropped: worth
/// retrying once the server is back, unlike a refusal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// The server refused our nick while we registered: someone else has it,
/// or the server does not allow it. The user must choose another.
#[derive(Debug, thiserror::Error)]
#[error("the server refused the nick {nick}: {reason}")]
pub struct NickRefused {
    pub nick: String,
    pub reason: String,
}

/// Services refused our SASL login: a wrong password, most likely.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct LoginRefused(pub String);

/// A line for the flood-controlled writer, and who waits for it to be
/// written and, for a message line, confirmed.
struct Outgoing {
    line: Line,
    written: oneshot::Sender<()>,
    confirmed: Option<oneshot::Sender<()>>,
}

/// Events come with the connection they were heard on.
pub type EventSender = mpsc::UnboundedSender<(Arc<Connection>, IrcEvent)>;
pub type EventReceiver = mpsc::UnboundedReceiver<(Arc<Connection>, IrcEvent)>;

pub struct Connection {
    pub network: String,
    /// The Matrix user this connection puppets; `None` for the relay bot.
    pub owner: Option<String>,
    nick: Mutex<String>,
    /// Lines for the flood-controlled writer; lines, not `Message`s, whose
    /// size would make each connection's queue blocks several KiB.
    outgoing: mpsc::Sender<Outgoing>,
    /// Registration and PONGs: sent at once, outside flood control.
    urgent: mpsc::UnboundedSender<Line>,
    /// Channels joined, folded.
    channels: Mutex<HashSet<String>>,
    /// A JOIN waiting for the server's echo, by folded channel.
    joining: Mutex<HashMap<String, oneshot::Sender<Result<()>>>>,
    /// Every message from the server, for commands that wait for replies.
    /// Commands waiting for replies get every message from the server while
    /// they wait; a list rather than a broadcast channel, which would keep a
    /// buffer for every connection even when nobody listens.
    listeners: Mutex<Vec<mpsc::UnboundedSender<Message>>>,
    /// Cleared when the server's stream ends, so nothing more is sent into it.
    alive: AtomicBool,
    casemapping: AtomicU8,
    /// Message lines written that the server has not confirmed yet.
    confirmations: Arc<Confirmations>,
    /// Once closed, the message lines its server never confirmed.
    unconfirmed: Mutex<Vec<Unconfirmed>>,
    /// IRCv3 capabilities the server enabled.
    capabilities: Mutex<Vec<String>>,
    /// The services account SASL logged in as.
    account: Mutex<Option<String>>,
}

impl Connection {
    pub fn nick(&self) -> String {
        self.nick.lock().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(Ordering::Acquire)
    }

    pub fn casemapping(&self) -> Casemapping {
        Casemapping::from_u8(self.casemapping.load(Ordering::Relaxed))
    }

    /// Folds a nick or channel by this server's casemapping.
    pub fn fold(&self, name: &str) -> String {
        fold(name, self.casemapping())
    }

    /// Notes a channel joined (folded), and answers a JOIN waiting for it.
    fn joined(&self, folded: String) {
        if let Some(done) = self.joining.lock().ok().and_then(|mut j| j.remove(&folded)) {
            let _ = done.send(Ok(()));
        }
        if let Ok(mut channels) = self.channels.lock() {
            channels.insert(folded);
        }
    }

    /// Fails a JOIN waiting for `folded`, if one is.
    fn join_refused(&self, folded: &str, why: anyhow::Error) {
        if let Some(done) = self.joining.lock().ok().and_then(|mut j| j.remove(folded)) {
            let _ = done.send(Err(why));
        }
    }

    fn left(&self, folded: &str) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.remove(folded);
        }
    }

    fn left_all(&self) {
        if let Ok(mut channels) = self.channels.lock() {
            channels.clear();
        }
    }

    /// IRCv3 capabilities the server enabled for this connection.
    pub fn capabilities(&self) -> Vec<String> {
        self.capabilities
            .lock()
            .map(|caps| caps.clone())
            .unwrap_or_default()
    }

    /// The services account SASL logged in as, if it did.
    pub fn account(&self) -> Option<String> {
        self.account.lock().ok().and_then(|a| a.clone())
    }

    /// Sends a line the server never relays (registration, PONG) at once.
    fn send_urgent(&self, line: String) -> Result<(), LineRefused> {
        let line = Line::new(line, 0)?;
        let _ = self.urgent.send(line);
        Ok(())
    }

    pub fn is_in(&self, channel: &str) -> bool {
        let folded = self.fold(channel);
        self.channels.lock().is_ok_and(|c| c.contains(&folded))
    }

    /// Sends a command through flood control, and returns once it is
    /// written to the socket; message lines go through [`Connection::say`],
    /// which also tells when the server took them.
    pub async fn send(&self, message: Message) -> Result<()> {
        self.write(self.line_of(message)?, None).await
    }

    /// A message's line, checked for the wire: a line it would not take
    /// whole (CR, LF, NUL, or too long once relayed with our prefix) is
    /// refused here, for every caller.
    fn line_of(&self, message: Message) -> Result<Line, LineRefused> {
        let mut text = message.to_string();
        // `Message` ends its text with CRLF; only that pair is ours.
        if text.ends_with("\r\n") {
            text.truncate(text.len() - 2);
        }
        self.checked(text)
    }

    /// A line checked for the wire, with room for the prefix the server
    /// adds when it relays our line.
    fn checked(&self, text: String) -> Result<Line, LineRefused> {
        Line::new(text, crate::lines::prefix_len(&self.nick()))
    }

    /// Queues a line for the flood-controlled writer; returns once written.
    async fn write(&self, line: Line, confirmed: Option<oneshot::Sender<()>>) -> Result<()> {
        if !self.is_alive() {
            return Err(Unreachable("the IRC connection is closed".into()).into());
        }
        let (written, done) = oneshot::channel();
        self.outgoing
            .send(Outgoing {
                line,
                written,
                confirmed,
            })
            .await
            .map_err(|_| Unreachable("the IRC connection is closed".into()))?;
        done.await.map_err(|_| {
            Unreachable("the IRC connection closed before the line went out".into()).into()
        })
    }

    /// Once closed, the message lines its server never confirmed, for the
    /// connection that replaces it to send first; taken once.
    pub fn take_unconfirmed(&self) -> Vec<Unconfirmed> {
        self.unconfirmed
            .lock()
            .map(|mut lines| std::mem::take(&mut *lines))
            .unwrap_or_default()
    }

    /// Sends message lines that a dropped connection wrote but its server
    /// never confirmed; each keeps whoever waits for its confirmation. A
    /// line nobody waits for is skipped: the `say` that wrote it failed,
    /// and its caller sends the whole message again. A line too long for
    /// this connection's nick is dropped, and so counts as lost.
    pub async fn resend(&self, lines: Vec<Unconfirmed>) -> Result<()> {
        let awaited = lines.into_iter().filter(|l| !l.confirmed.is_closed());
        for Unconfirmed { line, confirmed } in awaited {
            match self.checked(line.as_str().to_owned()) {
                Ok(line) => self.write(line, Some(confirmed)).await?,
                Err(err) => {
                    tracing::warn!(network = self.network, "cannot send a line again: {err}")
                }
            }
        }
        Ok(())
    }

    /// Joins a channel and waits for the server to confirm it.
    pub async fn join(&self, channel: &str, key: Option<&str>) -> Result<()> {
        if self.is_in(channel) {
            return Ok(());
        }
        let (done, confirmed) = oneshot::channel();
        if let Ok(mut joining) = self.joining.lock() {
            joining.insert(self.fold(channel), done);
        }
        self.send(Command::JOIN(channel.to_owned(), key.map(str::to_owned), None).into())
            .await?;
        match tokio::time::timeout(Duration::from_secs(20), confirmed).await {
            // The relay bot asks for the channel's modes (324), which the
            // room's join rules follow.
            Ok(Ok(Ok(()))) if self.owner.is_none() => {
                let query = Command::Raw("MODE".into(), vec![channel.to_owned()]);
                self.send(query.into()).await
            }
            Ok(Ok(result)) => result,
            Ok(Err(_)) => {
                Err(Unreachable(format!("the connection closed while joining {channel}")).into())
            }
            Err(_) => bail!("the server did not confirm joining {channel} within 20 s"),
        }
    }

    /// Sends `message`, then collects the server's replies until `done` says
    /// the answer is complete, or 15 s pass.
    pub async fn request(
        &self,
        message: Message,
        done: impl Fn(&Message) -> bool,
    ) -> Result<Vec<Message>> {
        let (listener, mut replies) = mpsc::unbounded_channel();
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.push(listener);
        }
        self.send(message).await?;
        let mut collected = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Some(reply)) => {
                    let finished = done(&reply);
                    collected.push(reply);
                    if finished {
                        return Ok(collected);
                    }
                }
                Ok(None) => bail!("the IRC connection closed"),
                Err(_) => bail!("the IRC server did not answer within 15 s"),
            }
        }
    }

    /// Hands a message to every waiting command; forgets those done waiting.
    fn tell_listeners(&self, message: &Message) {
        if let Ok(mut listeners) = self.listeners.lock() {
            listeners.retain(|l| l.send(message.clone()).is_ok());
        }
    }

    /// Changes nick; the server's refusal (433, …) becomes the error.
    pub async fn change_nick(&self, wanted: &str) -> Result<()> {
        if !crate::nick::is_valid(wanted) {
            bail!("{wanted:?} is not a valid IRC nick: use letters, digits and []\\`_^{{|}}-, not starting with a digit or -");
        }
        let old = self.fold(&self.nick());
        let replies = self
            .request(Command::NICK(wanted.to_owned()).into(), |m| {
                match &m.command {
                    Command::NICK(_) => source_nick(m).is_some_and(|n| self.fold(&n) == old),
                    Command::Response(r, _) => matches!(*r as u16, 431..=437 | 484),
                    _ => false,
                }
            })
            .await?;
        match replies.last().map(|m| &m.command) {
            Some(Command::NICK(new)) => {
                if let Ok(mut nick) = self.nick.lock() {
                    *nick = new.clone();
                }
                Ok(())
            }
            Some(Command::Response(code, args)) => bail!(
                "the server refused the nick {wanted}: {} ({})",
                args.last().map(String::as_str).unwrap_or("no reason given"),
                *code as u16
            ),
            _ => bail!("the server did not answer the nick change"),
        }
    }

    /// Sends QUIT; the connection ends when the server closes it.
    pub async fn quit(&self, reason: &str) -> Result<()> {
        self.send(Command::QUIT(Some(reason.to_owned())).into())
            .await
    }

    /// Channels this connection is in, folded.
    pub fn channels(&self) -> Vec<String> {
        self.channels
            .lock()
            .map(|c| c.iter().cloned().collect())
            .unwrap_or_default()
    }

    /// Sends text to a channel or nick as one message per line; returns
    /// once they are written, with what resolves once the server took them.
    /// A Matrix event counts as delivered only then: a line still waiting
    /// for flood control when the bridge dies is sent again after the
    /// restart, and one a dying server never confirmed goes out again on
    /// the next connection.
    pub async fn say(
        &self,
        target: &str,
        kind: MessageKind,
        lines: &[String],
    ) -> Result<Confirmation> {
        let mut confirmations = Vec::with_capacity(lines.len());
        for line in lines {
            // Written out directly, the text always as the trailing
            // parameter: every Matrix message comes through here, and
            // building the `irc` crate's `Message` to print it took 1% of
            // the bridge's CPU.
            let text = match kind {
                MessageKind::Privmsg => format!("PRIVMSG {target} :{line}"),
                MessageKind::Notice => format!("NOTICE {target} :{line}"),
                MessageKind::Action => format!("PRIVMSG {target} :\x01ACTION {line}\x01"),
            };
            let line = self.checked(text)?;
            let (confirmed, confirmation) = oneshot::channel();
            self.write(line, Some(confirmed)).await?;
            confirmations.push(confirmation);
        }
        Ok(Confirmation::new(confirmations))
    }
}

pub struct ConnectParams<'a> {
    pub network_id: &'a str,
    pub network: &'a NetworkConfig,
    pub nick: String,
    pub username: String,
    pub realname: String,
    pub owner: Option<String>,
    /// Logs in with SASL PLAIN when the server offers it.
    pub sasl: Option<SaslLogin>,
}

/// How long a quiet connection waits before it pings the server, and then
/// for the answer.
#[cfg(not(test))]
const PING_AFTER: Duration = Duration::from_secs(120);
/// Short in unit tests, which wait it out.
#[cfg(test)]
const PING_AFTER: Duration = Duration::from_millis(300);

/// Connects and registers; returns once the server has welcomed us and sent
/// its ISUPPORT and MOTD.
pub async fn connect(params: ConnectParams<'_>, events: EventSender) -> Result<Arc<Connection>> {
    let net = params.network;
    let fallback = transport::encoding(&net.fallback_encoding)?;
    let (mut reader, writer) = transport::open(&net.address, net.port, net.tls).await?;
    let (outgoing, queue) = mpsc::channel(256);
    let (urgent, urgent_queue) = mpsc::unbounded_channel();
    let confirmations = Arc::new(Confirmations::default());
    let connection = Arc::new(Connection {
        network: params.network_id.to_owned(),
        owner: params.owner,
        nick: Mutex::new(params.nick.clone()),
        outgoing,
        urgent,
        channels: Mutex::default(),
        joining: Mutex::default(),
        listeners: Mutex::new(Vec::new()),
        alive: AtomicBool::new(true),
        casemapping: AtomicU8::new(Casemapping::default().to_u8()),
        confirmations: confirmations.clone(),
        unconfirmed: Mutex::default(),
        capabilities: Mutex::new(Vec::new()),
        account: Mutex::new(None),
    });
    // Dropped when the reader ends, which stops the writer.
    let (reading, stopped) = oneshot::channel::<()>();
    let queues = writer::Queues {
        urgent: urgent_queue,
        flood: queue,
        confirmations,
    };
    tokio::spawn(writer::write_lines(writer, queues, stopped, net.flood));
    let mut negotiation = Negotiation::new(params.sasl);
    let mut opening = vec![Negotiation::first_line().to_owned()];
    if let Some(password) = &net.password {
        opening.push(format!("PASS :{password}"));
    }
    opening.push(format!("NICK {}", params.nick));
    opening.push(format!("USER {} 0 * :{}", params.username, params.realname));
    for line in opening {
        connection.send_urgent(line)?;
    }
    let (welcomed, welcome) = oneshot::channel();
    let conn = connection.clone();
    tokio::spawn(async move {
        let mut welcomed = Some(welcomed);
        let mut pinged = false;
        // One timer for the connection's life, reset only when it fires: a
        // timer per line, or even a clock read per line, cost each of the
        // many connections that hear a busy channel something for every
        // line. So a quiet spell is noticed after one to two periods.
        let mut heard = false;
        let quiet = tokio::time::sleep(PING_AFTER);
        tokio::pin!(quiet);
        let (reason, clean) = loop {
            let read = tokio::select! {
                biased;
                read = reader.next_line() => read,
                () = &mut quiet => {
                    // A server that talks but never answers the PING after
                    // our lines would hold them unconfirmed for good: a
                    // new connection sends them again.
                    if conn.confirmations.unanswered_for(PING_AFTER) {
                        break ("the server did not answer a PING".to_owned(), false);
                    }
                    quiet.as_mut().reset(tokio::time::Instant::now() + PING_AFTER);
                    if std::mem::take(&mut heard) {
                        continue;
                    }
                    if pinged {
                        break ("the server stopped answering pings".to_owned(), false);
                    }
                    pinged = true;
                    let _ = conn.send_urgent("PING :causeway".into());
                    continue;
                }
            };
            let bytes = match read {
                Ok(Some(bytes)) => bytes,
                Ok(None) => break ("the server closed the connection".to_owned(), true),
                Err(err) => break (err.to_string(), false),
            };
            heard = true;
            pinged = false;
            let line = transport::decode(bytes, fallback);
            if incoming::is_unused_chatter(&conn, &line) {
                continue;
            }
            let parts = transport::split(&line);
            if parts.command == "PING" {
                let token = parts.params.first().copied().unwrap_or("");
                if let Err(err) = conn.send_urgent(format!("PONG :{token}")) {
                    tracing::debug!(network = conn.network, "cannot answer a PING: {err}");
                }
                continue;
            }
            if parts.command == "PONG" {
                let token = parts.params.last().copied().unwrap_or("");
                if let Some(ping) = conn.confirmations.answered(token) {
                    let _ = conn.urgent.send(ping);
                }
                continue;
            }
            if welcomed.is_some() {
                match negotiation.on_line(&parts) {
                    Ok(replies) => {
                        for reply in replies {
                            if let Err(err) = conn.send_urgent(reply) {
                                tracing::warn!(
                                    network = conn.network,
                                    "registration line refused: {err}"
                                );
                            }
                        }
                    }
                    Err(refusal) => {
                        let _ = conn.send_urgent("QUIT :login failed".into());
                        if let Some(welcomed) = welcomed.take() {
                            let _ = welcomed.send(Err(LoginRefused(refusal.clone()).into()));
                        }
                        break (refusal, false);
                    }
                }
            }
            let message = match line.parse::<Message>() {
                Ok(message) => message,
                Err(err) => {
                    tracing::debug!(network = conn.network, "unparsable IRC line: {err}");
                    continue;
                }
            };
            if let Some(welcomed_now) = welcomed.take_if(|_| is_end_of_registration(&message)) {
                if let Ok(mut caps) = conn.capabilities.lock() {
                    caps.clone_from(&negotiation.enabled);
                }
                if let Ok(mut account) = conn.account.lock() {
                    account.clone_from(&negotiation.account);
                }
                let _ = welcomed_now.send(Ok(()));
            }
            conn.tell_listeners(&message);
            incoming::handle(&conn, message, &events, &mut welcomed);
        };
        if let Some(welcomed) = welcomed.take() {
            let _ = welcomed.send(Err(anyhow!("{reason}")));
        }
        // Set aside before the connection counts as closed: whoever
        // replaces it finds them (see `take_unconfirmed`).
        if let Ok(mut carried) = conn.unconfirmed.lock() {
            *carried = conn.confirmations.closed(clean);
        }
        conn.alive.store(false, Ordering::Release);
        let channels = conn.channels();
        conn.left_all();
        if let Ok(mut listeners) = conn.listeners.lock() {
            listeners.clear();
        }
        let _ = events.send((conn.clone(), IrcEvent::Disconnected { reason, channels }));
        drop(reading);
    });
    match tokio::time::timeout(Duration::from_secs(30), welcome).await {
        Ok(Ok(Ok(()))) => Ok(connection),
        Ok(Ok(Err(err))) => Err(err),
        Ok(Err(_)) => {
            Err(Unreachable("the IRC connection ended during registration".into()).into())
        }
        Err(_) => bail!("the IRC server did not finish registration within 30 s"),
    }
}

/// The MOTD's end (or its absence) follows the welcome and ISUPPORT, so by
/// then we know the server's casemapping.
fn is_end_of_registration(message: &Message) -> bool {
    matches!(
        message.command,
        Command::Response(Response::RPL_ENDOFMOTD | Response::ERR_NOMOTD, _)
    )
}

#[cfg(test)]
mod tests;
