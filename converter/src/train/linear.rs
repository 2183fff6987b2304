//! Linear regression: ridge (`--alpha`) on standardised features, solved in closed form
//! in f64, with the standardisation folded into the coefficients so the exported
//! LinearRegressor takes raw features.

use ndarray::{Array1, Array2, Axis};

use super::TrainError;
use crate::data::Table;

/// A fitted linear model of raw features: `value = coefficients . x + intercept`.
#[derive(Debug, Clone, PartialEq)]
pub struct LinearModel {
    /// One coefficient per feature.
    pub coefficients: Array1<f64>,
    /// The intercept.
    pub intercept: f64,
}

impl LinearModel {
    /// The model's value for each row of `records`.
    pub fn predict(&self, records: &Array2<f32>) -> Vec<f32> {
        (records.rows().into_iter())
            .map(|row| {
                let dot: f64 = (row.iter().zip(&self.coefficients))
                    .map(|(&x, &w)| f64::from(x) * w)
                    .sum();
                (dot + self.intercept) as f32
            })
            .collect()
    }
}

/// Fits ridge regression with penalty `alpha` on the standardised columns of `train`
/// (a constant column gets coefficient 0) against `values`.
pub fn train_linear(train: &Table, values: &[f32], alpha: f64) -> Result<LinearModel, TrainError> {
    if train.is_empty() {
        return Err(TrainError::Parameter("the training set has no rows".into()));
    }
    let x = train.records.mapv(f64::from);
    let y = Array1::from_iter(values.iter().map(|&v| f64::from(v)));
    let mean = x.mean_axis(Axis(0)).expect("rows > 0");
    let scale = x
        .std_axis(Axis(0), 0.0)
        .mapv(|s| if s > 0.0 { s } else { 1.0 });
    let z = (&x - &mean) / &scale;
    let y_mean = y.mean().expect("rows > 0");
    let yc = &y - y_mean;
    let d = z.ncols();
    let mut gram = z.t().dot(&z);
    for j in 0..d {
        gram[[j, j]] += alpha.max(1e-9);
    }
    let rhs = z.t().dot(&yc);
    let w = solve(gram, rhs).ok_or_else(|| {
        TrainError::Parameter("the linear system is singular; raise --alpha".into())
    })?;
    let coefficients = &w / &scale;
    let intercept = y_mean - coefficients.dot(&mean);
    Ok(LinearModel {
        coefficients,
        intercept,
    })
}

/// Solves `a x = b` by Gaussian elimination with partial pivoting (a small symmetric
/// positive-definite system: one row per feature).
fn solve(mut a: Array2<f64>, mut b: Array1<f64>) -> Option<Array1<f64>> {
    let n = b.len();
    for col in 0..n {
        let pivot = (col..n).max_by(|&i, &j| a[[i, col]].abs().total_cmp(&a[[j, col]].abs()))?;
        if a[[pivot, col]].abs() < 1e-12 {
            return None;
        }
        if pivot != col {
            for k in 0..n {
                a.swap([col, k], [pivot, k]);
            }
            b.swap(col, pivot);
        }
        for row in col + 1..n {
            let factor = a[[row, col]] / a[[col, col]];
            for k in col..n {
                a[[row, k]] -= factor * a[[col, k]];
            }
            b[row] -= factor * b[col];
        }
    }
    let mut x = Array1::zeros(n);
    for row in (0..n).rev() {
        let rest: f64 = (row + 1..n).map(|k| a[[row, k]] * x[k]).sum();
        x[row] = (b[row] - rest) / a[[row, row]];
    }
    Some(x)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::FeatureColumn;

    #[test]
    fn recovers_a_linear_function_with_a_tiny_penalty() {
        let records = Array2::from_shape_fn((50, 2), |(i, j)| ((i * (j + 3)) % 17) as f32);
        let values: Vec<f32> = (records.rows().into_iter())
            .map(|r| 2.0 * r[0] - 0.5 * r[1] + 3.0)
            .collect();
        let table = Table {
            records: records.clone(),
            targets: vec![0; 50],
            values: values.clone(),
            columns: vec![FeatureColumn::numeric("a"), FeatureColumn::numeric("b")],
            feature_names: vec!["a".into(), "b".into()],
            class_names: vec![],
            labels: crate::data::ClassLabels::Int(vec![]),
        };
        let model = train_linear(&table, &values, 1e-9).unwrap();
        assert!((model.coefficients[0] - 2.0).abs() < 1e-6, "{model:?}");
        assert!((model.coefficients[1] + 0.5).abs() < 1e-6, "{model:?}");
        assert!((model.intercept - 3.0).abs() < 1e-5, "{model:?}");
        let predicted = model.predict(&records);
        assert!((predicted[7] - values[7]).abs() < 1e-4);
    }
}
