//! Multinomial logistic regression (linfa-logistic) on standardised features. Training
//! on standardised columns makes the L2 penalty treat every feature alike and helps
//! L-BFGS converge; the export folds the standardisation back into the coefficients so
//! the served model takes raw features.

use linfa::prelude::*;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use ndarray::{Array1, Array2, Axis};

use super::{TrainError, Trained};
use crate::data::Table;

/// Hyper-parameters of the multinomial logistic regression.
#[derive(Debug, Clone)]
pub struct LogisticParams {
    /// L2 regularisation strength (linfa's `alpha`).
    pub alpha: f64,
    /// Maximum L-BFGS iterations.
    pub max_iterations: u64,
}

impl Default for LogisticParams {
    fn default() -> Self {
        LogisticParams {
            alpha: 1.0,
            max_iterations: 200,
        }
    }
}

impl LogisticParams {
    /// Checks every parameter's range, naming the flag that sets it.
    pub fn check(&self) -> Result<(), TrainError> {
        if !(self.alpha >= 0.0 && self.alpha.is_finite()) {
            return Err(TrainError::Parameter(format!(
                "--alpha must be a finite number >= 0, got {}",
                self.alpha
            )));
        }
        if self.max_iterations == 0 {
            return Err(TrainError::Parameter(
                "--max-iterations must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

/// A fitted multinomial model and the standardisation it was fitted on.
#[derive(Debug, Clone)]
pub struct LogisticModel {
    /// linfa's model of the standardised features. Fitted in f64: the coefficients are
    /// divided by the column scales when folded, and f64 keeps that exact to f32.
    pub model: MultiFittedLogisticRegression<f64, usize>,
    /// Training mean of each column.
    pub mean: Array1<f64>,
    /// Training standard deviation of each column (1 for a constant column).
    pub scale: Array1<f64>,
}

impl LogisticModel {
    /// `(x - mean) / scale`, in f64.
    pub fn standardise(&self, records: &Array2<f32>) -> Array2<f64> {
        (records.mapv(f64::from) - &self.mean) / &self.scale
    }

    /// The class indices the model knows (those present in training), in label order.
    pub fn classes(&self) -> &[usize] {
        self.model.classes()
    }

    /// Class probabilities of raw rows (rows x [`classes`](Self::classes)).
    pub fn probabilities(&self, records: &Array2<f32>) -> Array2<f64> {
        self.model.predict_probabilities(&self.standardise(records))
    }

    /// Predicted class index per raw row.
    pub fn predict(&self, records: &Array2<f32>) -> Vec<usize> {
        self.model.predict(&self.standardise(records)).to_vec()
    }

    /// Coefficients (classes x features) and intercepts (per class) that give the same
    /// scores on raw features: `w . (x - m) / s + b = (w / s) . x + (b - w . m / s)`.
    pub fn folded(&self) -> (Array2<f64>, Array1<f64>) {
        // linfa stores weights as features x classes.
        let weights = self.model.params().t().to_owned() / &self.scale;
        let intercepts = self.model.intercept() - weights.dot(&self.mean);
        (weights, intercepts)
    }
}

/// Trains a multinomial logistic regression on all features, standardised.
pub fn train_logistic(train: &Table, params: &LogisticParams) -> Result<Trained, TrainError> {
    params.check()?;
    if train.class_counts().iter().filter(|&&n| n > 0).count() < 2 {
        return Err(TrainError::Parameter(
            "the training rows hold only one class; a classifier needs at least two".into(),
        ));
    }
    let raw = train.records.mapv(f64::from);
    let mean = raw.mean_axis(Axis(0)).expect("the training set has rows");
    // Population standard deviation, as scikit-learn's StandardScaler.
    let scale = raw
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > f64::EPSILON { s } else { 1.0 });
    let standardised = (raw - &mean) / &scale;
    let dataset = Dataset::new(standardised, Array1::from(train.targets.clone()));
    let model = MultiLogisticRegression::default()
        .alpha(params.alpha)
        .max_iterations(params.max_iterations)
        .fit(&dataset)?;
    Ok(Trained::Logistic(LogisticModel { model, mean, scale }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fitted(table: &Table) -> LogisticModel {
        match train_logistic(table, &LogisticParams::default()).unwrap() {
            Trained::Logistic(model) => model,
            _ => unreachable!(),
        }
    }

    #[test]
    fn logistic_learns_iris() {
        let (train, test) = Table::iris().split(0.2, 42);
        let model = train_logistic(&train, &LogisticParams::default()).unwrap();
        assert!(model.accuracy(&test) > 0.85, "{}", model.accuracy(&test));
    }

    #[test]
    fn folded_coefficients_give_the_probabilities_of_the_standardised_model() {
        let mut iris = Table::iris();
        // Columns on wildly different scales, where folding matters most.
        iris.records.column_mut(0).mapv_inplace(|v| v * 1000.0);
        iris.records.column_mut(3).mapv_inplace(|v| v / 1000.0);
        let model = fitted(&iris);
        let (weights, intercepts) = model.folded();
        let scores = iris.records.mapv(f64::from).dot(&weights.t()) + &intercepts;
        for (row, expected) in scores
            .rows()
            .into_iter()
            .zip(model.probabilities(&iris.records).rows())
        {
            // Softmax of the folded scores, computed here independently of linfa.
            let max = row.iter().copied().fold(f64::MIN, f64::max);
            let exp: Vec<f64> = row.iter().map(|s| (s - max).exp()).collect();
            let sum: f64 = exp.iter().sum();
            for (e, want) in exp.iter().zip(expected) {
                assert!((e / sum - want).abs() < 1e-9, "{} vs {want}", e / sum);
            }
        }
    }

    #[test]
    fn a_constant_column_does_not_divide_by_zero() {
        let mut iris = Table::iris();
        iris.records.column_mut(1).fill(3.0);
        let model = fitted(&iris);
        assert_eq!(model.scale[1], 1.0);
        let (weights, intercepts) = model.folded();
        assert!(weights.iter().chain(&intercepts).all(|v| v.is_finite()));
    }

    #[test]
    fn rejects_a_training_set_with_one_class() {
        let iris = Table::iris();
        let setosa: Vec<usize> = (0..iris.len()).filter(|&i| iris.targets[i] == 0).collect();
        let err = train_logistic(&iris.select(&setosa), &LogisticParams::default());
        assert!(matches!(err, Err(TrainError::Parameter(_))));
    }
}
