//! One payload event as KServe's logger sends it (kserve `pkg/logger/worker.go`): the
//! CloudEvents HTTP binary mode, the body as the data, the pair's shared id, and
//! KServe's extensions, then `K_CE_OVERRIDES` over them. Headers are built here, in
//! the background sender, never on the request path; so is the JSON of a gRPC message
//! ([`Transcode`]).

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hyper::header::{HeaderName, HeaderValue, CONTENT_TYPE};
use hyper::HeaderMap;

use crate::routes::{Endpoint, GrpcMethod};

/// `type` of the event carrying a request's body (KServe's `CEInferenceRequest`).
pub const REQUEST_TYPE: &str = "org.kubeflow.serving.inference.request";
/// `type` of the event carrying a response's body (KServe's `CEInferenceResponse`).
pub const RESPONSE_TYPE: &str = "org.kubeflow.serving.inference.response";
/// `component` of predictions: the KServe component that answers them.
pub const PREDICTOR: &str = "predictor";
/// `component` of explanations: in KServe the explainer answers `:explain`, and a
/// consumer that reads predictions from `predictor` events must not meet SHAP values.
pub const EXPLAINER: &str = "explainer";
/// The body's type when a message had none: every protocol here speaks JSON.
const DEFAULT_CONTENT_TYPE: &str = "application/json";
/// The data's type when it is a protobuf message (the CloudEvents protobuf format's).
pub const PROTOBUF: &str = "application/protobuf";
/// Prefix of `dataschema` naming a protobuf message type (a type URL, as in
/// `google.protobuf.Any`).
const TYPE_URL: &str = "type.googleapis.com/";

/// Which half of an exchange an event carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// The request body, as received.
    Request,
    /// The response body, as sent.
    Response,
}

/// What the request path hands to the queue: references to what it already has, no
/// formatting (cloning the id and the body is a reference count).
#[derive(Debug, Clone)]
pub struct Event {
    /// Request or response.
    pub kind: Kind,
    /// The request id (`X-Request-Id`), shared by the pair: the CloudEvents `id`.
    pub id: HeaderValue,
    /// The route or method that answered, for the `endpoint` and `component` extensions.
    pub origin: Origin,
    /// When the request arrived, or the response was ready: the CloudEvents `time`.
    pub time: SystemTime,
    /// The body's `Content-Type`, if it had one.
    pub content_type: Option<HeaderValue>,
    /// The body.
    pub data: Bytes,
    /// For a protobuf message (gRPC), how the sender turns it into JSON.
    pub transcode: Option<Transcode>,
}

/// What answered a prediction: the `endpoint` and `component` extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Origin {
    /// The route's template (`/v2/models/{name}/infer`) or the gRPC method's path.
    pub endpoint: &'static str,
    /// [`PREDICTOR`] or [`EXPLAINER`].
    pub component: &'static str,
}

impl From<Endpoint> for Origin {
    fn from(endpoint: Endpoint) -> Origin {
        let component = match endpoint {
            Endpoint::V1Explain => EXPLAINER,
            _ => PREDICTOR,
        };
        Origin {
            endpoint: endpoint.label(),
            component,
        }
    }
}

impl From<GrpcMethod> for Origin {
    fn from(method: GrpcMethod) -> Origin {
        Origin {
            endpoint: method.label(),
            component: PREDICTOR,
        }
    }
}

/// How a protobuf message becomes an event's data: the JSON of its REST equivalent,
/// which is what the events' consumers read. Done by the sender, off the request path.
#[derive(Debug, Clone, Copy)]
pub struct Transcode {
    /// The message type's full name, for `dataschema` when the JSON cannot be made.
    pub message: &'static str,
    /// The message as JSON, or why it has none.
    pub to_json: fn(&[u8]) -> Result<Vec<u8>, String>,
}

impl Event {
    /// The event as sent: a protobuf message as JSON (`application/json`), or, if it
    /// has no JSON form (a request the function refused, an infinity), as itself
    /// (`application/protobuf`, its type in `dataschema`).
    pub fn transcoded(mut self) -> Event {
        let Some(transcode) = self.transcode else {
            return self;
        };
        match (transcode.to_json)(&self.data) {
            Ok(json) => {
                self.data = json.into();
                self.content_type = Some(HeaderValue::from_static(DEFAULT_CONTENT_TYPE));
                self.transcode = None;
            }
            Err(error) => {
                tracing::debug!(%error, message = transcode.message, "payload event sent as protobuf");
                self.content_type = Some(HeaderValue::from_static(PROTOBUF));
            }
        }
        self
    }
}

/// The attributes every event of this process shares, as headers, made once.
#[derive(Debug, Clone)]
pub struct Attributes {
    shared: HeaderMap,
    overrides: Vec<(HeaderName, HeaderValue)>,
}

