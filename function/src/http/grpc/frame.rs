//! gRPC's length-prefixed messages: a unary call's one request message read from the
//! request body within the size limit, and a response message written with its prefix.
//! Each message is a compressed flag (one byte), its length (four bytes, big-endian),
//! then the protobuf bytes.

use bytes::{Bytes, BytesMut};
use http_body_util::BodyExt;
use hyper::body::Body;

use super::status::Status;
use crate::error::ApiError;

/// Bytes before each message: the compressed flag and the length.
const PREFIX: usize = 5;

/// Reads the one message of a unary call from `body`, refusing a message over `limit`
/// bytes (RESOURCE_EXHAUSTED, as soon as its prefix says so), a compressed one
/// (UNIMPLEMENTED), and a body that ends mid-message or holds more than one message
/// (INVALID_ARGUMENT), and one the memory budget cannot hold now (UNAVAILABLE) or ever
/// (RESOURCE_EXHAUSTED). Reads until the client half-closes: the caller bounds the wait.
pub async fn read_message<B>(mut body: B, limit: usize) -> Result<Bytes, Status>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: std::fmt::Display,
{
    let mut buffer = BytesMut::new();
    let mut charged = false;
    while let Some(frame) = body.frame().await {
        let frame =
            frame.map_err(|e| Status::invalid(format!("could not read the request: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        if buffer.len() >= PREFIX {
            let declared = declared_length(&buffer);
            if declared > limit {
                return Err(ApiError::PayloadTooLarge { limit }.into());
            }
            // The message and what it decodes to, charged to the call's memory budget
            // once its size is known (gRPC clients send no Content-Length).
            if !charged {
                crate::budget::charge_body(PREFIX + declared)?;
                charged = true;
            }
            if buffer.len() > PREFIX + declared {
                return Err(more_than_one(declared));
            }
        }
    }
    message(buffer.freeze())
}

/// The one message of a whole unary request body.
pub fn message(body: Bytes) -> Result<Bytes, Status> {
    if body.is_empty() {
        return Err(Status::invalid(
            "the call ended without a request message; a unary call sends one",
        ));
    }
    if body.len() < PREFIX {
        return Err(Status::invalid(format!(
            "the call ended {} bytes into a message's 5-byte prefix",
            body.len()
        )));
    }
    match body[0] {
        0 => {}
        1 => {
            return Err(Status::unimplemented(
                "compressed messages are not supported; send them uncompressed \
                 (grpc-encoding identity)",
            ))
        }
        flag => {
            return Err(Status::invalid(format!(
                "a message's compressed flag is {flag}; it must be 0 or 1"
            )))
        }
    }
    let declared = declared_length(&body);
    let received = body.len() - PREFIX;
    if received < declared {
        return Err(Status::invalid(format!(
            "the message declares {declared} bytes but the call ended after {received}"
        )));
    }
    if received > declared {
        return Err(more_than_one(declared));
    }
    Ok(body.slice(PREFIX..))
}

/// The length in a message's prefix (which `bytes` starts with, whole).
fn declared_length(bytes: &[u8]) -> usize {
    let length = u32::from_be_bytes([bytes[1], bytes[2], bytes[3], bytes[4]]);
    usize::try_from(length).unwrap_or(usize::MAX)
}

fn more_than_one(declared: usize) -> Status {
    Status::invalid(format!(
        "more bytes follow the request message of {declared} bytes; a unary call sends \
         one message"
    ))
}

/// The message of `framed`, one message with its prefix as [`encode`] makes it (a
/// reference count, not a copy).
pub fn unframed(framed: &Bytes) -> Bytes {
    framed.slice(PREFIX.min(framed.len())..)
}

/// `message` encoded with its prefix: the bytes of a response body.
pub fn encode(message: &impl prost::Message) -> Bytes {
    let length = message.encoded_len();
    let mut bytes = Vec::with_capacity(PREFIX + length);
    bytes.push(0);
    let prefix = u32::try_from(length).expect("a response message under 4 GiB");
    bytes.extend_from_slice(&prefix.to_be_bytes());
    message
        .encode(&mut bytes)
        .expect("a Vec grows to fit the message");
    Bytes::from(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{Full, StreamBody};
    use hyper::body::Frame;

    fn framed(flag: u8, payload: &[u8]) -> Vec<u8> {
        let mut bytes = vec![flag];
        bytes.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        bytes.extend_from_slice(payload);
        bytes
    }

    fn read(chunks: Vec<Vec<u8>>, limit: usize) -> Result<Bytes, Status> {
        let frames = chunks
            .into_iter()
            .map(|chunk| Ok::<_, std::convert::Infallible>(Frame::data(Bytes::from(chunk))));
        let body = StreamBody::new(futures_util::stream::iter(frames));
        futures_util::FutureExt::now_or_never(read_message(body, limit)).expect("ready")
    }

    #[test]
    fn reads_a_message_split_across_data_frames() {
        let whole = framed(0, b"hello");
        let (a, b) = whole.split_at(3);
        assert_eq!(read(vec![a.to_vec(), b.to_vec()], 10).unwrap(), "hello");
        let body = Full::new(Bytes::from(framed(0, b"")));
        let empty = futures_util::FutureExt::now_or_never(read_message(body, 10)).unwrap();
        assert_eq!(empty.unwrap(), "", "an empty message is a message");
    }

    #[test]
    fn a_message_over_the_limit_is_refused_from_its_prefix() {
        let prefix_only = framed(0, &[0; 11])[..PREFIX].to_vec();
        let status = read(vec![prefix_only], 10).unwrap_err();
        assert_eq!(status.code, super::super::status::Code::ResourceExhausted);
    }

    #[test]
    fn truncated_compressed_and_extra_messages_get_a_status() {
        use super::super::status::Code;
        let whole = framed(0, b"hello");
        for (chunks, code, says) in [
            (vec![], Code::InvalidArgument, "without a request message"),
            (
                vec![whole[..3].to_vec()],
                Code::InvalidArgument,
                "3 bytes into",
            ),
            (
                vec![whole[..7].to_vec()],
                Code::InvalidArgument,
                "declares 5 bytes",
            ),
            (vec![framed(1, b"x")], Code::Unimplemented, "compressed"),
            (vec![framed(7, b"x")], Code::InvalidArgument, "flag is 7"),
            (
                vec![whole.clone(), whole.clone()],
                Code::InvalidArgument,
                "one message",
            ),
        ] {
            let status = read(chunks, 100).unwrap_err();
            assert_eq!(status.code, code, "{}", status.message);
            assert!(status.message.contains(says), "{}", status.message);
        }
    }
}
