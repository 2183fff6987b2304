//! tract integration: builders registered under the ONNX op names, an inference-time
//! expansion (shapes and types), and the typed op tract optimises and runs. The op's
//! work is [`TreeEnsemble::predict`], which the model also calls directly when the graph
//! is nothing but this op (see `crate::runner`).

use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;
use tract_onnx::tract_hir::ops::expandable::{expand, Expansion};

use super::attributes::Attributes;
use super::finalize::{ClassifierFinish, RegressorFinish};
use super::kernel::{Aggregate, Trees};
use super::parse;
use super::summary::EnsembleSize;
use crate::prediction::{Labels, Predicted, Prediction};

/// Replaces tract's tree-ensemble builders (and adds the regressor it lacks) for every
/// model loaded through `register`.
pub fn register(register: &mut OnnxOpRegister) {
    register.insert("TreeEnsembleClassifier", classifier);
    register.insert("TreeEnsembleRegressor", regressor);
}

/// What the op computes after the trees.
#[derive(Debug, Clone, PartialEq)]
enum Head {
    Classifier {
        finish: ClassifierFinish,
        /// int64 or string class labels.
        labels: Labels,
    },
    Regressor(RegressorFinish),
}

/// One tree ensemble op: the trees plus its head.
#[derive(Debug, Clone)]
pub struct TreeEnsemble {
    name: &'static str,
    trees: Arc<Trees>,
    head: Head,
    /// The trees and nodes of the node it was built from.
    size: EnsembleSize,
}

/// tract compares ops to deduplicate nodes. Trees and head are built together from one
/// ONNX node and never change, so the shared trees identify the op (and comparing
/// floats for equality would make `Eq` a lie).
impl PartialEq for TreeEnsemble {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.trees, &other.trees)
    }
}

impl Eq for TreeEnsemble {}

fn classifier(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(TreeEnsemble::classifier(node)?), vec![]))
}

fn regressor(
    _ctx: &ParsingContext,
    node: &NodeProto,
) -> TractResult<(Box<dyn InferenceOp>, Vec<String>)> {
    Ok((expand(TreeEnsemble::regressor(node)?), vec![]))
}

impl TreeEnsemble {
    /// The op of a `TreeEnsembleClassifier` or `TreeEnsembleRegressor` node.
    pub fn from_node(node: &NodeProto) -> TractResult<TreeEnsemble> {
        match node.op_type.as_str() {
            "TreeEnsembleClassifier" => TreeEnsemble::classifier(node),
            "TreeEnsembleRegressor" => TreeEnsemble::regressor(node),
            other => bail!("{other} is not a tree ensemble"),
        }
    }

    fn classifier(node: &NodeProto) -> TractResult<TreeEnsemble> {
        let attributes = Attributes::of(node);
        attributes.refuse_double_precision()?;
        let labels = attributes.class_labels()?;
        let n_classes = labels.len();
        let (trees, size) = parse::trees(&attributes, n_classes)?;
        let base_values = attributes.base_values().to_vec();
        if !base_values.is_empty() && base_values.len() != n_classes && n_classes > 2 {
            return Err(attributes
                .error(format!(
                    "base_values has {} entries for {n_classes} classes",
                    base_values.len()
                ))
                .into());
        }
        let mut classes_with_weights = trees.leaf_outputs().to_vec();
        classes_with_weights.sort_unstable();
        classes_with_weights.dedup();
        let finish = ClassifierFinish {
            n_classes,
            base_values,
            post_transform: parse::post_transform(&attributes)?,
            binary_case: n_classes == 2 && classes_with_weights.len() == 1,
            weights_all_positive: trees.leaf_weights().iter().all(|w| *w >= 0.0),
        };
        Ok(TreeEnsemble {
            name: "TreeEnsembleClassifier",
            trees: Arc::new(trees),
            head: Head::Classifier { finish, labels },
            size,
        })
    }

    fn regressor(node: &NodeProto) -> TractResult<TreeEnsemble> {
        let attributes = Attributes::of(node);
        attributes.refuse_double_precision()?;
        let n_targets = attributes.n_targets()?;
        let (trees, size) = parse::trees(&attributes, n_targets)?;
        let base_values = attributes.base_values().to_vec();
        if base_values.len() > 1 && base_values.len() != n_targets {
            return Err(attributes
                .error(format!(
                    "base_values has {} entries for {n_targets} targets",
                    base_values.len()
                ))
                .into());
        }
        let finish = RegressorFinish {
            aggregate: parse::aggregate(&attributes)?,
            base_values,
            post_transform: parse::post_transform(&attributes)?,
            n_trees: trees.n_trees(),
        };
        Ok(TreeEnsemble {
            name: "TreeEnsembleRegressor",
            trees: Arc::new(trees),
            head: Head::Regressor(finish),
            size,
        })
    }

    /// The number of features the trees read: rows must be at least this wide.
    pub fn columns(&self) -> usize {
        self.trees.columns()
    }

    /// The trees and nodes of the node the op was built from.
    pub fn size(&self) -> EnsembleSize {
        self.size
    }

