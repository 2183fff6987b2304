//! Trees: a random forest of bagged linfa-trees decision trees, and a single decision
//! tree on all rows, both made deterministic with [`TieBreak`] weights.

use linfa::prelude::*;
use linfa_ensemble::RandomForest;
use linfa_trees::{DecisionTree, DecisionTreeParams};
use ndarray::{Array1, Array2, Axis};
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::{TrainError, Trained};
use crate::data::Table;
use crate::progress::Progress;

/// Hyper-parameters of the trees (defaults follow scikit-learn's
/// `RandomForestClassifier(n_estimators=100)` where linfa has the same knob).
#[derive(Debug, Clone)]
pub struct ForestParams {
    /// Number of trees.
    pub trees: usize,
    /// Maximum depth of each tree; `None` grows until the leaves are pure.
    pub max_depth: Option<usize>,
    /// A node with fewer rows than this is a leaf.
    pub min_samples_split: usize,
    /// A split leaving fewer rows than this on either side is not made.
    pub min_samples_leaf: usize,
    /// Rows drawn (with replacement) for each tree, as a fraction of the training rows.
    pub bootstrap_proportion: f64,
    /// Features drawn (without replacement) for each tree, as a fraction of all features.
    pub feature_proportion: f64,
    /// Seed of the bootstrap draws.
    pub seed: u64,
}

impl Default for ForestParams {
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: None,
            min_samples_split: 2,
            min_samples_leaf: 1,
            bootstrap_proportion: 1.0,
            feature_proportion: 1.0,
            seed: 42,
        }
    }
}

impl ForestParams {
    /// linfa-trees' parameters for one tree. linfa compares a node's row *count* with
    /// `min_weight_split`, and a side's summed *weight* with `min_weight_leaf`: the
    /// [`TieBreak`] weights of k rows sum to less than k + 1, so a whole number of rows
    /// is the same bound as that number of weights.
    fn tree_params(&self) -> DecisionTreeParams<f32, usize> {
        DecisionTree::params()
            .max_depth(self.max_depth)
            .min_weight_split(self.min_samples_split as f32)
            .min_weight_leaf(self.min_samples_leaf as f32)
    }

