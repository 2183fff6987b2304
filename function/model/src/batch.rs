//! The rows a prediction takes: what every protocol decodes its request into.

/// Rows of features, row-major, each row exactly as wide as the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    values: Vec<f32>,
    rows: usize,
}

impl Batch {
    /// A batch of `values.len() / width` rows. Callers have checked the row widths.
    pub fn new(values: Vec<f32>, width: usize) -> Batch {
        debug_assert!(width > 0 && values.len().is_multiple_of(width));
        let rows = values.len().checked_div(width).unwrap_or(0);
        Batch { values, rows }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// The values of every row, row-major.
    pub(crate) fn values(&self) -> &[f32] {
        &self.values
    }
}
