//! SVMClassifier, as onnxruntime's `svmclassifier.cc` computes it. With support vectors
//! (libsvm's layout): one decision value per pair of classes, summed in double
//! precision, each a vote for its first class when positive; the label is the most
//! voted class; the scores are the decision values (two columns for two classes), or
//! with `prob_a`/`prob_b` the coupled Platt probabilities. Without support vectors
//! (liblinear's layout): one linear score per class, the label the best score (with
//! onnxruntime's two-class thresholds).

use tract_onnx::model::ParsingContext;
use tract_onnx::pb::NodeProto;
use tract_onnx::tract_hir::internal::*;

use super::super::node::{Attributes, NodeId};
use super::super::tensors;
use super::{exactly, probability, Common, SvmKernel};
use crate::prediction::Labels;
use crate::tract_op::{Built, Kernel, KernelOp};
use crate::tree_ensemble::{transform, PostTransform};

/// How the scores are computed.
#[derive(Debug)]
enum Layout {
    /// `coefficients` one row per class, `rho[0]` added to every score.
    Linear { coefficients: Vec<f32>, rho: f32 },
    /// Support vectors: one-vs-one votes.
    Vectors(Vectors),
}

/// The support-vector layout.
#[derive(Debug)]
struct Vectors {
    kernel: SvmKernel,
    /// Every class's vectors, class after class, `features` values each.
    vectors: Vec<f32>,
    features: usize,
    /// Per class, its first vector and how many it has.
    classes: Vec<(usize, usize)>,
    /// `[classes - 1, vectors]`: row `j - 1` weighs class `i`'s vectors and row `i`
    /// class `j`'s in the decision between classes `i < j`.
    coefficients: Vec<f32>,
    /// Per pair of classes, in order (0, 1), (0, 2)... (1, 2)...
    rho: Vec<f32>,
    /// `prob_a` and `prob_b`, per pair, when the node has them.
    platt: Option<(Vec<f32>, Vec<f32>)>,
}

/// An SVMClassifier node.
#[derive(Debug)]
pub struct SvmClassifier {
    id: NodeId,
    labels: Labels,
    features: usize,
    layout: Layout,
    post_transform: PostTransform,
    /// Every coefficient is >= 0 (onnxruntime's two-class linear threshold then is 0.5).
    weights_positive: bool,
    /// `prob_a` given (in the linear layout it only changes how the label is picked).
    have_proba: bool,
}

/// Builds an SVMClassifier.
pub fn build(_ctx: &ParsingContext, node: &NodeProto) -> Built {
    KernelOp::built(SvmClassifier::new(&Attributes::of("SVMClassifier", node))?)
}

impl SvmClassifier {
    /// Reads the node, refusing what onnxruntime would read out of bounds or fail on.
    pub fn new(attributes: &Attributes) -> TractResult<SvmClassifier> {
        let id = attributes.id().clone();
        let labels = class_labels(attributes)?;
        let common = Common::read(attributes)?;
        let prob_a = attributes.floats("prob_a")?.unwrap_or_default().to_vec();
        let prob_b = attributes.floats("prob_b")?.unwrap_or_default().to_vec();
        exactly(&id, "prob_b", &prob_b, prob_a.len(), "one per prob_a value")?;
        let name = attributes
            .string("post_transform")?
            .unwrap_or_else(|| "NONE".into());
        let post_transform = PostTransform::named(&name).ok_or_else(|| {
            id.attribute(
                "post_transform",
                format!("is {name}; accepted: {}", PostTransform::ACCEPTED),
            )
        })?;
        let weights_positive = common.coefficients.iter().all(|&c| c >= 0.0);
        let have_proba = !prob_a.is_empty();
        let k = labels.len();
        let counts = vectors_per_class(attributes)?;
        let (features, layout) = if counts.iter().all(|&n| n == 0) {
            let rho = common.rho0(&id)?;
            linear(&id, k, common.coefficients, rho)?
        } else {
            let platt = have_proba.then_some((prob_a, prob_b));
            let vectors = Vectors::read(attributes, k, &counts, common, platt)?;
            (vectors.features, Layout::Vectors(vectors))
        };
        Ok(SvmClassifier {
            id,
            labels,
            features,
            layout,
            post_transform,
            weights_positive,
            have_proba,
        })
    }

    /// Scores per row: the classes (linear, or with probabilities), else the pairs, or
    /// 2 for two classes.
    fn width(&self) -> usize {
        let k = self.labels.len();
        match &self.layout {
            Layout::Vectors(Vectors { platt: None, .. }) if k > 2 => k * (k - 1) / 2,
            Layout::Vectors(Vectors { platt: None, .. }) => 2,
            _ => k,
        }
    }

