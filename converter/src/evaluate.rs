//! Evaluation: a confusion matrix of (actual, predicted) classes and what follows from
//! it (accuracy, per-class precision/recall/F1, macro averages), printed as a table or
//! serialised as JSON.

use std::fmt::Write as _;

use serde::Serialize;

/// Counts of rows by actual class (rows) and predicted class (columns).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Confusion {
    counts: Vec<Vec<usize>>,
}

impl Confusion {
    /// An empty matrix over `n_classes` classes.
    pub fn new(n_classes: usize) -> Confusion {
        Confusion {
            counts: vec![vec![0; n_classes]; n_classes],
        }
    }

    /// Counts every (actual, predicted) pair.
    pub fn from_pairs(n_classes: usize, actual: &[usize], predicted: &[usize]) -> Confusion {
        let mut confusion = Confusion::new(n_classes);
        confusion.add_all(actual, predicted);
        confusion
    }

    /// Counts every (actual, predicted) pair.
    pub fn add_all(&mut self, actual: &[usize], predicted: &[usize]) {
        debug_assert_eq!(actual.len(), predicted.len());
        for (&a, &p) in actual.iter().zip(predicted) {
            self.counts[a][p] += 1;
        }
    }

    /// Rows of actual class `actual` predicted as `predicted`.
    pub fn count(&self, actual: usize, predicted: usize) -> usize {
        self.counts[actual][predicted]
    }

    /// Rows counted.
    pub fn total(&self) -> usize {
        self.counts.iter().flatten().sum()
    }

    /// Rows whose prediction is their class.
    pub fn correct(&self) -> usize {
        (0..self.counts.len()).map(|c| self.counts[c][c]).sum()
    }

    /// Precision, recall, F1 and support of each class. A ratio whose denominator is
    /// zero (a class never predicted, or absent) is 0, as scikit-learn's default.
    fn class_metrics(&self, names: &[String]) -> Vec<ClassMetrics> {
        let n = self.counts.len();
        (0..n)
            .map(|c| {
                let tp = self.counts[c][c] as f64;
                let support: usize = self.counts[c].iter().sum();
                let predicted: usize = (0..n).map(|a| self.counts[a][c]).sum();
                let precision = ratio(tp, predicted as f64);
                let recall = ratio(tp, support as f64);
                ClassMetrics {
                    class: names[c].clone(),
                    precision,
                    recall,
                    f1: ratio(2.0 * precision * recall, precision + recall),
                    support,
                }
            })
            .collect()
    }
}

fn ratio(numerator: f64, denominator: f64) -> f64 {
    if denominator > 0.0 {
        numerator / denominator
    } else {
        0.0
    }
}

/// How one class fares.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ClassMetrics {
    /// The class name.
    pub class: String,
    /// Of the rows predicted as this class, the share that are.
    pub precision: f64,
    /// Of the rows of this class, the share predicted as it.
    pub recall: f64,
    /// Harmonic mean of precision and recall.
    pub f1: f64,
    /// Rows of this class.
    pub support: usize,
}

/// Unweighted means over the classes.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Averages {
    /// Mean precision.
    pub precision: f64,
    /// Mean recall.
    pub recall: f64,
    /// Mean F1.
    pub f1: f64,
}

/// The confusion matrix in a form JSON readers index easily.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ConfusionTable {
    /// Class names, the order of both axes.
    pub classes: Vec<String>,
    /// `matrix[actual][predicted]` row counts.
    pub matrix: Vec<Vec<usize>>,
}

/// Everything an evaluation found.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    /// How the rows were held out, in words (`hold-out 20% (30 rows)`, `5-fold
    /// cross-validation`).
    pub method: String,
    /// Accuracy of each cross-validation fold; empty for a hold-out split.
    pub fold_accuracy: Vec<f64>,
    /// Rows evaluated.
    pub rows: usize,
    /// Rows predicted correctly.
    pub correct: usize,
    /// `correct / rows`.
    pub accuracy: f64,
    /// Per class, in class order.
    pub classes: Vec<ClassMetrics>,
    /// Unweighted means of the per-class numbers.
    pub macro_average: Averages,
    /// The confusion matrix.
    pub confusion: ConfusionTable,
    /// A regressor's scores (the class fields are then empty).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub regression: Option<crate::evaluate_values::RegressionScores>,
}

impl Evaluation {
    /// The numbers of `confusion`, whose classes are called `names`.
    pub fn new(method: String, confusion: &Confusion, names: &[String]) -> Evaluation {
        let classes = confusion.class_metrics(names);
        let mean = |f: fn(&ClassMetrics) -> f64| {
            classes.iter().map(f).sum::<f64>() / classes.len().max(1) as f64
        };
        Evaluation {
            method,
            fold_accuracy: Vec::new(),
            rows: confusion.total(),
            correct: confusion.correct(),
            accuracy: ratio(confusion.correct() as f64, confusion.total() as f64),
            macro_average: Averages {
                precision: mean(|m| m.precision),
                recall: mean(|m| m.recall),
                f1: mean(|m| m.f1),
            },
            classes,
            confusion: ConfusionTable {
                classes: names.to_vec(),
                matrix: confusion.counts.clone(),
            },
            regression: None,
        }
    }