    /// Predicts `data`, rows of `width` features each, row-major: what the op outputs,
    /// as plain vectors.
    pub fn predict(&self, data: &[f32], width: usize) -> TractResult<Prediction> {
        ensure!(
            width >= self.columns(),
            "{}: the trees read feature {} but rows have {width} features",
            self.name,
            self.columns() - 1
        );
        Ok(match &self.head {
            Head::Classifier { finish, labels } => {
                let scores = self.trees.scores(data, width, Aggregate::Sum);
                let rows = data.len().checked_div(width).unwrap_or(0);
                let mut probabilities = vec![0.0; rows * finish.n_classes];
                let winners = finish.finish(&scores, &mut probabilities);
                let labels = match labels {
                    Labels::Int(ints) => Labels::Int(winners.iter().map(|&w| ints[w]).collect()),
                    Labels::Str(strings) => {
                        Labels::Str(winners.iter().map(|&w| strings[w].clone()).collect())
                    }
                };
                Prediction {
                    predicted: Predicted::Labels(labels),
                    probabilities: Some(probabilities),
                }
            }
            Head::Regressor(finish) => {
                let scores = self.trees.scores(data, width, finish.aggregate);
                Prediction {
                    predicted: Predicted::Values {
                        values: finish.finish(scores, self.trees.n_outputs()),
                        targets: self.trees.n_outputs(),
                    },
                    probabilities: None,
                }
            }
        })
    }

    fn n_outputs(&self) -> usize {
        match self.head {
            Head::Classifier { .. } => 2,
            Head::Regressor(_) => 1,
        }
    }
}

impl Expansion for TreeEnsemble {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    fn nboutputs(&self) -> TractResult<usize> {
        Ok(self.n_outputs())
    }

    fn rules<'r, 'p: 'r, 's: 'r>(
        &'s self,
        s: &mut Solver<'r>,
        inputs: &'p [TensorProxy],
        outputs: &'p [TensorProxy],
    ) -> InferenceResult {
        check_input_arity(inputs, 1)?;
        check_output_arity(outputs, self.n_outputs())?;
        s.equals(&inputs[0].rank, 2)?;
        let scores = match &self.head {
            Head::Classifier { labels, .. } => {
                s.equals(&outputs[0].datum_type, label_type(labels))?;
                s.equals(&outputs[0].rank, 1)?;
                s.equals(&outputs[0].shape[0], &inputs[0].shape[0])?;
                &outputs[1]
            }
            Head::Regressor(_) => &outputs[0],
        };
        s.equals(&scores.datum_type, DatumType::F32)?;
        s.equals(&scores.rank, 2)?;
        s.equals(&scores.shape[0], &inputs[0].shape[0])?;
        s.equals(&scores.shape[1], self.trees.n_outputs().to_dim())?;
        Ok(())
    }

    fn wire(
        &self,
        prefix: &str,
        model: &mut TypedModel,
        inputs: &[OutletId],
    ) -> TractResult<TVec<OutletId>> {
        model.wire_node(prefix, self.clone(), inputs)
    }
}

impl Op for TreeEnsemble {
    fn name(&self) -> StaticName {
        self.name.into()
    }

    op_as_typed_op!();
}

impl EvalOp for TreeEnsemble {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let input = args_1!(inputs);
        let input = input.cast_to::<f32>()?;
        let &[rows, width] = input.shape() else {
            bail!(
                "{}: input must be [N, features], got {:?}",
                self.name,
                input.shape()
            );
        };
        // tract tensors are dense and row-major: the plain slice is the rows. Outputs are
        // aligned as their element type needs and no more: tract's default (its SIMD
        // width, 32 bytes here) goes through posix_memalign, which bypasses glibc's
        // per-thread cache and was a sizeable part of a one-row prediction (see
        // BENCHMARKS.md, "2026-11-28 (later): small trees without walks, sums in
        // registers").
        let data = input.try_as_plain_ram()?.as_slice::<f32>()?;
        let Prediction {
            predicted,
            probabilities,
        } = self.predict(data, width)?;
        let f32s = |values: &[f32], shape: &[usize]| {
            Tensor::from_shape_align(shape, values, align_of::<f32>())
        };
        let labels = match predicted {
            Predicted::Labels(Labels::Int(ints)) => {
                Tensor::from_shape_align(&[rows], &ints, align_of::<i64>())?
            }
            Predicted::Labels(Labels::Str(strings)) => tensor1(&strings),
            Predicted::Values { values, targets } => {
                return Ok(tvec!(f32s(&values, &[rows, targets])?.into_tvalue()))
            }
        };
        let probabilities = probabilities.unwrap_or_default();
        Ok(tvec!(
            labels.into_tvalue(),
            f32s(&probabilities, &[rows, self.trees.n_outputs()])?.into_tvalue(),
        ))
    }
}

/// The element type of the label output.
fn label_type(labels: &Labels) -> DatumType {
    match labels {
        Labels::Int(_) => i64::datum_type(),
        Labels::Str(_) => String::datum_type(),
    }
}

impl TypedOp for TreeEnsemble {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = inputs[0].shape[0].clone();
        let scores = f32::fact(&[rows.clone(), self.trees.n_outputs().to_dim()]);
        Ok(match &self.head {
            Head::Classifier { labels, .. } => tvec!(label_type(labels).fact(&[rows]), scores),
            Head::Regressor(_) => tvec!(scores),
        })
    }

    as_op!();
}
