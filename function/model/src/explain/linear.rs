//! Exact SHAP values of a linear model. Its raw scores are `w_k . x + b_k`, one per
//! coefficient row `k` (a class's margin, a target's value); with features taken as
//! independent and the training rows as the background, feature `i`'s SHAP value for
//! score `k` is `w_ki (x_i - mean_i)` and the expected score `w_k . mean + b_k`
//! (Lundberg and Lee 2017, "linear SHAP"). The scores are before `post_transform`: a
//! logistic model is explained in log-odds, a softmax one in per-class margins, as
//! `shap.LinearExplainer` does for scikit-learn's models.
//!
//! A binary LinearClassifier with one coefficient row has one output, its margin; with
//! a row per class, one output per class.

use tract_onnx::pb::NodeProto;

use super::Explanation;
use crate::ml::linear::{classifier::LinearClassifier, regressor::LinearRegressor, Weights};
use crate::ml::node::Attributes;

/// The `metadata_props` key whose value is the means of a linear model's features over
/// its training rows, in input order, separated by spaces.
pub const MEANS_KEY: &str = "feature_means";

/// A linear model ready to explain rows.
#[derive(Debug, Clone)]
pub struct LinearExplainer {
    /// Per output, one weight per feature (`[outputs, features]`, row-major).
    weights: Vec<f64>,
    /// Per feature, its training mean.
    means: Vec<f64>,
    /// Per output, the score of the means.
    expected: Vec<f64>,
}

impl LinearExplainer {
    /// The explainer of `node` (a LinearClassifier or LinearRegressor, read and checked
    /// as the ops read it) with `means` per feature, for rows of `n_features` values.
    pub fn new(node: &NodeProto, means: &[f64], n_features: usize) -> Result<Self, String> {
        let weights = match node.op_type.as_str() {
            "LinearClassifier" => {
                let op = LinearClassifier::new(&Attributes::of("LinearClassifier", node));
                op.map(|op| LinearExplainer::from_weights(op.weights(), means))
            }
            "LinearRegressor" => {
                let op = LinearRegressor::new(&Attributes::of("LinearRegressor", node));
                op.map(|op| LinearExplainer::from_weights(op.weights(), means))
            }
            other => return Err(format!("a {other} node is not a linear model")),
        };
        let explainer = weights.map_err(|e| e.to_string())??;
        if explainer.means.len() != n_features {
            return Err(format!(
                "the model takes {n_features} features, its coefficients and means {}",
                explainer.means.len()
            ));
        }
        Ok(explainer)
    }

    fn from_weights(weights: &Weights, means: &[f64]) -> Result<LinearExplainer, String> {
        let features = weights.features();
        if means.len() != features {
            return Err(format!("{} means for {features} features", means.len()));
        }
        if let Some(i) = means.iter().position(|m| !m.is_finite()) {
            return Err(format!("the mean of feature {i} is {}", means[i]));
        }
        let rows = (0..weights.rows()).map(|k| weights.row(k));
        let weights_f64: Vec<f64> = rows.clone().flatten().map(|&w| f64::from(w)).collect();
        let expected = (rows.zip(weights.intercepts()))
            .map(|(w, &b)| dot(w, means) + f64::from(b))
            .collect();
        Ok(LinearExplainer {
            weights: weights_f64,
            means: means.to_vec(),
            expected,
        })
    }

    /// Number of outputs each feature gets a value for: the coefficient rows.
    pub fn n_outputs(&self) -> usize {
        self.expected.len()
    }

    /// The explanation of one row.
    pub fn explain(&self, row: &[f32]) -> Explanation {
        let features = self.means.len();
        let outputs = self.n_outputs();
        let mut values = vec![0.0; features * outputs];
        for (k, w) in self.weights.chunks_exact(features).enumerate() {
            for (i, ((&x, &mean), &w)) in row.iter().zip(&self.means).zip(w).enumerate() {
                values[i * outputs + k] = w * (f64::from(x) - mean);
            }
        }
        Explanation {
            expected: self.expected.clone(),
            values,
        }
    }
}

/// `w . x` in double precision.
fn dot(w: &[f32], x: &[f64]) -> f64 {
    w.iter().zip(x).map(|(&w, x)| f64::from(w) * x).sum()
}

