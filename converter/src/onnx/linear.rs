//! A multinomial logistic regression as an `ai.onnx.ml` LinearClassifier with a
//! softmax post-transform, which is exactly linfa-logistic's `predict_probabilities`;
//! the training standardisation is folded into the coefficients and intercepts.
//!
//! String labels go through a CategoryMapper after int labels 0..C-1, the standard op
//! that maps int64 to string. This was chosen when the function ran tract's
//! LinearClassifier, which could not output strings; the function now runs its own,
//! which can, but the form stays so that the same training writes the same bytes.

use tract_onnx::pb::NodeProto;

use super::{class_labels, floats, int, ints, ml_node, string, strings, ML_DOMAIN};
use super::{INPUT, LABEL, PROBABILITIES};
use crate::data::ClassLabels;
use crate::train::{LinearModel, LogisticModel};

/// The LinearRegressor node of a fitted linear model taking raw features, output
/// [`super::VARIABLE`].
pub fn linear_regressor_node(model: &LinearModel) -> NodeProto {
    let mut node = ml_node(
        "LinearRegressor",
        vec![
            floats(
                "coefficients",
                model.coefficients.iter().map(|&w| w as f32).collect(),
            ),
            floats("intercepts", vec![model.intercept as f32]),
            string("post_transform", "NONE"),
            int("targets", 1),
        ],
    );
    node.output = vec![super::VARIABLE.to_string()];
    node
}

/// Output of the LinearClassifier when a CategoryMapper turns it into string labels.
const LABEL_INDEX: &str = "label_index";

/// The nodes of a fitted multinomial model taking raw features. Its labels are
/// `labels` of the classes linfa saw in training, in linfa's (sorted) order; `labels`
/// holds every class of the table.
pub fn linear_nodes(model: &LogisticModel, labels: &ClassLabels) -> Vec<NodeProto> {
    let (weights, intercepts) = model.folded();
    // One row of weights per class, as ONNX wants them.
    let coefficients = weights.iter().map(|&w| w as f32).collect();
    let labels = labels.select(model.classes());
    let classifier = |label_attribute| {
        ml_node(
            "LinearClassifier",
            vec![
                label_attribute,
                floats("coefficients", coefficients),
                floats("intercepts", intercepts.iter().map(|&b| b as f32).collect()),
                int("multi_class", 1),
                string("post_transform", "SOFTMAX"),
            ],
        )
    };
    match &labels {
        ClassLabels::Int(_) => vec![classifier(class_labels("classlabels_ints", &labels))],
        ClassLabels::Str(names) => {
            let indices: Vec<i64> = (0..names.len() as i64).collect();
            let mut linear = classifier(ints("classlabels_ints", indices.clone()));
            linear.output = vec![LABEL_INDEX.to_string(), PROBABILITIES.to_string()];
            let mapper = NodeProto {
                input: vec![LABEL_INDEX.to_string()],
                output: vec![LABEL.to_string()],
                name: "CategoryMapper".to_string(),
                op_type: "CategoryMapper".to_string(),
                domain: ML_DOMAIN.to_string(),
                attribute: vec![
                    ints("cats_int64s", indices),
                    strings("cats_strings", names.iter().map(String::as_str).collect()),
                    // Never used: every index the classifier outputs is mapped.
                    string("default_string", ""),
                ],
                ..NodeProto::default()
            };
            debug_assert_eq!(linear.input, [INPUT]);
            vec![linear, mapper]
        }
    }
}
