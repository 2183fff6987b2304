//! Trees: a random forest of bagged [`cart`](super::cart) trees, and a single decision
//! tree on all rows.

use ndarray::Array2;
use rand::{rngs::StdRng, Rng, SeedableRng};

use super::cart::{Tree, TreeParams};
use super::{TrainError, Trained};
use crate::data::Table;
use crate::progress::Progress;

/// Hyper-parameters of the trees (defaults follow scikit-learn's
/// `RandomForestClassifier(n_estimators=100)` where we have the same knob).
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
    /// Columns each split looks at (scikit-learn's `max_features`); `None`: the square
    /// root of the columns for classes, every column for values, as scikit-learn's
    /// forests default to.
    pub split_features: Option<usize>,
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
            split_features: None,
            seed: 42,
        }
    }
}

impl ForestParams {
    /// The parameters of one tree: every column at each split (a single decision tree).
    fn tree_params(&self) -> TreeParams {
        TreeParams {
            max_depth: self.max_depth,
            min_samples_split: self.min_samples_split,
            min_samples_leaf: self.min_samples_leaf,
            split_features: None,
            seed: 0,
        }
    }

    /// The columns a forest's split looks at, of `n_columns` (the encoded table's).
    fn forest_split_features(&self, n_columns: usize, regression: bool) -> Option<usize> {
        match self.split_features {
            Some(k) => Some(k),
            None if regression => None,
            None => Some(((n_columns as f64).sqrt().floor() as usize).max(1)),
        }
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
        if self.split_features == Some(0) {
            return bad("--split-features must be at least 1".into());
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

/// A bagged forest: each tree splits on the table's columns directly.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// The trees, in the order they were drawn.
    pub trees: Vec<Tree>,
}

/// Number of votes each class gets from the trees of `forest`, per row (rows x classes).
pub fn forest_votes(forest: &Forest, records: &Array2<f32>, n_classes: usize) -> Array2<u32> {
    let mut votes = Array2::<u32>::zeros((records.nrows(), n_classes));
    for tree in &forest.trees {
        for (row, record) in records.rows().into_iter().enumerate() {
            votes[[row, tree.predict_row(record)]] += 1;
        }
    }
    votes
}

/// Trains a random forest (of regression trees when `train` is a regression table) by
/// bagging decision trees, one progress step per tree: each
/// tree is grown on rows drawn with replacement and a subset of the columns drawn
/// without replacement, all from one seeded `StdRng` (portable across platforms).
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
    let split_features = params.forest_split_features(n_features, train.is_regression());
    let n_classes = train.class_names.len();
    let mut rng = StdRng::seed_from_u64(params.seed);
    let mut trees = Vec::with_capacity(params.trees);
    for _ in 0..params.trees {
        let mut rows: Vec<usize> = (0..n_rows).map(|_| rng.gen_range(0..train.len())).collect();
        let mut columns =
            rand::seq::index::sample(&mut rng, train.n_features(), n_features).into_vec();
        columns.sort_unstable();
        let params = TreeParams {
            split_features,
            seed: rng.gen(),
            ..tree_params
        };
        trees.push(grow(train, &mut rows, &columns, params));
        progress.step();
    }
    Ok(Trained::Forest {
        forest: Forest { trees },
        n_classes,
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
    let mut rows: Vec<usize> = (0..train.len()).collect();
    let columns: Vec<usize> = (0..train.n_features()).collect();
    let n_classes = train.class_names.len();
    Ok(Trained::Tree {
        tree: grow(train, &mut rows, &columns, params.tree_params()),
        n_classes,
    })
}

/// A tree on `rows` of `train`: a regression tree of its values, or a classification
/// tree of its classes.
fn grow(train: &Table, rows: &mut [usize], columns: &[usize], params: TreeParams) -> Tree {
    if train.is_regression() {
        Tree::fit_values(train.records.view(), &train.values, rows, columns, params)
    } else {
        let n_classes = train.class_names.len();
        Tree::fit(
            train.records.view(),
            &train.targets,
            n_classes,
            rows,
            columns,
            params,
        )
    }
}

/// The mean of the trees' values for each row (a regression forest's prediction).
pub fn forest_values(forest: &Forest, records: &Array2<f32>) -> Vec<f32> {
    (records.rows().into_iter())
        .map(|row| {
            let sum: f64 = (forest.trees.iter())
                .map(|tree| f64::from(tree.predict_value(row)))
                .sum();
            (sum / forest.trees.len() as f64) as f32
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iris_split() -> (Table, Table) {
        Table::iris().split(0.2, 42)
    }

    #[test]
    fn the_same_rows_and_seed_grow_the_same_forest() {
        let (train, _) = iris_split();
        let grow = || train_forest(&train, &ForestParams::default(), &Progress::hidden());
        let (Trained::Forest { forest: a, .. }, Trained::Forest { forest: b, .. }) =
            (grow().unwrap(), grow().unwrap())
        else {
            unreachable!()
        };
        assert_eq!(a, b);
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
        assert!(tree.depth() <= 2, "{}", tree.depth());
    }
}
