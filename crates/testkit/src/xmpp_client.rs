//! A small XMPP client over plain c2s, to play a real XMPP user in tests.
//!
//! It speaks raw XML on purpose: a test must be able to send what no
//! library would (bad escaping, unknown namespaces, huge bodies), and the
//! bridge's own XMPP crate switches to the component namespace for its
//! whole build, so it cannot act as a client here.

use anyhow::{bail, Context, Result};
use base64::Engine;
use minidom::Element;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

const STREAM_NS: &str = "http://etherx.jabber.org/streams";
pub const CLIENT_NS: &str = "jabber:client";

pub struct XmppClient {
    /// The full JID the server bound.
    pub jid: String,
    reader: OwnedReadHalf,
    writer: OwnedWriteHalf,
    buffer: Vec<u8>,
    /// Stanzas read but not yet asked for.
    backlog: Vec<Element>,
    next_id: u64,
    /// Past the stream header: the buffer starts inside the stream.
    in_stream: bool,
}

impl XmppClient {
    /// Logs in as `user@domain` with SASL PLAIN and binds resource `test`.
    pub async fn connect(port: u16, user: &str, domain: &str, password: &str) -> Result<Self> {
        let stream = TcpStream::connect(("127.0.0.1", port)).await?;
        let (reader, writer) = stream.into_split();
        let mut client = Self {
            jid: String::new(),
            reader,
            writer,
            buffer: Vec::new(),
            backlog: Vec::new(),
            next_id: 1,
            in_stream: false,
        };
        client.open_stream(domain).await?;
        let credentials =
            base64::engine::general_purpose::STANDARD.encode(format!("\0{user}\0{password}"));
        client
            .send(&format!("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>{credentials}</auth>"))
            .await?;
        let outcome = client.next_element(Duration::from_secs(10)).await?;
        if outcome.name() != "success" {
            bail!("login as {user} failed: {}", String::from(&outcome));
        }
        client.open_stream(domain).await?;
        let bound = client
            .iq(
                "set",
                "",
                "<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>test</resource></bind>",
            )
            .await?;
        client.jid = bound
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .context("no bound JID")?;
        client.send("<presence/>").await?;
        Ok(client)
    }

    async fn open_stream(&mut self, domain: &str) -> Result<()> {
        self.buffer.clear();
        self.in_stream = false;
        self.send(&format!("<?xml version='1.0'?><stream:stream xmlns='{CLIENT_NS}' xmlns:stream='{STREAM_NS}' to='{domain}' version='1.0'>")).await?;
        let features = self.next_element(Duration::from_secs(10)).await?;
        if features.name() != "features" {
            bail!("expected stream features, got {}", String::from(&features));
        }
        Ok(())
    }

    pub async fn send(&mut self, xml: &str) -> Result<()> {
        self.writer.write_all(xml.as_bytes()).await?;
        Ok(())
    }

    /// A fresh stanza ID.
    pub fn id(&mut self) -> String {
        self.next_id += 1;
        format!("t{}", self.next_id)
    }

    /// Sends an IQ and waits for its result; an error reply is an `Err`.
    pub async fn iq(&mut self, kind: &str, to: &str, payload: &str) -> Result<Element> {
        let id = self.id();
        let to = if to.is_empty() {
            String::new()
        } else {
            format!(" to='{to}'")
        };
        self.send(&format!("<iq type='{kind}' id='{id}'{to}>{payload}</iq>"))
            .await?;
        let reply = self
            .wait_for(Duration::from_secs(15), |e| {
                e.name() == "iq" && e.attr("id") == Some(id.as_str())
            })
            .await?;
        if reply.attr("type") == Some("error") {
            bail!("IQ error: {}", String::from(&reply));
        }
        Ok(reply)
    }

    /// Joins a MUC without its history and waits for its self-presence
    /// (status 110).
    pub async fn join_muc(&mut self, room: &str, nick: &str) -> Result<Element> {
        self.join_muc_with_history(room, nick, 0).await
    }

    /// Joins a MUC asking for up to `history` of its past messages, which
    /// come before the self-presence this waits for.
    pub async fn join_muc_with_history(
        &mut self,
        room: &str,
        nick: &str,
        history: u32,
    ) -> Result<Element> {
        self.send(&format!(
            "<presence to='{room}/{nick}'><x xmlns='http://jabber.org/protocol/muc'><history maxstanzas='{history}'/></x></presence>"
        ))
        .await?;
        let occupant = format!("{room}/{nick}");
        let presence = self
            .wait_for(Duration::from_secs(20), |e| {
                e.name() == "presence"
                    && e.attr("from") == Some(occupant.as_str())
                    && (e.attr("type") == Some("error")
                        || (is_self_presence(e) && e.attr("type").is_none()))
            })
            .await?;
        if presence.attr("type") == Some("error") {
            bail!("cannot join {occupant}: {}", String::from(&presence));
        }
        Ok(presence)
    }

    /// Sends a message and returns its ID.
    pub async fn message(&mut self, to: &str, kind: &str, body: &str) -> Result<String> {
        let id = self.id();
        self.send(&format!(
            "<message to='{to}' type='{kind}' id='{id}'><body>{}</body></message>",
            escape(body)
        ))
        .await?;
        Ok(id)
    }

