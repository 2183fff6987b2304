//! Payload logging (`--payload-log`): the request and response bodies of every
//! prediction, in every protocol, sent as CloudEvents to a sink (`K_SINK`), in the
//! format of KServe's InferenceService `logger`, so its consumers (a Broker, a drift
//! detector, a training-data store) take these events as they take KServe's.
//!
//! - [`settings`]: the flags and environment that turn it on and point it at a sink.
//! - [`event`]: one event's CloudEvents headers (binary mode) and attributes.
//! - [`sender`]: the background task that posts events to the sink.
//!
//! Never on the request path: the request layer ([`crate::http::layers`], and
//! [`crate::http::grpc`] for `ModelInfer`) only hands the bodies it already has
//! (reference-counted) to a bounded queue and returns. A full queue drops the event and
//! counts it; so does a failed delivery. At shutdown the queue is flushed within the
//! drain timeout ([`Delivery::flush`]). A gRPC call's messages are turned into the JSON
//! of the same V2 REST exchange by the sender ([`event::Transcode`]).

pub mod event;
pub mod sender;
pub mod settings;

use std::sync::atomic::Ordering;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, oneshot};

use crate::metrics::{DropReason, PayloadEvents};
use crate::routes::{Endpoint, GrpcMethod};
pub use event::Transcode;
use event::{Attributes, Event, Kind, Origin};
use sender::{Sender, Shared, Warnings, WARNING_INTERVAL};
pub use settings::{Mode, Settings};

/// Most events waiting for the sender: a burst the sink has not caught up with yet.
pub const QUEUE_EVENTS: usize = 1024;
/// Most bytes of bodies waiting for (or being sent by) the sender, whatever their
/// number: bodies may be megabytes, and a queue of them must not exhaust the memory.
pub const QUEUE_BYTES: usize = 32 << 20;
/// Where Kubernetes mounts the pod's namespace when `POD_NAMESPACE` is not set.
const SERVICE_ACCOUNT_NAMESPACE: &str = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

/// The request path's side of the payload log, kept in [`crate::App`].
#[derive(Debug)]
pub struct PayloadLog {
    mode: Mode,
    queue: mpsc::Sender<Event>,
    shared: Arc<Shared>,
    max_bytes: usize,
}

/// The sender's side: what shutdown flushes.
#[derive(Debug)]
pub struct Delivery {
    flush: oneshot::Sender<()>,
    task: tokio::task::JoinHandle<()>,
    shared: Arc<Shared>,
}

/// Starts the sender for `settings`, for the model `model_name` served on `port`,
/// counting into `counters`. Call inside the runtime; keep the [`Delivery`] until
/// shutdown (dropping it flushes the queue and stops taking events).
pub fn start(
    settings: &Settings,
    model_name: &str,
    port: u16,
    counters: PayloadEvents,
) -> (PayloadLog, Delivery) {
    // KServe's logger names the pod; outside Kubernetes, KServe's own default.
    let source = settings
        .pod_name
        .clone()
        .unwrap_or_else(|| format!("http://localhost:{port}/"));
    let namespace = settings.namespace.clone().or_else(|| {
        std::fs::read_to_string(SERVICE_ACCOUNT_NAMESPACE)
            .ok()
            .map(|namespace| namespace.trim().to_string())
            .filter(|namespace| !namespace.is_empty())
    });
    let attributes = Attributes::new(
        model_name,
        namespace.as_deref(),
        &source,
        &settings.overrides,
    );
    tracing::info!(
        mode = settings.mode.name(),
        sink = %settings.sink,
        source,
        namespace,
        overrides = settings.overrides.len(),
        "payload logging on"
    );
    start_with(
        settings.mode,
        Sender::new(settings.sink.clone(), attributes, shared(counters)),
        QUEUE_EVENTS,
        QUEUE_BYTES,
    )
}

fn shared(counters: PayloadEvents) -> Arc<Shared> {
    Arc::new(Shared {
        counters,
        warnings: Warnings::new(WARNING_INTERVAL),
        pending: Default::default(),
        pending_bytes: Default::default(),
    })
}

/// [`start`] with a given sender and queue size (tests shrink the queue).
fn start_with(
    mode: Mode,
    sender: Sender,
    max_events: usize,
    max_bytes: usize,
) -> (PayloadLog, Delivery) {
    let (queue, receiver) = mpsc::channel(max_events);
    let (flush, flushed) = oneshot::channel();
    let shared = sender.shared();
    let task = tokio::spawn(sender.run(receiver, flushed));
    let log = PayloadLog {
        mode,
        queue,
        shared: Arc::clone(&shared),
        max_bytes,
    };
    (
        log,
        Delivery {
            flush,
            task,
            shared,
        },
    )
}

/// A request's body, kept by [`crate::body`] when it reads it, for the request event.
/// The request layer puts one in the request's extensions; reading takes it out.
#[derive(Debug, Clone, Default)]
pub struct BodyTap(Arc<OnceLock<Bytes>>);

impl BodyTap {
    /// Keeps `body` (a reference count, not a copy).
    pub fn keep(&self, body: &Bytes) {
        let _ = self.0.set(body.clone());
    }
}

/// A successful answer's body, for the response event.
struct Answer {
    content_type: Option<HeaderValue>,
    data: Bytes,
    transcode: Option<Transcode>,
}

/// What the request layer keeps of one request until its response is ready.
#[derive(Debug)]
pub struct Tap {
    body: Option<BodyTap>,
    content_type: Option<HeaderValue>,
    received: SystemTime,
}

