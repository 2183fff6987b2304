//! A user's CSV file as a [`Table`]: a header row, numeric feature columns and one target
//! column of integer or string classes. The file is streamed record by record, and every
//! problem is an error naming the line and column.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use ndarray::Array2;

pub use super::error::DataError;
use super::{ClassLabels, Table};
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
    /// rows x features.
    pub records: Array2<f32>,
    /// Per row, an index into `target_values`.
    pub targets: Vec<usize>,
    /// The distinct target texts, in the order they first appear.
    pub target_values: Vec<String>,
}

/// Reads `path` as a training table: features and targets, with classes assigned.
pub fn load_table(path: &Path, columns: Columns, progress: &Progress) -> Result<Table, DataError> {
    let raw = read_path(path, columns, progress)?;
    into_table(raw, &path.display().to_string())
}

/// Streams the CSV file at `path`.
pub fn read_path(path: &Path, columns: Columns, progress: &Progress) -> Result<RawData, DataError> {
    let source_name = path.display().to_string();
    let file = std::fs::File::open(path).map_err(|error| DataError::Io {
        source_name: source_name.clone(),
        error,
    })?;
    read(file, &source_name, columns, progress)
}

/// Streams CSV from `input`; `source_name` names it in errors.
pub fn read(
    input: impl Read,
    source_name: &str,
    columns: Columns,
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

    let mut values = Vec::new();
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
        for &column in &features {
            values.push(parse_feature(
                &record[column],
                line,
                column,
                &header,
                source_name,
            )?);
        }
        let class = &record[target];
        if class.is_empty() {
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
        if targets.len().is_multiple_of(PROGRESS_EVERY) {
            progress.set_position(reader.position().byte());
        }
    }
    if targets.is_empty() {
        return Err(DataError::NoRows {
            source_name: source_name.to_string(),
        });
    }
    let records = Array2::from_shape_vec((targets.len(), features.len()), values)
        .expect("every row pushed one value per feature");
    Ok(RawData {
        feature_names: features.iter().map(|&c| header[c].clone()).collect(),
        target_name: header[target].clone(),
        records,
        targets,
        target_values,
    })
}

/// Assigns classes: integer labels in numeric order when every target is an integer,
/// otherwise string labels in byte order, so the class order never depends on the row
/// order or on hashing.
pub fn into_table(raw: RawData, source_name: &str) -> Result<Table, DataError> {
    let ints: Option<Vec<i64>> = raw
        .target_values
        .iter()
        .map(|v| v.parse::<i64>().ok())
        .collect();
    // Each distinct text -> its class index.
    let (class_of_value, labels, class_names) = match ints {
        Some(ints) => {
            // "1" and "01" are one class: they are one integer label.
            let sorted: BTreeMap<i64, ()> = ints.iter().map(|&i| (i, ())).collect();
            let order: Vec<i64> = sorted.into_keys().collect();
            let class_of = ints
                .iter()
                .map(|i| order.binary_search(i).expect("every value is in the order"))
                .collect::<Vec<_>>();
            let names = order.iter().map(i64::to_string).collect();
            (class_of, ClassLabels::Int(order), names)
        }
        None => {
            let mut order = raw.target_values.clone();
            order.sort_unstable();
            let class_of = raw
                .target_values
                .iter()
                .map(|v| order.binary_search(v).expect("every value is in the order"))
                .collect::<Vec<_>>();
            (class_of, ClassLabels::Str(order.clone()), order)
        }
    };
    if labels.len() < 2 {
        return Err(DataError::OneClass {
            source_name: source_name.to_string(),
            target: raw.target_name,
            class: class_names[0].clone(),
        });
    }
    Ok(Table {
        records: raw.records,
        targets: raw.targets.iter().map(|&v| class_of_value[v]).collect(),
        feature_names: raw.feature_names,
        class_names,
        labels,
    })
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

fn parse_feature(
    field: &str,
    line: u64,
    column: usize,
    header: &[String],
    source_name: &str,
) -> Result<f32, DataError> {
    if field.is_empty() {
        return Err(missing(source_name, line, column, header));
    }
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

    const ALL: Columns = Columns {
        target: Some("kind"),
        features: None,
    };

    fn table(text: &str) -> Result<Table, DataError> {
        let raw = read(text.as_bytes(), "t.csv", ALL, &Progress::hidden())?;
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
    fn rejects_a_missing_feature_naming_line_and_column() {
        let e = error("a,b,kind\n1,2,x\n3,,y\n");
        assert!(e.contains("line 3, column 2 `b`: missing value"), "{e}");
    }

    #[test]
    fn rejects_a_missing_target() {
        let e = error("a,kind\n1,x\n2,\n");
        assert!(e.contains("line 3, column 2 `kind`: missing value"), "{e}");
    }

    #[test]
    fn rejects_text_in_a_feature_column() {
        let e = error("a,b,kind\n1,2,x\n3,4,y\n5,high,y\n");
        assert!(
            e.contains("line 4, column 2 `b`: `high` is not a number"),
            "{e}"
        );
    }

    #[test]
    fn rejects_nan_infinity_and_values_beyond_f32() {
        for bad in ["NaN", "inf", "-Infinity", "1e39"] {
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
    fn rejects_a_target_with_one_class() {
        let e = error("a,kind\n1,x\n2,x\n");
        assert!(e.contains("`kind` has one class (`x`)"), "{e}");
    }

    #[test]
    fn rejects_an_unknown_target_listing_the_columns() {
        let raw = read("a,b\n1,2\n".as_bytes(), "t.csv", ALL, &Progress::hidden());
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
        let e = read(&bytes[..], "t.csv", ALL, &Progress::hidden())
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
