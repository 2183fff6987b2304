//! The tutorial's contract: `POST /predict` with `{"input":[5.1,3.5,1.4,0.2]}` answers
//! `{"prediction":[0]}`; `{"input":[[...],[...]]}` answers one prediction per row, and so
//! do records, `{"input":[{"island":"Dream","bill_length":39.1},...]}` (a single record
//! is one row); the query `?probabilities=true` adds `"probabilities":[[...]]` (one row
//! per input row, one column per class, in the order of the model's class labels), and
//! `?explain=true` adds `"explanations":[...]`, each row's SHAP values
//! ([`super::explanations`]).

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use serde_json::Value;

use super::explanations::{self, ExplanationJson};
use super::fast_records::{self, OneRecord};
use super::fast_rows;
use super::json::parse_json;
use super::records;
use super::rows::{decode_rows, positional, push_row};
use crate::body::read_json_body;
use crate::error::{json_response, ApiError};
use crate::infer;
use crate::state::App;
use model::{Batch, Column, ModelInfo, Predicted, Prediction, Values};

/// The accepted request shapes, quoted in errors.
const SHAPES: &str = r#"{"input": [f1, f2, ...]}, {"input": [[f1, f2, ...], ...]} or {"input": [{"column": value, ...}, ...]}"#;

/// Handles `POST /predict`.
pub async fn handle(
    request: Request<Incoming>,
    app: &App,
) -> Result<Response<Full<Bytes>>, ApiError> {
    let wanted = Wanted::from_query(request.uri().query())?;
    if wanted.explanations {
        // Before reading the body: a model that cannot explain says so at once.
        if let Err(why) = app.model.explainer() {
            return Err(ApiError::BadRequest(why.to_string()));
        }
    }
    let body = read_json_body(request, app.limits.max_body_bytes).await?;
    let batch = decode(&body, app.model.info(), app.limits.max_batch_rows)?;
    if !wanted.explanations {
        let prediction = infer::predict(app, batch).await?;
        return Ok(json_response(
            StatusCode::OK,
            encode(&prediction, wanted.probabilities),
        ));
    }
    let prediction = infer::predict(app, batch.clone()).await?;
    let explanations = infer::explain(app, batch).await?;
    let names = explanations::feature_names(app.model.info(), app.model.n_features());
    let answer = Answer::new(&prediction, wanted.probabilities)
        .with_explanations(explanations::to_json(&explanations, &names));
    let body = serde_json::to_vec(&answer).expect("labels and floats serialise");
    Ok(json_response(StatusCode::OK, body))
}

/// What a `/predict` query asks for beside the predictions.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
struct Wanted {
    probabilities: bool,
    explanations: bool,
}

impl Wanted {
    /// Reads `probabilities=` and `explain=` (`true|false|1|0`, a bare name meaning
    /// true) from the query. Any other parameter is refused rather than ignored, so that
    /// a misspelt `probability=true` is not answered without the probabilities it asked
    /// for.
    fn from_query(query: Option<&str>) -> Result<Wanted, ApiError> {
        let mut wanted = Wanted::default();
        let pairs = query
            .unwrap_or("")
            .split('&')
            .filter(|pair| !pair.is_empty());
        for pair in pairs {
            let (key, value) = pair.split_once('=').unwrap_or((pair, "true"));
            let slot = match key {
                "probabilities" => &mut wanted.probabilities,
                "explain" => &mut wanted.explanations,
                _ => {
                    return Err(ApiError::BadRequest(format!(
                        "unknown query parameter `{key}`; /predict takes only \
                         probabilities=true|false and explain=true|false"
                    )))
                }
            };
            *slot = match value {
                "true" | "1" => true,
                "false" | "0" => false,
                other => {
                    return Err(ApiError::BadRequest(format!(
                        "query parameter {key}={other} must be true or false"
                    )))
                }
            };
        }
        Ok(wanted)
    }
}

/// Decodes a request body into a batch for the model's inputs, of at most `max_rows`
/// rows: the common requests straight from the text ([`decode_fast`]), anything else
/// (and anything wrong) through a JSON tree.
pub fn decode(body: &[u8], info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    match decode_fast(body, info, max_rows) {
        Some(batch) => Ok(batch),
        None => decode_explained(body, info, max_rows),
    }
}

