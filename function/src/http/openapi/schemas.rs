//! The body schemas of the OpenAPI document: each protocol's requests and responses,
//! with the served model's rows (arrays of a single numeric input's values, or records
//! of its named columns with typed properties) and label types.

use serde_json::{json, Value};

use model::{ElementType, Labels, ModelInfo, Task};

use crate::protocol::cloudevents::{IN_RESPONSE_TO, RESPONSE_TYPE};

/// A `$ref` to a schema.
pub(super) fn reference(name: &str) -> Value {
    json!({ "$ref": format!("#/components/schemas/{name}") })
}

/// The schema of one value of `element` type; `null` is a value where it is taken.
fn value(element: ElementType, takes_missing: bool) -> Value {
    match element {
        // Floats must fit the model's f32 input; larger numbers are refused with 400.
        ElementType::F32 if takes_missing => json!({ "type": "number", "nullable": true,
            "minimum": -f64::from(f32::MAX), "maximum": f64::from(f32::MAX) }),
        ElementType::F32 => json!({ "type": "number",
            "minimum": -f64::from(f32::MAX), "maximum": f64::from(f32::MAX) }),
        ElementType::I64 => json!({ "type": "integer",
            "minimum": i64::MIN, "maximum": i64::MAX }),
        ElementType::Str if takes_missing => json!({ "type": "string", "nullable": true }),
        ElementType::Str => json!({ "type": "string" }),
    }
}

/// A record of the model's named columns, each with its type (an array of its input's
/// width for a column of several values), all required, no other.
fn record(info: &ModelInfo) -> Value {
    let fields = info.fields();
    let properties: serde_json::Map<String, Value> = (fields.iter())
        .map(|field| {
            let one = value(field.element, field.takes_missing);
            let schema = match field.width {
                1 => one,
                width => json!({ "type": "array", "items": one,
                                 "minItems": width, "maxItems": width }),
            };
            (field.name.to_string(), schema)
        })
        .collect();
    let names: Vec<&str> = fields.iter().map(|field| field.name).collect();
    json!({ "type": "object", "required": names, "additionalProperties": false,
            "properties": properties })
}

