//! What a connection hears: server lines turned into events for the
//! bridge, and the connection's own state kept up to date.

use super::{Connection, EventSender};
use crate::nick::Casemapping;
use crate::transport;
use anyhow::Result;
use irc::proto::{ChannelMode, Command, Message, Mode, Prefix, Response};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::oneshot;

/// What a connection heard.
#[derive(Debug)]
pub enum IrcEvent {
    /// PRIVMSG, NOTICE or CTCP ACTION.
    Message(IrcMessage),
    /// The server refused something; `code` is the numeric.
    Refused {
        code: u16,
        /// What was refused: a channel or nick, when the numeric names one.
        subject: Option<String>,
        text: String,
    },
    Disconnected {
        reason: String,
        /// The channels the connection was in, to rejoin on reconnecting.
        channels: Vec<String>,
    },
    /// Channel modes changed, or were reported on joining.
    Modes {
        channel: String,
        changes: Vec<ModeChange>,
    },
    /// A channel's topic, set now or reported on joining.
    Topic { channel: String, topic: String },
    /// Someone else's presence in a channel changed; `channel` is `None` for
    /// a QUIT or a nick change, which affect every channel.
    Member {
        channel: Option<String>,
        nick: String,
        change: MemberChange,
    },
}

/// Whether a line is channel chatter that a Matrix user's own connection
/// hears and the bridge never uses: the relay bot bridges each channel
/// message, once. Every user in a busy channel hears every line of it, so
/// this reads only the line's command and target, before anything is
/// split or parsed.
pub(super) fn is_unused_chatter(conn: &Connection, line: &str) -> bool {
    conn.owner.is_some() && {
        let (command, target) = transport::head(line);
        matches!(command, "PRIVMSG" | "NOTICE") && target.is_some_and(crate::params::is_channel)
    }
}

/// The user mode that keeps channel messages from a user, when a server's
/// ISUPPORT `token` offers one (`DEAF=D` on solanum and charybdis; `DEAF`
/// alone means `d`). A Matrix user's own connection sets it: it drops every
/// channel line it hears (see [`is_unused_chatter`]), and a channel with a
/// thousand Matrix users on the bridge would otherwise send each line to the
/// bridge a thousand times. Servers that do not say which letter it is are
/// left alone: a guessed letter may mean something else there.
pub(super) fn deaf_mode(token: &str) -> Option<char> {
    match token.strip_prefix("DEAF")? {
        "" => Some('d'),
        letter => match letter.strip_prefix('=')?.as_bytes() {
            &[mode] if mode.is_ascii_alphabetic() => Some(char::from(mode)),
            _ => None,
        },
    }
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
    /// The names a NAMES reply lists, each with the channel modes its
    /// prefixes stand for (`@` is `o`, `+` is `v`).
    Names(Vec<(String, Vec<char>)>),
    Renamed {
        new: String,
    },
}

/// A PRIVMSG, NOTICE or CTCP ACTION someone sent.
#[derive(Clone, Debug)]
pub struct IrcMessage {
    pub from: String,
    /// A channel, or our nick for a private message.
    pub target: String,
    pub text: String,
    pub kind: MessageKind,
    /// The IRCv3 `msgid` tag, when the server sends one.
    pub msgid: Option<String>,
    /// When the server received it (`server-time`), in ms since the epoch.
    pub time: Option<i64>,
}

/// One channel mode change: `+o nick`, `-i`, `+k key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModeChange {
    pub adding: bool,
    pub mode: char,
    pub argument: Option<String>,
}

impl ModeChange {
    fn of(mode: &Mode<ChannelMode>) -> Option<Self> {
        let (adding, which, argument) = match mode {
            Mode::Plus(which, argument) => (true, which, argument),
            Mode::Minus(which, argument) => (false, which, argument),
            Mode::NoPrefix(_) => return None,
        };
        Some(Self {
            adding,
            mode: which.to_string().chars().next()?,
            argument: argument.clone(),
        })
    }
}