impl PayloadLog {
    /// Starts watching `request` on `endpoint`, or `None` when no event may come of
    /// it: only routes that run the model are logged.
    pub fn tap<B>(&self, request: &mut Request<B>, endpoint: Endpoint) -> Option<Tap> {
        endpoint.predicts().then(|| self.start(request))
    }

    /// [`tap`](Self::tap) for a gRPC call of `method`: only `ModelInfer` is logged.
    /// The call keeps its request message in the [`BodyTap`] left in `request`.
    pub fn tap_call<B>(&self, request: &mut Request<B>, method: GrpcMethod) -> Option<Tap> {
        method.predicts().then(|| self.start(request))
    }

    fn start<B>(&self, request: &mut Request<B>) -> Tap {
        let body = self.mode.requests().then(|| {
            let tap = BodyTap::default();
            request.extensions_mut().insert(tap.clone());
            tap
        });
        Tap {
            body,
            content_type: request.headers().get(CONTENT_TYPE).cloned(),
            received: SystemTime::now(),
        }
    }

    /// Queues the events of one answered request: the request's, if its body was
    /// read, and the response's, if it is a 200 (as KServe's logger does: an error is
    /// not a prediction). `id` is the request id, shared by the two.
    pub fn record(
        &self,
        tap: Tap,
        id: &HeaderValue,
        endpoint: Endpoint,
        response: &Response<Full<Bytes>>,
    ) {
        let answered = self.mode.responses() && response.status() == StatusCode::OK;
        let answer = answered.then(|| Answer {
            content_type: response.headers().get(CONTENT_TYPE).cloned(),
            data: full_body(response.body()),
            transcode: None,
        });
        self.queue_pair(tap, id, endpoint.into(), None, answer);
    }

    /// Queues the events of one answered gRPC call of `method`: the request message's,
    /// if it was read, and the response message's (unframed), if the call succeeded.
    /// Both are protobuf; `transcode` (request, response) makes their JSON.
    pub fn record_call(
        &self,
        tap: Tap,
        id: &HeaderValue,
        method: GrpcMethod,
        response: Option<Bytes>,
        transcode: [Transcode; 2],
    ) {
        let [request, answer] = transcode;
        let answer = response.map(|data| Answer {
            content_type: None,
            data,
            transcode: Some(answer),
        });
        self.queue_pair(tap, id, method.into(), Some(request), answer);
    }

    fn queue_pair(
        &self,
        tap: Tap,
        id: &HeaderValue,
        origin: Origin,
        request: Option<Transcode>,
        answer: Option<Answer>,
    ) {
        if let Some(body) = tap.body.and_then(|tap| tap.0.get().cloned()) {
            self.enqueue(Event {
                kind: Kind::Request,
                id: id.clone(),
                origin,
                time: tap.received,
                content_type: tap.content_type,
                data: body,
                transcode: request,
            });
        }
        if let Some(answer) = answer.filter(|_| self.mode.responses()) {
            self.enqueue(Event {
                kind: Kind::Response,
                id: id.clone(),
                origin,
                time: SystemTime::now(),
                content_type: answer.content_type,
                data: answer.data,
                transcode: answer.transcode,
            });
        }
    }

    /// Hands `event` to the sender, or drops and counts it if the queue is full (in
    /// events or in bytes) or closed (shutdown).
    fn enqueue(&self, event: Event) {
        let bytes = event.data.len();
        let queued = self.shared.pending_bytes.fetch_add(bytes, Ordering::AcqRel);
        self.shared.pending.fetch_add(1, Ordering::AcqRel);
        let refused = if queued + bytes > self.max_bytes {
            Some((DropReason::QueueFull, "the queue holds too many bytes"))
        } else {
            match self.queue.try_send(event) {
                Ok(()) => None,
                Err(TrySendError::Full(_)) => {
                    Some((DropReason::QueueFull, "the queue holds too many events"))
                }
                Err(TrySendError::Closed(_)) => {
                    Some((DropReason::Shutdown, "the sender has stopped (shutdown)"))
                }
            }
        };
        if let Some((reason, error)) = refused {
            self.shared.pending.fetch_sub(1, Ordering::AcqRel);
            self.shared.pending_bytes.fetch_sub(bytes, Ordering::AcqRel);
            self.shared.drop_event(reason, &error);
        }
    }
}

/// The bytes of a response body (a reference count: a `Full` body is one buffer).
fn full_body(body: &Full<Bytes>) -> Bytes {
    use http_body_util::BodyExt;
    futures_util::FutureExt::now_or_never(body.clone().collect())
        .and_then(Result::ok)
        .map(|collected| collected.to_bytes())
        .unwrap_or_default()
}

impl Delivery {
    /// Sends what is queued, taking no more events, for at most `within`; what is
    /// still unsent then is counted as dropped at shutdown.
    pub async fn flush(self, within: Duration) {
        let pending = self.shared.pending.load(Ordering::Acquire);
        tracing::info!(pending, "flushing payload events");
        let _ = self.flush.send(());
        match tokio::time::timeout(within, self.task).await {
            Ok(_) => tracing::info!(
                sent = self.shared.counters.sent_count(),
                "payload events flushed"
            ),
            Err(_) => {
                let left = self.shared.pending.load(Ordering::Acquire) as u64;
                self.shared.counters.dropped(DropReason::Shutdown, left);
                tracing::warn!(
                    dropped = left,
                    within_seconds = within.as_secs_f64(),
                    "payload events still unsent at the drain deadline; dropped"
                );
            }
        }
    }
}

#[cfg(test)]
mod tests;
