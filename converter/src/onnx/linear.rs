//! A multinomial logistic regression as one `ai.onnx.ml` LinearClassifier with a
//! softmax post-transform, which is exactly linfa-logistic's `predict_probabilities`.

use linfa_logistic::MultiFittedLogisticRegression;
use tract_onnx::pb::NodeProto;

use super::{floats, int, ints, ml_node, string};

/// The LinearClassifier node of a fitted multinomial model. Its class labels are the
/// class indices linfa saw in training, in linfa's (sorted) order.
pub fn linear_node(model: &MultiFittedLogisticRegression<f32, usize>) -> NodeProto {
    // linfa stores weights as features x classes; ONNX wants one row of weights per class.
    let coefficients = model.params().t().iter().copied().collect();
    let labels = model.classes().iter().map(|&c| c as i64).collect();
    ml_node(
        "LinearClassifier",
        vec![
            ints("classlabels_ints", labels),
            floats("coefficients", coefficients),
            floats("intercepts", model.intercept().to_vec()),
            int("multi_class", 1),
            string("post_transform", "SOFTMAX"),
        ],
    )
}