/// `@+nick` → (`nick`, [o, v]): the status prefixes of NAMES, as modes.
fn split_prefixes(entry: &str) -> (String, Vec<char>) {
    let nick = entry.trim_start_matches(['~', '&', '@', '%', '+']);
    let modes = entry[..entry.len() - nick.len()]
        .chars()
        .filter_map(|symbol| match symbol {
            '~' => Some('q'),
            '&' => Some('a'),
            '@' => Some('o'),
            '%' => Some('h'),
            '+' => Some('v'),
            _ => None,
        })
        .collect();
    (nick.to_owned(), modes)
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

/// The value of an IRCv3 message tag.
fn tag(message: &Message, name: &str) -> Option<String> {
    message
        .tags
        .as_ref()?
        .iter()
        .find(|t| t.0 == name)
        .and_then(|t| t.1.clone())
}

/// A `server-time` tag in ms since the epoch. A clock ahead of ours is
/// clamped to now: Matrix clients sort by timestamp, and a message from the
/// future would sit below everything said after it.
fn server_time(value: &str) -> Option<i64> {
    let parsed = chrono::DateTime::parse_from_rfc3339(value).ok()?;
    Some(
        parsed
            .timestamp_millis()
            .min(causeway_core::store::now_ms()),
    )
}

pub fn source_nick(message: &Message) -> Option<String> {
    match &message.prefix {
        Some(Prefix::Nickname(nick, _, _)) => Some(nick.clone()),
        _ => None,
    }
}

pub(super) fn handle(
    conn: &Arc<Connection>,
    message: Message,
    events: &EventSender,
    welcomed: &mut Option<oneshot::Sender<Result<()>>>,
) {
    let from = source_nick(&message).unwrap_or_default();
    let emit = |event| {
        let _ = events.send((conn.clone(), event));
    };
    let msgid = tag(&message, "msgid");
    let time = tag(&message, "time").and_then(|t| server_time(&t));
    // With echo-message our own lines come back; the Matrix side already
    // has them.
    let echo = !from.is_empty() && conn.fold(&from) == conn.fold(&conn.nick());
    match message.command {
        Command::Response(Response::RPL_WELCOME, ref args) => {
            if let Some(nick) = args.first() {
                if let Ok(mut current) = conn.nick.lock() {
                    *current = nick.clone();
                }
            }
        }
        Command::Response(Response::RPL_ISUPPORT, ref args) => {
            for token in args {
                if let Some(value) = token.strip_prefix("CASEMAPPING=") {
                    conn.casemapping
                        .store(Casemapping::from_isupport(value).to_u8(), Ordering::Relaxed);
                }
                if let Some(mode) = deaf_mode(token).filter(|_| conn.owner.is_some()) {
                    let _ = conn.send_urgent(format!("MODE {} +{mode}", conn.nick()));
                }
            }
        }
        Command::Response(
            Response::ERR_NICKNAMEINUSE | Response::ERR_ERRONEOUSNICKNAME,
            ref args,
        ) if welcomed.is_some() => {
            if let Some(welcomed) = welcomed.take() {
                let refused = super::NickRefused {
                    nick: conn.nick(),
                    reason: args.last().cloned().unwrap_or_else(|| "refused".into()),
                };
                let _ = welcomed.send(Err(refused.into()));
            }
            let _ = conn.send_urgent("QUIT".into());
        }
        Command::PRIVMSG(_, _) | Command::NOTICE(_, _) if echo => {}
        Command::PRIVMSG(target, text) => {
            let (text, kind) = match text
                .strip_prefix("\x01ACTION ")
                .map(|t| t.trim_end_matches('\x01'))
            {
                Some(action) => (action.to_owned(), MessageKind::Action),
                None if text.starts_with('\x01') => return,
                None => (text, MessageKind::Privmsg),
            };
            emit(IrcEvent::Message(IrcMessage {
                from,
                target,
                text,
                kind,
                msgid,
                time,
            }));
        }
        Command::NOTICE(target, text) if !from.is_empty() => emit(IrcEvent::Message(IrcMessage {
            from,
            target,
            text,
            kind: MessageKind::Notice,
            msgid,
            time,
        })),
        // Our own JOIN echoed: the channel is joined.
        Command::JOIN(channel, _, _) if conn.fold(&from) == conn.fold(&conn.nick()) => {
            conn.joined(conn.fold(&channel));
        }
        Command::JOIN(channel, _, _) => emit(IrcEvent::Member {
            channel: Some(channel),
            nick: from,
            change: MemberChange::Joined,
        }),
        Command::PART(channel, reason) => {
            if conn.fold(&from) == conn.fold(&conn.nick()) {
                conn.left(&conn.fold(&channel));
            }
            emit(IrcEvent::Member {
                channel: Some(channel),
                nick: from,
                change: MemberChange::Parted { reason },
            })
        }
        Command::QUIT(reason) => emit(IrcEvent::Member {
            channel: None,
            nick: from,
            change: MemberChange::Quit { reason },
        }),
        Command::KICK(channel, target, reason) => {
            if conn.fold(&target) == conn.fold(&conn.nick()) {
                conn.left(&conn.fold(&channel));
            }
            emit(IrcEvent::Member {
                channel: Some(channel),
                nick: target,
                change: MemberChange::Kicked { by: from, reason },
            })
        }
        Command::ChannelMODE(channel, modes) => emit(IrcEvent::Modes {
            channel,
            changes: modes.iter().filter_map(ModeChange::of).collect(),
        }),
        // The channel's modes, asked for on joining: `324 me #chan +ntk key`.
        Command::Response(Response::RPL_CHANNELMODEIS, ref args) if args.len() >= 3 => {
            let changes = args[2]
                .trim_start_matches('+')
                .chars()
                .map(|mode| ModeChange {
                    adding: true,
                    mode,
                    argument: None,
                })
                .collect();
            emit(IrcEvent::Modes {
                channel: args[1].clone(),
                changes,
            })
        }
        Command::NICK(new) if conn.fold(&from) != conn.fold(&conn.nick()) => {
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
                .map(split_prefixes)
                .filter(|(n, _)| !n.is_empty())
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
                    conn.join_refused(
                        &conn.fold(channel),
                        anyhow::anyhow!("cannot join {channel}: {text} ({code})"),
                    );
                }
                let subject = args.get(1).filter(|_| args.len() > 2).cloned();
                emit(IrcEvent::Refused {
                    code,
                    subject,
                    text,
                });
            }
        }
        _ => {}
    }
}
