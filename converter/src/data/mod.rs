//! Tabular data the converter trains on: the bundled Iris set or a user's CSV file
//! ([`csv`]; its column types in [`columns`], its target in [`target`]), and the seeded
//! hold-out split and cross-validation folds.

pub mod columns;
pub mod csv;
mod error;
pub mod target;

pub use columns::{ColumnKind, FeatureColumn, Parsing};

use ndarray::{Array2, Axis};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

/// Class names of the Iris targets 0, 1 and 2, in the order of the data set's codes.
const IRIS_CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];
/// Names of the Iris features, in the data set's order: the columns of the bundled
/// `tests/data/iris.csv` (linfa spells them with spaces), so that the bundled model
/// reads that file by name (`converter verify`) and the names need no quoting anywhere.
const IRIS_FEATURES: [&str; 4] = ["sepal_length", "sepal_width", "petal_length", "petal_width"];

/// A table of features (numbers, NaN when missing, or category indices) with one class
/// per row.
///
/// Features are `f32` because that is what the exported ONNX graph takes: training on the
/// same precision means the thresholds linfa learns are the ones the served model compares.
#[derive(Debug, Clone)]
pub struct Table {
    /// One row per sample, one column per feature.
    pub records: Array2<f32>,
    /// The class of each row, as an index into `class_names` (all 0 for regression).
    pub targets: Vec<usize>,
    /// The target value of each row, for regression; empty for classification.
    pub values: Vec<f32>,
    /// Type and missing count of each column, in column order. A categorical column's
    /// records are indices into its categories.
    pub columns: Vec<FeatureColumn>,
    /// Column names, in column order.
    pub feature_names: Vec<String>,
    /// Class names, indexed by class.
    pub class_names: Vec<String>,
    /// The labels the exported model answers with, indexed by class.
    pub labels: ClassLabels,
}

/// The labels a classifier answers with: ONNX classifiers declare either int64 labels
/// (`classlabels_int64s`) or string labels (`classlabels_strings`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClassLabels {
    /// Integer labels, in increasing order.
    Int(Vec<i64>),
    /// String labels (the class names), in byte order.
    Str(Vec<String>),
}

impl ClassLabels {
    /// Number of classes.
    pub fn len(&self) -> usize {
        match self {
            ClassLabels::Int(v) => v.len(),
            ClassLabels::Str(v) => v.len(),
        }
    }

    /// Whether there are no classes.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels of `classes` (indices into these labels), in that order.
    pub fn select(&self, classes: &[usize]) -> ClassLabels {
        match self {
            ClassLabels::Int(v) => ClassLabels::Int(classes.iter().map(|&c| v[c]).collect()),
            ClassLabels::Str(v) => {
                ClassLabels::Str(classes.iter().map(|&c| v[c].clone()).collect())
            }
        }
    }

    /// The label of class `class` as text (how CSV files and reports spell it).
    pub fn text(&self, class: usize) -> String {
        match self {
            ClassLabels::Int(v) => v[class].to_string(),
            ClassLabels::Str(v) => v[class].clone(),
        }
    }
}

