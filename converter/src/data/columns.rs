//! Feature column types: numeric or categorical, inferred from a CSV file's cells (a
//! column with any cell that is neither a number nor a missing-value token is
//! categorical) or forced by the user, and which cells count as missing.

use serde::Serialize;

/// Cell texts read as a missing value besides the empty cell, unless `--na` says
/// otherwise.
pub const DEFAULT_NA: [&str; 4] = ["NA", "NaN", "null", "?"];

/// The category a missing cell of a categorical column becomes: the empty string, so
/// a missing value is a category of its own that the served model also takes (as `""`).
pub const MISSING_CATEGORY: &str = "";

/// What a feature column holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ColumnKind {
    /// Numbers; a missing cell is NaN in the table.
    Numeric,
    /// Texts. The table holds each cell's index into `categories` (byte order; a missing
    /// cell is [`MISSING_CATEGORY`]).
    Categorical {
        /// Every category of the file, sorted.
        categories: Vec<String>,
    },
}

/// A feature column: its name, type and how many of its cells were missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FeatureColumn {
    /// The header's name.
    pub name: String,
    /// Numeric or categorical.
    pub kind: ColumnKind,
    /// Cells that were empty or a missing-value token.
    pub missing: usize,
}

impl FeatureColumn {
    /// A numeric column with no missing cells.
    pub fn numeric(name: &str) -> FeatureColumn {
        FeatureColumn {
            name: name.to_string(),
            kind: ColumnKind::Numeric,
            missing: 0,
        }
    }

    /// Whether the column is categorical.
    pub fn is_categorical(&self) -> bool {
        matches!(self.kind, ColumnKind::Categorical { .. })
    }

    /// `numeric` or `categorical`, as reports spell it.
    pub fn type_name(&self) -> &'static str {
        match self.kind {
            ColumnKind::Numeric => "numeric",
            ColumnKind::Categorical { .. } => "categorical",
        }
    }

    /// The column as the reports describe it.
    pub fn summary(&self) -> ColumnSummary {
        ColumnSummary {
            name: self.name.clone(),
            r#type: self.type_name(),
            missing: self.missing,
            categories: match &self.kind {
                ColumnKind::Numeric => None,
                ColumnKind::Categorical { categories } => Some(categories.len()),
            },
        }
    }
}

/// One column in the `train` report (text and `--json`).
#[derive(Debug, Clone, Serialize)]
pub struct ColumnSummary {
    /// The column's name.
    pub name: String,
    /// `numeric` or `categorical`.
    #[serde(rename = "type")]
    pub r#type: &'static str,
    /// Missing cells.
    pub missing: usize,
    /// Distinct categories (a missing cell counting as one), for a categorical column.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub categories: Option<usize>,
}

impl std::fmt::Display for ColumnSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.r#type)?;
        if let Some(n) = self.categories {
            write!(f, " ({n} categories)")?;
        }
        write!(f, ", {} missing", self.missing)
    }
}

/// How cells are read: the missing-value tokens and the column types the user forces.
#[derive(Debug, Clone)]
pub struct Parsing {
    /// Cell texts that mean a missing value (the empty cell always does).
    pub na: Vec<String>,
    /// Columns read as categorical whatever their cells.
    pub categorical: Vec<String>,
    /// Columns that must be numeric: a cell that is not a number is an error.
    pub numeric: Vec<String>,
    /// Whether a column may be inferred categorical; when not, a text cell is an error
    /// (`verify` feeds one float input).
    pub infer_categorical: bool,
}

impl Default for Parsing {
    fn default() -> Self {
        Parsing {
            na: DEFAULT_NA.map(String::from).to_vec(),
            categorical: Vec::new(),
            numeric: Vec::new(),
            infer_categorical: true,
        }
    }
}

impl Parsing {
    /// Whether `cell` (already trimmed) is a missing value.
    pub fn is_missing(&self, cell: &str) -> bool {
        cell.is_empty() || self.na.iter().any(|na| na == cell)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_empty_cell_and_the_tokens_are_missing_and_nothing_else() {
        let parsing = Parsing::default();
        for cell in ["", "NA", "NaN", "null", "?"] {
            assert!(parsing.is_missing(cell), "{cell:?}");
        }
        for cell in ["0", "na", "none", "-"] {
            assert!(!parsing.is_missing(cell), "{cell:?}");
        }
        let custom = Parsing {
            na: vec!["-".into()],
            ..Parsing::default()
        };
        assert!(custom.is_missing("-") && custom.is_missing("") && !custom.is_missing("NA"));
    }

    #[test]
    fn a_summary_line_names_type_categories_and_missing_count() {
        let column = FeatureColumn {
            name: "plan".into(),
            kind: ColumnKind::Categorical {
                categories: vec!["".into(), "basic".into(), "pro".into()],
            },
            missing: 4,
        };
        assert_eq!(
            column.summary().to_string(),
            "plan: categorical (3 categories), 4 missing"
        );
        assert_eq!(
            FeatureColumn::numeric("age").summary().to_string(),
            "age: numeric, 0 missing"
        );
    }
}
