//! A user's CSV file as a [`Table`]: a header row, feature columns (numeric or
//! categorical, with missing cells) and one target column of integer or string classes.
//! Every problem is an error naming the line and column.

use std::collections::{BTreeSet, HashMap};
use std::io::Read;
use std::path::Path;

use ndarray::Array2;

use super::columns::{ColumnKind, FeatureColumn, Parsing, MISSING_CATEGORY};
pub use super::error::DataError;
pub use super::target::{into_table, into_task_table, TaskChoice, MAX_INFERRED_CLASSES};
use super::Table;
use crate::progress::Progress;

/// How often (in records) the progress bar learns how far into the file we are.
const PROGRESS_EVERY: usize = 4096;

/// Which columns to read: the target by name, and the features by name (in that order)
/// or, when `features` is `None`, every other column in file order.
#[derive(Debug, Clone, Copy)]
pub struct Columns<'a> {
    /// The class column; `None` when `features` is given and exactly one column is left.
    pub target: Option<&'a str>,
    /// The feature columns, in the order the model takes them.
    pub features: Option<&'a [String]>,
}

/// The rows of a CSV file before classes are assigned: features as read, targets as
/// the text of each row's class.
#[derive(Debug, Clone)]
pub struct RawData {
    /// Feature column names, in model order.
    pub feature_names: Vec<String>,
    /// The target column's name.
    pub target_name: String,
    /// Type and missing count of each feature column, in model order.
    pub columns: Vec<FeatureColumn>,
    /// rows x features: a numeric cell's value (NaN when missing), a categorical cell's
    /// index into its column's categories.
    pub records: Array2<f32>,
    /// Per row, an index into `target_values`.
    pub targets: Vec<usize>,
    /// The distinct target texts, in the order they first appear.
    pub target_values: Vec<String>,
}

/// Reads `path` as a training table for `task`: features and targets, classes
/// assigned or values read.
pub fn load_table(
    path: &Path,
    columns: Columns,
    parsing: &Parsing,
    task: TaskChoice,
    progress: &Progress,
) -> Result<Table, DataError> {
    let raw = read_path(path, columns, parsing, progress)?;
    into_task_table(raw, &path.display().to_string(), task)
}

/// Reads the CSV file at `path`.
pub fn read_path(
    path: &Path,
    columns: Columns,
    parsing: &Parsing,
    progress: &Progress,
) -> Result<RawData, DataError> {
    let source_name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| DataError::Io {
        source_name: source_name.clone(),
        error,
    })?;
    read(file, &source_name, columns, parsing, progress)
}

