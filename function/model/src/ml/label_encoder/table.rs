//! LabelEncoder's table, read from its attributes as each opset spells them: opset 1's
//! `classes_strings` (string <-> index), opsets 2-3's `keys_*` / `values_*` lists, and
//! opset 4's `keys_tensor` / `values_tensor` / `default_tensor` besides. Also the one
//! difference in lookups between opsets: from opset 4 a NaN key matches a NaN input
//! (onnxruntime's `NaNHash` / `NaNEqual`), before it matches nothing.

use std::collections::HashMap;

use tract_onnx::prelude::TractResult;

use super::super::node::Attributes;
use crate::tensor_proto::Values;

/// Keys to positions in the values; the first of equal keys wins (onnxruntime's
/// `emplace`), except in opset 1 (see [`Mapping::opset1`]).
#[derive(Debug)]
pub enum Keys {
    Strings(HashMap<String, usize>),
    Ints(HashMap<i64, usize>),
    Floats {
        /// By the bits of the key, with -0.0 as 0.0 (they hash and compare equal).
        bits: HashMap<u32, usize>,
        /// The position a NaN input finds (opset 4 only).
        nan: Option<usize>,
    },
}

/// The values, and the default for an input not among the keys.
#[derive(Debug)]
pub enum Mapped {
    Strings(Vec<String>, String),
    Ints(Vec<i64>, i64),
    Floats(Vec<f32>, f32),
}

/// One direction of the table: keys of one type to values of one type.
#[derive(Debug)]
pub struct Mapping {
    pub keys: Keys,
    pub values: Mapped,
}

/// The schema defaults, which onnxruntime fills in for absent attributes.
const DEFAULT_STRING: &str = "_Unused";
const DEFAULT_INT64: i64 = -1;
const DEFAULT_FLOAT: f32 = -0.0;

/// The bits a float key is looked up by: -0.0 as 0.0; `None` for NaN.
pub fn float_bits(x: f32) -> Option<u32> {
    if x.is_nan() {
        None
    } else if x == 0.0 {
        Some(0)
    } else {
        Some(x.to_bits())
    }
}

/// First position of each key.
fn first_positions<K: std::hash::Hash + Eq>(
    keys: impl IntoIterator<Item = K>,
) -> HashMap<K, usize> {
    let mut positions = HashMap::new();
    for (i, key) in keys.into_iter().enumerate() {
        positions.entry(key).or_insert(i);
    }
    positions
}

impl Mapping {
    /// Opset 1's two directions from `classes_strings`: string -> its index (the last
    /// of equal strings, as onnxruntime overwrites) and index -> string, with
    /// `default_int64` / `default_string`.
    pub fn opset1(
        attributes: &Attributes,
        classes: Vec<String>,
    ) -> TractResult<(Mapping, Mapping)> {
        let default_int = attributes.int("default_int64")?.unwrap_or(DEFAULT_INT64);
        let default_string =
            (attributes.string("default_string")?).unwrap_or_else(|| DEFAULT_STRING.to_string());
        let n = classes.len();
        let last: HashMap<String, usize> = classes
            .iter()
            .cloned()
            .enumerate()
            .map(|(i, s)| (s, i))
            .collect();
        let from_strings = Mapping {
            keys: Keys::Strings(last),
            values: Mapped::Ints((0..n as i64).collect(), default_int),
        };
        let from_ints = Mapping {
            keys: Keys::Ints((0..n).map(|i| (i as i64, i)).collect()),
            values: Mapped::Strings(classes, default_string),
        };
        Ok((from_strings, from_ints))
    }