/// The batch of a valid body of rows of numbers of a single float input (`fast_rows`)
/// or of records (`fast_records`), decoded without a JSON tree; `None` for any other
/// body, which the tree path decodes or explains.
pub fn decode_fast(body: &[u8], info: &ModelInfo, max_rows: usize) -> Option<Batch> {
    fast_rows::decode(body, "input", info, max_rows)
        .or_else(|| fast_records::decode(body, "input", info, max_rows, OneRecord::Taken))
}

/// The general path: through a `serde_json::Value`, saying exactly what is wrong (public
/// so that the fuzz targets hold [`decode`] to it).
pub fn decode_explained(body: &[u8], info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    crate::budget::charge_json_tree(body.len())?;
    let value: Value = parse_json(body)
        .map_err(|e| ApiError::BadRequest(format!("request body {e}; send {SHAPES}")))?;
    decode_value(value, info, max_rows)
}

/// Decodes an already parsed `{"input": ...}` object (a CloudEvent's `data`).
pub fn decode_value(value: Value, info: &ModelInfo, max_rows: usize) -> Result<Batch, ApiError> {
    let bad = |message: String| ApiError::BadRequest(message);
    let Value::Object(mut fields) = value else {
        return Err(bad(format!("request body must be a JSON object: {SHAPES}")));
    };
    let input = fields
        .remove("input")
        .ok_or_else(|| bad(format!("missing field `input`; send {SHAPES}")))?;
    if let Some(unknown) = fields.keys().next() {
        return Err(bad(format!(
            "unknown field `{unknown}`; the only field is `input`: {SHAPES}"
        )));
    }
    let items = match input {
        Value::Array(items) => items,
        // One record: {"input": {"island": "Dream", ...}}
        Value::Object(record) => return records::decode_one(&record, "input", info),
        _ => {
            return Err(bad(format!(
                "`input` must be an array of rows or a record: {SHAPES}"
            )))
        }
    };
    if items.is_empty() {
        return Err(bad("`input` is empty; send at least one row".into()));
    }
    if items
        .iter()
        .all(|item| !item.is_array() && !item.is_object())
    {
        // One row of values: {"input": [f1, f2, ...]}
        let input = positional(info, "input")?;
        let mut values = Values::with_capacity(input.element, input.width);
        push_row(&mut values, &items, "input", info, input)?;
        return Ok(Batch::from_columns(1, [Column::new(values, input.width)]));
    }
    decode_rows(&items, "input", info, max_rows)
}

/// The answer `{"prediction": [...]}`, plus `"probabilities"` when asked and available.
///
/// Probabilities are written as `f32` (shortest round-trip form, `0.99999934` rather
/// than the `f64` widening `0.9999993443489075`): that is the precision the model has.
#[derive(Debug, serde::Serialize)]
pub struct Answer<'a> {
    prediction: &'a Predicted,
    #[serde(skip_serializing_if = "Option::is_none")]
    probabilities: Option<Vec<&'a [f32]>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    explanations: Option<Vec<ExplanationJson<'a>>>,
}