impl Table {
    /// The Iris data set shipped inside `linfa-datasets` (150 rows, 4 features, 3 classes).
    pub fn iris() -> Table {
        let dataset = linfa_datasets::iris();
        Table {
            records: dataset.records.mapv(|v| v as f32),
            targets: dataset.targets.to_vec(),
            values: Vec::new(),
            columns: IRIS_FEATURES.map(FeatureColumn::numeric).to_vec(),
            feature_names: IRIS_FEATURES.map(String::from).to_vec(),
            class_names: IRIS_CLASSES.iter().map(|c| c.to_string()).collect(),
            // The bundled model answers 0, 1, 2 as in the tutorial; the names travel in
            // the metadata.
            labels: ClassLabels::Int((0..IRIS_CLASSES.len() as i64).collect()),
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.targets.len()
    }

    /// Whether the table has no rows.
    pub fn is_empty(&self) -> bool {
        self.targets.is_empty()
    }

    /// Number of feature columns.
    pub fn n_features(&self) -> usize {
        self.records.ncols()
    }

    /// The rows at `indices`, in that order, with the same columns and classes.
    pub fn select(&self, indices: &[usize]) -> Table {
        Table {
            records: self.records.select(Axis(0), indices),
            targets: indices.iter().map(|&i| self.targets[i]).collect(),
            values: if self.is_regression() {
                indices.iter().map(|&i| self.values[i]).collect()
            } else {
                Vec::new()
            },
            columns: self.columns.clone(),
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
            labels: self.labels.clone(),
        }
    }

    /// Shuffles the rows with `seed` and splits off `ceil(test_fraction * len)` hold-out
    /// rows, like scikit-learn's `train_test_split(test_size=...)`. Returns (train, test).
    pub fn split(&self, test_fraction: f64, seed: u64) -> (Table, Table) {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        let n_test = ((self.len() as f64) * test_fraction).ceil() as usize;
        let (test, train) = order.split_at(n_test.min(self.len()));
        (self.select(train), self.select(test))
    }

    /// The row indices of `k` cross-validation folds: the rows shuffled with `seed`, then
    /// cut into `k` parts whose sizes differ by at most one. Every row is in one fold.
    pub fn folds(&self, k: usize, seed: u64) -> Vec<Vec<usize>> {
        let mut order: Vec<usize> = (0..self.len()).collect();
        order.shuffle(&mut StdRng::seed_from_u64(seed));
        (0..k)
            .map(|i| order[i * order.len() / k..(i + 1) * order.len() / k].to_vec())
            .collect()
    }

    /// Whether the target is a value to predict (regression) rather than a class.
    pub fn is_regression(&self) -> bool {
        self.class_names.is_empty()
    }

    /// Whether the exported graph takes one input per column and encodes them itself: a
    /// categorical column, or a missing cell to impute, needs it. A table of complete
    /// numeric columns keeps the single float input `[N, features]`.
    pub fn needs_column_inputs(&self) -> bool {
        (self.columns.iter()).any(|c| c.is_categorical() || c.missing > 0)
    }

    /// Number of rows of each class, indexed by class (none for regression).
    pub fn class_counts(&self) -> Vec<usize> {
        let mut counts = vec![0; self.class_names.len()];
        if self.is_regression() {
            return counts;
        }
        for &t in &self.targets {
            counts[t] += 1;
        }
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iris_has_150_rows_4_features_3_classes() {
        let iris = Table::iris();
        assert_eq!(iris.len(), 150);
        assert_eq!(iris.n_features(), 4);
        assert_eq!(iris.feature_names.len(), 4);
        let max_class = iris.targets.iter().max().copied();
        assert_eq!(max_class, Some(iris.class_names.len() - 1));
    }

    #[test]
    fn iris_features_are_linfas_in_order_named_as_the_bundled_csv_names_them() {
        let linfa: Vec<String> = (linfa_datasets::iris().feature_names().iter())
            .map(|name| name.replace(' ', "_"))
            .collect();
        assert_eq!(Table::iris().feature_names, linfa);
        let csv = include_str!("../../../tests/data/iris.csv");
        let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
        assert_eq!(header, [&IRIS_FEATURES[..], &["species"]].concat());
    }

    #[test]
    fn split_is_80_20_and_disjoint() {
        let iris = Table::iris();
        let (train, test) = iris.split(0.2, 7);
        assert_eq!((train.len(), test.len()), (120, 30));
        // Every original row lands in exactly one side: compare multisets of rows.
        let key = |t: &Table| {
            let mut rows: Vec<String> = t
                .records
                .rows()
                .into_iter()
                .zip(&t.targets)
                .map(|(r, c)| format!("{r:?}{c}"))
                .collect();
            rows.sort();
            rows
        };
        let mut both = key(&train);
        both.extend(key(&test));
        both.sort();
        assert_eq!(both, key(&iris));
    }

    #[test]
    fn folds_cover_every_row_once_with_sizes_within_one() {
        let iris = Table::iris().select(&(0..23).collect::<Vec<_>>());
        let folds = iris.folds(5, 3);
        let sizes: Vec<usize> = folds.iter().map(Vec::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), 23);
        assert!(sizes.iter().max().unwrap() - sizes.iter().min().unwrap() <= 1);
        let mut all: Vec<usize> = folds.concat();
        all.sort_unstable();
        assert_eq!(all, (0..23).collect::<Vec<_>>());
    }

    #[test]
    fn split_depends_only_on_the_seed() {
        let iris = Table::iris();
        let (a, _) = iris.split(0.2, 42);
        let (b, _) = iris.split(0.2, 42);
        let (c, _) = iris.split(0.2, 43);
        assert_eq!(a.records, b.records);
        assert_ne!(a.records, c.records);
    }
}
