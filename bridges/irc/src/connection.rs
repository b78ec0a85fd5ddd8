//! One IRC connection: the relay bot's or a Matrix user's. It registers,
//! sends through flood control (the `irc` crate has none), and reports what
//! it hears as events.

use crate::config::{FloodConfig, NetworkConfig};
use anyhow::{bail, Context, Result};
use dashmap::DashSet;
use futures_util::StreamExt;
use irc::client::prelude::{Client, Command, Config as ClientConfig, Message, Prefix, Response};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, oneshot};

/// The server could not be reached, or the connection dropped: worth
/// retrying once the server is back, unlike a refusal.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Unreachable(pub String);

/// What a connection heard.
#[derive(Clone, Debug)]
pub enum IrcEvent {
    /// PRIVMSG, NOTICE or CTCP ACTION.
    Message {
        from: String,
        target: String,
        text: String,
        kind: MessageKind,
    },
    /// The server refused something; `code` is the numeric.
    Refused {
        code: u16,
        text: String,
    },
    Disconnected {
        reason: String,
    },
    /// A channel's topic, set now or reported on joining.
    Topic {
        channel: String,
        topic: String,
    },
    /// Someone else's presence in a channel changed; `channel` is `None` for
    /// a QUIT or a nick change, which affect every channel.
    Member {
        channel: Option<String>,
        nick: String,
        change: MemberChange,
    },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberChange {
    Joined,
    Parted {
        reason: Option<String>,
    },
    Quit {
        reason: Option<String>,
    },
    Kicked {
        by: String,
        reason: Option<String>,
    },
    /// The names a NAMES reply lists, with their mode prefixes removed.
    Names(Vec<String>),
    Renamed {
        new: String,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MessageKind {
    Privmsg,
    Notice,
    Action,
}

impl MessageKind {
    /// The Matrix msgtype that shows this kind of IRC message.
    pub fn msgtype(self) -> &'static str {
        match self {
            Self::Privmsg => "m.text",
            Self::Notice => "m.notice",
            Self::Action => "m.emote",
        }
    }

    /// The IRC kind for a Matrix msgtype, if IRC has one.
    pub fn for_msgtype(msgtype: &str) -> Option<Self> {
        [Self::Privmsg, Self::Notice, Self::Action]
            .into_iter()
            .find(|k| k.msgtype() == msgtype)
    }
}

/// Events come with the connection they were heard on.
pub type EventSender = mpsc::UnboundedSender<(Arc<Connection>, IrcEvent)>;
pub type EventReceiver = mpsc::UnboundedReceiver<(Arc<Connection>, IrcEvent)>;

pub struct Connection {
    pub network: String,
    /// The Matrix user this connection puppets; `None` for the relay bot.
    pub owner: Option<String>,
    nick: Mutex<String>,
    outgoing: mpsc::Sender<Message>,
    /// Channels joined, folded.
    channels: DashSet<String>,
    /// A JOIN waiting for the server's echo, by folded channel.
    joining: dashmap::DashMap<String, oneshot::Sender<Result<()>>>,
    /// Every message from the server, for commands that wait for replies.
    raw: tokio::sync::broadcast::Sender<Message>,
    /// Cleared when the server's stream ends, so nothing more is sent into it.
    alive: std::sync::atomic::AtomicBool,
    rfc1459: bool,
}

impl Connection {
    pub fn nick(&self) -> String {
        self.nick.lock().map(|n| n.clone()).unwrap_or_default()
    }

    pub fn is_alive(&self) -> bool {
        self.alive.load(std::sync::atomic::Ordering::Acquire)
    }

    pub fn is_in(&self, channel: &str) -> bool {
        self.channels
            .contains(&crate::nick::fold(channel, self.rfc1459))
    }

    pub async fn send(&self, message: Message) -> Result<()> {
        if !self.is_alive() {
            return Err(Unreachable("the IRC connection is closed".into()).into());
        }
        self.outgoing
            .send(message)
            .await
            .map_err(|_| Unreachable("the IRC connection is closed".into()).into())
    }

    /// Joins a channel and waits for the server to confirm it.
    pub async fn join(&self, channel: &str, key: Option<&str>) -> Result<()> {
        if self.is_in(channel) {
            return Ok(());
        }
        let (done, confirmed) = oneshot::channel();
        self.joining
            .insert(crate::nick::fold(channel, self.rfc1459), done);
        self.send(Command::JOIN(channel.to_owned(), key.map(str::to_owned), None).into())
            .await?;
        match tokio::time::timeout(Duration::from_secs(20), confirmed).await {
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
        let mut replies = self.raw.subscribe();
        self.send(message).await?;
        let mut collected = Vec::new();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
        loop {
            match tokio::time::timeout_at(deadline, replies.recv()).await {
                Ok(Ok(reply)) => {
                    let finished = done(&reply);
                    collected.push(reply);
                    if finished {
                        return Ok(collected);
                    }
                }
                Ok(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => continue,
                Ok(Err(_)) => bail!("the IRC connection closed"),
                Err(_) => bail!("the IRC server did not answer within 15 s"),
            }
        }
    }

    /// Changes nick; the server's refusal (433, …) becomes the error.
    pub async fn change_nick(&self, wanted: &str) -> Result<()> {
        if !crate::nick::is_valid(wanted) {
            bail!("{wanted:?} is not a valid IRC nick: use letters, digits and []\\`_^{{|}}-, not starting with a digit or -");
        }
        let old = crate::nick::fold(&self.nick(), self.rfc1459);
        let replies = self
            .request(Command::NICK(wanted.to_owned()).into(), |m| {
                match &m.command {
                    Command::NICK(_) => {
                        source_nick(m).is_some_and(|n| crate::nick::fold(&n, self.rfc1459) == old)
                    }
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
        self.channels.iter().map(|c| c.clone()).collect()
    }

    /// Sends text to a channel or nick as one message per line.
    pub async fn say(&self, target: &str, kind: MessageKind, lines: &[String]) -> Result<()> {
        for line in lines {
            let command = match kind {
                MessageKind::Privmsg => Command::PRIVMSG(target.to_owned(), line.clone()),
                MessageKind::Notice => Command::NOTICE(target.to_owned(), line.clone()),
                MessageKind::Action => {
                    Command::PRIVMSG(target.to_owned(), format!("\x01ACTION {line}\x01"))
                }
            };
            self.send(command.into()).await?;
        }
        Ok(())
    }
}

pub struct ConnectParams<'a> {
    pub network_id: &'a str,
    pub network: &'a NetworkConfig,
    pub nick: String,
    pub username: String,
    pub realname: String,
    pub owner: Option<String>,
}

/// Connects and registers; returns once the server has welcomed us.
pub async fn connect(params: ConnectParams<'_>, events: EventSender) -> Result<Arc<Connection>> {
    let net = params.network;
    let config = ClientConfig {
        nickname: Some(params.nick.clone()),
        username: Some(params.username.clone()),
        realname: Some(params.realname.clone()),
        server: Some(net.address.clone()),
        port: Some(net.port),
        use_tls: Some(net.tls),
        password: net.password.clone(),
        ping_time: Some(120),
        ping_timeout: Some(60),
        ..ClientConfig::default()
    };
    let mut client = Client::from_config(config).await.map_err(|e| {
        Unreachable(format!(
            "cannot connect to {}:{}: {e}",
            net.address, net.port
        ))
    })?;
    client
        .identify()
        .context("cannot register with the IRC server")?;
    let mut stream = client.stream()?;
    let sender = client.sender();
    let (outgoing, queue) = mpsc::channel(256);
    let connection = Arc::new(Connection {
        network: params.network_id.to_owned(),
        owner: params.owner,
        nick: Mutex::new(params.nick.clone()),
        outgoing,
        channels: DashSet::new(),
        joining: dashmap::DashMap::new(),
        raw: tokio::sync::broadcast::channel(256).0,
        alive: std::sync::atomic::AtomicBool::new(true),
        rfc1459: true,
    });
    tokio::spawn(flood_controlled(sender, queue, net.flood));
    let (welcomed, welcome) = oneshot::channel();
    let conn = connection.clone();
    tokio::spawn(async move {
        let mut welcomed = Some(welcomed);
        let reason = loop {
            match stream.next().await {
                Some(Ok(message)) => {
                    let _ = conn.raw.send(message.clone());
                    handle(&conn, message, &events, &mut welcomed)
                }
                // The crate swallows a 433 or 432 and reports this error when
                // no alternative nicks are set (we set none: a silent `nick_`
                // would hide the collision). The connection is still fine.
                Some(Err(irc::error::Error::NoUsableNick)) => {
                    if let Some(welcomed) = welcomed.take() {
                        let _ = welcomed.send(Err(anyhow::anyhow!(
                            "the nick {} is already in use on this network",
                            conn.nick()
                        )));
                        break "the nick was refused during registration".to_owned();
                    }
                    let refusal = Command::Response(
                        Response::ERR_NICKNAMEINUSE,
                        vec![
                            conn.nick(),
                            String::new(),
                            "Nickname is already in use".into(),
                        ],
                    );
                    let _ = conn.raw.send(refusal.into());
                }
                Some(Err(err)) => break err.to_string(),
                None => break "the server closed the connection".to_owned(),
            }
        };
        if let Some(welcomed) = welcomed.take() {
            let _ = welcomed.send(Err(anyhow::anyhow!("{reason}")));
        }
        conn.alive
            .store(false, std::sync::atomic::Ordering::Release);
        conn.channels.clear();
        let _ = events.send((conn.clone(), IrcEvent::Disconnected { reason }));
        drop(client);
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

/// Sends queued lines no faster than the network's flood settings allow:
/// `burst` at once, then `per_second`.
async fn flood_controlled(
    sender: irc::client::Sender,
    mut queue: mpsc::Receiver<Message>,
    flood: FloodConfig,
) {
    let burst = f64::from(flood.burst);
    let mut tokens = burst;
    let mut last = Instant::now();
    while let Some(message) = queue.recv().await {
        let now = Instant::now();
        tokens = (tokens + now.duration_since(last).as_secs_f64() * flood.per_second).min(burst);
        last = now;
        if tokens < 1.0 {
            tokio::time::sleep(Duration::from_secs_f64((1.0 - tokens) / flood.per_second)).await;
            tokens = 1.0;
            last = Instant::now();
        }
        tokens -= 1.0;
        if sender.send(message).is_err() {
            break;
        }
    }
}

pub fn source_nick(message: &Message) -> Option<String> {
    match &message.prefix {
        Some(Prefix::Nickname(nick, _, _)) => Some(nick.clone()),
        _ => None,
    }
}

fn handle(
    conn: &Arc<Connection>,
    message: Message,
    events: &EventSender,
    welcomed: &mut Option<oneshot::Sender<Result<()>>>,
) {
    let from = source_nick(&message).unwrap_or_default();
    let emit = |event| {
        let _ = events.send((conn.clone(), event));
    };
    match message.command {
        Command::Response(Response::RPL_WELCOME, ref args) => {
            if let Some(nick) = args.first() {
                if let Ok(mut current) = conn.nick.lock() {
                    *current = nick.clone();
                }
            }
            if let Some(welcomed) = welcomed.take() {
                let _ = welcomed.send(Ok(()));
            }
        }
        Command::Response(Response::ERR_NICKNAMEINUSE, _) if welcomed.is_some() => {
            if let Some(welcomed) = welcomed.take() {
                let _ = welcomed.send(Err(anyhow::anyhow!(
                    "the nick {} is already in use on this network",
                    conn.nick()
                )));
            }
        }
        Command::PRIVMSG(target, text) => {
            let (text, kind) = match text
                .strip_prefix("\x01ACTION ")
                .map(|t| t.trim_end_matches('\x01'))
            {
                Some(action) => (action.to_owned(), MessageKind::Action),
                None if text.starts_with('\x01') => return,
                None => (text, MessageKind::Privmsg),
            };
            emit(IrcEvent::Message {
                from,
                target,
                text,
                kind,
            });
        }
        Command::NOTICE(target, text) if !from.is_empty() => emit(IrcEvent::Message {
            from,
            target,
            text,
            kind: MessageKind::Notice,
        }),
        // Our own JOIN echoed: the channel is joined.
        Command::JOIN(channel, _, _)
            if crate::nick::fold(&from, conn.rfc1459)
                == crate::nick::fold(&conn.nick(), conn.rfc1459) =>
        {
            let folded = crate::nick::fold(&channel, conn.rfc1459);
            conn.channels.insert(folded.clone());
            if let Some((_, done)) = conn.joining.remove(&folded) {
                let _ = done.send(Ok(()));
            }
        }
        Command::JOIN(channel, _, _) => emit(IrcEvent::Member {
            channel: Some(channel),
            nick: from,
            change: MemberChange::Joined,
        }),
        Command::PART(channel, reason) => emit(IrcEvent::Member {
            channel: Some(channel),
            nick: from,
            change: MemberChange::Parted { reason },
        }),
        Command::QUIT(reason) => emit(IrcEvent::Member {
            channel: None,
            nick: from,
            change: MemberChange::Quit { reason },
        }),
        Command::KICK(channel, target, reason) => emit(IrcEvent::Member {
            channel: Some(channel),
            nick: target,
            change: MemberChange::Kicked { by: from, reason },
        }),
        Command::NICK(new)
            if crate::nick::fold(&from, conn.rfc1459)
                != crate::nick::fold(&conn.nick(), conn.rfc1459) =>
        {
            emit(IrcEvent::Member {
                channel: None,
                nick: from,
                change: MemberChange::Renamed { new },
            })
        }
        Command::TOPIC(channel, Some(topic)) => emit(IrcEvent::Topic { channel, topic }),
        Command::Response(Response::RPL_TOPIC, ref args) if args.len() >= 3 => {
            emit(IrcEvent::Topic {
                channel: args[1].clone(),
                topic: args[2].clone(),
            })
        }
        Command::Response(Response::RPL_NAMREPLY, ref args) if args.len() >= 4 => {
            let names = args[3]
                .split_whitespace()
                .map(|n| n.trim_start_matches(['~', '&', '@', '%', '+']).to_owned())
                .filter(|n| !n.is_empty())
                .collect();
            emit(IrcEvent::Member {
                channel: Some(args[2].clone()),
                nick: String::new(),
                change: MemberChange::Names(names),
            })
        }
        Command::Response(response, args) => {
            let code = response as u16;
            // 4xx and 5xx numerics are refusals; report them, and fail a
            // pending JOIN they name.
            if (400..600).contains(&code) {
                let text = args.last().cloned().unwrap_or_default();
                if let Some(channel) = args.get(1) {
                    if let Some((_, done)) = conn
                        .joining
                        .remove(&crate::nick::fold(channel, conn.rfc1459))
                    {
                        let _ = done.send(Err(anyhow::anyhow!(
                            "cannot join {channel}: {text} ({code})"
                        )));
                    }
                }
                emit(IrcEvent::Refused { code, text });
            }
        }
        _ => {}
    }
}
