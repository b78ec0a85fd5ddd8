//! The wire under an IRC connection: TCP or TLS, and lines in and out.
//!
//! We frame lines ourselves rather than use the `irc` crate's client: it
//! sends `CAP END` before we could negotiate SASL, and it decodes invalid
//! UTF-8 into replacement characters where IRC users expect their old
//! latin-1 clients to be readable.

use crate::connection::Unreachable;
use anyhow::{Context, Result};
use encoding_rs::Encoding;
use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// Longest line we accept: 8 KiB of IRCv3 tags plus the 512-byte message.
const MAX_LINE: usize = 8192 + 512;

pub trait Wire: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Wire for T {}

pub type LineWriter = tokio::io::WriteHalf<Box<dyn Wire>>;

/// Opens a TCP connection, wrapped in TLS when asked.
pub async fn open(
    address: &str,
    port: u16,
    tls: bool,
) -> Result<(LineReader, LineWriter), Unreachable> {
    let unreachable =
        |e: &dyn std::fmt::Display| Unreachable(format!("cannot connect to {address}:{port}: {e}"));
    let tcp = tokio::time::timeout(Duration::from_secs(20), TcpStream::connect((address, port)))
        .await
        .map_err(|e| unreachable(&e))?
        .map_err(|e| unreachable(&e))?;
    let _ = tcp.set_nodelay(true);
    let wire: Box<dyn Wire> = if tls {
        let name = rustls::pki_types::ServerName::try_from(address.to_owned())
            .map_err(|e| unreachable(&e))?;
        let stream = tls_connector()
            .map_err(|e| unreachable(&e))?
            .connect(name, tcp)
            .await
            .map_err(|e| unreachable(&e))?;
        Box::new(stream)
    } else {
        Box::new(tcp)
    };
    let (read, write) = tokio::io::split(wire);
    Ok((LineReader::new(read), write))
}

fn tls_connector() -> Result<tokio_rustls::TlsConnector, rustls::Error> {
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    // Name the provider: two are compiled in, so rustls cannot pick one.
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(tokio_rustls::TlsConnector::from(Arc::new(config)))
}

/// Reads lines, decoding each as UTF-8 or else as the network's fallback.
///
/// A line that arrived whole is handed out from the read buffer itself:
/// every Matrix user's connection hears every line of its channels, and
/// most of those lines are dropped at once (see `is_unused_chatter`), so
/// reading one should cost no allocation.
pub struct LineReader {
    inner: BufReader<tokio::io::ReadHalf<Box<dyn Wire>>>,
    /// Bytes of `inner`'s buffer that the last line handed out took; they
    /// are consumed at the next call, once the caller is done with it.
    taken: usize,
    /// A line that did not fit in `inner`'s buffer at once, gathered over
    /// several reads and cut at [`MAX_LINE`].
    long: Vec<u8>,
    /// Whether `long` was handed out, so the next call starts afresh.
    long_taken: bool,
}

impl LineReader {
    fn new(read: tokio::io::ReadHalf<Box<dyn Wire>>) -> Self {
        Self {
            // Small: a bridge holds thousands of these, and most lines are
            // short. Longer lines still arrive whole, in more reads.
            inner: BufReader::with_capacity(1024, read),
            taken: 0,
            long: Vec::new(),
            long_taken: false,
        }
    }

    /// The next line's raw bytes, without the line ending; `None` at the end
    /// of the stream. Lines over [`MAX_LINE`] are cut there, and empty lines
    /// skipped. Cancel-safe: a line cut short by a cancelled call is read
    /// whole by the next one.
    pub async fn next_line(&mut self) -> std::io::Result<Option<&[u8]>> {
        self.inner.consume(std::mem::take(&mut self.taken));
        if std::mem::take(&mut self.long_taken) {
            // Free what an overlong line took: most connections never
            // see another.
            self.long = Vec::new();
        }
        loop {
            let available = self.inner.fill_buf().await?;
            if available.is_empty() {
                // The end of the stream, maybe after a line with no ending.
                if self.long.is_empty() {
                    return Ok(None);
                }
                self.long_taken = true;
                return Ok(Some(trim_line_ending(&self.long)));
            }
            let Some(end) = available.iter().position(|&b| b == b'\n') else {
                let read = available.len();
                self.gather(read);
                continue;
            };
            if !self.long.is_empty() {
                self.gather(end + 1);
                if trim_line_ending(&self.long).is_empty() {
                    self.long.clear();
                    continue;
                }
                self.long_taken = true;
                return Ok(Some(trim_line_ending(&self.long)));
            }
            if trim_line_ending(&available[..end]).is_empty() {
                self.inner.consume(end + 1);
                continue;
            }
            self.taken = end + 1;
            return Ok(Some(trim_line_ending(&self.inner.buffer()[..end])));
        }
    }

