//! MTProto's service layer, which grammers keeps private: the plaintext
//! envelope (salt, session, message ID, sequence number), message
//! containers, gzip, `rpc_result`, and the server's message IDs.

use grammers_tl_types::{self as tl, Deserializable, Serializable};
use std::io::Read;
use std::sync::atomic::{AtomicI64, Ordering};

const MSG_CONTAINER: u32 = 0x73f1f8dc;
const GZIP_PACKED: u32 = 0x3072cfa1;
const RPC_RESULT: u32 = 0xf35c6d01;

/// One message from inside an encrypted packet.
#[derive(Clone, Debug)]
pub struct Envelope {
    pub msg_id: i64,
    pub body: Vec<u8>,
}

impl Envelope {
    /// The constructor ID the body starts with.
    pub fn constructor(&self) -> u32 {
        constructor(&self.body)
    }
}

pub fn constructor(body: &[u8]) -> u32 {
    body.get(..4)
        .and_then(|b| b.try_into().ok())
        .map(u32::from_le_bytes)
        .unwrap_or(0)
}

/// A decrypted packet: the client's session and its message.
pub struct Plaintext {
    pub session_id: i64,
    pub message: Envelope,
}

pub fn parse_plaintext(plain: &[u8]) -> Option<Plaintext> {
    let long = |at: usize| -> Option<i64> {
        Some(i64::from_le_bytes(plain.get(at..at + 8)?.try_into().ok()?))
    };
    let int = |at: usize| -> Option<i32> {
        Some(i32::from_le_bytes(plain.get(at..at + 4)?.try_into().ok()?))
    };
    let session_id = long(8)?;
    let msg_id = long(16)?;
    let len = usize::try_from(int(28)?).ok()?;
    let body = plain.get(32..32 + len)?.to_vec();
    Some(Plaintext {
        session_id,
        message: Envelope { msg_id, body },
    })
}

/// The messages inside one: a container's, in order, and gzip inflated.
pub fn unpack(message: Envelope) -> Vec<Envelope> {
    match message.constructor() {
        MSG_CONTAINER => {
            let mut out = Vec::new();
            let body = &message.body;
            let Some(count) = body
                .get(4..8)
                .map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            else {
                return out;
            };
            let mut at = 8;
            for _ in 0..count {
                let Some(head) = body.get(at..at + 16) else {
                    break;
                };
                let msg_id = i64::from_le_bytes(head[..8].try_into().unwrap_or_default());
                let len = u32::from_le_bytes(head[12..16].try_into().unwrap_or_default()) as usize;
                let Some(inner) = body.get(at + 16..at + 16 + len) else {
                    break;
                };
                out.extend(unpack(Envelope {
                    msg_id,
                    body: inner.to_vec(),
                }));
                at += 16 + len;
            }
            out
        }
        GZIP_PACKED => match Vec::<u8>::from_bytes(&message.body[4..])
            .ok()
            .and_then(|packed| inflate(&packed))
        {
            Some(body) => unpack(Envelope { body, ..message }),
            None => Vec::new(),
        },
        _ => vec![message],
    }
}

fn inflate(packed: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(packed)
        .read_to_end(&mut out)
        .ok()?;
    Some(out)
}

/// The plaintext of a server message, before encryption.
pub fn plaintext(session_id: i64, msg_id: i64, seq_no: i32, body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + body.len());
    // The salt: always 0, so the client never asks for future salts.
    out.extend(0i64.to_le_bytes());
    out.extend(session_id.to_le_bytes());
    out.extend(msg_id.to_le_bytes());
    out.extend(seq_no.to_le_bytes());
    out.extend((body.len() as u32).to_le_bytes());
    out.extend(body);
    out
}

/// `rpc_result`: the answer to one of the client's messages.
pub fn rpc_result(req_msg_id: i64, result: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(12 + result.len());
    out.extend(RPC_RESULT.to_le_bytes());
    out.extend(req_msg_id.to_le_bytes());
    out.extend(result);
    out
}

/// An RPC error such as `FLOOD_WAIT_3` (420) or `PHONE_CODE_INVALID` (400).
pub fn rpc_error(code: i32, message: &str) -> Vec<u8> {
    tl::enums::RpcError::Error(tl::types::RpcError {
        error_code: code,
        error_message: message.to_owned(),
    })
    .to_bytes()
}

/// Server message IDs: about the time times 2³², growing, and odd (1 mod
/// 4 for answers, 3 mod 4 for what the server sends by itself).
#[derive(Default)]
pub struct MsgIds(AtomicI64);

impl MsgIds {
    pub fn next(&self, answer: bool) -> i64 {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let candidate = ((now.as_secs() as i64) << 32) | ((now.subsec_nanos() as i64) << 2);
        let tail = if answer { 1 } else { 3 };
        let mut last = self.0.load(Ordering::Relaxed);
        loop {
            let id = (candidate.max(last + 4) & !3) | tail;
            match self
                .0
                .compare_exchange(last, id, Ordering::Relaxed, Ordering::Relaxed)
            {
                Ok(_) => return id,
                Err(seen) => last = seen,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_with_a_gzipped_message_unpacks_in_order() {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        gz.write_all(&[9, 9, 9, 9]).unwrap();
        let mut packed = GZIP_PACKED.to_le_bytes().to_vec();
        packed.extend(gz.finish().unwrap().to_bytes());
        let mut body = MSG_CONTAINER.to_le_bytes().to_vec();
        body.extend(2u32.to_le_bytes());
        for (id, inner) in [(4i64, vec![1u8, 1, 1, 1]), (8, packed)] {
            body.extend(id.to_le_bytes());
            body.extend(1i32.to_le_bytes());
            body.extend((inner.len() as u32).to_le_bytes());
            body.extend(inner);
        }
        let inner = unpack(Envelope { msg_id: 1, body });
        let got: Vec<(i64, Vec<u8>)> = inner.into_iter().map(|m| (m.msg_id, m.body)).collect();
        assert_eq!(got, [(4, vec![1, 1, 1, 1]), (8, vec![9, 9, 9, 9])]);
    }

    #[test]
    fn server_message_ids_grow_and_say_whether_they_answer() {
        let ids = MsgIds::default();
        let (a, b) = (ids.next(true), ids.next(false));
        assert!(b > a);
        assert_eq!((a & 3, b & 3), (1, 3));
    }
}
