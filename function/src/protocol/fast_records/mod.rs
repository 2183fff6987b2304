//! The fast path for records, `{"input": [{"island": "Dream", ...}, ...]}` (or one record,
//! `{"input": {...}}`): each key is matched to a model column without a `String`, and each
//! value goes straight from the JSON text into its input's column, with no
//! `serde_json::Value` tree (a key and a map entry per value, see BENCHMARKS.md).
//!
//! As `fast_rows` does, it only ever says "this is the batch" or "not for me": a column
//! unknown, missing or twice in a record, a value of the wrong type or a `null` the column
//! does not take, anything unusual returns `None`, and the caller decodes the body again
//! through `Value` with [`super::records`], whose message is the one sent. Tests hold the
//! two paths equal.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use model::{Batch, Column, ElementType, ModelInfo, Values};

use super::fast_rows::{refuse, Body};
use super::rows::feature;

/// Whether the field may hold one record rather than a list of them (`/predict` and
/// CloudEvents take `{"input": {...}}`; KServe V1's `instances` is always a list).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum OneRecord {
    Taken,
    Refused,
}

/// The batch in `body` if it is `{"<field>": [record, ...]}` (at most `max_rows`
/// records) or, when `one` is taken, `{"<field>": record}`, every record having each of
/// the model's columns once with a value it takes; `None` for anything else.
pub fn decode(
    body: &[u8],
    field: &str,
    info: &ModelInfo,
    max_rows: usize,
    one: OneRecord,
) -> Option<Batch> {
    let mut decoder = Decoder::new(info)?;
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = Records {
        decoder: &mut decoder,
        max_rows,
        one,
    };
    Body { field, value }.deserialize(&mut deserializer).ok()?;
    deserializer.end().ok()?;
    Some(decoder.finish(info))
}

/// Where a column's values go: its input, and its place in the input's row.
struct Place {
    input: usize,
    /// The first of its values in a row of its input.
    offset: usize,
    /// 1 for a scalar, else the length of the array it is sent as.
    width: usize,
    takes_missing: bool,
}

/// Records going into one column of values per input, row by row.
struct Decoder<'i> {
    names: Vec<&'i str>,
    places: Vec<Place>,
    /// Values per row of each input.
    widths: Vec<usize>,
    columns: Vec<Values>,
    /// For each column, the number of the last row (from 1) it was seen in.
    seen: Vec<usize>,
    rows: usize,
    /// The column after the last one seen: records usually repeat their key order.
    next: usize,
}

impl<'i> Decoder<'i> {
    /// `None` for a model whose column names repeat (the general path fills every column
    /// of a name from one value; not worth a fast path).
    fn new(info: &'i ModelInfo) -> Option<Decoder<'i>> {
        let fields = info.fields();
        let mut names: Vec<&str> = fields.iter().map(|field| field.name).collect();
        names.sort_unstable();
        names.dedup();
        if names.len() != fields.len() {
            return None;
        }
        let mut filled = vec![0; info.inputs.len()];
        let places = (fields.iter())
            .map(|field| {
                let offset = filled[field.input];
                filled[field.input] += field.width;
                Place {
                    input: field.input,
                    offset,
                    width: field.width,
                    takes_missing: field.takes_missing,
                }
            })
            .collect();
        Some(Decoder {
            names: fields.iter().map(|field| field.name).collect(),
            places,
            widths: info.inputs.iter().map(|input| input.width).collect(),
            columns: (info.inputs.iter())
                .map(|input| Values::with_capacity(input.element, 0))
                .collect(),
            seen: vec![0; fields.len()],
            rows: 0,
            next: 0,
        })
    }

    /// The column named `key`, if the model has one.
    fn column(&self, key: &str) -> Option<usize> {
        let guess = self.next;
        if self.names.get(guess) == Some(&key) {
            return Some(guess);
        }
        self.names.iter().position(|name| *name == key)
    }

    /// Makes room for one more row in every input, to be overwritten column by column.
    fn open_row(&mut self) {
        for (values, &width) in self.columns.iter_mut().zip(&self.widths) {
            match values {
                Values::F32(floats) => floats.resize(floats.len() + width, 0.0),
                Values::I64(ints) => ints.resize(ints.len() + width, 0),
                Values::Str(strings) => strings.resize(strings.len() + width, String::new()),
            }
        }
    }

    /// The values of column `column` in the open row.
    fn cells(&mut self, column: usize) -> Cells<'_> {
        let place = &self.places[column];
        let start = (self.rows - 1) * self.widths[place.input] + place.offset;
        let range = start..start + place.width;
        match &mut self.columns[place.input] {
            Values::F32(floats) => Cells::F32(&mut floats[range], place.takes_missing),
            Values::I64(ints) => Cells::I64(&mut ints[range]),
            Values::Str(strings) => Cells::Str(&mut strings[range], place.takes_missing),
        }
    }

    /// The batch of the rows decoded.
    fn finish(self, info: &ModelInfo) -> Batch {
        let widths = info.inputs.iter().map(|input| input.width);
        let columns = (self.columns.into_iter().zip(widths))
            .map(|(values, width)| Column::new(values, width));
        Batch::from_columns(self.rows, columns)
    }
}