    /// One row's scores (`width` of them) and its label's index.
    fn classify(&self, x: &[f32], scores: &mut [f32]) -> usize {
        let k = self.labels.len();
        let (winner, max_weight) = match &self.layout {
            Layout::Linear { coefficients, rho } => {
                for (score, row) in scores
                    .iter_mut()
                    .zip(coefficients.chunks_exact(self.features))
                {
                    *score = SvmKernel::LINEAR.of(x, row, *rho);
                }
                let best = tensors::first_max(scores);
                (best, scores[best])
            }
            Layout::Vectors(vectors) => (vectors.vote(x, scores), 0.0),
        };
        let winner = if k == 2 && !self.have_proba {
            // onnxruntime's ChooseClass for two classes.
            let second = (self.weights_positive && max_weight >= 0.5)
                || (!self.weights_positive && max_weight > 0.0);
            if second {
                1
            } else {
                winner
            }
        } else {
            winner
        };
        self.finish(scores);
        winner
    }

    /// The post-transform, as onnxruntime's `batched_update_scores_inplace` applies it:
    /// to every row of two or more scores; a lone decision value of two classes becomes
    /// `[-s, s]` (NONE) or `[1 - s, s]` (any other, untransformed).
    fn finish(&self, scores: &mut [f32]) {
        let lone = matches!(self.layout, Layout::Vectors(Vectors { platt: None, .. }))
            && self.labels.len() == 2;
        if lone {
            let s = scores[0];
            scores[0] = if self.post_transform == PostTransform::None {
                -s
            } else {
                1.0 - s
            };
            scores[1] = s;
        } else if scores.len() >= 2 {
            transform(scores, self.post_transform);
        }
    }
}

/// Exactly one of `classlabels_ints` and `classlabels_strings`, not empty.
fn class_labels(attributes: &Attributes) -> TractResult<Labels> {
    let ints = attributes.ints("classlabels_ints")?.unwrap_or_default();
    let strings = attributes
        .strings("classlabels_strings")?
        .unwrap_or_default();
    match (ints.is_empty(), strings.is_empty()) {
        (false, true) => Ok(Labels::Int(ints.to_vec())),
        (true, false) => Ok(Labels::Str(strings)),
        _ => Err(attributes
            .id()
            .attribute(
                "classlabels_ints",
                "or classlabels_strings: exactly one of them must list the classes",
            )
            .into()),
    }
}

/// `vectors_per_class`, counts that are not negative and add up to a vector count an
/// index holds (empty when absent).
fn vectors_per_class(attributes: &Attributes) -> TractResult<Vec<usize>> {
    let counts = attributes.ints("vectors_per_class")?.unwrap_or_default();
    let total = counts
        .iter()
        .try_fold(0u32, |sum, &n| sum.checked_add(u32::try_from(n).ok()?));
    match total {
        Some(_) => Ok(counts.iter().map(|&n| n as usize).collect()),
        None => Err(attributes
            .id()
            .attribute(
                "vectors_per_class",
                "has a negative count, or counts adding up past 2^32",
            )
            .into()),
    }
}

/// The liblinear layout: `coefficients` one row per class of `k`, `rho[0]`.
fn linear(id: &NodeId, k: usize, coefficients: Vec<f32>, rho: f32) -> TractResult<(usize, Layout)> {
    let features = coefficients.len() / k;
    if features == 0 || !coefficients.len().is_multiple_of(k) {
        return Err(id
            .attribute(
                "coefficients",
                format!(
                    "has {} values; without support vectors it needs one row of features per class ({k})",
                    coefficients.len()
                ),
            )
            .into());
    }
    Ok((features, Layout::Linear { coefficients, rho }))
}