/// Every body schema, with rows, records and label types from the model.
pub(super) fn schemas(info: &ModelInfo) -> Value {
    let record = record(info);
    let records = json!({ "type": "array", "items": record, "minItems": 1 });
    // A row of values, and rows, for a model of one numeric input.
    let positional = info.positional().map(|input| {
        let row = json!({ "type": "array", "items": value(input.element, input.takes_missing),
                          "minItems": input.width, "maxItems": input.width });
        let rows = json!({ "type": "array", "items": row, "minItems": 1 });
        (row, rows)
    });
    let (input, instance) = match &positional {
        Some((row, rows)) => (
            json!({ "oneOf": [row, rows, record, records] }),
            json!({ "oneOf": [row, record] }),
        ),
        None => (json!({ "oneOf": [record, records] }), record.clone()),
    };
    let instances = json!({ "type": "array", "items": instance, "minItems": 1 });
    let answer = match &info.task {
        Task::Classifier {
            labels: Labels::Int(_),
        } => json!({ "type": "integer" }),
        Task::Classifier {
            labels: Labels::Str(_),
        } => json!({ "type": "string" }),
        Task::Regressor { targets: 1 } => json!({ "type": "number" }),
        Task::Regressor { targets } => json!({ "type": "array", "items": { "type": "number" },
                                               "minItems": targets, "maxItems": targets }),
    };
    let datatypes = [
        "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
        "FP32", "FP64", "BYTES",
    ];
    let input_names: Vec<&str> = info.inputs.iter().map(|i| i.name.as_str()).collect();
    let parameters = json!({ "type": "object", "additionalProperties": true });
    let string = json!({ "type": "string" });
    json!({
        "Error": { "type": "object", "required": ["error"],
                   "properties": { "error": string } },
        "Health": { "type": "object", "required": ["status"],
                    "properties": { "status": string, "model": string } },
        "PredictRequest": { "type": "object", "required": ["input"], "additionalProperties": false,
                            "properties": { "input": input } },
        "PredictResponse": { "type": "object", "required": ["prediction"], "properties": {
            "prediction": { "type": "array", "items": answer },
            "probabilities": { "type": "array",
                               "items": { "type": "array", "items": { "type": "number" } } },
            "explanations": { "type": "array", "items": reference("Explanation") },
        }},
        "Explanation": { "type": "object",
                         "required": ["expected_value", "shap_values", "feature_names"],
                         "properties": {
            "expected_value": { "type": "array", "items": { "type": "number" },
                                "description": "Per output (class, or target), the raw score \
                                                of a row about which nothing is known" },
            "shap_values": { "type": "array", "description": "Per feature, per output: its \
                                 SHAP value; with expected_value they add up to the raw score",
                             "items": { "type": "array", "items": { "type": "number" } } },
            "feature_names": { "type": "array", "items": string },
        }},
        "V1ExplainResponse": { "type": "object", "required": ["explanations"],
                               "properties": { "explanations": { "type": "array",
                                                                 "items": reference("Explanation") } } },
        "V1Models": { "type": "object", "required": ["models"],
                      "properties": { "models": { "type": "array", "items": string } } },
        "V1ModelReady": { "type": "object", "required": ["name", "ready"],
                          "properties": { "name": string, "ready": { "type": "boolean" } } },
        "V1PredictRequest": { "type": "object", "required": ["instances"],
                              "additionalProperties": false,
                              "properties": { "instances": instances } },
        "V1PredictResponse": { "type": "object", "required": ["predictions"],
                               "properties": { "predictions": { "type": "array", "items": answer } } },
        "V2ServerMetadata": { "type": "object", "required": ["name", "version", "extensions"],
                              "properties": { "name": string, "version": string,
                                              "extensions": { "type": "array", "items": string } } },
        "V2Live": { "type": "object", "required": ["live"],
                    "properties": { "live": { "type": "boolean" } } },
        "V2Ready": { "type": "object", "required": ["ready"],
                     "properties": { "ready": { "type": "boolean" } } },
        "V2ModelReady": { "type": "object", "required": ["name", "ready"],
                          "properties": { "name": string, "ready": { "type": "boolean" } } },
        "V2MetadataTensor": { "type": "object", "required": ["name", "datatype", "shape"],
                              "properties": { "name": string, "datatype": string,
                                              "shape": { "type": "array", "items": { "type": "integer" } } } },
        "V2ModelMetadata": { "type": "object", "required": ["name", "platform", "inputs", "outputs"],
                             "properties": {
            "name": string,
            "versions": { "type": "array", "items": string },
            "platform": string,
            "inputs": { "type": "array", "items": reference("V2MetadataTensor") },
            "outputs": { "type": "array", "items": reference("V2MetadataTensor") },
        }},
        "V2InferRequest": { "type": "object", "required": ["inputs"], "properties": {
            "id": string,
            "parameters": parameters,
            "inputs": { "type": "array", "items": reference("V2RequestInput") },
            "outputs": { "type": "array", "items": reference("V2RequestOutput") },
        }},
        "V2RequestInput": { "type": "object", "required": ["name", "shape", "datatype"],
                            "description": "One per model input, by name: numeric datatypes \
                                            for a float or int64 input, BYTES for a string \
                                            one; data flat or nested as the shape, or binary \
                                            (parameters.binary_data_size)",
                            "properties": {
            "name": { "type": "string", "enum": input_names },
            "shape": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
            "datatype": { "type": "string", "enum": datatypes },
            "parameters": parameters,
            "data": { "type": "array", "items": {} },
        }},
        "V2RequestOutput": { "type": "object", "required": ["name"],
                             "properties": { "name": string, "parameters": parameters } },
        "V2InferResponse": { "type": "object", "required": ["model_name", "outputs"], "properties": {
            "model_name": string,
            "model_version": string,
            "id": string,
            "outputs": { "type": "array", "items": reference("V2ResponseOutput") },
        }},
        "V2ResponseOutput": { "type": "object", "required": ["name", "datatype", "shape", "data"],
                              "properties": {
            "name": string,
            "datatype": string,
            "shape": { "type": "array", "items": { "type": "integer" } },
            "data": { "type": "array", "items": {} },
        }},
        "CloudEventRequest": { "type": "object",
                               "required": ["specversion", "id", "source", "type", "data"],
                               "properties": {
            "specversion": { "type": "string", "enum": ["1.0"] },
            "id": { "type": "string", "minLength": 1 },
            "source": { "type": "string", "minLength": 1 },
            "type": { "type": "string", "minLength": 1 },
            "datacontenttype": string,
            "data": reference("PredictRequest"),
        }},
        "CloudEventReply": { "type": "object",
                             "required": ["specversion", "id", "source", "type",
                                          "datacontenttype", IN_RESPONSE_TO, "data"],
                             "properties": {
            "specversion": { "type": "string", "enum": ["1.0"] },
            "id": string,
            "source": string,
            "type": { "type": "string", "enum": [RESPONSE_TYPE] },
            "datacontenttype": string,
            IN_RESPONSE_TO: string,
            "data": reference("PredictResponse"),
        }},
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::InputInfo;

    fn iris() -> ModelInfo {
        ModelInfo {
            inputs: vec![InputInfo::float("input", 4, true)],
            feature_names: Some(["a", "b", "c", "d"].map(String::from).to_vec()),
            ..ModelInfo::for_tests(Labels::Int(vec![0, 1, 2]), &["label"])
        }
    }

    #[test]
    fn a_single_input_takes_rows_and_records_by_feature_name() {
        let schemas = schemas(&iris());
        let input = &schemas["PredictRequest"]["properties"]["input"]["oneOf"];
        assert_eq!(
            input.as_array().unwrap().len(),
            4,
            "row, rows, record, records"
        );
        let record = &input[2];
        assert_eq!(record["required"], json!(["a", "b", "c", "d"]));
        assert_eq!(record["properties"]["a"]["type"], "number");
        assert_eq!(
            record["properties"]["a"]["nullable"], true,
            "the input takes missing"
        );
    }

    #[test]
    fn several_inputs_take_records_of_typed_properties_only() {
        let island = InputInfo::new("island", ElementType::Str, 1, false);
        let info = ModelInfo {
            inputs: vec![island, InputInfo::float("bill", 2, false)],
            ..iris()
        };
        let schemas = schemas(&info);
        let input = &schemas["PredictRequest"]["properties"]["input"]["oneOf"];
        assert_eq!(input.as_array().unwrap().len(), 2, "record, records");
        let properties = &input[0]["properties"];
        assert_eq!(properties["island"], json!({ "type": "string" }));
        assert_eq!(properties["bill"]["type"], "array");
        assert_eq!(properties["bill"]["maxItems"], 2);
        assert!(properties["bill"]["items"].get("nullable").is_none());
        let instance = &schemas["V1PredictRequest"]["properties"]["instances"]["items"];
        assert_eq!(instance["type"], "object");
    }
}