/// Reads CSV from `input`; `source_name` names it in errors. The records are kept as
/// text until every row is read, because a column's type depends on all its cells.
pub fn read(
    input: impl Read,
    source_name: &str,
    columns: Columns,
    parsing: &Parsing,
    progress: &Progress,
) -> Result<RawData, DataError> {
    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(true)
        .trim(::csv::Trim::All)
        // Ragged rows are reported by us, with the line and both counts.
        .flexible(true)
        .from_reader(input);
    let parse_error = |error: ::csv::Error| match error.kind() {
        ::csv::ErrorKind::Io(_) => DataError::Io {
            source_name: source_name.to_string(),
            error: std::io::Error::other(error.to_string()),
        },
        _ => DataError::Parse {
            source_name: source_name.to_string(),
            line: error.position().map_or(1, |p| p.line()),
            message: error.to_string(),
        },
    };
    let header: Vec<String> = reader
        .headers()
        .map_err(parse_error)?
        .iter()
        .map(str::to_string)
        .collect();
    if header.is_empty() || header.iter().all(String::is_empty) {
        return Err(DataError::Empty {
            source_name: source_name.to_string(),
        });
    }
    let (target, features) = select_columns(&header, columns, source_name)?;

    for name in parsing.categorical.iter().chain(&parsing.numeric) {
        if !features.iter().any(|&c| header[c] == *name) {
            return Err(DataError::UnknownColumn {
                source_name: source_name.to_string(),
                name: name.clone(),
                what: "--categorical or --numeric: not a feature column".to_string(),
                available: features
                    .iter()
                    .map(|&c| header[c].as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
    }
    if let Some(both) = (parsing.categorical.iter()).find(|name| parsing.numeric.contains(name)) {
        return Err(DataError::Columns {
            source_name: source_name.to_string(),
            message: format!("column `{both}` is given to both --categorical and --numeric"),
        });
    }

    let mut rows = Vec::new();
    let mut targets = Vec::new();
    let mut target_values = Vec::new();
    let mut class_ids: HashMap<String, usize> = HashMap::new();
    let mut record = ::csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(parse_error)? {
        let line = record.position().map_or(0, |p| p.line());
        if record.len() != header.len() {
            return Err(DataError::Ragged {
                source_name: source_name.to_string(),
                line,
                found: record.len(),
                expected: header.len(),
            });
        }
        let class = &record[target];
        if parsing.is_missing(class) {
            return Err(missing(source_name, line, target, &header));
        }
        let id = match class_ids.get(class) {
            Some(&id) => id,
            None => {
                class_ids.insert(class.to_string(), target_values.len());
                target_values.push(class.to_string());
                target_values.len() - 1
            }
        };
        targets.push(id);
        rows.push(record.clone());
        if targets.len().is_multiple_of(PROGRESS_EVERY) {
            progress.set_position(reader.position().byte());
        }
    }
    if targets.is_empty() {
        return Err(DataError::NoRows {
            source_name: source_name.to_string(),
        });
    }
    let mut records = Array2::<f32>::zeros((rows.len(), features.len()));
    let mut feature_columns = Vec::with_capacity(features.len());
    for (j, &column) in features.iter().enumerate() {
        let at = Cells {
            rows: &rows,
            column,
            header: &header,
            source_name,
        };
        let (kind, values) = at.read(parsing)?;
        let missing = rows
            .iter()
            .filter(|r| parsing.is_missing(&r[column]))
            .count();
        records.column_mut(j).assign(&ndarray::Array1::from(values));
        feature_columns.push(FeatureColumn {
            name: header[column].clone(),
            kind,
            missing,
        });
    }
    Ok(RawData {
        feature_names: features.iter().map(|&c| header[c].clone()).collect(),
        target_name: header[target].clone(),
        columns: feature_columns,
        records,
        targets,
        target_values,
    })
}

/// The cells of one column of every row.
struct Cells<'a> {
    rows: &'a [::csv::StringRecord],
    column: usize,
    header: &'a [String],
    source_name: &'a str,
}

impl Cells<'_> {
    /// The column's type and its values: numbers (NaN when missing), or category
    /// indices. A column whose every cell is missing is an error.
    fn read(&self, parsing: &Parsing) -> Result<(ColumnKind, Vec<f32>), DataError> {
        let name = &self.header[self.column];
        let cells = || self.rows.iter().map(|r| &r[self.column]);
        if cells().all(|cell| parsing.is_missing(cell)) {
            return Err(DataError::EmptyColumn {
                source_name: self.source_name.to_string(),
                column: self.column + 1,
                name: name.clone(),
                rows: self.rows.len(),
            });
        }
        let text = cells().any(|c| !parsing.is_missing(c) && c.parse::<f32>().is_err());
        let categorical = parsing.categorical.contains(name)
            || (text && parsing.infer_categorical && !parsing.numeric.contains(name));
        if !categorical {
            let values = self.rows.iter().map(|record| {
                let cell = &record[self.column];
                if parsing.is_missing(cell) {
                    return Ok(f32::NAN);
                }
                let line = record.position().map_or(0, |p| p.line());
                parse_number(cell, line, self.column, self.header, self.source_name)
            });
            return Ok((ColumnKind::Numeric, values.collect::<Result<_, _>>()?));
        }
        let category = |cell: &str| {
            if parsing.is_missing(cell) {
                MISSING_CATEGORY.to_string()
            } else {
                cell.to_string()
            }
        };
        let categories: Vec<String> = cells()
            .map(category)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let values = cells()
            .map(|cell| {
                let index = categories.binary_search(&category(cell));
                index.expect("every cell's category is listed") as f32
            })
            .collect();
        Ok((ColumnKind::Categorical { categories }, values))
    }
}

/// The target's column and the feature columns (0-based), checked against the header.
fn select_columns(
    header: &[String],
    columns: Columns,
    source_name: &str,
) -> Result<(usize, Vec<usize>), DataError> {
    for (second, name) in header.iter().enumerate() {
        if let Some(first) = header[..second].iter().position(|h| h == name) {
            return Err(DataError::DuplicateColumn {
                source_name: source_name.to_string(),
                name: name.clone(),
                first: first + 1,
                second: second + 1,
            });
        }
    }
    let find = |name: &str, what: &str| {
        header
            .iter()
            .position(|h| h == name)
            .ok_or_else(|| DataError::UnknownColumn {
                source_name: source_name.to_string(),
                name: name.to_string(),
                what: what.to_string(),
                available: header.join(", "),
            })
    };
    let columns_error = |message: String| DataError::Columns {
        source_name: source_name.to_string(),
        message,
    };
    let features = match columns.features {
        Some(names) => names
            .iter()
            .map(|name| find(name, "a feature column"))
            .collect::<Result<Vec<_>, _>>()?,
        None => Vec::new(),
    };
    let target = match columns.target {
        Some(name) => find(name, "the target column")?,
        None => {
            let rest: Vec<usize> = (0..header.len())
                .filter(|c| !features.contains(c))
                .collect();
            match rest[..] {
                [only] => only,
                _ => {
                    return Err(columns_error(format!(
                        "cannot tell which column holds the classes: name it with --target (columns: {})",
                        header.join(", ")
                    )))
                }
            }
        }
    };
    let features = match columns.features {
        Some(_) => features,
        None => (0..header.len()).filter(|&c| c != target).collect(),
    };
    if features.contains(&target) {
        return Err(columns_error(format!(
            "the target column `{}` cannot also be a feature",
            header[target]
        )));
    }
    if let Some((i, &c)) = features
        .iter()
        .enumerate()
        .find(|(i, c)| features[..*i].contains(c))
    {
        return Err(columns_error(format!(
            "feature `{}` is selected twice (at positions {} and {})",
            header[c],
            features.iter().position(|&f| f == c).expect("found above") + 1,
            i + 1
        )));
    }
    if features.is_empty() {
        return Err(columns_error(format!(
            "no feature columns besides the target `{}`",
            header[target]
        )));
    }
    Ok((target, features))
}

fn parse_number(
    field: &str,
    line: u64,
    column: usize,
    header: &[String],
    source_name: &str,
) -> Result<f32, DataError> {
    let at = |make: fn(String, u64, usize, String, String) -> DataError| {
        make(
            source_name.to_string(),
            line,
            column + 1,
            header[column].clone(),
            field.to_string(),
        )
    };
    let value: f32 = field.parse().map_err(|_| {
        at(
            |source_name, line, column, name, value| DataError::NotNumber {
                source_name,
                line,
                column,
                name,
                value,
            },
        )
    })?;
    if !value.is_finite() {
        return Err(at(|source_name, line, column, name, value| {
            DataError::NotFinite {
                source_name,
                line,
                column,
                name,
                value,
            }
        }));
    }
    Ok(value)
}

fn missing(source_name: &str, line: u64, column: usize, header: &[String]) -> DataError {
    DataError::Missing {
        source_name: source_name.to_string(),
        line,
        column: column + 1,
        name: header[column].clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::ClassLabels;

    const ALL: Columns = Columns {
        target: Some("kind"),
        features: None,
    };

    fn table(text: &str) -> Result<Table, DataError> {
        table_with(text, &Parsing::default())
    }

    fn table_with(text: &str, parsing: &Parsing) -> Result<Table, DataError> {
        let raw = read(text.as_bytes(), "t.csv", ALL, parsing, &Progress::hidden())?;
        into_table(raw, "t.csv")
    }

    fn error(text: &str) -> String {
        table(text).unwrap_err().to_string()
    }

    #[test]
    fn string_classes_are_sorted_and_rows_keep_their_class() {
        let t = table("a,kind,b\n1,zeta,2\n3,alpha,4\n5,zeta,6\n").unwrap();
        assert_eq!(t.feature_names, ["a", "b"]);
        assert_eq!(
            t.labels,
            ClassLabels::Str(vec!["alpha".into(), "zeta".into()])
        );
        assert_eq!(t.targets, [1, 0, 1]);
        assert_eq!(t.records.row(1).to_vec(), [3.0, 4.0]);
    }

    #[test]
    fn integer_classes_are_sorted_numerically() {
        let t = table("a,kind\n1,10\n2,9\n3,-1\n4,09\n").unwrap();
        assert_eq!(t.labels, ClassLabels::Int(vec![-1, 9, 10]));
        assert_eq!(t.class_names, ["-1", "9", "10"]);
        assert_eq!(t.targets, [2, 1, 0, 1]);
    }

    #[test]
    fn features_can_be_selected_and_reordered() {
        let raw = read(
            "a,b,kind,c\n1,2,x,3\n".as_bytes(),
            "t.csv",
            Columns {
                target: Some("kind"),
                features: Some(&["c".into(), "a".into()]),
            },
            &Parsing::default(),
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(raw.feature_names, ["c", "a"]);
        assert_eq!(raw.records.row(0).to_vec(), [3.0, 1.0]);
    }

    #[test]
    fn target_is_inferred_when_one_column_is_left() {
        let raw = read(
            "a,kind,b\n1,x,2\n".as_bytes(),
            "t.csv",
            Columns {
                target: None,
                features: Some(&["b".into(), "a".into()]),
            },
            &Parsing::default(),
            &Progress::hidden(),
        )
        .unwrap();
        assert_eq!(raw.target_name, "kind");
    }

    #[test]
    fn rejects_an_empty_file() {
        assert!(error("").contains("t.csv is empty"), "{}", error(""));
    }

    #[test]
    fn rejects_a_header_without_rows() {
        let e = error("a,kind\n");
        assert!(e.contains("header row but no data rows"), "{e}");
    }

    #[test]
    fn missing_numbers_are_nan_and_counted_per_column() {
        let t = table("a,b,kind\n1,2,x\n3,,y\nNA,?,y\nnull,NaN,x\n").unwrap();
        assert_eq!(t.columns[0].missing, 2);
        assert_eq!(t.columns[1].missing, 3);
        assert!(!t.columns.iter().any(FeatureColumn::is_categorical));
        assert_eq!(t.records[[0, 1]], 2.0);
        assert!(t.records[[1, 1]].is_nan() && t.records[[2, 0]].is_nan());
    }

    #[test]
    fn na_replaces_the_missing_value_tokens_but_not_the_empty_cell() {
        let parsing = Parsing {
            na: vec!["-".into()],
            ..Parsing::default()
        };
        let t = table_with("a,b,kind\n-,,x\n1,2,y\n", &parsing).unwrap();
        assert_eq!((t.columns[0].missing, t.columns[1].missing), (1, 1));
        let e = table_with("a,kind\nNA,x\n1,y\n", &parsing).unwrap().columns[0].clone();
        assert!(
            e.is_categorical(),
            "NA is a category once --na leaves it out"
        );
    }

    #[test]
    fn a_text_cell_makes_a_column_categorical_with_sorted_categories() {
        let t =
            table("a,region,kind\n1,Île de France,x\n2,Bretagne,y\n3,,y\n4,Bretagne,x\n").unwrap();
        assert_eq!(t.columns[1].missing, 1);
        let ColumnKind::Categorical { categories } = &t.columns[1].kind else {
            panic!("{:?}", t.columns[1])
        };
        assert_eq!(categories, &["", "Bretagne", "Île de France"]);
        let codes: Vec<f32> = t.records.column(1).to_vec();
        assert_eq!(codes, [2.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn columns_can_be_forced_categorical_or_numeric() {
        let forced = Parsing {
            categorical: vec!["a".into()],
            ..Parsing::default()
        };
        let t = table_with("a,b,kind\n1,2,x\n01,3,y\n", &forced).unwrap();
        assert!(t.columns[0].is_categorical() && !t.columns[1].is_categorical());
        let numeric = Parsing {
            numeric: vec!["b".into()],
            ..Parsing::default()
        };
        let e = table_with("a,b,kind\n1,2,x\n3,4,y\n5,high,y\n", &numeric)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("line 4, column 2 `b`: `high` is not a number"),
            "{e}"
        );
        let unknown = Parsing {
            numeric: vec!["c".into()],
            ..Parsing::default()
        };
        let e = table_with("a,b,kind\n1,2,x\n", &unknown)
            .unwrap_err()
            .to_string();
        assert!(e.contains("no column `c`"), "{e}");
    }

    #[test]
    fn rejects_a_column_with_no_value() {
        let e = error("a,b,kind\n1,,x\n2,NA,y\n");
        assert!(
            e.contains("column 2 `b`: every one of the 2 rows is missing a value"),
            "{e}"
        );
    }

    #[test]
    fn rejects_a_missing_target() {
        let e = error("a,kind\n1,x\n2,\n");
        assert!(e.contains("line 3, column 2 `kind`: missing value"), "{e}");
        let e = error("a,kind\n1,x\n2,NA\n");
        assert!(e.contains("line 3, column 2 `kind`: missing value"), "{e}");
    }

    #[test]
    fn rejects_infinity_and_values_beyond_f32() {
        for bad in ["inf", "-Infinity", "1e39"] {
            let e = error(&format!("a,kind\n1,x\n{bad},y\n"));
            assert!(
                e.contains(&format!("line 3, column 1 `a`: `{bad}` is not a finite")),
                "{e}"
            );
        }
    }

    #[test]
    fn rejects_ragged_rows() {
        let e = error("a,b,kind\n1,2,x\n3,4\n");
        assert!(e.contains("line 3: 2 fields, but the header has 3"), "{e}");
        let e = error("a,b,kind\n1,2,x,9\n");
        assert!(e.contains("line 2: 4 fields"), "{e}");
    }

    #[test]
    fn many_distinct_numbers_are_a_regression_target_unless_told_otherwise() {
        let mut text = String::from("a,kind\n");
        for i in 0..30 {
            text.push_str(&format!("{i},{}.5\n", i * 3));
        }
        let raw = || {
            read(
                text.as_bytes(),
                "t.csv",
                ALL,
                &Parsing::default(),
                &Progress::hidden(),
            )
        };
        let t = into_task_table(raw().unwrap(), "t.csv", TaskChoice::Infer).unwrap();
        assert!(t.is_regression());
        assert_eq!(t.values[2], 6.5);
        let classes = into_task_table(raw().unwrap(), "t.csv", TaskChoice::Classification);
        assert_eq!(classes.unwrap().class_names.len(), 30);
        // Few distinct integers stay classes.
        let t = table("a,kind\n1,0\n2,1\n3,2\n").unwrap();
        assert!(!t.is_regression());
        let few = read(
            "a,kind\n1,x\n2,y\n".as_bytes(),
            "t.csv",
            ALL,
            &Parsing::default(),
            &Progress::hidden(),
        );
        let e = into_task_table(few.unwrap(), "t.csv", TaskChoice::Regression).unwrap_err();
        assert!(
            e.to_string().contains("holds `x`, not a finite number"),
            "{e}"
        );
    }

    #[test]
    fn rejects_a_target_with_one_class() {
        let e = error("a,kind\n1,x\n2,x\n");
        assert!(e.contains("`kind` has one class (`x`)"), "{e}");
    }

    #[test]
    fn rejects_an_unknown_target_listing_the_columns() {
        let parsing = Parsing::default();
        let raw = read(
            "a,b\n1,2\n".as_bytes(),
            "t.csv",
            ALL,
            &parsing,
            &Progress::hidden(),
        );
        let e = raw.unwrap_err().to_string();
        assert!(
            e.contains("no column `kind`") && e.contains("columns are: a, b"),
            "{e}"
        );
    }

    #[test]
    fn rejects_duplicate_column_names_and_a_target_only_file() {
        let e = error("a,a,kind\n1,2,x\n");
        assert!(
            e.contains("column 2 repeats the name `a` of column 1"),
            "{e}"
        );
        let e = error("kind\nx\n");
        assert!(e.contains("no feature columns"), "{e}");
    }

    #[test]
    fn rejects_invalid_utf8_naming_the_line() {
        let mut bytes = b"a,kind\n1,x\n2,".to_vec();
        bytes.extend([0xff, 0xfe, b'\n']);
        let e = read(
            &bytes[..],
            "t.csv",
            ALL,
            &Parsing::default(),
            &Progress::hidden(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("t.csv line 3"), "{e}");
    }

    #[test]
    fn surrounding_spaces_and_a_byte_order_mark_are_ignored() {
        let t = table("\u{feff}a , kind\n 1.5 , x \n2,y\n").unwrap();
        assert_eq!(t.feature_names, ["a"]);
        assert_eq!(t.records[[0, 0]], 1.5);
        assert_eq!(t.class_names, ["x", "y"]);
    }
}