/// The field's value: a non-empty list of records, or one record.
struct Records<'d, 'i> {
    decoder: &'d mut Decoder<'i>,
    max_rows: usize,
    one: OneRecord,
}

impl<'de> DeserializeSeed<'de> for Records<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Records<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record or a list of records")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items
            .next_element_seed(Record(&mut *self.decoder))?
            .is_some()
        {
            if self.decoder.rows > self.max_rows {
                return Err(refuse());
            }
        }
        // An empty list is the general path's to refuse.
        (self.decoder.rows > 0).then_some(()).ok_or_else(refuse)
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        if self.one == OneRecord::Refused {
            return Err(refuse());
        }
        Record(self.decoder).visit_map(map)
    }
}

/// One record, a row: each column once, in any order.
struct Record<'d, 'i>(&'d mut Decoder<'i>);

impl<'de> DeserializeSeed<'de> for Record<'_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for Record<'_, '_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a record")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let decoder = self.0;
        decoder.open_row();
        decoder.rows += 1;
        let row = decoder.rows;
        let mut found = 0;
        while let Some(column) = map.next_key_seed(Name(decoder))? {
            if decoder.seen[column] == row {
                return Err(refuse());
            }
            decoder.seen[column] = row;
            decoder.next = column + 1;
            found += 1;
            map.next_value_seed(decoder.cells(column))?;
        }
        (found == decoder.names.len())
            .then_some(())
            .ok_or_else(refuse)
    }
}

/// A record's key: the model's column of that name, compared without copying it.
struct Name<'d, 'i>(&'d Decoder<'i>);

impl<'de> DeserializeSeed<'de> for Name<'_, '_> {
    type Value = usize;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<usize, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Name<'_, '_> {
    type Value = usize;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a column name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<usize, E> {
        self.0.column(key).ok_or_else(refuse)
    }
}

/// A column's values in the open row: a scalar when there is one, else an array.
enum Cells<'c> {
    F32(&'c mut [f32], bool),
    I64(&'c mut [i64]),
    Str(&'c mut [String], bool),
}

impl Cells<'_> {
    fn len(&self) -> usize {
        match self {
            Cells::F32(floats, _) => floats.len(),
            Cells::I64(ints) => ints.len(),
            Cells::Str(strings, _) => strings.len(),
        }
    }

    fn cell(&mut self, i: usize) -> Cell<'_> {
        match self {
            Cells::F32(floats, takes_missing) => Cell::F32(&mut floats[i], *takes_missing),
            Cells::I64(ints) => Cell::I64(&mut ints[i]),
            Cells::Str(strings, takes_missing) => Cell::Str(&mut strings[i], *takes_missing),
        }
    }
}

impl<'de> DeserializeSeed<'de> for Cells<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(mut self, deserializer: D) -> Result<(), D::Error> {
        // As the general path: a column of one value is a scalar, even of a wider input.
        if self.len() == 1 {
            deserializer.deserialize_any(self.cell(0))
        } else {
            deserializer.deserialize_seq(self)
        }
    }
}

impl<'de> Visitor<'de> for Cells<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an array of {} values", self.len())
    }
    fn visit_seq<A: SeqAccess<'de>>(mut self, mut items: A) -> Result<(), A::Error> {
        for i in 0..self.len() {
            if items.next_element_seed(self.cell(i))?.is_none() {
                return Err(refuse());
            }
        }
        match items.next_element::<IgnoredAny>()? {
            None => Ok(()),
            Some(_) => Err(refuse()),
        }
    }
}

/// One value, checked as [`super::rows::push_value`] checks it.
enum Cell<'c> {
    F32(&'c mut f32, bool),
    I64(&'c mut i64),
    Str(&'c mut String, bool),
}

impl Cell<'_> {
    fn number<E: de::Error>(self, number: Option<f64>, int: Option<i64>) -> Result<(), E> {
        match self {
            Cell::F32(cell, takes_missing) => {
                *cell = feature(number, takes_missing).map_err(|_| refuse())?
            }
            // A JSON number is an int64 only if written as an integer that fits.
            Cell::I64(cell) => *cell = int.ok_or_else(refuse)?,
            Cell::Str(..) => return Err(refuse()),
        }
        Ok(())
    }
}

impl<'de> DeserializeSeed<'de> for Cell<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Cell<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        let element = match self {
            Cell::F32(..) => ElementType::F32,
            Cell::I64(_) => ElementType::I64,
            Cell::Str(..) => ElementType::Str,
        };
        write!(f, "a value of {element:?}")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<(), E> {
        self.number(Some(v), None)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<(), E> {
        self.number(Some(v as f64), i64::try_from(v).ok())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<(), E> {
        self.number(Some(v as f64), Some(v))
    }
    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        match self {
            Cell::F32(cell, takes_missing) => {
                *cell = feature(None, takes_missing).map_err(|_| refuse())?;
                Ok(())
            }
            // The model's missing category: the empty string the cell already holds.
            Cell::Str(cell, true) => {
                cell.clear();
                Ok(())
            }
            _ => Err(refuse()),
        }
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<(), E> {
        self.visit_string(v.to_owned())
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<(), E> {
        match self {
            Cell::Str(cell, _) => {
                *cell = v;
                Ok(())
            }
            _ => Err(refuse()),
        }
    }
}

#[cfg(test)]
mod tests;
