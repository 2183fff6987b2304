//! Training with linfa: a bagged random forest of linfa-trees decision trees, and a
//! multinomial logistic regression from linfa-logistic.

use linfa::prelude::*;
use linfa_ensemble::RandomForest;
use linfa_logistic::{MultiFittedLogisticRegression, MultiLogisticRegression};
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2, Axis};
use rand::{rngs::StdRng, Rng, SeedableRng};

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

/// Hyper-parameters of the random forest (defaults follow scikit-learn's
/// `RandomForestClassifier(n_estimators=100)` where linfa has the same knob).
#[derive(Debug, Clone)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of each tree; `None` grows until the leaves are pure.
    pub max_depth: Option<usize>,
    /// Rows drawn (with replacement) for each tree, as a fraction of the training rows.
    pub bootstrap_proportion: f64,
    /// Features drawn (with replacement) for each tree, as a fraction of all features.
    pub feature_proportion: f64,
    /// Seed of the bootstrap draws.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: None,
            bootstrap_proportion: 1.0,
            feature_proportion: 1.0,
            seed: 42,
        }
    }
}

/// Hyper-parameters of the multinomial logistic regression.
#[derive(Debug, Clone)]
pub struct LogisticParams {
    /// L2 regularisation strength (linfa's `alpha`).
    pub alpha: f32,
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

/// A trained model, ready to predict and to export.
pub enum Trained {
    /// A bagged forest: linfa-ensemble's container holding linfa-trees trees and, per
    /// tree, the original column of each of its features.
    Forest {
        /// The trees and their feature columns.
        forest: RandomForest<f32, usize>,
        /// Number of classes the votes are counted over.
        n_classes: usize,
    },
    /// A multinomial logistic regression over all features.
    Logistic(MultiFittedLogisticRegression<f32, usize>),
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
            Trained::Logistic(model) => model.predict(records).to_vec(),
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

/// Number of votes each class gets from the trees of `forest`, per row (rows x classes).
pub fn forest_votes(
    forest: &RandomForest<f32, usize>,
    records: &Array2<f32>,
    n_classes: usize,
) -> Array2<u32> {
    let mut votes = Array2::<u32>::zeros((records.nrows(), n_classes));
    for (tree, features) in forest.models.iter().zip(&forest.model_features) {
        let predicted: Array1<usize> = tree.predict(&records.select(Axis(1), features));
        for (row, class) in predicted.iter().enumerate() {
            votes[[row, *class]] += 1;
        }
    }
    votes
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

/// Trains a random forest by bagging linfa-trees decision trees.
///
/// This is linfa-ensemble's algorithm (bootstrap rows, draw a feature subset per tree),
/// run here so that the random draws come from one seeded `StdRng` (portable across
/// platforms), the feature subset has no repeated column (linfa-ensemble draws with
/// replacement), rows carry the [`TieBreak`] weights, and a tree that cannot be fitted
/// is an error, not a panic.
pub fn train_forest(train: &Table, params: &ForestParams) -> Result<Trained, TrainError> {
    if params.trees == 0 {
        return Err(TrainError::Parameter("--trees must be at least 1".into()));
    }
    for (name, p) in [
        ("--bootstrap-proportion", params.bootstrap_proportion),
        ("--feature-proportion", params.feature_proportion),
    ] {
        if !(p > 0.0 && p <= 1.0) {
            return Err(TrainError::Parameter(format!(
                "{name} must be in (0, 1], got {p}"
            )));
        }
    }
    if train.is_empty() {
        return Err(TrainError::Parameter("the training set has no rows".into()));
    }
    let n_rows = ((train.len() as f64) * params.bootstrap_proportion).ceil() as usize;
    let n_features = ((train.n_features() as f64) * params.feature_proportion).ceil() as usize;
    let tree_params = DecisionTree::params().max_depth(params.max_depth);

    let tie_break = TieBreak::new(n_rows, train.class_names.len());
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut models = Vec::with_capacity(params.trees);
    let mut model_features = Vec::with_capacity(params.trees);
    for _ in 0..params.trees {
        let rows: Vec<usize> = (0..n_rows).map(|_| rng.gen_range(0..train.len())).collect();
        let mut features =
            rand::seq::index::sample(&mut rng, train.n_features(), n_features).into_vec();
        features.sort_unstable();
        let records = train
            .records
            .select(Axis(0), &rows)
            .select(Axis(1), &features);
        let targets = Array1::from_iter(rows.iter().map(|&r| train.targets[r]));
        let weights = targets.mapv(|class| tie_break.weight(class));
        models.push(tree_params.fit(&Dataset::new(records, targets).with_weights(weights))?);
        model_features.push(features);
    }
    Ok(Trained::Forest {
        forest: RandomForest {
            models,
            model_features,
        },
        n_classes: train.class_names.len(),
    })
}

/// Sample weights that make linfa-trees deterministic.
///
/// linfa-trees keeps class counts in a `HashMap` and, when two classes tie at a leaf,
/// predicts whichever the map yields last: the order changes from process to process, and
/// so, through pruning, does the tree's shape. Weighting class `c` of `C` by
/// `(K + C - 1 - c) / K` makes every tie resolve to the lowest class while keeping
/// untied counts in order (`K`, a power of two, exceeds rows x classes). The weighted
/// counts are binary fractions that `f32` adds exactly, in any order, while
/// rows x K < 2^24 (about 2,300 rows per tree with 3 classes); past that an exact tie
/// between two splits can again be decided by rounding.
struct TieBreak {
    base: f32,
    n_classes: usize,
}

impl TieBreak {
    fn new(n_rows: usize, n_classes: usize) -> TieBreak {
        let base = (n_rows * n_classes + 1).next_power_of_two().max(1024);
        TieBreak {
            base: base as f32,
            n_classes,
        }
    }

    fn weight(&self, class: usize) -> f32 {
        (self.base + (self.n_classes - 1 - class) as f32) / self.base
    }
}

/// Trains a multinomial logistic regression on all features.
pub fn train_logistic(train: &Table, params: &LogisticParams) -> Result<Trained, TrainError> {
    let dataset = Dataset::new(train.records.clone(), Array1::from(train.targets.clone()));
    let model = MultiLogisticRegression::default()
        .alpha(params.alpha)
        .max_iterations(params.max_iterations)
        .fit(&dataset)?;
    Ok(Trained::Logistic(model))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forest_learns_iris() {
        let (train, test) = Table::iris().split(0.2, 42);
        let forest = train_forest(&train, &ForestParams::default()).unwrap();
        assert!(forest.accuracy(&test) > 0.85, "{}", forest.accuracy(&test));
    }

    #[test]
    fn forest_votes_add_up_to_the_number_of_trees() {
        let (train, test) = Table::iris().split(0.2, 1);
        let params = ForestParams {
            trees: 7,
            ..ForestParams::default()
        };
        let Trained::Forest { forest, n_classes } = train_forest(&train, &params).unwrap() else {
            unreachable!()
        };
        let votes = forest_votes(&forest, &test.records, n_classes);
        assert!(votes.rows().into_iter().all(|row| row.sum() == 7));
    }

    #[test]
    fn logistic_learns_iris() {
        let (train, test) = Table::iris().split(0.2, 42);
        let model = train_logistic(&train, &LogisticParams::default()).unwrap();
        assert!(model.accuracy(&test) > 0.85, "{}", model.accuracy(&test));
    }

    #[test]
    fn rejects_zero_trees() {
        let (train, _) = Table::iris().split(0.2, 42);
        let params = ForestParams {
            trees: 0,
            ..ForestParams::default()
        };
        assert!(matches!(
            train_forest(&train, &params),
            Err(TrainError::Parameter(_))
        ));
    }

    #[test]
    fn first_max_prefers_the_lowest_index_on_ties() {
        assert_eq!(first_max([1, 3, 3, 2].into_iter()), 1);
        assert_eq!(first_max([5].into_iter()), 0);
    }
}
