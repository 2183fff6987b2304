//! LinearClassifier, as onnxruntime's `linearclassifier.cc` computes it (checked against
//! onnxruntime 1.32, which also refuses the label lists below). One score per intercept
//! (`multi_class` is not read). With two or more, the label is the first best score's
//! class and the scores are post-transformed per row. With one (a binary model), the
//! label is the second class when the score is above 0, else the first, and the scores
//! are `[1 - s, s]` (`[logistic(-s), logistic(s)]` under LOGISTIC) when there are two
//! labels, else `[s]` with labels 0 and 1.

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::node::{Attributes, NodeId};
use super::super::tensors;
use super::{Post, Weights};
use crate::prediction::Labels;
use crate::tract_op::{Built, Kernel, KernelOp};
use crate::tree_ensemble::{logistic, PostTransform};

/// How a row's scores become its label and output scores.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    /// One score per class.
    PerClass,
    /// One score, and two labels: the output is `[1 - s, s]`, or under LOGISTIC
    /// `[logistic(-s), logistic(s)]`.
    Binary,
    /// One score and no labels: the output is `[s]`, labels 0 and 1.
    Single,
}

/// A LinearClassifier node.
#[derive(Debug)]
pub struct LinearClassifier {
    id: NodeId,
    weights: Weights,
    /// Per class; for a binary model, the negative then the positive label.
    labels: Labels,
    layout: Layout,
    post: Post,
}

/// Builds a LinearClassifier.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(LinearClassifier::new(&Attributes::of(
        "LinearClassifier",
        node,
    ))?)
}

impl LinearClassifier {
    /// Reads the node, refusing what onnxruntime 1.32 refuses (missing intercepts, label
    /// lists that do not fit the classes) and PROBIT on a binary model, which it answers
    /// with infinities and NaN.
    pub fn new(attributes: &Attributes) -> TractResult<LinearClassifier> {
        let id = attributes.id().clone();
        let intercepts = attributes
            .floats("intercepts")?
            .unwrap_or_default()
            .to_vec();
        if intercepts.is_empty() {
            return Err(id
                .attribute(
                    "intercepts",
                    "is missing or empty; it needs one per class (one for a binary model)",
                )
                .into());
        }
        let weights = Weights::read(attributes, intercepts)?;
        let post = Post::read(attributes)?;
        let labels = class_labels(attributes)?;
        let (layout, labels) = match (weights.rows(), labels) {
            (1, labels) if labels.len() == 2 => (Layout::Binary, labels),
            (1, labels) if labels.is_empty() => (Layout::Single, Labels::Int(vec![0, 1])),
            (1, labels) => {
                return Err(id
                    .attribute(
                        "classlabels_ints",
                        format!(
                            "or classlabels_strings lists {} labels for one coefficient row (a binary model); it needs 2, or none",
                            labels.len()
                        ),
                    )
                    .into())
            }
            (classes, labels) if labels.len() < classes => {
                return Err(id
                    .attribute(
                        "classlabels_ints",
                        format!(
                            "or classlabels_strings lists {} labels for {classes} classes (intercepts); it needs one per class",
                            labels.len()
                        ),
                    )
                    .into())
            }
            (_, labels) => (Layout::PerClass, labels),
        };
        if layout == Layout::Binary && post == Post::Probit {
            // onnxruntime 1.32 transforms the N packed scores of an [N, 2] output.
            return Err(id
                .attribute(
                    "post_transform",
                    "is PROBIT for one coefficient row and two labels, for which onnxruntime answers infinities and NaN; accepted: NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO",
                )
                .into());
        }
        Ok(LinearClassifier {
            id,
            weights,
            labels,
            layout,
            post,
        })
    }

    /// The coefficients and intercepts: one row per score, before `post_transform`
    /// (for explanations, which are in that raw score space).
    pub fn weights(&self) -> &Weights {
        &self.weights
    }

    /// Scores per row.
    fn width(&self) -> usize {
        match self.layout {
            Layout::PerClass => self.weights.rows(),
            Layout::Binary => 2,
            Layout::Single => 1,
        }
    }

    /// Every row's label index, its scores into `scores` (`width` per row).
    fn classify(&self, x: &[f32], scores: &mut [f32]) -> Vec<usize> {
        let features = self.weights.features();
        let rows = x.chunks_exact(features);
        let mut winners = Vec::with_capacity(rows.len());
        match self.layout {
            Layout::PerClass => {
                for (x, out) in rows.zip(scores.chunks_exact_mut(self.width())) {
                    self.weights.scores(x, out);
                    winners.push(tensors::first_max(out));
                    self.post.apply(out);
                }
            }
            Layout::Binary => {
                let under_logistic = self.post == Post::Common(PostTransform::Logistic);
                for (x, out) in rows.zip(scores.chunks_exact_mut(2)) {
                    self.weights.scores(x, &mut out[1..]);
                    let s = out[1];
                    winners.push(usize::from(s > 0.0));
                    if under_logistic {
                        out.copy_from_slice(&[logistic(-s), logistic(s)]);
                    } else {
                        out[0] = 1.0 - s;
                    }
                }
            }
            Layout::Single => {
                for (x, out) in rows.zip(scores.chunks_exact_mut(1)) {
                    self.weights.scores(x, out);
                    winners.push(usize::from(out[0] > 0.0));
                    self.post.apply(out);
                }
            }
        }
        winners
    }
}

/// At most one of `classlabels_ints` and `classlabels_strings` (none for a binary model
/// labelled 0 and 1).
fn class_labels(attributes: &Attributes) -> TractResult<Labels> {
    let ints = attributes.ints("classlabels_ints")?.unwrap_or_default();
    let strings = attributes
        .strings("classlabels_strings")?
        .unwrap_or_default();
    match (ints.is_empty(), strings.is_empty()) {
        (_, true) => Ok(Labels::Int(ints.to_vec())),
        (true, false) => Ok(Labels::Str(strings)),
        (false, false) => Err(attributes
            .id()
            .attribute(
                "classlabels_ints",
                "and classlabels_strings are both given; accepted: one of them",
            )
            .into()),
    }
}

impl Kernel for LinearClassifier {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn n_outputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let rows = super::check_input(&self.id, inputs[0], self.weights.features())?;
        Ok(tvec!(
            self.labels.datum_type().fact([rows.clone()]),
            f32::fact([rows, self.width().to_dim()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, x) = super::rows(&self.id, &inputs[0], self.weights.features())?;
        let width = self.width();
        let mut scores = vec![0.0f32; rows * width];
        let winners = self.classify(&x, &mut scores);
        tensors::classifier_outputs(self.labels.pick(&winners), scores, rows, width)
    }
}

#[cfg(test)]
mod tests;