impl Attributes {
    /// Events from the model `model_name` in `namespace` (when known), with `source`
    /// (KServe's logger uses the pod's name), and `overrides` (`K_CE_OVERRIDES`) set
    /// last. A value a header cannot carry is left out rather than failing the start.
    pub fn new(
        model_name: &str,
        namespace: Option<&str>,
        source: &str,
        overrides: &[(String, String)],
    ) -> Attributes {
        let mut shared = HeaderMap::new();
        shared.insert("ce-specversion", HeaderValue::from_static("1.0"));
        let mut put = |name: &'static str, value: &str| {
            if let Ok(value) = HeaderValue::from_str(value) {
                shared.insert(name, value);
            }
        };
        put("ce-source", source);
        put("ce-inferenceservicename", model_name);
        if let Some(namespace) = namespace {
            put("ce-namespace", namespace);
        }
        let overrides = overrides
            .iter()
            .filter_map(|(name, value)| {
                let name = HeaderName::from_bytes(format!("ce-{name}").as_bytes()).ok()?;
                Some((name, HeaderValue::from_str(value).ok()?))
            })
            .collect();
        Attributes { shared, overrides }
    }

    /// The headers of `event`, sent at `sent` (KServe's `recordedtime`).
    pub fn headers(&self, event: &Event, sent: SystemTime) -> HeaderMap {
        let mut headers = self.shared.clone();
        headers.insert("ce-id", event.id.clone());
        let kind = match event.kind {
            Kind::Request => REQUEST_TYPE,
            Kind::Response => RESPONSE_TYPE,
        };
        headers.insert("ce-type", HeaderValue::from_static(kind));
        headers.insert("ce-time", timestamp(event.time));
        headers.insert("ce-recordedtime", timestamp(sent));
        headers.insert(
            "ce-component",
            HeaderValue::from_static(event.origin.component),
        );
        headers.insert(
            "ce-endpoint",
            HeaderValue::from_static(event.origin.endpoint),
        );
        // Still a message after `transcoded`: say which.
        if let Some(transcode) = event.transcode {
            let schema = format!("{TYPE_URL}{}", transcode.message);
            if let Ok(schema) = HeaderValue::from_str(&schema) {
                headers.insert("ce-dataschema", schema);
            }
        }
        headers.insert(
            CONTENT_TYPE,
            event
                .content_type
                .clone()
                .unwrap_or(HeaderValue::from_static(DEFAULT_CONTENT_TYPE)),
        );
        for (name, value) in &self.overrides {
            headers.insert(name.clone(), value.clone());
        }
        headers
    }
}

/// `time` as an RFC 3339 timestamp in UTC with microseconds, the form CloudEvents'
/// `time` takes: `2026-12-02T13:22:17.123456Z`.
fn timestamp(time: SystemTime) -> HeaderValue {
    HeaderValue::from_str(&rfc3339(time)).expect("digits, '-', ':', '.', 'T' and 'Z'")
}

/// See [`timestamp`].
pub fn rfc3339(time: SystemTime) -> String {
    let since_epoch = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let seconds = since_epoch.as_secs();
    let (year, month, day) = civil_date(seconds / 86_400);
    let of_day = seconds % 86_400;
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:06}Z",
        of_day / 3600,
        of_day / 60 % 60,
        of_day % 60,
        since_epoch.subsec_micros()
    )
}

