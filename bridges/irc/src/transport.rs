//! The wire under an IRC connection: TCP or TLS, and lines in and out.
//!
//! We frame lines ourselves rather than use the `irc` crate's client: it
//! sends `CAP END` before we could negotiate SASL, and it decodes invalid
//! UTF-8 into replacement characters where IRC users expect their old
//! latin-1 clients to be readable.

use crate::connection::Unreachable;
pub use causeway_irc_proto::line::{decode, encoding, head, split, Line, LineRefused};
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
            let Some(end) = memchr::memchr(b'\n', available) else {
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

/// Writes checked lines, each with its CRLF, in one write: the socket is
/// not buffered, and a message line and the PING that confirms it go out
/// together.
pub async fn write_lines(writer: &mut LineWriter, lines: &[&Line]) -> std::io::Result<()> {
    let mut bytes = Vec::with_capacity(lines.iter().map(|l| l.as_str().len() + 2).sum());
    for line in lines {
        bytes.extend_from_slice(line.as_str().as_bytes());
        bytes.extend_from_slice(b"\r\n");
    }
    writer.write_all(&bytes).await?;
    writer.flush().await
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
}