impl<'a> Answer<'a> {
    /// The answer to a `/predict` request for `prediction`.
    pub fn new(prediction: &'a Prediction, with_probabilities: bool) -> Answer<'a> {
        Answer {
            prediction: &prediction.predicted,
            probabilities: probability_rows(prediction).filter(|_| with_probabilities),
            explanations: None,
        }
    }

    /// The same answer with each row's explanation.
    pub fn with_explanations(self, explanations: Vec<ExplanationJson<'a>>) -> Answer<'a> {
        Answer {
            explanations: Some(explanations),
            ..self
        }
    }
}

/// Encodes the [`Answer`] as JSON.
pub fn encode(prediction: &Prediction, with_probabilities: bool) -> Vec<u8> {
    serde_json::to_vec(&Answer::new(prediction, with_probabilities))
        .expect("labels and floats serialise")
}

/// The probabilities of `prediction` as one slice per row, when the model has them.
pub fn probability_rows(prediction: &Prediction) -> Option<Vec<&[f32]>> {
    let probabilities = prediction.probabilities.as_deref()?;
    let classes = probabilities
        .len()
        .checked_div(prediction.predicted.rows())
        .unwrap_or(0);
    Some(probabilities.chunks(classes.max(1)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{InputInfo, Labels};

    /// Iris as a model refusing missing values (a linear one would).
    fn iris_info() -> ModelInfo {
        ModelInfo {
            inputs: vec![InputInfo::float("input", 4, false)],
            feature_names: Some(vec!["a".into(), "b".into(), "c".into(), "d".into()]),
            ..ModelInfo::for_tests(Labels::Int(vec![0, 1, 2]), &["label", "probabilities"])
        }
    }

    /// The same model taking missing values (a tree ensemble does).
    fn takes_missing() -> ModelInfo {
        ModelInfo {
            inputs: vec![InputInfo::float("input", 4, true)],
            ..iris_info()
        }
    }

    fn error(body: &str) -> String {
        match decode(body.as_bytes(), &iris_info(), 3) {
            Err(ApiError::BadRequest(message)) => message,
            other => panic!("expected a bad request for {body}, got {other:?}"),
        }
    }

    /// Every body of rows of numbers either takes the fast path to the batch the general
    /// path builds, or is left to the general path, which refuses it (so its message is
    /// the one sent). (A duplicated `input` key is also left to the general path, which
    /// takes the last; so are records, see `records_by_feature_name_...`.)
    #[test]
    fn the_fast_path_builds_what_the_general_path_does_or_steps_aside() {
        let valid = [
            r#"{"input":[5.1,3.5,1.4,0.2]}"#,
            r#" { "input" : [ 1 , -2 , 3e-2 , 18446744073709551615 ] } "#,
            r#"{"input":[[1,2,3,4],[5.5,6,7,8e1]]}"#,
            r#"{"input":[[1,2,3,4],[1,2,3,4],[1,2,3,4]]}"#,
            r#"{"\u0069nput":[1,2,3,4]}"#,
            "{\"input\":\n[1,2,\n3,4]}",
        ];
        let invalid = [
            r#"{"input":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}"#,
            r#"{"input":[1,2,3]}"#,
            r#"{"input":[1,2,3,4,5]}"#,
            r#"{"input":[[1,2,3,4],[1,2,3]]}"#,
            r#"{"input":[[1,2,3,4,5]]}"#,
            r#"{"input":[1,2,3,[4]]}"#,
            r#"{"input":[[1,2,3,4],5]}"#,
            r#"{"input":[1,2,"3",4]}"#,
            r#"{"input":[1,2,true,4]}"#,
            r#"{"input":[[[1,2,3,4]]]}"#,
            r#"{"input":[]}"#,
            r#"{"input":[[]]}"#,
            r#"{"input":1}"#,
            r#"{"input":[1,2,3,4],"x":1}"#,
            r#"{"x":1,"input":[1,2,3,4]}"#,
            r#"{}"#,
            r#"[1,2,3,4]"#,
            r#"{"input":[1,2,3,4]} x"#,
            r#"{"input":[1,2,3,1e39]}"#,
            r#"{"input":[1,2,3,null]}"#,
            r#"{"input":[[1,2,3,null]]}"#,
            r#"{"input":[1,2,3,NaN]}"#,
            "",
        ];
        for info in [iris_info(), takes_missing()] {
            for body in valid.iter().chain(&invalid) {
                let general = decode_explained(body.as_bytes(), &info, 3);
                match fast_rows::decode(body.as_bytes(), "input", &info, 3) {
                    // Debug, so NaN (a missing value) compares equal to NaN.
                    Some(batch) => assert_eq!(
                        format!("{:?}", Ok::<_, ()>(batch)),
                        format!("{:?}", general.map_err(|_| ())),
                        "{body}"
                    ),
                    None => assert!(
                        general.is_err(),
                        "the fast path refused a body the general path takes: {body}"
                    ),
                }
            }
            for body in valid {
                let fast = fast_rows::decode(body.as_bytes(), "input", &info, 3);
                assert!(fast.is_some(), "the fast path refused {body}");
            }
        }
        // null is a feature only for a model that takes missing values.
        let body = br#"{"input":[[1,2,3,null],[null,2,3,4]]}"#;
        assert!(fast_rows::decode(body, "input", &iris_info(), 3).is_none());
        let batch = fast_rows::decode(body, "input", &takes_missing(), 3).unwrap();
        assert_eq!(batch.rows(), 2);
    }

    #[test]
    fn decodes_one_row() {
        let batch = decode(br#"{"input":[5.1,3.5,1.4,0.2]}"#, &iris_info(), 3).unwrap();
        assert_eq!(batch, Batch::new(vec![5.1, 3.5, 1.4, 0.2], 4));
    }

    #[test]
    fn decodes_a_batch_of_rows() {
        let batch = decode(br#"{"input":[[1,2,3,4],[5,6,7,8]]}"#, &iris_info(), 3).unwrap();
        assert_eq!(batch.rows(), 2);
        assert_eq!(batch, Batch::new((1..=8).map(|v| v as f32).collect(), 4));
    }

    #[test]
    fn rejects_invalid_json() {
        assert!(error("{\"input\":").contains("not valid JSON"));
    }

    #[test]
    fn rejects_a_misspelt_field() {
        assert!(error(r#"{"inputs":[1,2,3,4]}"#).contains("missing field `input`"));
        assert!(error(r#"{"input":[1,2,3,4],"x":1}"#).contains("unknown field `x`"));
    }

    #[test]
    fn rejects_the_wrong_feature_count_naming_the_features() {
        let message = error(r#"{"input":[[1,2,3,4],[1,2,3]]}"#);
        assert!(
            message.contains("`input[1]` has 3 features, the model takes 4 (a, b, c, d)"),
            "{message}"
        );
    }

    #[test]
    fn rejects_non_numeric_features() {
        let message = error(r#"{"input":[1,"2",3,4]}"#);
        assert!(
            message.contains("`input[1]` is the string \"2\", not a number"),
            "{message}"
        );
    }

    #[test]
    fn rejects_values_beyond_f32() {
        assert!(error(r#"{"input":[1,2,3,1e300]}"#).contains("outside the range"));
        assert!(error(r#"{"input":[1,2,3,-1e39]}"#).contains("infinite or outside"));
    }

    #[test]
    fn rejects_missing_values_unless_the_model_takes_them() {
        let message = error(r#"{"input":[1,null,3,4]}"#);
        assert!(
            message.contains("`input[1]` = null is a missing value"),
            "{message}"
        );
        assert!(error(r#"{"input":[1,NaN,3,4]}"#).contains("NaN or Infinity"));
        let info = takes_missing();
        let batch = decode(br#"{"input":[[1,null,3,4]]}"#, &info, 3).unwrap();
        assert_eq!(batch.rows(), 1);
        assert!(decode(br#"{"input":[[1,1e39,3,4]]}"#, &info, 3).is_err());
    }

    #[test]
    fn refuses_more_rows_than_the_limit_with_413() {
        let four = r#"{"input":[[1,2,3,4],[1,2,3,4],[1,2,3,4],[1,2,3,4]]}"#;
        let error = decode(four.as_bytes(), &iris_info(), 3).unwrap_err();
        assert!(matches!(error, ApiError::TooManyRows { rows: 4, limit: 3 }));
        assert_eq!(error.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(decode(four.as_bytes(), &iris_info(), 4).is_ok());
    }

    #[test]
    fn rejects_empty_and_mixed_input() {
        assert!(error(r#"{"input":[]}"#).contains("empty"));
        assert!(error(r#"{"input":[[1,2,3,4],5]}"#).contains("`input[1]` is 5, not a row"));
        assert!(error(r#"{"input":[[1,2,3,4],5]}"#).contains("not a row of 4 numbers"));
        assert!(error(r#"[1,2,3,4]"#).contains("must be a JSON object"));
        assert!(error(r#"{"input":"a"}"#).contains("must be an array of rows or a record"));
    }

    #[test]
    fn records_by_feature_name_give_the_positional_batch() {
        let record = br#"{"input":[{"a":1,"b":2,"c":3,"d":4}]}"#;
        assert!(fast_rows::decode(record, "input", &iris_info(), 3).is_none());
        let positional = decode(br#"{"input":[[1,2,3,4],[5,6,7,8]]}"#, &iris_info(), 3);
        let records = br#"{"input":[{"d":4,"c":3,"b":2,"a":1},{"a":5,"b":6,"c":7,"d":8}]}"#;
        assert_eq!(
            decode(records, &iris_info(), 3).unwrap(),
            positional.unwrap()
        );
        let one = decode(br#"{"input":{"a":1,"b":2,"c":3,"d":4}}"#, &iris_info(), 3);
        assert_eq!(one.unwrap(), Batch::new(vec![1.0, 2.0, 3.0, 4.0], 4));
        assert!(error(r#"{"input":{"a":1}}"#).contains(r#"`input` has no column "b""#));
        let five = r#"{"input":[{"a":1,"b":2,"c":3,"d":4},{"a":1,"b":2,"c":3,"d":4,"e":5}]}"#;
        assert!(error(five).contains(r#"`input[1]` has an unknown column "e""#));
        let record = r#"{"a":1,"b":2,"c":3,"d":4}"#;
        let four = format!(r#"{{"input":[{}]}}"#, [record; 4].join(","));
        let error = decode(four.as_bytes(), &iris_info(), 3).unwrap_err();
        assert!(
            matches!(error, ApiError::TooManyRows { rows: 4, limit: 3 }),
            "{error}"
        );
    }

    #[test]
    fn encodes_labels_and_probabilities() {
        let prediction = Prediction {
            predicted: Predicted::Labels(Labels::Int(vec![0, 2])),
            probabilities: Some(vec![0.5, 0.25, 0.25, 0.0, 0.0, 1.0]),
        };
        assert_eq!(encode(&prediction, false), br#"{"prediction":[0,2]}"#);
        let both: Value = serde_json::from_slice(&encode(&prediction, true)).unwrap();
        assert_eq!(both["probabilities"][1], serde_json::json!([0.0, 0.0, 1.0]));
    }

    #[test]
    fn encodes_regression_values_flat_or_per_row() {
        let one = Prediction {
            predicted: Predicted::Values {
                values: vec![1.5, 2.0],
                targets: 1,
            },
            probabilities: None,
        };
        assert_eq!(encode(&one, true), br#"{"prediction":[1.5,2.0]}"#);
        let two = Prediction {
            predicted: Predicted::Values {
                values: vec![1.0, 2.0, 3.0, 4.0],
                targets: 2,
            },
            probabilities: None,
        };
        assert_eq!(
            encode(&two, false),
            br#"{"prediction":[[1.0,2.0],[3.0,4.0]]}"#
        );
    }

    #[test]
    fn the_query_accepts_true_and_false_only() {
        let wanted = |query| Wanted::from_query(query).map(|w| (w.probabilities, w.explanations));
        assert_eq!(wanted(Some("probabilities=true")).unwrap(), (true, false));
        assert_eq!(wanted(Some("probabilities&")).unwrap(), (true, false));
        assert_eq!(wanted(Some("probabilities=0")).unwrap(), (false, false));
        assert_eq!(
            wanted(Some("explain=1&probabilities")).unwrap(),
            (true, true)
        );
        assert_eq!(wanted(Some("explain")).unwrap(), (false, true));
        assert_eq!(wanted(Some("")).unwrap(), (false, false));
        assert_eq!(wanted(None).unwrap(), (false, false));
        assert!(wanted(Some("probabilities=yes")).is_err());
        assert!(wanted(Some("explain=please")).is_err());
    }

    #[test]
    fn rejects_an_unknown_query_parameter_naming_the_known_ones() {
        for query in [
            "probability=true",
            "probabilities=true&x=1",
            "x",
            "explanation",
        ] {
            let Err(ApiError::BadRequest(message)) = Wanted::from_query(Some(query)) else {
                panic!("{query} was accepted");
            };
            assert!(message.contains("unknown query parameter"), "{message}");
            assert!(message.contains("takes only probabilities="), "{message}");
            assert!(message.contains("explain=true|false"), "{message}");
        }
    }
}
