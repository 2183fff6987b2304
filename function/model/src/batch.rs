//! The rows a prediction takes: what every protocol decodes its request into. One typed
//! block of values per graph input ([`Column`]), each row-major, all with the same rows.

use smallvec::SmallVec;

use crate::info::ElementType;

/// The values of one graph input for every row of a batch, row-major, in the input's
/// element type.
#[derive(Debug, Clone, PartialEq)]
pub enum Values {
    /// A float input's values (NaN is a missing value).
    F32(Vec<f32>),
    /// An int64 input's values.
    I64(Vec<i64>),
    /// A string input's values.
    Str(Vec<String>),
}

impl Values {
    /// No values yet, of `element` type, with room for `capacity`.
    pub fn with_capacity(element: ElementType, capacity: usize) -> Values {
        match element {
            ElementType::F32 => Values::F32(Vec::with_capacity(capacity)),
            ElementType::I64 => Values::I64(Vec::with_capacity(capacity)),
            ElementType::Str => Values::Str(Vec::with_capacity(capacity)),
        }
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        match self {
            Values::F32(v) => v.len(),
            Values::I64(v) => v.len(),
            Values::Str(v) => v.len(),
        }
    }

    /// Whether there are no values.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Their element type.
    pub fn element(&self) -> ElementType {
        match self {
            Values::F32(_) => ElementType::F32,
            Values::I64(_) => ElementType::I64,
            Values::Str(_) => ElementType::Str,
        }
    }
}

/// One graph input's block of a batch: `width` values per row, row-major.
#[derive(Debug, Clone, PartialEq)]
pub struct Column {
    width: usize,
    values: Values,
}

impl Column {
    /// The block of `values`, `width` per row. Callers have checked the row widths.
    pub fn new(values: Values, width: usize) -> Column {
        debug_assert!(width > 0 && values.len().is_multiple_of(width));
        Column { width, values }
    }

    /// Values per row.
    pub fn width(&self) -> usize {
        self.width
    }

    /// The values of every row, row-major.
    pub fn values(&self) -> &Values {
        &self.values
    }

    /// Number of rows.
    fn rows(&self) -> usize {
        self.values.len().checked_div(self.width).unwrap_or(0)
    }
}

/// Rows to predict: one [`Column`] per graph input, in the graph's input order. Inline
/// for one input (the common model: one float input `[N, features]`), so a request of
/// that model allocates nothing beyond its values.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    rows: usize,
    columns: SmallVec<[Column; 1]>,
}

impl Batch {
    /// A batch of `values.len() / width` rows of the model's one float input. Callers
    /// have checked the row widths.
    pub fn new(values: Vec<f32>, width: usize) -> Batch {
        let column = Column::new(Values::F32(values), width);
        Batch {
            rows: column.rows(),
            columns: SmallVec::from_buf([column]),
        }
    }

    /// A batch of `rows` rows, one column per graph input in the graph's order. Callers
    /// have checked that each column holds `rows` rows.
    pub fn from_columns(rows: usize, columns: impl IntoIterator<Item = Column>) -> Batch {
        let columns: SmallVec<[Column; 1]> = columns.into_iter().collect();
        debug_assert!(columns.iter().all(|c| c.rows() == rows));
        Batch { rows, columns }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }

    /// One block per graph input, in the graph's order.
    pub fn columns(&self) -> &[Column] {
        &self.columns
    }

    /// The values of a batch of one float input, row-major; `None` for any other.
    pub(crate) fn single_f32(&self) -> Option<&[f32]> {
        match &self.columns[..] {
            [Column {
                values: Values::F32(values),
                ..
            }] => Some(values),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_float_batch_counts_its_rows_by_width() {
        let batch = Batch::new(vec![1.0; 8], 4);
        assert_eq!(batch.rows(), 2);
        assert_eq!(batch.columns().len(), 1);
        assert_eq!(batch.single_f32(), Some(&[1.0; 8][..]));
    }

    #[test]
    fn a_batch_of_several_inputs_keeps_them_in_order() {
        let batch = Batch::from_columns(
            2,
            [
                Column::new(Values::Str(vec!["a".into(), "b".into()]), 1),
                Column::new(Values::F32(vec![1.0, 2.0, 3.0, 4.0]), 2),
            ],
        );
        assert_eq!(batch.rows(), 2);
        let elements: Vec<ElementType> = batch
            .columns()
            .iter()
            .map(|c| c.values().element())
            .collect();
        assert_eq!(elements, [ElementType::Str, ElementType::F32]);
        assert_eq!(batch.single_f32(), None);
    }
}
