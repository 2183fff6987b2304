//! Tabular data the converter trains on: the bundled Iris set and the seeded split into
//! training and hold-out rows.

use ndarray::{Array2, Axis};
use rand::{rngs::StdRng, seq::SliceRandom, SeedableRng};

/// Class names of the Iris targets 0, 1 and 2, in the order of the data set's codes.
const IRIS_CLASSES: [&str; 3] = ["setosa", "versicolor", "virginica"];

/// A table of numeric features with one class per row.
///
/// Features are `f32` because that is what the exported ONNX graph takes: training on the
/// same precision means the thresholds linfa learns are the ones the served model compares.
#[derive(Debug, Clone)]
pub struct Table {
    /// One row per sample, one column per feature.
    pub records: Array2<f32>,
    /// The class of each row, as an index into `class_names`.
    pub targets: Vec<usize>,
    /// Column names, in column order.
    pub feature_names: Vec<String>,
    /// Class names, indexed by class.
    pub class_names: Vec<String>,
}

impl Table {
    /// The Iris data set shipped inside `linfa-datasets` (150 rows, 4 features, 3 classes).
    pub fn iris() -> Table {
        let dataset = linfa_datasets::iris();
        Table {
            records: dataset.records.mapv(|v| v as f32),
            targets: dataset.targets.to_vec(),
            feature_names: dataset.feature_names().to_vec(),
            class_names: IRIS_CLASSES.iter().map(|c| c.to_string()).collect(),
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
            feature_names: self.feature_names.clone(),
            class_names: self.class_names.clone(),
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
    fn split_depends_only_on_the_seed() {
        let iris = Table::iris();
        let (a, _) = iris.split(0.2, 42);
        let (b, _) = iris.split(0.2, 42);
        let (c, _) = iris.split(0.2, 43);
        assert_eq!(a.records, b.records);
        assert_ne!(a.records, c.records);
    }
}
