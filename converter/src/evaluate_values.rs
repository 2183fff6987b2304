//! Evaluation of a regressor: R2, mean absolute error and root mean squared error of
//! the predicted values against the actual ones (scikit-learn's `r2_score`,
//! `mean_absolute_error`, `root_mean_squared_error`).

use serde::Serialize;

/// How well predicted values match the actual ones.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegressionScores {
    /// `1 - squared error / squared deviation from the mean` (1 is perfect; a constant
    /// prediction of the mean scores 0).
    pub r2: f64,
    /// Mean absolute error.
    pub mae: f64,
    /// Root mean squared error.
    pub rmse: f64,
    /// R2 of each cross-validation fold; empty for a hold-out split.
    pub fold_r2: Vec<f64>,
}

impl RegressionScores {
    /// The scores of `predicted` against `actual` (sums in f64, in row order).
    pub fn new(actual: &[f32], predicted: &[f32]) -> RegressionScores {
        debug_assert_eq!(actual.len(), predicted.len());
        let n = actual.len().max(1) as f64;
        let mean = actual.iter().map(|&a| f64::from(a)).sum::<f64>() / n;
        let (mut squared, mut absolute, mut deviation) = (0.0, 0.0, 0.0);
        for (&a, &p) in actual.iter().zip(predicted) {
            let error = f64::from(a) - f64::from(p);
            squared += error * error;
            absolute += error.abs();
            deviation += (f64::from(a) - mean).powi(2);
        }
        RegressionScores {
            r2: if deviation > 0.0 {
                1.0 - squared / deviation
            } else {
                0.0
            },
            mae: absolute / n,
            rmse: (squared / n).sqrt(),
            fold_r2: Vec::new(),
        }
    }

    /// The lines `r2: ...`, `mae: ...`, `rmse: ...` (and the folds' R2), one number
    /// each, so scripts can read them.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        if !self.fold_r2.is_empty() {
            let folds: Vec<String> = self.fold_r2.iter().map(|r| format!("{r:.4}")).collect();
            out.push_str(&format!("fold r2: {}\n", folds.join(" ")));
        }
        out.push_str(&format!(
            "r2: {:.4}\nmae: {:.4}\nrmse: {:.4}\n",
            self.r2, self.mae, self.rmse
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perfect_mean_and_worse_predictions_score_as_scikit_learn_does() {
        let actual = [1.0, 2.0, 3.0, 6.0];
        assert_eq!(RegressionScores::new(&actual, &actual).r2, 1.0);
        let mean = RegressionScores::new(&actual, &[3.0; 4]);
        assert_eq!((mean.r2, mean.mae), (0.0, 1.5));
        // sklearn: r2_score([1,2,3,6],[2,2,2,2]) = 1 - 18/14
        let off = RegressionScores::new(&actual, &[2.0; 4]);
        assert!((off.r2 - (1.0 - 18.0 / 14.0)).abs() < 1e-12);
        assert!((off.rmse - (18.0f64 / 4.0).sqrt()).abs() < 1e-12);
    }
}
