//! `ai.onnx.ml` LabelEncoder, opsets 1 to 4 (ONNX Operators-ml.md and Changelog-ml.md,
//! "ai.onnx.ml.LabelEncoder-1/-2/-4"), as onnxruntime's
//! `core/providers/cpu/ml/label_encoder.{h,cc}` computes it: each input value mapped
//! through the node's table, the default for a value not in it. String, int64 and float
//! keys and values, in any pairing.
//!
//! - `table`: the table, read from the attributes each opset has.

mod table;

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use self::table::{float_bits, Keys, Mapped, Mapping};
use super::node::{Attributes, NodeId};
use super::tensors;
use crate::tract_op::{Built, Kernel, KernelOp};

/// The table, for the input type the graph gives.
#[derive(Debug)]
enum Table {
    /// Opsets 2-4: keys and values of the types the attributes say.
    Keyed(Mapping),
    /// Opset 1: strings to indices or indices to strings, by the input type.
    Opset1 {
        from_strings: Mapping,
        from_ints: Mapping,
    },
}

/// A LabelEncoder node.
#[derive(Debug)]
struct LabelEncoder {
    id: NodeId,
    table: Table,
}

/// Builds a LabelEncoder for the ai.onnx.ml opset the model imports.
pub fn build(ctx: &ParsingContext, node: &NodeProto) -> Built {
    let opset = ml_opset(ctx.model, node);
    KernelOp::built(LabelEncoder::new(
        &Attributes::of("LabelEncoder", node),
        opset,
    )?)
}

/// The ai.onnx.ml opset `model` imports; without one, the opset the node's attributes
/// belong to (1 with `classes_strings`, 4 with a `_tensor` attribute, else 2).
fn ml_opset(model: &tract_onnx::pb::ModelProto, node: &NodeProto) -> i64 {
    let imported = model.opset_import.iter().find(|o| o.domain == "ai.onnx.ml");
    match imported {
        Some(opset) => opset.version,
        None if node.attribute.iter().any(|a| a.name == "classes_strings") => 1,
        None if node.attribute.iter().any(|a| a.name.ends_with("_tensor")) => 4,
        None => 2,
    }
}

impl LabelEncoder {
    fn new(attributes: &Attributes, opset: i64) -> TractResult<LabelEncoder> {
        let id = attributes.id().clone();
        let classes = attributes.strings("classes_strings")?;
        let table = match (opset, classes) {
            (..=1, Some(classes)) => {
                let (from_strings, from_ints) = Mapping::opset1(attributes, classes)?;
                Table::Opset1 {
                    from_strings,
                    from_ints,
                }
            }
            (..=1, None) => {
                return Err(id
                    .attribute("classes_strings", "is missing; opset 1 maps strings to their index in it")
                    .into())
            }
            (_, Some(_)) => {
                return Err(id
                    .attribute(
                        "classes_strings",
                        format!("is opset 1's; the model imports ai.onnx.ml opset {opset}, which maps keys_* to values_*"),
                    )
                    .into())
            }
            (_, None) => Table::Keyed(Mapping::keyed(attributes, opset)?),
        };
        Ok(LabelEncoder { id, table })
    }

    /// The mapping for input of type `dt`, refusing a type no key has.
    fn mapping(&self, dt: DatumType) -> TractResult<&Mapping> {
        let mapping = match &self.table {
            Table::Keyed(mapping) => mapping,
            Table::Opset1 { from_strings, .. } if dt == String::datum_type() => from_strings,
            Table::Opset1 { from_ints, .. } => from_ints,
        };
        let accepted = match mapping.keys {
            Keys::Strings(_) => dt == String::datum_type(),
            Keys::Ints(_) => tensors::is_int64_like(dt),
            Keys::Floats { .. } => dt == f32::datum_type(),
        };
        if !accepted {
            let keys = match mapping.keys {
                Keys::Strings(_) => "string",
                Keys::Ints(_) => "int64",
                Keys::Floats { .. } => "float",
            };
            return Err(self
                .id
                .error(format!("the keys are {keys}s, the input is {dt:?}"))
                .into());
        }
        Ok(mapping)
    }
}

