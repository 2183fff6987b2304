//! CloudEvents 1.0 over HTTP (`POST /`), as Knative Eventing delivers them: binary mode
//! (`ce-*` headers, the body is the data) and structured mode (`Content-Type:
//! application/cloudevents+json`, the event is the body). The data is a `/predict`
//! request, `{"input": [...]}` (rows of values or records), of any event type (a Trigger
//! has already chosen it).
//!
//! The reply is an event in the same mode whose data is the `/predict?probabilities=true`
//! answer, with type [`RESPONSE_TYPE`], source `/models/{name}`, a new id, and the
//! request's id in the [`IN_RESPONSE_TO`] extension, so a Broker can route it back.

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{header, HeaderMap, Request, Response, StatusCode};
use serde_json::{Map, Value};

use super::json::parse_json;
use super::predict::{self, Answer};
use crate::body::{media_type, read_json_body};
use crate::error::{json_response, ApiError};
use crate::state::App;
use crate::{ids, infer};
use model::{Batch, ModelInfo};

/// The type of every reply event.
pub const RESPONSE_TYPE: &str = "dev.tabular-function.prediction.response";
/// Extension attribute of the reply holding the request event's id.
pub const IN_RESPONSE_TO: &str = "inresponseto";
/// The only CloudEvents version there is a binding for.
pub const SPEC_VERSION: &str = "1.0";
/// Content type of a structured-mode event.
pub const STRUCTURED: &str = "application/cloudevents+json";
/// The attributes every event must have.
const REQUIRED: [&str; 4] = ["specversion", "id", "source", "type"];

/// How the request carried its event; the reply uses the same.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    Binary,
    Structured,
}

/// `POST /`.
pub async fn handle(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let media_type = media_type(request.headers());
    let mode = if request.headers().contains_key("ce-specversion") {
        Mode::Binary
    } else if media_type.as_deref() == Some(STRUCTURED) {
        Mode::Structured
    } else if media_type.as_deref() == Some("application/cloudevents-batch+json") {
        return Err(ApiError::UnsupportedMediaType(
            "application/cloudevents-batch+json (batched events)".into(),
        ));
    } else {
        return Err(ApiError::BadRequest(format!(
            "POST / takes a CloudEvent: binary mode with ce-specversion, ce-id, ce-source \
             and ce-type headers and a JSON body, or structured mode with Content-Type: \
             {STRUCTURED}; for a plain request use POST /predict"
        )));
    };
    let info = app.model.info();
    let max_rows = app.limits.max_batch_rows;
    let (request_id, batch) = match mode {
        Mode::Binary => {
            binary_attributes(request.headers())?;
            let headers = request.headers().clone();
            let body = read_json_body(request, app.limits.max_body_bytes).await?;
            decode_binary(&headers, &body, info, max_rows)?
        }
        Mode::Structured => {
            let body = read_json_body(request, app.limits.max_body_bytes).await?;
            decode_structured(&body, info, max_rows)?
        }
    };
    let prediction = infer::predict(app, batch).await?;
    let answer = Answer::new(&prediction, true);
    let reply = Reply {
        id: ids::next_string(),
        source: format!("/models/{}", app.model_name),
        in_response_to: request_id,
    };
    Ok(match mode {
        Mode::Binary => reply.binary(&answer),
        Mode::Structured => reply.structured(&answer),
    })
}

/// Decodes a binary-mode event: the id from the `ce-*` headers, the batch from the
/// body. Returns the request event's id and the batch.
pub fn decode_binary(
    headers: &HeaderMap,
    body: &[u8],
    info: &ModelInfo,
    max_rows: usize,
) -> Result<(String, Batch), ApiError> {
    let id = binary_attributes(headers)?;
    // The data is a `/predict` body: the common ones skip the JSON tree.
    if let Some(batch) = predict::decode_fast(body, info, max_rows) {
        return Ok((id, batch));
    }
    crate::budget::charge_json_tree(body.len())?;
    let data =
        parse_json(body).map_err(|e| ApiError::BadRequest(format!("the event's data {e}")))?;
    Ok((id, decode_data(data, info, max_rows)?))
}

/// Decodes a structured-mode event (the whole event is the body). Returns the request
/// event's id and the batch.
pub fn decode_structured(
    body: &[u8],
    info: &ModelInfo,
    max_rows: usize,
) -> Result<(String, Batch), ApiError> {
    let (id, data) = structured_event(body)?;
    Ok((id, decode_data(data, info, max_rows)?))
}

/// The batch in an event's data, a `/predict` request; 400 errors say it is the data.
fn decode_data(data: Value, info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    predict::decode_value(data, info, max_rows).map_err(|error| match error {
        ApiError::BadRequest(message) => {
            ApiError::BadRequest(format!("the event's data: {message}"))
        }
        other => other,
    })
}

/// Checks the binary-mode attribute headers and returns the event id.
fn binary_attributes(headers: &HeaderMap) -> Result<String, ApiError> {
    let attribute = |name: &str| {
        headers
            .get(format!("ce-{name}"))
            .and_then(|v| v.to_str().ok())
            .filter(|v| !v.is_empty())
    };
    let missing: Vec<String> = REQUIRED
        .iter()
        .filter(|name| attribute(name).is_none())
        .map(|name| format!("ce-{name}"))
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(format!(
            "binary-mode CloudEvent lacks the required header(s) {}",
            missing.join(", ")
        )));
    }
    check_spec_version(attribute("specversion").expect("checked above"))?;
    Ok(attribute("id").expect("checked above").to_string())
}