    /// The next stanza that matches, from the backlog first; the others are
    /// kept for later waits.
    pub async fn wait_for(
        &mut self,
        timeout: Duration,
        pred: impl Fn(&Element) -> bool,
    ) -> Result<Element> {
        if let Some(at) = self.backlog.iter().position(&pred) {
            return Ok(self.backlog.remove(at));
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                bail!(
                    "no matching stanza within {timeout:?}; unmatched: {}",
                    self.describe_backlog()
                );
            }
            let element = match self.next_element(left).await {
                Ok(element) => element,
                // Say what did come, so that a timeout under load can be read.
                Err(err) => bail!(
                    "{err:#} (waited {timeout:?}); unmatched: {}",
                    self.describe_backlog()
                ),
            };
            if pred(&element) {
                return Ok(element);
            }
            self.backlog.push(element);
        }
    }

    /// A message with this body, from anywhere.
    pub async fn wait_for_body(&mut self, body: &str) -> Result<Element> {
        let body = body.to_owned();
        self.wait_for(Duration::from_secs(20), |e| {
            e.name() == "message" && body_of(e).as_deref() == Some(body.as_str())
        })
        .await
    }

    /// Every stanza seen so far that nobody waited for, and forgets them.
    pub fn drain(&mut self) -> Vec<Element> {
        std::mem::take(&mut self.backlog)
    }

    fn describe_backlog(&self) -> String {
        let all: Vec<String> = self.backlog.iter().map(String::from).collect();
        crate::env::tail(&all.join("\n"), 15)
    }

    async fn next_element(&mut self, timeout: Duration) -> Result<Element> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(end) = top_level_end(&self.buffer, self.in_stream) {
                self.in_stream = true;
                let raw: Vec<u8> = self.buffer.drain(..end.end).collect();
                let text = String::from_utf8_lossy(&raw[end.start..]).into_owned();
                return parse_stanza(&text);
            }
            let mut chunk = [0u8; 16 * 1024];
            let left = deadline.saturating_duration_since(Instant::now());
            let read = tokio::time::timeout(left, self.reader.read(&mut chunk))
                .await
                .context("timed out waiting for the server")??;
            if read == 0 {
                bail!("the server closed the stream");
            }
            self.buffer.extend_from_slice(&chunk[..read]);
        }
    }
}

/// Whether a MUC presence is the occupant's own (status 110).
pub fn is_self_presence(presence: &Element) -> bool {
    presence
        .get_child("x", "http://jabber.org/protocol/muc#user")
        .is_some_and(|x| {
            x.children()
                .any(|s| s.name() == "status" && s.attr("code") == Some("110"))
        })
}

pub fn body_of(message: &Element) -> Option<String> {
    message.get_child("body", CLIENT_NS).map(|b| b.text())
}

pub fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('\'', "&apos;")
        .replace('"', "&quot;")
}

fn parse_stanza(text: &str) -> Result<Element> {
    let wrapped = format!("<w xmlns='{CLIENT_NS}' xmlns:stream='{STREAM_NS}'>{text}</w>");
    let wrapper: Element = wrapped
        .parse()
        .with_context(|| format!("bad XML from the server: {text}"))?;
    wrapper.children().next().cloned().context("empty element")
}

/// The byte range of the first complete element inside the stream header
/// (depth 1), if the buffer holds one; the header itself is skipped.
fn top_level_end(buf: &[u8], in_stream: bool) -> Option<std::ops::Range<usize>> {
    let mut depth = usize::from(in_stream);
    let mut start = None;
    let mut i = 0;
    while i < buf.len() {
        if buf[i] != b'<' {
            i += 1;
            continue;
        }
        let close = tag_end(buf, i)?;
        let tag = &buf[i..=close];
        if tag.starts_with(b"<?") || tag.starts_with(b"<!") {
        } else if tag.starts_with(b"</") {
            depth = depth.saturating_sub(1);
            if depth == 1 {
                return Some(start?..close + 1);
            }
        } else if tag.starts_with(b"<stream:stream") {
            depth = 1;
        } else if tag.ends_with(b"/>") {
            if depth == 1 {
                return Some(i..close + 1);
            }
        } else {
            if depth == 1 {
                start = Some(i);
            }
            depth += 1;
        }
        i = close + 1;
    }
    None
}

/// The index of the `>` ending the tag at `start`, minding quoted values.
fn tag_end(buf: &[u8], start: usize) -> Option<usize> {
    let mut quote = None;
    for (offset, &b) in buf[start..].iter().enumerate() {
        match (quote, b) {
            (None, b'\'' | b'"') => quote = Some(b),
            (Some(q), _) if q == b => quote = None,
            (None, b'>') => return Some(start + offset),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stanzas_are_cut_out_of_the_stream_one_at_a_time() {
        let stream = b"<?xml version='1.0'?><stream:stream xmlns='jabber:client' id='x'><presence from='a'/><message to='b'><body>1 &gt; 0</body></message><mess";
        let first = top_level_end(stream, false).unwrap();
        assert_eq!(&stream[first.clone()], b"<presence from='a'/>");
        let rest = &stream[first.end..];
        let second = top_level_end(rest, true).unwrap();
        assert_eq!(
            &rest[second],
            b"<message to='b'><body>1 &gt; 0</body></message>".as_slice()
        );
        assert!(top_level_end(&rest[second_end(rest)..], true).is_none());
        let text = parse_stanza("<message to='b'><body>1 &gt; 0</body></message>").unwrap();
        assert_eq!(body_of(&text).as_deref(), Some("1 > 0"));
    }

    fn second_end(rest: &[u8]) -> usize {
        top_level_end(rest, true).unwrap().end
    }

    #[test]
    fn a_quoted_angle_bracket_does_not_end_a_tag() {
        let stream = b"<stream:stream><presence status='a>b'/>";
        let range = top_level_end(stream, false).unwrap();
        assert_eq!(&stream[range], b"<presence status='a>b'/>");
    }
}