impl Vectors {
    /// The libsvm layout for `k` classes of `counts` vectors each: `support_vectors`
    /// of one width, coefficients `[k - 1, vectors]`, `rho` and any Platt parameters
    /// one per pair.
    fn read(
        attributes: &Attributes,
        k: usize,
        counts: &[usize],
        common: Common,
        platt: Option<(Vec<f32>, Vec<f32>)>,
    ) -> TractResult<Vectors> {
        let id = attributes.id();
        let Common {
            kernel,
            coefficients,
            rho,
        } = common;
        exactly(id, "vectors_per_class", counts, k, "one count per class")?;
        if k < 2 {
            return Err(id
                .error("the class labels list one class; support vectors need two or more")
                .into());
        }
        // At most 2^32 (see `vectors_per_class`): the products below fit a usize.
        let n_vectors: usize = counts.iter().sum();
        let vectors = attributes
            .floats("support_vectors")?
            .unwrap_or_default()
            .to_vec();
        let features = vectors.len() / n_vectors;
        if features == 0 || !vectors.len().is_multiple_of(n_vectors) {
            return Err(id
                .attribute(
                    "support_vectors",
                    format!(
                        "has {} values for {n_vectors} vectors; it needs as many features for each",
                        vectors.len()
                    ),
                )
                .into());
        }
        let pairs = k * (k - 1) / 2;
        let rows = "classes - 1 rows of one per vector";
        exactly(id, "coefficients", &coefficients, (k - 1) * n_vectors, rows)?;
        exactly(id, "rho", &rho, pairs, "one per pair of classes")?;
        if let Some((a, _)) = &platt {
            exactly(id, "prob_a", a, pairs, "one per pair of classes")?;
        }
        let classes = counts.iter().scan(0, |start, &n| {
            let first = *start;
            *start += n;
            Some((first, n))
        });
        Ok(Vectors {
            kernel,
            vectors,
            features,
            classes: classes.collect(),
            coefficients,
            rho,
            platt,
        })
    }

    /// The one-vs-one decision values of row `x` into `scores` (or the probabilities
    /// they give), and the most voted class.
    fn vote(&self, x: &[f32], scores: &mut [f32]) -> usize {
        let k = self.classes.len();
        let n_vectors = self.coefficients.len() / (k - 1);
        let kernels: Vec<f32> = (self.vectors.chunks_exact(self.features))
            .map(|v| self.kernel.of(x, v, 0.0))
            .collect();
        // Class `(start, n)`'s vectors weighed by coefficient row `row`: products in
        // single precision, their sum in double, as onnxruntime adds them.
        let weighed = |row: usize, (start, n): (usize, usize)| -> f64 {
            let coefficients = &self.coefficients[row * n_vectors + start..][..n];
            (coefficients.iter().zip(&kernels[start..start + n]))
                .map(|(c, k)| (c * k) as f64)
                .sum()
        };
        let mut votes = vec![0usize; k];
        let mut decisions = Vec::with_capacity(self.rho.len());
        for i in 0..k {
            for j in i + 1..k {
                let rho = self.rho[decisions.len()] as f64;
                let sum = weighed(j - 1, self.classes[i]) + weighed(i, self.classes[j]) + rho;
                votes[if sum > 0.0 { i } else { j }] += 1;
                decisions.push(sum as f32);
            }
        }
        match &self.platt {
            Some((a, b)) => scores.copy_from_slice(&Self::probabilities(k, &decisions, a, b)),
            None => scores[..decisions.len()].copy_from_slice(&decisions),
        }
        tensors::first_max(&votes)
    }

    /// The class probabilities from the decision values: Platt's estimate per pair,
    /// kept within [1e-7, 1 - 1e-7], then coupled.
    fn probabilities(k: usize, decisions: &[f32], a: &[f32], b: &[f32]) -> Vec<f32> {
        let mut r = vec![0.0f32; k * k];
        let mut pair = 0;
        for i in 0..k {
            for j in i + 1..k {
                let p = probability::sigmoid(decisions[pair], a[pair], b[pair]);
                let p = p.clamp(1e-7, 1.0 - 1e-7);
                r[i * k + j] = p;
                r[j * k + i] = 1.0 - p;
                pair += 1;
            }
        }
        probability::coupled(k, &r)
    }
}

impl Kernel for SvmClassifier {
    fn name(&self) -> &'static str {
        self.id.op()
    }

    fn n_outputs(&self) -> usize {
        2
    }

    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        super::check_input(&self.id, inputs[0], self.features)?;
        let rows = inputs[0].shape[0].clone();
        Ok(tvec!(
            self.labels.datum_type().fact([rows.clone()]),
            f32::fact([rows, self.width().to_dim()])
        ))
    }

    fn eval(&self, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let (rows, x) = super::rows(&self.id, &inputs[0], self.features)?;
        let width = self.width();
        let mut scores = vec![0.0f32; rows * width];
        let winners: Vec<usize> = (x
            .chunks_exact(self.features)
            .zip(scores.chunks_exact_mut(width)))
        .map(|(row, scores)| self.classify(row, scores))
        .collect();
        tensors::classifier_outputs(self.labels.pick(&winners), scores, rows, width)
    }
}

#[cfg(test)]
mod tests;
