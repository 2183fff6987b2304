//! The body of a gRPC response: at most one message, then the trailers that carry the
//! call's status (an HTTP/2 trailers frame). A refusal has neither: its status is in
//! the headers ("trailers-only").

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::HeaderMap;

/// A response message and the trailers after it.
#[derive(Debug, Default)]
pub struct GrpcBody {
    message: Option<Bytes>,
    trailers: Option<HeaderMap>,
}

impl GrpcBody {
    /// `message` (already framed), then `trailers`.
    pub fn new(message: Bytes, trailers: HeaderMap) -> GrpcBody {
        GrpcBody {
            message: Some(message),
            trailers: Some(trailers),
        }
    }

    /// No frames: the status is in the headers.
    pub fn empty() -> GrpcBody {
        GrpcBody::default()
    }
}

impl Body for GrpcBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        let this = self.get_mut();
        let frame = match this.message.take() {
            Some(message) => Some(Frame::data(message)),
            None => this.trailers.take().map(Frame::trailers),
        };
        Poll::Ready(frame.map(Ok))
    }

    fn is_end_stream(&self) -> bool {
        self.message.is_none() && self.trailers.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.message.as_ref().map_or(0, |m| m.len() as u64))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[test]
    fn the_message_comes_before_the_trailers() {
        let mut trailers = HeaderMap::new();
        trailers.insert("grpc-status", "0".parse().unwrap());
        let body = GrpcBody::new(Bytes::from_static(b"abc"), trailers);
        let collected = futures_util::FutureExt::now_or_never(body.collect())
            .unwrap()
            .unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "0");
        assert_eq!(collected.to_bytes(), "abc");
        assert!(GrpcBody::empty().is_end_stream());
    }
}
