//! tract integration: builders registered under the ONNX op names, and the op as a
//! [`Kernel`] (inference rules, typed facts, evaluation) that tract wraps, optimises and
//! runs. The op's work is [`TreeEnsemble::predict`], which the model also calls directly
//! when the graph is nothing but this op (see `crate::runner`).

use std::sync::Arc;

use tract_onnx::model::{OnnxOpRegister, ParsingContext};
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::attributes::{self, Attributes};
use super::finalize::{ClassifierFinish, PostTransform, RegressorFinish, VoteShares};
use super::kernel::{Aggregate, Trees};
use super::parse;
use super::summary::EnsembleSize;
use crate::prediction::{Labels, Predicted, Prediction};
use crate::tract_op::{Built, Kernel, KernelOp};

/// Replaces tract's tree-ensemble builders (and adds the regressor and the opset-5
/// TreeEnsemble it lacks) for every model loaded through `register`.
pub fn register(register: &mut OnnxOpRegister) {
    register.insert("TreeEnsembleClassifier", classifier);
    register.insert("TreeEnsembleRegressor", regressor);
    // The attribute reader puts it in the regressor's layout: the same op runs it.
    register.insert("TreeEnsemble", regressor);
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

fn classifier(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(TreeEnsemble::classifier(node)?)
}

fn regressor(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(TreeEnsemble::regressor(node)?)
}

impl TreeEnsemble {
    /// The op of a `TreeEnsembleClassifier`, `TreeEnsembleRegressor` or (opset 5)
    /// `TreeEnsemble` node.
    pub fn from_node(node: &NodeProto) -> TractResult<TreeEnsemble> {
        match node.op_type.as_str() {
            "TreeEnsembleClassifier" => TreeEnsemble::classifier(node),
            "TreeEnsembleRegressor" | "TreeEnsemble" => TreeEnsemble::regressor(node),
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
        let post_transform = parse::post_transform(&attributes)?;
        // Votes as probabilities: plain sums of the weights, nothing added or transformed.
        let vote_shares = (base_values.is_empty() && post_transform == PostTransform::None)
            .then(|| {
                let adds = trees.n_trees() * trees.max_leaf_entries();
                VoteShares::detect(trees.leaf_weights(), trees.n_trees(), adds)
            })
            .flatten();
        let finish = ClassifierFinish {
            n_classes,
            base_values,
            post_transform,
            binary_case: n_classes == 2 && classes_with_weights.len() == 1,
            weights_all_positive: trees.leaf_weights().iter().all(|w| *w >= 0.0),
            vote_shares,
        };
        Ok(TreeEnsemble {
            name: "TreeEnsembleClassifier",
            trees: Arc::new(trees),
            head: Head::Classifier { finish, labels },
            size,
        })
    }

    fn regressor(node: &NodeProto) -> TractResult<TreeEnsemble> {
        let node = attributes::in_layout(node)?;
        let attributes = Attributes::of(&node);
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
            name: match node.op_type.as_str() {
                "TreeEnsemble" => "TreeEnsemble",
                _ => "TreeEnsembleRegressor",
            },
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
                Prediction {
                    predicted: Predicted::Labels(labels.pick(&winners)),
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
}

impl Kernel for TreeEnsemble {
    fn name(&self) -> &'static str {
        self.name
    }

    fn n_outputs(&self) -> usize {
        match self.head {
            Head::Classifier { .. } => 2,
            Head::Regressor(_) => 1,
        }
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
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

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        ensure!(
            inputs[0].rank() == 2,
            "{}: input must be [N, features], it has {} dimensions",
            self.name,
            inputs[0].rank()
        );
        let rows = inputs[0].shape[0].clone();
        let scores = f32::fact(&[rows.clone(), self.trees.n_outputs().to_dim()]);
        Ok(match &self.head {
            Head::Classifier { labels, .. } => tvec!(labels.datum_type().fact(&[rows]), scores),
            Head::Regressor(_) => tvec!(scores),
        })
    }
}
