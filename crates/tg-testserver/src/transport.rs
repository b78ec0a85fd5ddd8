//! The `Full` transport, which grammers always uses: each packet is
//! `length ‖ seq ‖ payload ‖ crc32`, little endian, with a counter per
//! direction. A client whose key is unknown gets the transport error −404
//! instead of a packet.

use anyhow::{bail, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// Packets larger than this are refused: nothing the tests send comes near.
const MAX_PACKET: usize = 16 << 20;

#[derive(Default)]
pub struct Full {
    recv_seq: i32,
    send_seq: i32,
}

impl Full {
    /// Reads one packet's payload; `None` when the client hung up.
    pub async fn read(&mut self, io: &mut (impl AsyncReadExt + Unpin)) -> Result<Option<Vec<u8>>> {
        let mut head = [0u8; 8];
        match io.read_exact(&mut head).await {
            Ok(_) => {}
            Err(err) if err.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(None),
            Err(err) => return Err(err.into()),
        }
        let len = u32::from_le_bytes(head[..4].try_into()?) as usize;
        let seq = i32::from_le_bytes(head[4..].try_into()?);
        if !(12..=MAX_PACKET).contains(&len) {
            bail!("a packet of {len} bytes");
        }
        if seq != self.recv_seq {
            bail!("packet seq {seq}, expected {}", self.recv_seq);
        }
        let mut rest = vec![0u8; len - 8];
        io.read_exact(&mut rest).await?;
        let (payload, crc) = rest.split_at(len - 12);
        let mut hasher = crc32fast::Hasher::new();
        hasher.update(&head);
        hasher.update(payload);
        if hasher.finalize().to_le_bytes() != crc {
            bail!("a packet with a bad CRC");
        }
        self.recv_seq += 1;
        Ok(Some(payload.to_vec()))
    }

    /// Frames one payload.
    pub fn frame(&mut self, payload: &[u8]) -> Vec<u8> {
        let len = (payload.len() + 12) as u32;
        let mut out = Vec::with_capacity(payload.len() + 12);
        out.extend(len.to_le_bytes());
        out.extend(self.send_seq.to_le_bytes());
        out.extend(payload);
        let crc = crc32fast::hash(&out);
        out.extend(crc.to_le_bytes());
        self.send_seq += 1;
        out
    }

    /// The transport error for a key the server does not know.
    pub async fn send_unknown_key(io: &mut (impl AsyncWriteExt + Unpin)) -> Result<()> {
        io.write_all(&(-404i32).to_le_bytes()).await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_framed_packet_reads_back_and_counts() {
        let mut sender = Full::default();
        let mut wire = sender.frame(&[1, 2, 3, 4]);
        wire.extend(sender.frame(&[5, 6, 7, 8]));
        let mut receiver = Full::default();
        let mut io = wire.as_slice();
        assert_eq!(
            receiver.read(&mut io).await.unwrap(),
            Some(vec![1, 2, 3, 4])
        );
        assert_eq!(
            receiver.read(&mut io).await.unwrap(),
            Some(vec![5, 6, 7, 8])
        );
        assert_eq!(receiver.read(&mut io).await.unwrap(), None);
    }

    #[tokio::test]
    async fn a_corrupted_packet_is_refused() {
        let mut wire = Full::default().frame(&[1, 2, 3, 4]);
        wire[9] ^= 1;
        assert!(Full::default().read(&mut wire.as_slice()).await.is_err());
    }
}