    /// Moves the next `n` buffered bytes to `long`, as far as
    /// [`MAX_LINE`] allows; the rest of an overlong line is dropped.
    fn gather(&mut self, n: usize) {
        let room = MAX_LINE.saturating_sub(self.long.len());
        let bytes = &self.inner.buffer()[..n];
        self.long.extend_from_slice(&bytes[..n.min(room)]);
        self.inner.consume(n);
    }
}

/// `line` without the CR and LF at its end.
fn trim_line_ending(mut line: &[u8]) -> &[u8] {
    while let [rest @ .., b'\n' | b'\r'] = line {
        line = rest;
    }
    line
}

/// Text of a line: UTF-8 when it is valid, the fallback encoding otherwise.
pub fn decode<'a>(line: &'a [u8], fallback: &'static Encoding) -> Cow<'a, str> {
    match std::str::from_utf8(line) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => fallback.decode_without_bom_handling(line).0,
    }
}

/// The encoding a config label names, such as "latin-1" or "windows-1251".
pub fn encoding(label: &str) -> Result<&'static Encoding> {
    let label = match label.to_ascii_lowercase().as_str() {
        // WHATWG maps latin1 to windows-1252, a superset; accept the usual
        // spellings people write.
        "latin-1" | "latin_1" | "iso-8859-1" => "latin1".to_owned(),
        other => other.to_owned(),
    };
    Encoding::for_label(label.as_bytes())
        .with_context(|| format!("unknown text encoding {label:?}; use a name such as latin-1, windows-1251 or iso-8859-15"))
}

/// The most an IRC line may hold, CRLF included (RFC 1459 §2.3).
pub const MAX_WIRE_LINE: usize = 512;

/// One line for the IRC wire, checked: the only thing [`write_lines`] takes,
/// so no code, however it built its text, can put a line of its own on the
/// socket. A Matrix string with CR or LF in it would otherwise end our line
/// and start one of the user's choosing (GHSA-52rh-5rpj-c3w6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line(String);

/// Why a line was refused rather than written.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum LineRefused {
    #[error("an IRC line cannot contain {0}")]
    Forbidden(&'static str),
    #[error("an IRC line is at most {MAX_WIRE_LINE} bytes with the server's prefix; this one would be {0}")]
    TooLong(usize),
    #[error("an IRC line cannot be empty")]
    Empty,
}