    /// Checks every parameter's range, naming the flag that sets it.
    pub fn check(&self) -> Result<(), TrainError> {
        let bad = |message: String| Err(TrainError::Parameter(message));
        if self.trees == 0 {
            return bad("--trees must be at least 1".into());
        }
        if self.max_depth == Some(0) {
            return bad("--max-depth must be at least 1".into());
        }
        if self.min_samples_split < 2 {
            return bad(format!(
                "--min-samples-split must be at least 2, got {}",
                self.min_samples_split
            ));
        }
        if self.min_samples_leaf < 1 {
            return bad("--min-samples-leaf must be at least 1".into());
        }
        for (name, p) in [
            ("--bootstrap-fraction", self.bootstrap_proportion),
            ("--feature-fraction", self.feature_proportion),
        ] {
            if !(p > 0.0 && p <= 1.0) {
                return bad(format!("{name} must be in (0, 1], got {p}"));
            }
        }
        Ok(())
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

/// Trains a random forest by bagging linfa-trees decision trees, one progress step per
/// tree.
///
/// This is linfa-ensemble's algorithm (bootstrap rows, draw a feature subset per tree),
/// run here so that the random draws come from one seeded `StdRng` (portable across
/// platforms), the feature subset has no repeated column (linfa-ensemble draws with
/// replacement), rows carry the [`TieBreak`] weights, and a tree that cannot be fitted
/// is an error, not a panic.
pub fn train_forest(
    train: &Table,
    params: &ForestParams,
    progress: &Progress,
) -> Result<Trained, TrainError> {
    params.check()?;
    if train.is_empty() {
        return Err(TrainError::Parameter("the training set has no rows".into()));
    }
    let n_rows = ((train.len() as f64) * params.bootstrap_proportion).ceil() as usize;
    let n_features = ((train.n_features() as f64) * params.feature_proportion).ceil() as usize;
    let tree_params = params.tree_params();

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
        progress.step();
    }
    Ok(Trained::Forest {
        forest: RandomForest {
            models,
            model_features,
        },
        n_classes: train.class_names.len(),
    })
}

/// Trains one decision tree on every training row and feature (no bagging); `trees`,
/// the proportions and the seed of `params` are not used.
pub fn train_tree(train: &Table, params: &ForestParams) -> Result<Trained, TrainError> {
    ForestParams {
        trees: 1,
        bootstrap_proportion: 1.0,
        feature_proportion: 1.0,
        ..params.clone()
    }
    .check()?;
    if train.is_empty() {
        return Err(TrainError::Parameter("the training set has no rows".into()));
    }
    let tie_break = TieBreak::new(train.len(), train.class_names.len());
    let targets = Array1::from(train.targets.clone());
    let weights = targets.mapv(|class| tie_break.weight(class));
    let dataset = Dataset::new(train.records.clone(), targets).with_weights(weights);
    Ok(Trained::Tree {
        tree: params.tree_params().fit(&dataset)?,
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

#[cfg(test)]
mod tests {
    use super::*;

    fn iris_split() -> (Table, Table) {
        Table::iris().split(0.2, 42)
    }

    #[test]
    fn forest_learns_iris() {
        let (train, test) = iris_split();
        let forest = train_forest(&train, &ForestParams::default(), &Progress::hidden()).unwrap();
        assert!(forest.accuracy(&test) > 0.85, "{}", forest.accuracy(&test));
    }

    #[test]
    fn forest_votes_add_up_to_the_number_of_trees() {
        let (train, test) = Table::iris().split(0.2, 1);
        let params = ForestParams {
            trees: 7,
            ..ForestParams::default()
        };
        let Trained::Forest { forest, n_classes } =
            train_forest(&train, &params, &Progress::hidden()).unwrap()
        else {
            unreachable!()
        };
        let votes = forest_votes(&forest, &test.records, n_classes);
        assert!(votes.rows().into_iter().all(|row| row.sum() == 7));
    }

    #[test]
    fn rejects_zero_trees_and_out_of_range_fractions() {
        let (train, _) = iris_split();
        for params in [
            ForestParams {
                trees: 0,
                ..ForestParams::default()
            },
            ForestParams {
                feature_proportion: 0.0,
                ..ForestParams::default()
            },
            ForestParams {
                bootstrap_proportion: 1.5,
                ..ForestParams::default()
            },
            ForestParams {
                min_samples_split: 1,
                ..ForestParams::default()
            },
        ] {
            assert!(matches!(
                train_forest(&train, &params, &Progress::hidden()),
                Err(TrainError::Parameter(_))
            ));
        }
    }

    /// Rows that reach each leaf of `tree` on `table`, by walking the tree ourselves.
    fn leaf_sizes(tree: &DecisionTree<f32, usize>, table: &Table) -> Vec<usize> {
        let mut sizes = std::collections::HashMap::new();
        for row in table.records.rows() {
            let mut node = tree.root_node();
            let mut path = 0usize;
            while node.prediction().is_none() {
                let (feature, split, _) = node.split();
                let side = usize::from(row[feature] >= split);
                path = path * 2 + 1 + side;
                node = node.children()[side].as_deref().unwrap();
            }
            *sizes.entry(path).or_insert(0) += 1;
        }
        sizes.into_values().collect()
    }

    #[test]
    fn min_samples_leaf_bounds_every_leaf_of_a_tree() {
        let iris = Table::iris();
        for min_leaf in [1, 5, 20] {
            let params = ForestParams {
                min_samples_leaf: min_leaf,
                ..ForestParams::default()
            };
            let Trained::Tree { tree, .. } = train_tree(&iris, &params).unwrap() else {
                unreachable!()
            };
            let sizes = leaf_sizes(&tree, &iris);
            assert!(
                sizes.iter().all(|&n| n >= min_leaf),
                "{min_leaf}: {sizes:?}"
            );
            if min_leaf == 1 {
                // Unconstrained, the tree does grow leaves smaller than 5.
                assert!(sizes.iter().any(|&n| n < 5), "{sizes:?}");
            }
        }
    }

    #[test]
    fn max_depth_bounds_the_tree() {
        let iris = Table::iris();
        let params = ForestParams {
            max_depth: Some(2),
            ..ForestParams::default()
        };
        let Trained::Tree { tree, .. } = train_tree(&iris, &params).unwrap() else {
            unreachable!()
        };
        assert!(tree.max_depth() <= 2, "{}", tree.max_depth());
    }
}