/// The Gregorian (year, month, day) `days` after 1970-01-01. Counted in 400-year eras
/// that start on a 1 March, so that the leap day is the last day of an era's year and
/// each month's first day follows from a linear formula (153 days per 5 months).
fn civil_date(days: u64) -> (u64, u64, u64) {
    // 0000-03-01 is 719468 days before 1970-01-01; an era is 146097 days.
    let shifted = days + 719_468;
    let era = shifted / 146_097;
    let day_of_era = shifted % 146_097;
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    // Months counted from March: 0 = March .. 11 = February.
    let march_month = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * march_month + 2) / 5 + 1;
    let month = if march_month < 10 {
        march_month + 3
    } else {
        march_month - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn event(kind: Kind, endpoint: Endpoint, content_type: Option<&'static str>) -> Event {
        Event {
            kind,
            id: HeaderValue::from_static("req-7"),
            origin: endpoint.into(),
            time: UNIX_EPOCH + Duration::from_micros(1_000_000_000_123_456),
            content_type: content_type.map(HeaderValue::from_static),
            data: Bytes::from_static(b"{}"),
            transcode: None,
        }
    }

    fn header<'a>(headers: &'a HeaderMap, name: &str) -> &'a str {
        headers
            .get(name)
            .unwrap_or_else(|| panic!("{name} missing"))
            .to_str()
            .unwrap()
    }

    #[test]
    fn timestamps_are_rfc3339_utc_across_leap_days_and_centuries() {
        let at = |seconds: u64| rfc3339(UNIX_EPOCH + Duration::from_secs(seconds));
        assert_eq!(at(0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(at(951_782_400), "2000-02-29T00:00:00.000000Z");
        assert_eq!(at(1_000_000_000), "2001-09-09T01:46:40.000000Z");
        assert_eq!(at(4_107_456_000), "2100-02-28T00:00:00.000000Z");
        assert_eq!(at(4_107_542_400), "2100-03-01T00:00:00.000000Z");
        assert_eq!(at(253_402_300_799), "9999-12-31T23:59:59.000000Z");
    }

    #[test]
    fn a_request_event_carries_kserves_attributes() {
        let attributes = Attributes::new("iris", Some("models"), "iris-7d9f", &[]);
        let sent = UNIX_EPOCH + Duration::from_secs(1_000_000_001);
        let headers = attributes.headers(&event(Kind::Request, Endpoint::V2Infer, None), sent);
        let expected = [
            ("ce-specversion", "1.0"),
            ("ce-id", "req-7"),
            ("ce-source", "iris-7d9f"),
            ("ce-type", "org.kubeflow.serving.inference.request"),
            ("ce-time", "2001-09-09T01:46:40.123456Z"),
            ("ce-recordedtime", "2001-09-09T01:46:41.000000Z"),
            ("ce-inferenceservicename", "iris"),
            ("ce-namespace", "models"),
            ("ce-component", "predictor"),
            ("ce-endpoint", "/v2/models/{name}/infer"),
            ("content-type", "application/json"),
        ];
        for (name, value) in expected {
            assert_eq!(header(&headers, name), value, "{name}");
        }
        assert_eq!(headers.len(), expected.len(), "{headers:?}");
    }

    #[test]
    fn a_response_event_keeps_its_own_content_type_and_explanations_are_the_explainers() {
        let attributes = Attributes::new("iris", None, "src", &[]);
        let response = event(
            Kind::Response,
            Endpoint::V1Explain,
            Some("application/json; charset=utf-8"),
        );
        let headers = attributes.headers(&response, SystemTime::now());
        assert_eq!(header(&headers, "ce-type"), RESPONSE_TYPE);
        assert_eq!(header(&headers, "ce-component"), "explainer");
        assert_eq!(
            header(&headers, "content-type"),
            "application/json; charset=utf-8"
        );
        assert!(
            !headers.contains_key("ce-namespace"),
            "an unknown namespace is left out"
        );
    }

    #[test]
    fn ce_overrides_are_added_and_replace_kserves_attributes() {
        let overrides = [
            ("team".to_string(), "fraud".to_string()),
            ("component".to_string(), "scorer".to_string()),
        ];
        let attributes = Attributes::new("iris", Some("ns"), "src", &overrides);
        let headers = attributes.headers(
            &event(Kind::Request, Endpoint::Predict, None),
            SystemTime::now(),
        );
        assert_eq!(header(&headers, "ce-team"), "fraud");
        assert_eq!(header(&headers, "ce-component"), "scorer");
        assert_eq!(headers.get_all("ce-component").iter().count(), 1);
    }

    fn grpc_event(data: &'static [u8]) -> Event {
        let to_json = |message: &[u8]| match message {
            b"ok" => Ok(b"{\"json\":true}".to_vec()),
            _ => Err("not a message".to_string()),
        };
        Event {
            origin: GrpcMethod::ModelInfer.into(),
            data: Bytes::from_static(data),
            transcode: Some(Transcode {
                message: "inference.ModelInferRequest",
                to_json,
            }),
            ..event(Kind::Request, Endpoint::V2Infer, None)
        }
    }

    #[test]
    fn a_grpc_message_is_sent_as_json_else_as_protobuf_naming_its_type() {
        let attributes = Attributes::new("iris", None, "src", &[]);
        let json = grpc_event(b"ok").transcoded();
        assert_eq!(json.data, r#"{"json":true}"#);
        let headers = attributes.headers(&json, SystemTime::now());
        assert_eq!(header(&headers, "content-type"), "application/json");
        assert_eq!(
            header(&headers, "ce-endpoint"),
            "/inference.GRPCInferenceService/ModelInfer"
        );
        assert_eq!(header(&headers, "ce-component"), "predictor");
        assert!(!headers.contains_key("ce-dataschema"));

        let protobuf = grpc_event(b"\xff").transcoded();
        assert_eq!(protobuf.data, &b"\xff"[..]);
        let headers = attributes.headers(&protobuf, SystemTime::now());
        assert_eq!(header(&headers, "content-type"), "application/protobuf");
        assert_eq!(
            header(&headers, "ce-dataschema"),
            "type.googleapis.com/inference.ModelInferRequest"
        );
    }
}