    /// Opsets 2-4: `keys_*` to `values_*` (or their `_tensor` forms from opset 4), of
    /// equal length, with the `default_*` of the values' type (or `default_tensor`).
    pub fn keyed(attributes: &Attributes, opset: i64) -> TractResult<Mapping> {
        let id = attributes.id();
        let keys = one_list(attributes, "keys", opset)?;
        let values = one_list(attributes, "values", opset)?;
        if keys.len() != values.len() {
            return Err(id
                .attribute(
                    "keys",
                    format!(
                        "has {} entries and values {}; they must be as long",
                        keys.len(),
                        values.len()
                    ),
                )
                .into());
        }
        let nan_matches = opset >= 4;
        let keys = match keys {
            Values::Str(strings) => Keys::Strings(first_positions(strings)),
            Values::I64(ints) => Keys::Ints(first_positions(ints)),
            Values::F32(floats) => Keys::Floats {
                bits: (floats.iter().enumerate().rev())
                    .filter_map(|(i, &x)| Some((float_bits(x)?, i)))
                    .collect(),
                nan: floats
                    .iter()
                    .position(|x| x.is_nan())
                    .filter(|_| nan_matches),
            },
            Values::U8(_) => {
                return Err(id
                    .attribute("keys_tensor", "is UINT8; accepted: STRING, INT64, FLOAT")
                    .into())
            }
        };
        let default = if opset >= 4 {
            attributes.tensor("default_tensor")?
        } else {
            None
        };
        let values = match (values, default) {
            (Values::Str(v), Some(Values::Str(d))) => Mapped::Strings(v, single(attributes, d)?),
            (Values::I64(v), Some(Values::I64(d))) => Mapped::Ints(v, single(attributes, d)?),
            (Values::F32(v), Some(Values::F32(d))) => Mapped::Floats(v, single(attributes, d)?),
            (Values::Str(v), None) => {
                let default = attributes.string("default_string")?;
                Mapped::Strings(v, default.unwrap_or_else(|| DEFAULT_STRING.into()))
            }
            (Values::I64(v), None) => {
                Mapped::Ints(v, attributes.int("default_int64")?.unwrap_or(DEFAULT_INT64))
            }
            (Values::F32(v), None) => Mapped::Floats(
                v,
                attributes.float("default_float")?.unwrap_or(DEFAULT_FLOAT),
            ),
            (Values::U8(_), _) => {
                return Err(id
                    .attribute("values_tensor", "is UINT8; accepted: STRING, INT64, FLOAT")
                    .into())
            }
            (_, Some(_)) => {
                return Err(id
                    .attribute("default_tensor", "must be of the values' element type")
                    .into())
            }
        };
        Ok(Mapping { keys, values })
    }
}

/// The one `{prefix}_strings`, `_int64s` or `_floats` list the node has, or (opset 4)
/// its `{prefix}_tensor`.
fn one_list(attributes: &Attributes, prefix: &str, opset: i64) -> TractResult<Values> {
    let id = attributes.id();
    let name = |kind: &str| format!("{prefix}_{kind}");
    let mut found = Vec::new();
    if let Some(strings) = attributes.strings(&name("strings"))? {
        found.push(Values::Str(strings));
    }
    if let Some(ints) = attributes.ints(&name("int64s"))? {
        found.push(Values::I64(ints.to_vec()));
    }
    if let Some(floats) = attributes.floats(&name("floats"))? {
        found.push(Values::F32(floats.to_vec()));
    }
    if attributes.has(&name("tensor")) && opset < 4 {
        return Err(id
            .attribute(
                &name("tensor"),
                format!("needs ai.onnx.ml opset 4, the model imports opset {opset}"),
            )
            .into());
    }
    // onnxruntime reads the tensor only when the list is absent.
    if found.is_empty() {
        if let Some(tensor) = attributes.tensor(&name("tensor"))? {
            found.push(tensor);
        }
    }
    match found.len() {
        1 => Ok(found.remove(0)),
        n => Err(id
            .attribute(
                &name("*"),
                format!(
                    "is given {n} times; exactly one of {0}_strings, {0}_int64s, {0}_floats{1} is accepted",
                    prefix,
                    if opset >= 4 { format!(", {prefix}_tensor") } else { String::new() }
                ),
            )
            .into()),
    }
}

/// The one value of `default_tensor`.
fn single<T>(attributes: &Attributes, mut values: Vec<T>) -> TractResult<T> {
    match values.len() {
        1 => Ok(values.remove(0)),
        n => Err(attributes
            .id()
            .attribute(
                "default_tensor",
                format!("has {n} values; it needs exactly one"),
            )
            .into()),
    }
}
