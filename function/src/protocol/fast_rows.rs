//! The fast path for the commonest body, `{"input": [f1, ...]}` or
//! `{"input": [[f1, ...], ...]}` for a model of one float input: numbers go straight from
//! the JSON text into the batch's `Vec<f32>`, with no `serde_json::Value` tree (one
//! allocation per number and per row). Records take `fast_records`, other models the
//! general path.
//!
//! It only ever says "this is the batch" or "not for me". Anything unusual (a wrong
//! width, a string, a missing value the model cannot take, an unknown field) returns
//! `None`, and the caller decodes the body again through `Value`, which explains the
//! problem. So a valid body gets exactly the batch the slow path would build, and an
//! invalid one gets exactly the slow path's message; tests hold the two paths equal.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

use model::{Batch, ElementType, ModelInfo};

use super::rows::feature;

/// The batch in `body` if the model has one float input and `body` is
/// `{"<field>": row}` or `{"<field>": [row, ...]}` with at most `max_rows` rows, each as
/// wide as the input and every value a feature the input takes; `None` for anything
/// else.
pub fn decode(body: &[u8], field: &str, info: &ModelInfo, max_rows: usize) -> Option<Batch> {
    let input = info
        .positional()
        .filter(|i| i.element == ElementType::F32)?;
    let mut values = Vec::new();
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    Body {
        field,
        value: Rows {
            width: input.width,
            missing_ok: input.takes_missing,
            max_rows,
            values: &mut values,
        },
    }
    .deserialize(&mut deserializer)
    .ok()?;
    deserializer.end().ok()?;
    Some(Batch::new(values, input.width))
}

/// Refuses, for the slow path to explain. The message is never shown.
pub(super) fn refuse<E: de::Error>() -> E {
    E::custom("")
}

/// The top-level object: exactly one key, `field`, whose value `value` reads (rows
/// here, records in `fast_records`).
pub(super) struct Body<'f, S> {
    pub(super) field: &'f str,
    pub(super) value: S,
}

impl<'de, S: DeserializeSeed<'de, Value = ()>> DeserializeSeed<'de> for Body<'_, S> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de, S: DeserializeSeed<'de, Value = ()>> Visitor<'de> for Body<'_, S> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        write!(f, "an object with one field, `{}`", self.field)
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let Body { field, value } = self;
        match map.next_key_seed(Key(field))? {
            Some(true) => map.next_value_seed(value)?,
            _ => return Err(refuse()),
        }
        match map.next_key::<IgnoredAny>()? {
            None => Ok(()),
            Some(_) => Err(refuse()),
        }
    }
}

/// A map key, compared with the expected name without copying it.
struct Key<'f>(&'f str);

impl<'de> DeserializeSeed<'de> for Key<'_> {
    type Value = bool;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<bool, D::Error> {
        deserializer.deserialize_str(self)
    }
}

impl<'de> Visitor<'de> for Key<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a field name")
    }
    fn visit_str<E: de::Error>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

/// The value of the field: one row of numbers, or a non-empty list of rows.
struct Rows<'a> {
    width: usize,
    missing_ok: bool,
    max_rows: usize,
    values: &'a mut Vec<f32>,
}

impl<'de> DeserializeSeed<'de> for Rows<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for Rows<'_> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a row or a list of rows")
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        let (width, missing_ok) = (self.width, self.missing_ok);
        let mut shape = Shape::Unknown;
        let mut rows = 0usize;
        loop {
            let item = Item {
                shape,
                width,
                missing_ok,
                values: &mut *self.values,
            };
            match items.next_element_seed(item)? {
                None => break,
                Some(seen) => shape = seen,
            }
            if shape == Shape::Rows {
                rows += 1;
                if rows > self.max_rows {
                    return Err(refuse());
                }
            }
        }
        let complete = match shape {
            Shape::Unknown => false,
            Shape::Row => self.values.len() == width,
            Shape::Rows => true,
        };
        complete.then_some(()).ok_or_else(refuse)
    }
}

/// What the list holds, decided by its first item.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Shape {
    Unknown,
    /// Numbers: a single row.
    Row,
    /// Lists: rows.
    Rows,
}

/// One item of the list: a number (of a single row) or a row (of a batch), whichever
/// the list started with.
struct Item<'v> {
    shape: Shape,
    width: usize,
    missing_ok: bool,
    values: &'v mut Vec<f32>,
}

impl<'de> DeserializeSeed<'de> for Item<'_> {
    type Value = Shape;
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Shape, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl Item<'_> {
    fn number<E: de::Error>(self, number: Option<f64>) -> Result<Shape, E> {
        if self.shape == Shape::Rows || self.values.len() >= self.width {
            return Err(refuse());
        }
        let feature = feature(number, self.missing_ok).map_err(|_| refuse())?;
        self.values.push(feature);
        Ok(Shape::Row)
    }
}

impl<'de> Visitor<'de> for Item<'_> {
    type Value = Shape;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a number, null or a row")
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Shape, E> {
        self.number(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Shape, E> {
        self.number(Some(v as f64))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Shape, E> {
        self.number(Some(v as f64))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Shape, E> {
        self.number(None)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut row: A) -> Result<Shape, A::Error> {
        if self.shape == Shape::Row {
            return Err(refuse());
        }
        let start = self.values.len();
        while let Some(number) = row.next_element::<Option<f64>>()? {
            if self.values.len() - start == self.width {
                return Err(refuse());
            }
            let feature = feature(number, self.missing_ok).map_err(|_| refuse())?;
            self.values.push(feature);
        }
        if self.values.len() - start != self.width {
            return Err(refuse());
        }
        Ok(Shape::Rows)
    }
}
