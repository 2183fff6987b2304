//! An inference request's input tensors matched to the model's inputs: one tensor per
//! graph input, by name, in any order, all with the same rows; the binary part of the
//! body (Triton's extension) split among the tensors that declare `binary_data_size`,
//! in the order they come in the request.

use serde_json::{Map, Value};

use super::metadata::{datatype, shape};
use super::tensor::{self, Elements};
use crate::error::ApiError;
use model::{Batch, ModelInfo};

/// `$request_input`.
#[derive(Debug, serde::Deserialize)]
pub(super) struct RequestInput {
    /// The graph input it is for.
    pub name: String,
    /// `[N, width]`, `[N]` or `[width]`.
    pub shape: Vec<i64>,
    /// A protocol datatype (`FP32`, `INT64`, `BYTES`, ...).
    pub datatype: String,
    /// Ignored but for `binary_data_size`.
    pub parameters: Option<Map<String, Value>>,
    /// The elements, unless they are in the binary part.
    pub data: Option<Value>,
}

/// One request tensor, whichever way it came (JSON, Triton's binary extension, or
/// gRPC's typed or raw contents): what [`batch`] checks against the model.
#[derive(Debug, Clone, Copy)]
pub(super) struct Tensor<'a> {
    /// The graph input it is for.
    pub name: &'a str,
    /// A protocol datatype.
    pub datatype: &'a str,
    /// Its shape as sent.
    pub shape: &'a [i64],
    /// Its elements.
    pub elements: Elements<'a>,
}

/// The batch of the request's `tensors`, with `binary` the bytes after the JSON header.
pub(super) fn decode(
    tensors: &[RequestInput],
    binary: &[u8],
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    let elements = elements(tensors, binary)?;
    let tensors: Vec<Tensor<'_>> = (tensors.iter().zip(elements))
        .map(|(tensor, elements)| Tensor {
            name: &tensor.name,
            datatype: &tensor.datatype,
            shape: &tensor.shape,
            elements,
        })
        .collect();
    batch(&tensors, info, max_rows)
}

/// The batch of `tensors`: one per graph input, by name, in any order, all with the
/// same rows, at most `max_rows` of them (413 beyond; 400 for every other problem,
/// naming the input).
pub(super) fn batch(
    tensors: &[Tensor<'_>],
    info: &ModelInfo,
    max_rows: usize,
) -> Result<Batch, ApiError> {
    let bad = ApiError::BadRequest;
    if let Some(unknown) = (tensors.iter()).find(|t| !info.inputs.iter().any(|i| i.name == t.name))
    {
        return Err(bad(format!(
            "unknown input {:?}; {}",
            unknown.name,
            expected(info)
        )));
    }
    if tensors.len() != info.inputs.len() {
        return Err(bad(format!(
            "`inputs` has {} tensors; {}",
            tensors.len(),
            expected(info)
        )));
    }
    let mut rows = None;
    let mut columns = Vec::with_capacity(info.inputs.len());
    for input in &info.inputs {
        let tensor = (tensors.iter())
            .find(|t| t.name == input.name)
            .ok_or_else(|| bad(format!("no input {:?}; {}", input.name, expected(info))))?;
        let (n, column) = tensor::decode(
            tensor.datatype,
            tensor.shape,
            tensor.elements,
            input,
            max_rows,
        )
        .map_err(|error| match error {
            ApiError::BadRequest(message) => bad(format!("input {:?}: {message}", input.name)),
            other => other,
        })?;
        match rows {
            Some((first, name)) if first != n => {
                return Err(bad(format!(
                    "input {:?} has {n} rows but input {name:?} has {first}; every input \
                     holds the same rows",
                    input.name
                )))
            }
            _ => rows = Some((n, &input.name)),
        }
        columns.push(column);
    }
    let (rows, _) = rows.expect("a model has at least one input");
    Ok(Batch::from_columns(rows, columns))
}

/// Where each tensor's elements are: its JSON `data`, or its slice of `binary`.
fn elements<'a>(
    tensors: &'a [RequestInput],
    binary: &'a [u8],
) -> Result<Vec<Elements<'a>>, ApiError> {
    let bad = ApiError::BadRequest;
    let mut sizes = Vec::with_capacity(tensors.len());
    for tensor in tensors {
        let size = tensor
            .parameters
            .as_ref()
            .and_then(|p| p.get("binary_data_size"));
        sizes.push(match size {
            None => None,
            Some(size) => Some(
                size.as_u64()
                    .and_then(|s| usize::try_from(s).ok())
                    .ok_or_else(|| bad(format!("binary_data_size {size} is not a byte count")))?,
            ),
        });
    }
    if sizes.iter().all(Option::is_none) && !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes follow the JSON header but no input has binary_data_size",
            binary.len()
        )));
    }
    let declared = (sizes.iter().flatten()).try_fold(0usize, |sum, &size| sum.checked_add(size));
    if declared != Some(binary.len()) && sizes.iter().any(Option::is_some) {
        let declared = declared.map_or("more than can be counted".into(), |d| d.to_string());
        return Err(bad(format!(
            "binary_data_size is {declared} but {} bytes follow the JSON header",
            binary.len()
        )));
    }
    let mut rest = binary;
    let mut elements = Vec::with_capacity(tensors.len());
    for (tensor, size) in tensors.iter().zip(sizes) {
        elements.push(match (size, &tensor.data) {
            (Some(size), _) => {
                let (mine, after) = rest.split_at(size);
                rest = after;
                Elements::Binary(mine)
            }
            (None, Some(data)) => Elements::Json(data),
            (None, None) => return Err(bad(format!("input {:?} has no `data`", tensor.name))),
        });
    }
    Ok(elements)
}