/// The mean of each column of `rows` (row-major, `width` values each), in double
/// precision; missing values (NaN) are left out of their column's mean.
pub fn column_means(rows: &[f32], width: usize) -> Result<Vec<f64>, String> {
    if width == 0 || rows.is_empty() || !rows.len().is_multiple_of(width) {
        return Err(format!(
            "{} values are not rows of {width} features",
            rows.len()
        ));
    }
    let mut sums = vec![(0.0f64, 0u64); width];
    for row in rows.chunks_exact(width) {
        for (sum, &x) in sums.iter_mut().zip(row) {
            if !x.is_nan() {
                *sum = (sum.0 + f64::from(x), sum.1 + 1);
            }
        }
    }
    (sums.iter().enumerate())
        .map(|(i, &(sum, n))| match n {
            0 => Err(format!("feature {i} has no value in any row")),
            n => Ok(sum / n as f64),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ml::testing::{floats, int, ints, node, string};

    fn classifier(coefficients: Vec<f32>, intercepts: Vec<f32>, labels: Vec<i64>) -> NodeProto {
        node(
            "LinearClassifier",
            vec![
                floats("coefficients", coefficients),
                floats("intercepts", intercepts),
                ints("classlabels_ints", labels),
                string("post_transform", "SOFTMAX"),
            ],
        )
    }

    /// Per class, the values and the expected score add up to the class's margin, and
    /// a feature with zero weight gets zero.
    #[test]
    fn values_add_up_to_each_margin() {
        let coefficients = vec![1.0, -2.0, 0.0, 0.5, 0.25, 0.0];
        let intercepts = vec![0.5, -1.0];
        let node = classifier(coefficients.clone(), intercepts.clone(), vec![0, 1]);
        let means = [1.0, 2.0, 3.0];
        let explainer = LinearExplainer::new(&node, &means, 3).unwrap();
        assert_eq!(explainer.n_outputs(), 2);
        let row = [4.0f32, -1.0, 7.0];
        let explanation = explainer.explain(&row);
        for (k, (w, b)) in coefficients.chunks(3).zip(&intercepts).enumerate() {
            let margin: f32 = w.iter().zip(&row).map(|(w, x)| w * x).sum::<f32>() + b;
            let sum: f64 = (0..3).map(|i| explanation.values[i * 2 + k]).sum();
            assert!((explanation.expected[k] + sum - f64::from(margin)).abs() < 1e-6);
        }
        assert_eq!(explanation.values[2 * 2], 0.0, "feature 2 has no weight");
        assert_eq!(explanation.values[2 * 2 + 1], 0.0);
        // A row at the means is the expected score: every value is zero.
        let at_means = explainer.explain(&[1.0, 2.0, 3.0]);
        assert!(at_means.values.iter().all(|v| *v == 0.0));
    }

    #[test]
    fn a_binary_model_with_one_row_explains_its_margin() {
        let node = classifier(vec![2.0, -1.0], vec![0.25], vec![0, 1]);
        let explainer = LinearExplainer::new(&node, &[0.5, 0.5], 2).unwrap();
        assert_eq!(explainer.n_outputs(), 1);
        let explanation = explainer.explain(&[1.5, 0.5]);
        assert_eq!(explanation.values, [2.0, 0.0]);
        assert_eq!(explanation.expected, [2.0 * 0.5 - 0.5 + 0.25]);
    }

    #[test]
    fn a_regressor_explains_each_target() {
        let node = node(
            "LinearRegressor",
            vec![
                floats("coefficients", vec![1.0, 2.0, -1.0, 0.5]),
                floats("intercepts", vec![0.0, 3.0]),
                int("targets", 2),
            ],
        );
        let explainer = LinearExplainer::new(&node, &[0.0, 1.0], 2).unwrap();
        let explanation = explainer.explain(&[2.0, 3.0]);
        assert_eq!(explanation.expected, [2.0, 3.5]);
        assert_eq!(explanation.values, [2.0, -2.0, 4.0, 1.0]);
    }

    #[test]
    fn means_that_do_not_fit_are_refused() {
        let node = classifier(vec![2.0, -1.0], vec![0.25], vec![0, 1]);
        let err = LinearExplainer::new(&node, &[0.5], 2).unwrap_err();
        assert!(err.contains("1 means for 2 features"), "{err}");
        let err = LinearExplainer::new(&node, &[0.5, f64::NAN], 2).unwrap_err();
        assert!(err.contains("feature 1 is NaN"), "{err}");
        let err = LinearExplainer::new(&node, &[0.5, 0.5], 3).unwrap_err();
        assert!(err.contains("takes 3 features"), "{err}");
    }

    #[test]
    fn column_means_leave_missing_values_out() {
        let rows = [1.0, f32::NAN, 3.0, 4.0, 5.0, 8.0];
        assert_eq!(column_means(&rows, 2).unwrap(), [3.0, 6.0]);
        let err = column_means(&[f32::NAN, 1.0], 2).unwrap_err();
        assert!(err.contains("feature 0 has no value"), "{err}");
        assert!(column_means(&[1.0, 2.0, 3.0], 2).is_err());
    }
}