/// Parses a structured-mode event and returns its id and data.
fn structured_event(body: &[u8]) -> Result<(String, Value), ApiError> {
    let bad = ApiError::BadRequest;
    crate::budget::charge_json_tree(body.len())?;
    let value: Value =
        parse_json(body).map_err(|e| bad(format!("structured-mode CloudEvent {e}")))?;
    let Value::Object(mut event) = value else {
        return Err(bad(
            "structured-mode CloudEvent must be a JSON object".into()
        ));
    };
    let text = |event: &Map<String, Value>, name: &str| {
        event
            .get(name)
            .and_then(Value::as_str)
            .filter(|v| !v.is_empty())
            .map(str::to_string)
    };
    let missing: Vec<&str> = REQUIRED
        .into_iter()
        .filter(|name| text(&event, name).is_none())
        .collect();
    if !missing.is_empty() {
        return Err(bad(format!(
            "structured-mode CloudEvent lacks the required string attribute(s) {}",
            missing.join(", ")
        )));
    }
    check_spec_version(&text(&event, "specversion").expect("checked above"))?;
    if let Some(content_type) = text(&event, "datacontenttype") {
        let essence = content_type.split(';').next().unwrap_or("").trim();
        if essence != "application/json" && !essence.ends_with("+json") {
            return Err(ApiError::UnsupportedMediaType(format!(
                "{content_type:?} (the event's datacontenttype)"
            )));
        }
    }
    if event.contains_key("data_base64") {
        return Err(bad(
            "the event carries data_base64; send the prediction request as JSON in `data`".into(),
        ));
    }
    let data = event
        .remove("data")
        .ok_or_else(|| bad("the event has no `data`; send {\"input\": [...]} in it".into()))?;
    Ok((text(&event, "id").expect("checked above"), data))
}

fn check_spec_version(version: &str) -> Result<(), ApiError> {
    if version == SPEC_VERSION {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "specversion {version:?} is not supported; send \"{SPEC_VERSION}\""
        )))
    }
}

/// The reply event's own attributes.
struct Reply {
    id: String,
    source: String,
    in_response_to: String,
}

impl Reply {
    /// Binary mode: attributes in `ce-*` headers, the answer as the JSON body.
    fn binary(self, answer: &Answer<'_>) -> Response<Full<Bytes>> {
        let body = serde_json::to_vec(answer).expect("labels and floats serialise");
        let mut response = json_response(StatusCode::OK, body);
        let headers = response.headers_mut();
        for (name, value) in [
            ("ce-specversion", SPEC_VERSION.to_string()),
            ("ce-id", self.id),
            ("ce-source", self.source),
            ("ce-type", RESPONSE_TYPE.to_string()),
            ("ce-inresponseto", self.in_response_to),
        ] {
            // Every value came from a header, the configuration or our own id: all
            // visible ASCII, so the conversion cannot fail for a request that got here.
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(HeaderName::from_static(name), value);
            }
        }
        response
    }

    /// Structured mode: the whole event as the JSON body.
    fn structured(self, answer: &Answer<'_>) -> Response<Full<Bytes>> {
        #[derive(serde::Serialize)]
        struct Event<'a> {
            specversion: &'static str,
            id: &'a str,
            source: &'a str,
            #[serde(rename = "type")]
            kind: &'static str,
            datacontenttype: &'static str,
            inresponseto: &'a str,
            data: &'a Answer<'a>,
        }
        let event = Event {
            specversion: SPEC_VERSION,
            id: &self.id,
            source: &self.source,
            kind: RESPONSE_TYPE,
            datacontenttype: "application/json",
            inresponseto: &self.in_response_to,
            data: answer,
        };
        let body = serde_json::to_vec(&event).expect("labels and floats serialise");
        let mut response = json_response(StatusCode::OK, body);
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(STRUCTURED));
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        pairs
            .iter()
            .map(|(k, v)| (HeaderName::from_static(k), HeaderValue::from_static(v)))
            .collect()
    }

    #[test]
    fn binary_mode_needs_all_four_required_headers() {
        let all = [
            ("ce-specversion", "1.0"),
            ("ce-id", "42"),
            ("ce-source", "/me"),
            ("ce-type", "t"),
        ];
        assert_eq!(binary_attributes(&headers(&all)).unwrap(), "42");
        let error = binary_attributes(&headers(&all[..2]))
            .unwrap_err()
            .to_string();
        assert!(error.contains("ce-source, ce-type"), "{error}");
        let old = [
            ("ce-specversion", "0.3"),
            ("ce-id", "1"),
            ("ce-source", "s"),
            ("ce-type", "t"),
        ];
        assert!(binary_attributes(&headers(&old))
            .unwrap_err()
            .to_string()
            .contains("0.3"));
    }

    #[test]
    fn structured_mode_needs_attributes_and_json_data() {
        let event =
            br#"{"specversion":"1.0","id":"a","source":"s","type":"t","data":{"input":[1]}}"#;
        let (id, data) = structured_event(event).unwrap();
        assert_eq!(
            (id.as_str(), data),
            ("a", serde_json::json!({"input": [1]}))
        );
        let error = |body: &str| structured_event(body.as_bytes()).unwrap_err().to_string();
        assert!(error(r#"{"specversion":"1.0","data":{}}"#).contains("id, source, type"));
        assert!(
            error(r#"{"specversion":"1.0","id":"a","source":"s","type":"t"}"#)
                .contains("no `data`")
        );
        assert!(error(
            r#"{"specversion":"1.0","id":"a","source":"s","type":"t","data_base64":"AA=="}"#
        )
        .contains("data_base64"));
        assert!(error("[]").contains("JSON object"));
    }
}