/// What the model takes, for messages: `the model takes one input "input" of shape
/// [-1, 4]`, or each input with its datatype and shape.
fn expected(info: &ModelInfo) -> String {
    match &info.inputs[..] {
        [input] => format!(
            "the model takes one input {:?} of shape {:?}",
            input.name,
            shape(input)
        ),
        inputs => {
            let each: Vec<String> = (inputs.iter())
                .map(|i| format!("{:?} ({} {:?})", i.name, datatype(i.element), shape(i)))
                .collect();
            format!(
                "the model takes {} inputs: {}",
                inputs.len(),
                each.join(", ")
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::{ElementType, InputInfo, Labels, Values};
    use serde_json::json;

    fn tensors(value: Value) -> Vec<RequestInput> {
        serde_json::from_value(value).unwrap()
    }

    fn one_input() -> ModelInfo {
        ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
    }

    /// A string input `island` and a float input `bill` of width 2.
    fn two_inputs() -> ModelInfo {
        let island = InputInfo::new("island", ElementType::Str, 1, false);
        ModelInfo {
            inputs: vec![island, InputInfo::float("bill", 2, false)],
            ..one_input()
        }
    }

    fn error(tensors: &[RequestInput], binary: &[u8], info: &ModelInfo) -> String {
        decode(tensors, binary, info, 10).unwrap_err().to_string()
    }

    #[test]
    fn the_input_must_be_the_models_one_input() {
        let info = one_input();
        let tensor =
            |name: &str| json!({"name": name, "shape": [1, 2], "datatype": "FP32", "data": [1, 2]});
        let ok = tensors(json!([tensor("input")]));
        assert_eq!(decode(&ok, &[], &info, 10).unwrap().rows(), 1);
        let wrong = tensors(json!([tensor("x")]));
        assert!(error(&wrong, &[], &info)
            .contains("unknown input \"x\"; the model takes one input \"input\" of shape [-1, 2]"));
        let two = tensors(json!([tensor("input"), tensor("input")]));
        assert!(error(&two, &[], &info).contains("has 2 tensors"));
        assert!(error(&ok, &[0; 8], &info).contains("no input has binary_data_size"));
    }

    #[test]
    fn every_input_by_name_in_any_order() {
        let request = tensors(json!([
            { "name": "bill", "shape": [2, 2], "datatype": "FP64", "data": [[39.1, 18.7], [39.5, 17.4]] },
            { "name": "island", "shape": [2], "datatype": "BYTES", "data": ["Dream", "Biscoe"] },
        ]));
        let batch = decode(&request, &[], &two_inputs(), 10).unwrap();
        assert_eq!(batch.rows(), 2);
        let islands = Values::Str(vec!["Dream".into(), "Biscoe".into()]);
        assert_eq!(
            batch.columns()[0].values(),
            &islands,
            "in the model's order"
        );
        let missing = tensors(json!([
            { "name": "island", "shape": [2], "datatype": "BYTES", "data": ["Dream", "Biscoe"] },
        ]));
        let message = error(&missing, &[], &two_inputs());
        assert!(message.contains("`inputs` has 1 tensors; the model takes 2 inputs: \"island\" (BYTES [-1, 1]), \"bill\" (FP32 [-1, 2])"), "{message}");
    }

    #[test]
    fn inputs_must_hold_the_same_rows() {
        let request = tensors(json!([
            { "name": "island", "shape": [1], "datatype": "BYTES", "data": ["Dream"] },
            { "name": "bill", "shape": [2, 2], "datatype": "FP32", "data": [1, 2, 3, 4] },
        ]));
        let message = error(&request, &[], &two_inputs());
        assert!(
            message.contains("input \"bill\" has 2 rows but input \"island\" has 1"),
            "{message}"
        );
    }

    #[test]
    fn binary_data_is_split_among_inputs_in_request_order() {
        let island: Vec<u8> = [&5u32.to_le_bytes()[..], b"Dream"].concat();
        let bill: Vec<u8> = [39.1f32, 18.7]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let request = tensors(json!([
            { "name": "island", "shape": [1, 1], "datatype": "BYTES",
              "parameters": { "binary_data_size": island.len() } },
            { "name": "bill", "shape": [1, 2], "datatype": "FP32",
              "parameters": { "binary_data_size": bill.len() } },
        ]));
        let binary = [island.clone(), bill.clone()].concat();
        let batch = decode(&request, &binary, &two_inputs(), 10).unwrap();
        assert_eq!(batch.columns()[1].values(), &Values::F32(vec![39.1, 18.7]));
        let message = error(&request, &binary[1..], &two_inputs());
        assert!(
            message.contains("binary_data_size is 17 but 16 bytes follow"),
            "{message}"
        );
    }
}
