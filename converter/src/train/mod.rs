//! Training: trees ([`cart`]: deterministic CART trees; [`forest`]: a bagged random
//! forest of them or one decision tree) and a multinomial logistic regression
//! ([`logistic`], linfa-logistic).

pub mod cart;
pub mod encoding;
pub mod forest;
pub mod linear;
pub mod logistic;

pub use cart::Tree;
pub use encoding::Encoding;
pub use forest::{forest_values, forest_votes, train_forest, train_tree, Forest, ForestParams};
pub use linear::{train_linear, LinearModel};
pub use logistic::{train_logistic, LogisticModel, LogisticParams};

use ndarray::Array2;

use crate::data::Table;

/// Why training could not produce a model.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    /// A hyper-parameter is outside its range.
    #[error("invalid parameter: {0}")]
    Parameter(String),
    /// linfa refused the data or the parameters.
    #[error("linfa could not fit the model: {0}")]
    Linfa(#[from] linfa::Error),
    /// linfa-logistic refused the data or the parameters.
    #[error("linfa-logistic could not fit the model: {0}")]
    Logistic(#[from] linfa_logistic::error::Error),
}

/// A trained model, ready to predict and to export.
pub enum Trained {
    /// A bagged forest of CART trees.
    Forest {
        /// The trees.
        forest: Forest,
        /// Number of classes the votes are counted over.
        n_classes: usize,
    },
    /// One decision tree over all features.
    Tree {
        /// The tree.
        tree: Tree,
        /// Number of classes of the table it was trained on.
        n_classes: usize,
    },
    /// A multinomial logistic regression over all (standardised) features.
    Logistic(LogisticModel),
    /// A linear regression (ridge) over all features.
    Linear(LinearModel),
}

impl Trained {
    /// Predicted class per row. Forest ties go to the lowest class index, as ONNX
    /// runtimes do when they take the arg-max of the vote shares.
    pub fn predict(&self, records: &Array2<f32>) -> Vec<usize> {
        match self {
            Trained::Forest { forest, n_classes } => forest_votes(forest, records, *n_classes)
                .rows()
                .into_iter()
                .map(|votes| first_max(votes.iter().copied()))
                .collect(),
            Trained::Tree { tree, .. } => records
                .rows()
                .into_iter()
                .map(|row| tree.predict_row(row))
                .collect(),
            Trained::Logistic(model) => model.predict(records),
            Trained::Linear(_) => vec![0; records.nrows()],
        }
    }

    /// Predicted value per row, for a model trained on a regression table.
    pub fn predict_values(&self, records: &Array2<f32>) -> Vec<f32> {
        match self {
            Trained::Forest { forest, .. } => forest_values(forest, records),
            Trained::Tree { tree, .. } => (records.rows().into_iter())
                .map(|row| tree.predict_value(row))
                .collect(),
            Trained::Linear(model) => model.predict(records),
            Trained::Logistic(_) => vec![f32::NAN; records.nrows()],
        }
    }

    /// Fraction of rows of `table` whose class is predicted correctly.
    pub fn accuracy(&self, table: &Table) -> f64 {
        if table.is_empty() {
            return f64::NAN;
        }
        let predicted = self.predict(&table.records);
        let correct = predicted
            .iter()
            .zip(&table.targets)
            .filter(|(p, t)| p == t)
            .count();
        correct as f64 / table.len() as f64
    }
}

/// Index of the first largest value.
fn first_max<T: PartialOrd>(values: impl Iterator<Item = T>) -> usize {
    let mut best: Option<(usize, T)> = None;
    for (i, v) in values.enumerate() {
        if best.as_ref().is_none_or(|(_, b)| v > *b) {
            best = Some((i, v));
        }
    }
    best.map_or(0, |(i, _)| i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_max_prefers_the_lowest_index_on_ties() {
        assert_eq!(first_max([1, 3, 3, 2].into_iter()), 1);
        assert_eq!(first_max([5].into_iter()), 0);
    }
}
