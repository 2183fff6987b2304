//! What the ONNX file says about the model, read once at load time: its inputs, outputs,
//! task (classifier with labels, or regressor), metadata and producer; and the named
//! columns ([`Field`]) a row is made of.

use crate::batch::{Batch, Column, Values};
use crate::prediction::Labels;

/// What kind of answer the model gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A class label per row (and usually class probabilities).
    Classifier {
        /// The class labels, in the order of the probability columns.
        labels: Labels,
    },
    /// `targets` values per row.
    Regressor {
        /// Number of values per row.
        targets: usize,
    },
}

/// The element type of a graph input: the three the function serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ElementType {
    /// `tensor(float)`.
    F32,
    /// `tensor(int64)`.
    I64,
    /// `tensor(string)`.
    Str,
}

/// One graph input as the file declares it: `[N]` or `[N, width]` of one element type.
#[derive(Debug, Clone, PartialEq)]
pub struct InputInfo {
    /// The input's name in the graph.
    pub name: String,
    /// Its element type.
    pub element: ElementType,
    /// Values per row: the second dimension of `[N, width]`, 1 for `[N]`.
    pub width: usize,
    /// 1 for an input declared `[N]`, 2 for `[N, width]`.
    pub rank: usize,
    /// Whether a missing value (NaN) in this float input gets a defined answer: every
    /// graph output depends on it only through a tree ensemble or an imputer. A model
    /// that would answer NaN with NaN (a linear model with no imputer) refuses it.
    /// For a string input: whether the file names the empty string as its missing
    /// category (`missing_category` in `metadata_props`), which `null` then becomes.
    /// Always false for int64 inputs, which have no missing value.
    pub takes_missing: bool,
    /// One row of values every encoder of the graph accepts: zeros, or for an input an
    /// encoder reads, the first category it lists. What the function predicts first.
    pub example: Column,
}

/// One named column of a row, as records (`{"name": value, ...}`) send it: a feature of
/// a single input whose feature names are known, or a whole graph input.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Field<'a> {
    /// The column's name.
    pub name: &'a str,
    /// The graph input it fills.
    pub input: usize,
    /// Values it holds per row: 1 (a scalar), or its input's width (an array).
    pub width: usize,
    /// Their element type.
    pub element: ElementType,
    /// Whether a missing value (`null`) is taken ([`InputInfo::takes_missing`]).
    pub takes_missing: bool,
}

/// What the ONNX file says about the model, read once at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// The graph inputs (initializers excluded), in the graph's order.
    pub inputs: Vec<InputInfo>,
    /// Names of the graph outputs, in order (label first). A probabilities output that
    /// was a ZipMap keeps its name and is a tensor `[N, classes]`.
    pub output_names: Vec<String>,
    /// Classifier (with its labels) or regressor (with its target count).
    pub task: Task,
    /// Feature names from `metadata_props`, if the file has them and the model has one
    /// input as wide as the names.
    pub feature_names: Option<Vec<String>>,
    /// Class names from `metadata_props`, if the file has them.
    pub class_names: Option<Vec<String>>,
    /// The operator that does the work (`TreeEnsembleClassifier`, `LinearRegressor`, ...).
    pub operator: String,
    /// `producer_name` and `producer_version` of the file.
    pub producer: String,
}

impl ModelInfo {
    /// Values per row, over every input.
    pub fn n_features(&self) -> usize {
        self.inputs.iter().map(|input| input.width).sum()
    }

    /// The model's one input when it is its only input and numeric: rows may then be
    /// sent as arrays of values in the input's order, as well as by name.
    pub fn positional(&self) -> Option<&InputInfo> {
        match &self.inputs[..] {
            [input] if input.element != ElementType::Str => Some(input),
            _ => None,
        }
    }

    /// Whether every float input takes missing values ([`InputInfo::takes_missing`]);
    /// false for a model without float inputs.
    pub fn handles_missing(&self) -> bool {
        let mut floats = (self.inputs.iter())
            .filter(|input| input.element == ElementType::F32)
            .peekable();
        floats.peek().is_some() && floats.all(|input| input.takes_missing)
    }

