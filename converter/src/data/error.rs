//! Why a CSV file cannot be used: one variant per problem, each message naming the file
//! and, where there is one, the line and column.

/// Why a CSV file cannot be used. Every message names the file, and the line and column
/// where there is one.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file cannot be opened or read.
    #[error("cannot read {source_name}: {error}")]
    Io {
        /// The file.
        source_name: String,
        /// The OS error.
        error: std::io::Error,
    },
    /// No header row.
    #[error(
        "{source_name} is empty: expected a header row naming the columns, then one row per sample"
    )]
    Empty {
        /// The file.
        source_name: String,
    },
    /// A header row and nothing else.
    #[error("{source_name} has a header row but no data rows")]
    NoRows {
        /// The file.
        source_name: String,
    },
    /// Two columns with one name.
    #[error("{source_name} line 1: column {second} repeats the name `{name}` of column {first}; column names must be unique")]
    DuplicateColumn {
        /// The file.
        source_name: String,
        /// The repeated name.
        name: String,
        /// 1-based column numbers.
        first: usize,
        /// 1-based column numbers.
        second: usize,
    },
    /// A column asked for is not in the header.
    #[error("{source_name} has no column `{name}` ({what}); its columns are: {available}")]
    UnknownColumn {
        /// The file.
        source_name: String,
        /// The name asked for.
        name: String,
        /// What the column was meant to be (`the --target column`, ...).
        what: String,
        /// The header's names, comma separated.
        available: String,
    },
    /// The column selection is unusable.
    #[error("{source_name}: {message}")]
    Columns {
        /// The file.
        source_name: String,
        /// What is wrong with the selection.
        message: String,
    },
    /// A row with more or fewer fields than the header.
    #[error("{source_name} line {line}: {found} fields, but the header has {expected} columns")]
    Ragged {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// Fields on the line.
        found: usize,
        /// Columns in the header.
        expected: usize,
    },
    /// A missing target.
    #[error("{source_name} line {line}, column {column} `{name}`: missing value; the target needs a value on every row (feature cells may be missing)")]
    Missing {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: String,
    },
    /// A cell that is not a number in a column read as numeric.
    #[error("{source_name} line {line}, column {column} `{name}`: `{value}` is not a number, and the column is read as numeric (leave it out of --numeric to read it as categorical, or list `{value}` in --na if it means a missing value)")]
    NotNumber {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: String,
        /// The field as written.
        value: String,
    },
    /// NaN, infinity, or a number beyond the 32-bit float range the model takes.
    #[error("{source_name} line {line}, column {column} `{name}`: `{value}` is not a finite 32-bit float; NaN and infinities cannot be split on or served")]
    NotFinite {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: String,
        /// The field as written.
        value: String,
    },
    /// A feature column with no value on any row.
    #[error("{source_name} column {column} `{name}`: every one of the {rows} rows is missing a value; leave the column out with --features")]
    EmptyColumn {
        /// The file.
        source_name: String,
        /// 1-based column number.
        column: usize,
        /// The column's name.
        name: String,
        /// Rows of the file.
        rows: usize,
    },
    /// The csv parser refused the bytes (invalid UTF-8, for one).
    #[error("{source_name} line {line}: {message}")]
    Parse {
        /// The file.
        source_name: String,
        /// 1-based line number.
        line: u64,
        /// The parser's description.
        message: String,
    },
    /// Every row has the same class.
    #[error("{source_name}: the target column `{target}` has one class (`{class}`) on every row; a classifier needs at least two")]
    OneClass {
        /// The file.
        source_name: String,
        /// The target column.
        target: String,
        /// The only class.
        class: String,
    },
}
