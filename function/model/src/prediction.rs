//! What a prediction answers: class labels or regression values per row, and class
//! probabilities when the model gives them.

/// Class labels as the model declares them: ONNX classifiers have either int64 or
/// string labels. Serialises as a plain JSON array of numbers or strings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Labels {
    /// `classlabels_int64s` / `classlabels_ints`.
    Int(Vec<i64>),
    /// `classlabels_strings`.
    Str(Vec<String>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The labels at `winners`, indices into these labels.
    pub(crate) fn pick(&self, winners: &[usize]) -> Labels {
        match self {
            Labels::Int(ints) => Labels::Int(winners.iter().map(|&w| ints[w]).collect()),
            Labels::Str(strings) => {
                Labels::Str(winners.iter().map(|&w| strings[w].clone()).collect())
            }
        }
    }

    /// The element type of a tensor of these labels: int64 or string.
    pub(crate) fn datum_type(&self) -> tract_onnx::prelude::DatumType {
        use tract_onnx::prelude::Datum;
        match self {
            Labels::Int(_) => i64::datum_type(),
            Labels::Str(_) => String::datum_type(),
        }
    }
}

/// Per-row answers: labels of a classifier, or values of a regressor.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicted {
    /// One class label per row.
    Labels(Labels),
    /// `targets` values per row, row-major.
    Values {
        /// rows x targets.
        values: Vec<f32>,
        /// Values per row.
        targets: usize,
    },
}

impl Predicted {
    /// Number of rows answered.
    pub fn rows(&self) -> usize {
        match self {
            Predicted::Labels(labels) => labels.len(),
            Predicted::Values { values, targets } => values.len() / targets.max(&1),
        }
    }
}

/// A JSON array with one entry per row: a label, a value, or (several targets) an array.
impl serde::Serialize for Predicted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Predicted::Labels(labels) => labels.serialize(serializer),
            Predicted::Values { values, targets: 1 } => values.serialize(serializer),
            Predicted::Values { values, targets } => {
                use serde::ser::SerializeSeq;
                let mut seq = serializer.serialize_seq(Some(values.len() / targets))?;
                for row in values.chunks(*targets) {
                    seq.serialize_element(row)?;
                }
                seq.end()
            }
        }
    }
}

/// What the model predicted for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// One answer per row.
    pub predicted: Predicted,
    /// Class probabilities, row-major (rows x classes), when the model outputs them.
    pub probabilities: Option<Vec<f32>>,
}