/// `labels` mapped through the LabelEncoder `node` of `model`, as the op maps them at
/// run time: how the class labels a classifier declares become the labels a graph
/// outputs. `None` when the node is not a table this op reads or the labels are not
/// its keys' type.
pub(crate) fn map_labels(
    model: &tract_onnx::pb::ModelProto,
    node: &NodeProto,
    labels: &crate::Labels,
) -> Option<crate::Labels> {
    let encoder =
        LabelEncoder::new(&Attributes::of("LabelEncoder", node), ml_opset(model, node)).ok()?;
    let input = match labels {
        crate::Labels::Int(ints) => tensors::tensor(&[ints.len()], ints.clone()).ok()?,
        crate::Labels::Str(strings) => tensors::tensor(&[strings.len()], strings.clone()).ok()?,
    };
    let mapped = encoder.eval(tvec!(input.into_tvalue())).ok()?;
    let mapped = mapped.first()?;
    if mapped.datum_type() == String::datum_type() {
        Some(crate::Labels::Str(
            tensors::slice::<String>(mapped).ok()?.to_vec(),
        ))
    } else {
        let ints = mapped.cast_to::<i64>().ok()?;
        Some(crate::Labels::Int(
            tensors::slice::<i64>(&ints).ok()?.to_vec(),
        ))
    }
}

/// The element type of `values`.
fn value_type(values: &Mapped) -> DatumType {
    match values {
        Mapped::Strings(..) => String::datum_type(),
        Mapped::Ints(..) => i64::datum_type(),
        Mapped::Floats(..) => f32::datum_type(),
    }
}

/// Each input value's position among the keys, if it is one.
fn positions(keys: &Keys, x: &Tensor) -> TractResult<Vec<Option<usize>>> {
    Ok(match keys {
        Keys::Strings(keys) => (tensors::slice::<String>(x)?.iter())
            .map(|s| keys.get(s).copied())
            .collect(),
        Keys::Ints(keys) => (tensors::slice::<i64>(tensors::int64s(x)?.as_ref())?.iter())
            .map(|i| keys.get(i).copied())
            .collect(),
        Keys::Floats { bits, nan } => (tensors::slice::<f32>(x)?.iter())
            .map(|&f| match float_bits(f) {
                Some(b) => bits.get(&b).copied(),
                None => *nan,
            })
            .collect(),
    })
}

/// The values at `positions`, the default where there is none.
fn mapped(values: &Mapped, positions: &[Option<usize>], shape: &[usize]) -> TractResult<Tensor> {
    fn pick<T: Datum>(
        values: &[T],
        default: &T,
        positions: &[Option<usize>],
        shape: &[usize],
    ) -> TractResult<Tensor> {
        let picked = (positions.iter())
            .map(|p| p.map_or(default, |i| &values[i]).clone())
            .collect();
        tensors::tensor(shape, picked)
    }
    match values {
        Mapped::Strings(values, default) => pick(values, default, positions, shape),
        Mapped::Ints(values, default) => pick(values, default, positions, shape),
        Mapped::Floats(values, default) => pick(values, default, positions, shape),
    }
}

impl Kernel for LabelEncoder {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let input = inputs[0];
        let mapping = self.mapping(input.datum_type)?;
        Ok(tvec!(
            value_type(&mapping.values).fact(input.shape.iter().cloned())
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = &inputs[0];
        let mapping = self.mapping(x.datum_type())?;
        let found = positions(&mapping.keys, x)?;
        Ok(tvec!(
            mapped(&mapping.values, &found, x.shape())?.into_tvalue()
        ))
    }
}

#[cfg(test)]
mod tests;
