//! The preprocessing learned on the training rows and written into the exported graph:
//! each numeric column's missing cells get its training mean (scikit-learn's
//! `SimpleImputer()`), each categorical column becomes one 0/1 column per category seen
//! in training (`OneHotEncoder(handle_unknown="ignore")`: a category not seen is all
//! zeros). The models train on the encoded table; the graph takes the raw columns.

use ndarray::Array2;

use crate::data::{ColumnKind, FeatureColumn, Table};

/// How one column of the raw table is encoded.
#[derive(Debug, Clone, PartialEq)]
pub enum Encoded {
    /// A number; a missing one becomes `fill`.
    Numeric {
        /// The column in the raw table.
        column: usize,
        /// The mean of the column's training values (0 when every one was missing).
        fill: f32,
    },
    /// One 0/1 column per category of `categories`.
    Categorical {
        /// The column in the raw table.
        column: usize,
        /// The categories seen in training, as indices into the column's categories,
        /// in increasing (byte) order: the order of the encoded columns.
        categories: Vec<usize>,
    },
}

/// The encoding of every column. Encoded columns: the numeric columns first (in table
/// order, as the graph's imputer outputs them), then each categorical column's block.
#[derive(Debug, Clone, PartialEq)]
pub struct Encoding {
    /// Numeric columns, then categorical ones, each in table order.
    pub columns: Vec<Encoded>,
}

impl Encoding {
    /// Learns the encoding of `train`'s rows.
    pub fn fit(train: &Table) -> Encoding {
        let mut numeric = Vec::new();
        let mut categorical = Vec::new();
        for (column, info) in train.columns.iter().enumerate() {
            let values = train.records.column(column);
            match info.kind {
                ColumnKind::Numeric => {
                    // Summed in f64 in row order: the same rows give the same fill.
                    let (sum, count) = (values.iter())
                        .filter(|v| !v.is_nan())
                        .fold((0.0f64, 0usize), |(s, n), &v| (s + f64::from(v), n + 1));
                    let fill = if count == 0 {
                        0.0
                    } else {
                        (sum / count as f64) as f32
                    };
                    numeric.push(Encoded::Numeric { column, fill });
                }
                ColumnKind::Categorical { .. } => {
                    let mut seen: Vec<usize> = values.iter().map(|&v| v as usize).collect();
                    seen.sort_unstable();
                    seen.dedup();
                    categorical.push(Encoded::Categorical {
                        column,
                        categories: seen,
                    });
                }
            }
        }
        numeric.extend(categorical);
        Encoding { columns: numeric }
    }

    /// Number of encoded columns.
    pub fn width(&self) -> usize {
        self.columns
            .iter()
            .map(|e| match e {
                Encoded::Numeric { .. } => 1,
                Encoded::Categorical { categories, .. } => categories.len(),
            })
            .sum()
    }

    /// `table`'s rows encoded: the numeric columns with missing cells filled, then one
    /// 0/1 column per training category. Names: a numeric column's own, `column=category`
    /// for a category's column. The encoded table's columns are all numeric.
    pub fn apply(&self, table: &Table) -> Table {
        let mut records = Array2::<f32>::zeros((table.len(), self.width()));
        let mut names = Vec::with_capacity(self.width());
        let mut at = 0;
        for encoded in &self.columns {
            match encoded {
                Encoded::Numeric { column, fill } => {
                    let source = table.records.column(*column);
                    let filled = source.mapv(|v| if v.is_nan() { *fill } else { v });
                    records.column_mut(at).assign(&filled);
                    names.push(table.feature_names[*column].clone());
                    at += 1;
                }
                Encoded::Categorical { column, categories } => {
                    let source = table.records.column(*column);
                    for (row, &code) in source.iter().enumerate() {
                        if let Ok(i) = categories.binary_search(&(code as usize)) {
                            records[[row, at + i]] = 1.0;
                        }
                    }
                    let all = category_names(&table.columns[*column]);
                    let name = &table.feature_names[*column];
                    names.extend(categories.iter().map(|&c| format!("{name}={}", all[c])));
                    at += categories.len();
                }
            }
        }
        Table {
            records,
            targets: table.targets.clone(),
            values: table.values.clone(),
            columns: names.iter().map(|n| FeatureColumn::numeric(n)).collect(),
            feature_names: names,
            class_names: table.class_names.clone(),
            labels: table.labels.clone(),
        }
    }
}

/// The categories of a categorical column (none for a numeric one).
pub fn category_names(column: &FeatureColumn) -> &[String] {
    match &column.kind {
        ColumnKind::Categorical { categories } => categories,
        ColumnKind::Numeric => &[],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ClassLabels;
    use ndarray::array;

    /// Columns `x` (numeric) and `plan` (categorical: "", basic, pro).
    fn table(records: Array2<f32>) -> Table {
        let n = records.nrows();
        Table {
            records,
            targets: vec![0; n],
            values: vec![],
            columns: vec![
                FeatureColumn {
                    missing: 1,
                    ..FeatureColumn::numeric("x")
                },
                FeatureColumn {
                    name: "plan".into(),
                    kind: ColumnKind::Categorical {
                        categories: vec!["".into(), "basic".into(), "pro".into()],
                    },
                    missing: 0,
                },
            ],
            feature_names: vec!["x".into(), "plan".into()],
            class_names: vec!["a".into()],
            labels: ClassLabels::Str(vec!["a".into()]),
        }
    }

    #[test]
    fn missing_numbers_get_the_training_mean_and_categories_become_columns() {
        let train = table(array![[1.0, 1.0], [f32::NAN, 2.0], [5.0, 1.0]]);
        let encoding = Encoding::fit(&train);
        let encoded = encoding.apply(&train);
        assert_eq!(encoded.feature_names, ["x", "plan=basic", "plan=pro"]);
        assert_eq!(
            encoded.records,
            array![[1.0, 1.0, 0.0], [3.0, 0.0, 1.0], [5.0, 1.0, 0.0]]
        );
    }

    #[test]
    fn a_category_not_seen_in_training_is_all_zeros() {
        let train = table(array![[1.0, 1.0], [2.0, 1.0]]);
        let encoding = Encoding::fit(&train);
        let test = table(array![[f32::NAN, 2.0]]);
        assert_eq!(encoding.apply(&test).records, array![[1.5, 0.0]]);
    }
}