impl Line {
    /// Checks `text` (without CRLF) for the wire. `prefix` is how many
    /// bytes the server puts in front when it relays the line to others
    /// (`:nick!user@host `); zero for lines it never relays.
    pub fn new(text: impl Into<String>, prefix: usize) -> Result<Self, LineRefused> {
        let text = text.into();
        if let Some(found) = text.bytes().find_map(|b| match b {
            b'\r' => Some("a carriage return (CR)"),
            b'\n' => Some("a line feed (LF)"),
            b'\0' => Some("a NUL byte"),
            _ => None,
        }) {
            return Err(LineRefused::Forbidden(found));
        }
        if text.trim().is_empty() {
            return Err(LineRefused::Empty);
        }
        let relayed = prefix + text.len() + "\r\n".len();
        if relayed > MAX_WIRE_LINE {
            return Err(LineRefused::TooLong(relayed));
        }
        Ok(Self(text))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes checked lines, each with its CRLF, in one write: the socket is
/// not buffered, and a message line and the PING that confirms it go out
/// together.
pub async fn write_lines(writer: &mut LineWriter, lines: &[&Line]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.0.len() + 2).sum());
    for line in lines {
        bytes.extend_from_slice(line.0.as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// A line split into its source, command and parameters; enough for the
/// registration messages the protocol crate does not model (CAP with four
/// arguments, the SASL numerics).
#[derive(Debug, PartialEq, Eq)]
pub struct Parts<'a> {
    pub source: Option<&'a str>,
    pub command: &'a str,
    pub params: Vec<&'a str>,
}

pub fn split(line: &str) -> Parts<'_> {
    let mut rest = line;
    if rest.starts_with('@') {
        rest = rest.split_once(' ').map(|(_, r)| r).unwrap_or("");
    }
    let mut source = None;
    if let Some(stripped) = rest.strip_prefix(':') {
        let (s, r) = stripped.split_once(' ').unwrap_or((stripped, ""));
        source = Some(s);
        rest = r;
    }
    let rest = rest.trim_start_matches(' ');
    let (command, mut rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let mut params = Vec::new();
    loop {
        rest = rest.trim_start_matches(' ');
        if rest.is_empty() {
            break;
        }
        if let Some(trailing) = rest.strip_prefix(':') {
            params.push(trailing);
            break;
        }
        let (param, r) = rest.split_once(' ').unwrap_or((rest, ""));
        params.push(param);
        rest = r;
    }
    Parts {
        source,
        command,
        params,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader over an in-memory pipe of `capacity` bytes, and its far end.
    fn pipe(capacity: usize) -> (LineReader, tokio::io::DuplexStream) {
        let (near, far) = tokio::io::duplex(capacity);
        let (read, _) = tokio::io::split(Box::new(near) as Box<dyn Wire>);
        (LineReader::new(read), far)
    }

    async fn lines(reader: &mut LineReader) -> Vec<String> {
        let mut lines = Vec::new();
        while let Some(line) = reader.next_line().await.unwrap() {
            lines.push(String::from_utf8(line.to_vec()).unwrap());
        }
        lines
    }

    #[tokio::test]
    async fn lines_split_across_reads_arrive_whole_without_their_endings() {
        let (mut reader, mut far) = pipe(7);
        let writing = tokio::spawn(async move {
            far.write_all(b"PING :a\r\nPRIVMSG #c :hello world\r\n\r\nNOTICE x :y\nQUIT")
                .await
                .unwrap();
        });
        let lines = lines(&mut reader).await;
        writing.await.unwrap();
        assert_eq!(
            lines,
            ["PING :a", "PRIVMSG #c :hello world", "NOTICE x :y", "QUIT"]
        );
    }

    #[tokio::test]
    async fn an_overlong_line_is_cut_and_the_next_one_reads_whole() {
        let (mut reader, mut far) = pipe(4096);
        let writing = tokio::spawn(async move {
            let long = "x".repeat(MAX_LINE + 100);
            far.write_all(format!("{long}\r\nPING :b\r\n").as_bytes())
                .await
                .unwrap();
        });
        let lines = lines(&mut reader).await;
        writing.await.unwrap();
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "PING :b");
    }

    #[tokio::test]
    async fn a_read_cancelled_mid_line_loses_nothing() {
        let (mut reader, mut far) = pipe(4096);
        far.write_all(b"PRIVMSG #c :hel").await.unwrap();
        let cut = tokio::time::timeout(Duration::from_millis(50), reader.next_line()).await;
        assert!(cut.is_err(), "half a line is no line");
        far.write_all(b"lo\r\n").await.unwrap();
        drop(far);
        assert_eq!(lines(&mut reader).await, ["PRIVMSG #c :hello"]);
    }

    #[test]
    fn invalid_utf8_falls_back_to_latin1() {
        let latin1 = encoding("latin-1").unwrap();
        assert_eq!(decode(b"caf\xe9", latin1), "café");
        assert_eq!(decode("café".as_bytes(), latin1), "café");
        assert!(encoding("klingon")
            .unwrap_err()
            .to_string()
            .contains("latin-1"));
    }

    #[test]
    fn lines_with_cr_lf_or_nul_are_refused_wherever_they_are() {
        for bad in [
            "JOIN #a\r\nQUIT",
            "PRIVMSG #a :x\ny",
            "PART #a :\0",
            "PING\r",
        ] {
            assert!(
                matches!(Line::new(bad, 0), Err(LineRefused::Forbidden(_))),
                "{bad:?}"
            );
        }
        assert_eq!(
            Line::new("PRIVMSG #a :hi", 0).unwrap().as_str(),
            "PRIVMSG #a :hi"
        );
    }

    #[test]
    fn lines_over_512_bytes_with_the_prefix_are_refused_not_cut() {
        let text = format!("PRIVMSG #a :{}", "x".repeat(500 - 12));
        assert_eq!(text.len(), 500);
        assert!(Line::new(text.clone(), 10).is_ok());
        assert_eq!(Line::new(text, 11), Err(LineRefused::TooLong(513)));
        assert_eq!(Line::new("  ", 0), Err(LineRefused::Empty));
    }

    #[test]
    fn split_reads_tags_source_and_trailing_parameter() {
        let parts = split("@time=x :irc.test CAP * LS * :sasl=PLAIN multi-prefix");
        assert_eq!(parts.source, Some("irc.test"));
        assert_eq!(parts.command, "CAP");
        assert_eq!(parts.params, ["*", "LS", "*", "sasl=PLAIN multi-prefix"]);
        assert_eq!(split("AUTHENTICATE +").params, ["+"]);
    }
}