    /// The named columns of a row: the feature names of a single input that has them,
    /// else one per graph input. In input order, and within an input in column order,
    /// so a row's fields pushed in this order fill every input row-major.
    pub fn fields(&self) -> Vec<Field<'_>> {
        if let (Some(names), [input]) = (&self.feature_names, &self.inputs[..]) {
            return names
                .iter()
                .map(|name| Field {
                    name,
                    input: 0,
                    width: 1,
                    element: input.element,
                    takes_missing: input.takes_missing,
                })
                .collect();
        }
        (self.inputs.iter().enumerate())
            .map(|(i, input)| Field {
                name: &input.name,
                input: i,
                width: input.width,
                element: input.element,
                takes_missing: input.takes_missing,
            })
            .collect()
    }

    /// Why `batch` does not fit the model's inputs (one column per input, of its element
    /// type and width, each with the batch's rows), if it does not.
    pub fn misfit(&self, batch: &Batch) -> Option<String> {
        if batch.columns().len() != self.inputs.len() {
            return Some(format!(
                "the batch has {} inputs, the model takes {}",
                batch.columns().len(),
                self.inputs.len()
            ));
        }
        let rows = batch.rows();
        (self.inputs.iter().zip(batch.columns())).find_map(|(input, column)| {
            let fits = column.values().element() == input.element
                && column.width() == input.width
                && column.values().len() == rows * input.width;
            (!fits).then(|| {
                format!(
                    "input `{}` takes {:?} [{rows}, {}], the batch has {:?} [{} values / {}]",
                    input.name,
                    input.element,
                    input.width,
                    column.values().element(),
                    column.values().len(),
                    column.width()
                )
            })
        })
    }

    /// One row of every input's [`InputInfo::example`]: the row the function predicts
    /// before it opens its port.
    pub fn example_row(&self) -> Batch {
        Batch::from_columns(1, self.inputs.iter().map(|i| i.example.clone()))
    }

    /// A classifier of four typed inputs, as skl2onnx exports a ColumnTransformer:
    /// `island` (string), `bill_length` (float, taking missing values), `year` (int64)
    /// and `flipper` (float, two values per row), for the unit tests and fuzz targets
    /// of what decodes named columns (no file behind it).
    pub fn columns_for_tests() -> ModelInfo {
        ModelInfo {
            inputs: vec![
                InputInfo::new("island", ElementType::Str, 1, false),
                InputInfo::new("bill_length", ElementType::F32, 1, true),
                InputInfo::new("year", ElementType::I64, 1, false),
                InputInfo::new("flipper", ElementType::F32, 2, false),
            ],
            ..ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
        }
    }

    /// A classifier of one float input `input` of two features, with `labels` and the
    /// graph outputs `outputs`, as the protocols' unit tests need one (no file behind it).
    pub fn for_tests(labels: Labels, outputs: &[&str]) -> ModelInfo {
        ModelInfo {
            inputs: vec![InputInfo::float("input", 2, false)],
            output_names: outputs.iter().map(|s| s.to_string()).collect(),
            task: Task::Classifier { labels },
            feature_names: None,
            class_names: None,
            operator: "LinearClassifier".into(),
            producer: String::new(),
        }
    }
}

impl InputInfo {
    /// An input `[N, width]` of `element` values with zeros (or empty strings) as its
    /// example; `takes_missing` is kept for a float or string input.
    pub fn new(name: &str, element: ElementType, width: usize, takes_missing: bool) -> InputInfo {
        let example = match element {
            ElementType::F32 => Values::F32(vec![0.0; width]),
            ElementType::I64 => Values::I64(vec![0; width]),
            ElementType::Str => Values::Str(vec![String::new(); width]),
        };
        InputInfo {
            name: name.into(),
            element,
            width,
            rank: 2,
            takes_missing: takes_missing && element != ElementType::I64,
            example: Column::new(example, width),
        }
    }

    /// A float input `[N, width]` with zeros as its example.
    pub fn float(name: &str, width: usize, takes_missing: bool) -> InputInfo {
        InputInfo::new(name, ElementType::F32, width, takes_missing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mixed() -> ModelInfo {
        ModelInfo::columns_for_tests()
    }

    #[test]
    fn a_single_input_with_feature_names_has_a_field_per_feature() {
        let info = ModelInfo {
            feature_names: Some(vec!["a".into(), "b".into()]),
            ..ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"])
        };
        let names: Vec<&str> = info.fields().iter().map(|f| f.name).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(info.fields().iter().all(|f| f.width == 1 && f.input == 0));
        assert!(info.positional().is_some());
    }

    #[test]
    fn several_inputs_have_a_field_each_and_no_positional_rows() {
        let info = mixed();
        let fields: Vec<(&str, usize, usize)> = (info.fields().iter())
            .map(|f| (f.name, f.input, f.width))
            .collect();
        let expected = [
            ("island", 0, 1),
            ("bill_length", 1, 1),
            ("year", 2, 1),
            ("flipper", 3, 2),
        ];
        assert_eq!(fields, expected);
        assert!(info.positional().is_none());
        assert_eq!(info.n_features(), 5);
    }

    #[test]
    fn missing_values_are_handled_when_every_float_input_takes_them() {
        let mut info = mixed();
        assert!(!info.handles_missing(), "flipper does not take them");
        info.inputs[3].takes_missing = true;
        assert!(info.handles_missing(), "int64 and string inputs have none");
        let linear = ModelInfo::for_tests(Labels::Int(vec![0, 1]), &["label"]);
        assert!(!linear.handles_missing());
    }

    #[test]
    fn the_example_row_fits_and_a_wrong_batch_is_named() {
        let info = mixed();
        assert_eq!(info.misfit(&info.example_row()), None);
        let message = info.misfit(&Batch::new(vec![0.0; 3], 3)).unwrap();
        assert!(message.contains("the batch has 1 inputs, the model takes 4"));
        let mut columns: Vec<Column> = info.inputs.iter().map(|i| i.example.clone()).collect();
        columns.swap(0, 1);
        let swapped = Batch::from_columns(1, columns);
        assert!(info.misfit(&swapped).unwrap().contains("input `island`"));
    }
}