    /// The evaluation of a regressor on `rows` rows.
    pub fn of_values(
        method: String,
        rows: usize,
        scores: crate::evaluate_values::RegressionScores,
    ) -> Evaluation {
        Evaluation {
            rows,
            regression: Some(scores),
            ..Evaluation::new(method, &Confusion::new(0), &[])
        }
    }

    /// The evaluation as text for a terminal: accuracy, a per-class table and the
    /// confusion matrix with actual classes down and predicted classes across.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "evaluation: {}", self.method);
        if let Some(scores) = &self.regression {
            out.push_str(&scores.to_text());
            return out;
        }
        if !self.fold_accuracy.is_empty() {
            let folds: Vec<String> = self
                .fold_accuracy
                .iter()
                .map(|a| format!("{a:.4}"))
                .collect();
            let _ = writeln!(out, "fold accuracy: {}", folds.join(" "));
        }
        let _ = writeln!(
            out,
            "accuracy: {:.4} ({} of {} rows)\n",
            self.accuracy, self.correct, self.rows
        );

        let mut table = vec![vec![
            "class".to_string(),
            "precision".into(),
            "recall".into(),
            "f1".into(),
            "support".into(),
        ]];
        for m in &self.classes {
            table.push(vec![
                m.class.clone(),
                format!("{:.4}", m.precision),
                format!("{:.4}", m.recall),
                format!("{:.4}", m.f1),
                m.support.to_string(),
            ]);
        }
        let avg = &self.macro_average;
        table.push(vec![
            "macro avg".into(),
            format!("{:.4}", avg.precision),
            format!("{:.4}", avg.recall),
            format!("{:.4}", avg.f1),
            self.rows.to_string(),
        ]);
        write_table(&mut out, &table);

        let _ = writeln!(
            out,
            "\nconfusion matrix (rows: actual class, columns: predicted class)"
        );
        let mut header = vec!["actual \\ predicted".to_string()];
        header.extend(self.confusion.classes.iter().cloned());
        let mut matrix = vec![header];
        for (name, counts) in self.confusion.classes.iter().zip(&self.confusion.matrix) {
            let mut row = vec![name.clone()];
            row.extend(counts.iter().map(usize::to_string));
            matrix.push(row);
        }
        write_table(&mut out, &matrix);
        out
    }
}

/// Writes rows of cells as aligned columns: the first left-aligned, the rest right.
fn write_table(out: &mut String, rows: &[Vec<String>]) {
    let columns = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            rows.iter()
                .filter_map(|r| r.get(c))
                .map(|cell| cell.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in rows {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            if c == 0 {
                let _ = write!(line, "{cell:<width$}", width = widths[0]);
            } else {
                let _ = write!(line, "  {cell:>width$}", width = widths[c]);
            }
        }
        let _ = writeln!(out, "{}", line.trim_end());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["a".into(), "b".into(), "c".into()]
    }

    /// actual a a a b b c, predicted a a b b c c: hand-counted below.
    fn example() -> Evaluation {
        let confusion = Confusion::from_pairs(3, &[0, 0, 0, 1, 1, 2], &[0, 0, 1, 1, 2, 2]);
        Evaluation::new("test".into(), &confusion, &names())
    }

    #[test]
    fn metrics_match_a_hand_count() {
        let e = example();
        assert_eq!((e.rows, e.correct), (6, 4));
        assert!((e.accuracy - 4.0 / 6.0).abs() < 1e-12);
        // a: predicted 2 (both a), 3 actual a.  b: predicted 2 (1 b), 2 actual.
        // c: predicted 2 (1 c), 1 actual.
        let expected = [(1.0, 2.0 / 3.0, 3), (0.5, 0.5, 2), (0.5, 1.0, 1)];
        for (m, (p, r, s)) in e.classes.iter().zip(expected) {
            assert!((m.precision - p).abs() < 1e-12, "{m:?}");
            assert!((m.recall - r).abs() < 1e-12, "{m:?}");
            assert!((m.f1 - 2.0 * p * r / (p + r)).abs() < 1e-12, "{m:?}");
            assert_eq!(m.support, s);
        }
        assert_eq!(e.confusion.matrix, [[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
    }

    #[test]
    fn a_class_never_predicted_has_zero_precision_not_nan() {
        let confusion = Confusion::from_pairs(2, &[0, 1], &[0, 0]);
        let e = Evaluation::new("t".into(), &confusion, &["x".into(), "y".into()]);
        assert_eq!(e.classes[1].precision, 0.0);
        assert_eq!(e.classes[1].f1, 0.0);
        assert!(serde_json::to_string(&e)
            .unwrap()
            .contains("\"precision\":0.0"));
    }

    #[test]
    fn text_table_aligns_counts_under_class_names() {
        let text = example().to_text();
        assert!(text.contains("accuracy: 0.6667 (4 of 6 rows)"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        let header = lines
            .iter()
            .find(|l| l.starts_with("actual \\ predicted"))
            .unwrap();
        assert_eq!(
            header.split_whitespace().collect::<Vec<_>>(),
            ["actual", "\\", "predicted", "a", "b", "c"]
        );
        let a_row = lines.iter().rev().find(|l| l.starts_with('a')).unwrap();
        // Right-aligned: each count ends where its class name ends.
        assert_eq!(a_row.len(), header.len());
        assert_eq!(
            a_row.split_whitespace().collect::<Vec<_>>(),
            ["a", "2", "1", "0"]
        );
    }
}
