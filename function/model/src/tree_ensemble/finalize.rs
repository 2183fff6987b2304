//! From aggregated leaf values to the op outputs, with onnxruntime's semantics (the
//! reference runtime: `tree_ensemble_aggregator.h`), including its two-class layouts;
//! and a forest's vote shares made exact ([`VoteShares`]).

use super::kernel::{Aggregate, Scores};

/// The `post_transform` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PostTransform {
    /// Scores as they are.
    None,
    /// Softmax over the classes of a row.
    Softmax,
    /// The logistic function of each score.
    Logistic,
    /// Softmax that leaves zero scores at zero.
    SoftmaxZero,
}

/// Classifier settings derived once at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct ClassifierFinish {
    /// Number of class labels.
    pub n_classes: usize,
    /// `base_values`, possibly empty.
    pub base_values: Vec<f32>,
    /// The post-transform.
    pub post_transform: PostTransform,
    /// Two classes and every leaf weight is for one of them (scikit-learn's binary
    /// layout: the weight is the positive class's score).
    pub binary_case: bool,
    /// No leaf weight is negative (probabilities rather than margins).
    pub weights_all_positive: bool,
    /// Every leaf weight is a share of votes: sums are snapped to exact shares.
    pub vote_shares: Option<VoteShares>,
}

/// Leaf weights that are all whole multiples of `1 / denominator`, within f32 rounding:
/// a forest's votes, `1 / trees` each (what the converter writes, and skl2onnx for a
/// forest of pure leaves). Summed in f32, 100 votes of 0.01 make 0.99999934 and 66 make
/// 0.65999967, where scikit-learn answers the shares 1.0 and 0.66. [`Self::snap`] rounds
/// a sum to the nearest multiple, which is the exact share as long as the f32 sum is off
/// by less than half a step; [`Self::detect`] only accepts a denominator for which the
/// worst case is under a quarter step. The walks stay as they are: snapping costs a few
/// instructions per row and class, after them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VoteShares {
    denominator: f64,
    /// `1 / denominator`: a multiply instead of a divide on every row and class. For a
    /// denominator below 2^20 that is not a power of two, `k / denominator` lies more
    /// than 2^-45 (relative) from any f32 rounding boundary, far beyond the f64
    /// product's error, so the f32 result is the correctly rounded share; for a power of
    /// two the reciprocal is exact. `detect` refuses larger denominators.
    reciprocal: f64,
}

/// 2^52 + 2^51: added to and subtracted from an f64 below 2^51 in magnitude, it rounds
/// it to the nearest integer (ties to even) in two adds, where `f64::round` is a libm
/// call on baseline x86_64.
const ROUND_TO_INTEGER: f64 = 6_755_399_441_055_744.0;
/// The largest denominator [`VoteShares`] takes (see its `reciprocal`).
const MAX_DENOMINATOR: usize = 1 << 20;

impl VoteShares {
    /// The shares of `denominator` (a tree count), if every one of `weights` is a whole
    /// multiple of `1 / denominator` and a sum of at most `adds` of them (one row, one
    /// output) cannot drift by a quarter of `1 / denominator`.
    pub fn detect(weights: &[f32], denominator: usize, adds: usize) -> Option<VoteShares> {
        if denominator == 0 || denominator > MAX_DENOMINATOR || weights.is_empty() {
            return None;
        }
        let d = denominator as f64;
        // One f32 step, relative: how far a stored weight may be from its share.
        let step = f64::from(f32::EPSILON);
        let largest = weights
            .iter()
            .fold(0.0f64, |m, &w| m.max(f64::from(w.abs())));
        // Each weight is off by up to a step, and each of the `adds` f32 additions
        // rounds by up to half a step of a sum no larger than `adds * largest`.
        let adds = adds as f64;
        let worst = adds * largest * step * (1.0 + adds / 2.0);
        if worst >= 0.25 / d {
            return None;
        }
        let on_a_share = |w: f32| {
            let w = f64::from(w);
            let share = (w * d).round() / d;
            (w - share).abs() <= share.abs() * step
        };
        weights
            .iter()
            .all(|&w| on_a_share(w))
            .then_some(VoteShares {
                denominator: d,
                reciprocal: 1.0 / d,
            })
    }

    /// `sum` snapped to the nearest multiple of `1 / denominator`, rounded once to f32.
    #[inline]
    pub fn snap(self, sum: f32) -> f32 {
        // `detect` keeps `scaled` far below 2^51 in magnitude.
        let scaled = f64::from(sum) * self.denominator;
        let steps = (scaled + ROUND_TO_INTEGER) - ROUND_TO_INTEGER;
        (steps * self.reciprocal) as f32
    }
}

impl PostTransform {
    /// The names the runtime accepts, for refusals.
    pub const ACCEPTED: &'static str = "NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO";

    /// The post-transform an ONNX `post_transform` attribute names; `None` for PROBIT
    /// and unknown names.
    pub fn named(name: &str) -> Option<PostTransform> {
        Some(match name {
            "NONE" => PostTransform::None,
            "SOFTMAX" => PostTransform::Softmax,
            "LOGISTIC" => PostTransform::Logistic,
            "SOFTMAX_ZERO" => PostTransform::SoftmaxZero,
            _ => return None,
        })
    }
}

/// The logistic function as onnxruntime computes it (symmetric, no overflow).
pub fn logistic(x: f32) -> f32 {
    let v = 1.0 / (1.0 + (-x.abs()).exp());
    if x < 0.0 {
        1.0 - v
    } else {
        v
    }
}

/// Applies `post` to one row's `scores`, as onnxruntime's `ml_common.h` does.
pub fn transform(scores: &mut [f32], post: PostTransform) {
    match post {
        PostTransform::None => {}
        PostTransform::Logistic => scores.iter_mut().for_each(|s| *s = logistic(*s)),
        PostTransform::Softmax => {
            let max = scores.iter().copied().fold(-f32::MAX, f32::max);
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                *s = (*s - max).exp();
                sum += *s;
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
        PostTransform::SoftmaxZero => {
            // Zeros stay (near) zero: they mean "no score", not "score 0".
            let max = scores.iter().copied().fold(-f32::MAX, f32::max);
            let exp_neg_max = (-max).exp();
            let mut sum = 0.0;
            for s in scores.iter_mut() {
                if s.abs() > 1e-7 {
                    *s = (*s - max).exp();
                    sum += *s;
                } else {
                    *s *= exp_neg_max;
                }
            }
            scores.iter_mut().for_each(|s| *s /= sum);
        }
    }
}

/// How the single score of the two-class layouts becomes two columns.
#[derive(Clone, Copy)]
enum SecondClass {
    /// Leave as is.
    Unset,
    /// `[1 - p, p]` (probabilities).
    Complement,
    /// Margins, positive class won: `[-s, s]`, or logistic of both under LOGISTIC.
    MarginPositive,
    /// Margins, negative class won: `[s, -s]`, or logistic of both under LOGISTIC.
    MarginNegative,
}

impl ClassifierFinish {
    /// `sum` as an exact share of votes, when the weights are votes.
    #[inline]
    fn snap(&self, sum: f32) -> f32 {
        self.vote_shares.map_or(sum, |shares| shares.snap(sum))
    }

    /// Writes each row's probabilities (`n_classes` columns) and returns each row's
    /// winning class index.
    pub fn finish(&self, scores: &Scores, probabilities: &mut [f32]) -> Vec<usize> {
        let n = self.n_classes;
        let rows = scores.values.len() / n;
        let mut winners = Vec::with_capacity(rows);
        for row in 0..rows {
            let range = row * n..(row + 1) * n;
            let values = &scores.values[range.clone()];
            let present = &scores.present[range.clone()];
            let out = &mut probabilities[range];
            winners.push(if n > 2 {
                self.finish_multiclass(values, present, out)
            } else {
                self.finish_two_classes(values, present, out)
            });
        }
        winners
    }

    fn finish_multiclass(&self, values: &[f32], present: &[bool], out: &mut [f32]) -> usize {
        match self.vote_shares {
            Some(shares) => {
                for (slot, &value) in out.iter_mut().zip(values) {
                    *slot = shares.snap(value);
                }
            }
            None => out.copy_from_slice(values),
        }
        for (k, base) in self.base_values.iter().enumerate() {
            out[k] += base;
        }
        // A base value gives its class a score too.
        let has_score = |k: usize| present[k] || k < self.base_values.len();
        // The first class with the strictly largest score among those that have one.
        let mut best: Option<usize> = None;
        for k in 0..out.len() {
            if has_score(k) && best.is_none_or(|b| out[k] > out[b]) {
                best = Some(k);
            }
        }
        transform(out, self.post_transform);
        best.unwrap_or(0)
    }

    fn finish_two_classes(&self, values: &[f32], present: &[bool], out: &mut [f32]) -> usize {
        let (mut s0, mut s1) = (self.snap(values[0]), self.snap(values[1]));
        let (has0, mut has1) = (present[0], present[1]);
        let mut second = SecondClass::Unset;
        match self.base_values[..] {
            [b0, b1] => {
                if has1 {
                    // onnxruntime's reading: base_values[0] is ignored and class 1's score
                    // is rebuilt from class 0's.
                    s1 = b1 + s0;
                    s0 = -s1;
                    has1 = true;
                } else {
                    s1 += b1;
                    s0 += b0;
                }
            }
            [b0] => s0 += b0,
            [] => second = SecondClass::MarginNegative,
            _ => {}
        }
        // Only the 0- and 1-base-value layouts drop an absent second class.
        let single = !has1 && self.base_values.len() < 2;
        let positive = if has1 {
            s1
        } else if has0 {
            s0
        } else {
            0.0
        };
        let winner = if self.binary_case {
            if self.weights_all_positive {
                second = SecondClass::Complement;
                usize::from(positive > 0.5)
            } else if positive > 0.0 {
                second = SecondClass::MarginPositive;
                1
            } else {
                second = SecondClass::MarginNegative;
                0
            }
        } else {
            usize::from(positive > 0.0)
        };
        if single {
            let s = s0;
            let logistic_both = self.post_transform == PostTransform::Logistic;
            let [a, b] = match second {
                SecondClass::Complement => [self.snap(1.0 - s), s],
                SecondClass::MarginPositive | SecondClass::MarginNegative if logistic_both => {
                    [logistic(-s), logistic(s)]
                }
                SecondClass::MarginPositive => [-s, s],
                SecondClass::MarginNegative => [s, -s],
                SecondClass::Unset => [s, 0.0],
            };
            out.copy_from_slice(&[a, b]);
        } else {
            out.copy_from_slice(&[s0, s1]);
            transform(out, self.post_transform);
        }
        winner
    }
}

/// Regressor settings derived once at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct RegressorFinish {
    /// How trees combine.
    pub aggregate: Aggregate,
    /// `base_values`, possibly empty.
    pub base_values: Vec<f32>,
    /// The post-transform.
    pub post_transform: PostTransform,
    /// Number of trees, for AVERAGE.
    pub n_trees: usize,
}

impl RegressorFinish {
    /// Turns aggregated values into the `[rows, targets]` output, in place.
    pub fn finish(&self, scores: Scores, n_targets: usize) -> Vec<f32> {
        let Scores {
            mut values,
            present,
        } = scores;
        let origin = match self.base_values[..] {
            [origin] => origin,
            _ => 0.0,
        };
        let per_target = self.base_values.len() == n_targets;
        for (row, chunk) in values.chunks_mut(n_targets).enumerate() {
            for (k, value) in chunk.iter_mut().enumerate() {
                let has = present[row * n_targets + k];
                let base = if n_targets == 1 {
                    origin
                } else if per_target {
                    self.base_values[k]
                } else {
                    0.0
                };
                *value = match self.aggregate {
                    Aggregate::Sum => *value + base,
                    Aggregate::Average => *value / self.n_trees as f32 + base,
                    Aggregate::Min | Aggregate::Max => base + if has { *value } else { 0.0 },
                };
            }
            if n_targets >= 2 {
                transform(chunk, self.post_transform);
            }
        }
        values
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scores(values: &[f32], present: &[bool]) -> Scores {
        Scores {
            values: values.to_vec(),
            present: present.to_vec(),
        }
    }

    fn classifier(n_classes: usize, binary_case: bool, positive: bool) -> ClassifierFinish {
        ClassifierFinish {
            n_classes,
            base_values: vec![],
            post_transform: PostTransform::None,
            binary_case,
            weights_all_positive: positive,
            vote_shares: None,
        }
    }

    #[test]
    fn multiclass_picks_the_first_largest_present_score() {
        let mut out = [0.0; 6];
        let winners = classifier(3, false, true).finish(
            &scores(
                &[0.2, 0.4, 0.4, 0.0, 0.0, 0.0],
                &[true, true, true, false, false, false],
            ),
            &mut out,
        );
        assert_eq!(winners, [1, 0]);
        assert_eq!(out[..3], [0.2, 0.4, 0.4]);
    }

    #[test]
    fn binary_probability_layout_complements_the_single_score() {
        // Weights only for class 0: that one score is the positive class's probability.
        let mut out = [0.0; 4];
        let winners = classifier(2, true, true).finish(
            &scores(&[0.7, 0.0, 0.2, 0.0], &[true, false, true, false]),
            &mut out,
        );
        assert_eq!(winners, [1, 0]);
        let expected = [0.3, 0.7, 0.8, 0.2];
        for (o, e) in out.iter().zip(expected) {
            assert!((o - e).abs() < 1e-6, "{out:?}");
        }
    }

    #[test]
    fn binary_scores_for_class_1_are_written_as_they_are() {
        // onnxruntime keeps both columns when class 1 has a score: [0, p], not [1 - p, p].
        let mut out = [0.0; 2];
        let winners =
            classifier(2, true, true).finish(&scores(&[0.0, 0.7], &[false, true]), &mut out);
        assert_eq!(winners, [1]);
        assert_eq!(out, [0.0, 0.7]);
    }

    #[test]
    fn binary_margins_with_logistic_become_two_probabilities() {
        let mut finish = classifier(2, true, false);
        finish.post_transform = PostTransform::Logistic;
        finish.base_values = vec![0.5];
        let mut out = [0.0; 2];
        let winners = finish.finish(&scores(&[-1.0, 0.0], &[true, false]), &mut out);
        assert_eq!(winners, [0]);
        assert!((out[1] - logistic(-0.5)).abs() < 1e-6 && (out[0] + out[1] - 1.0).abs() < 1e-6);
    }

    /// 100 votes of 0.01 summed in f32, the way the kernel adds them.
    fn votes(n: usize) -> f32 {
        (0..n).fold(0.0f32, |sum, _| sum + 0.01)
    }

    #[test]
    fn vote_shares_are_snapped_to_the_exact_share() {
        let shares = VoteShares::detect(&[0.01; 400], 100, 100).expect("votes of 1/100");
        assert_eq!(votes(100), 0.99999934, "the f32 sum this fixes");
        for k in 0..=100 {
            assert_eq!(shares.snap(votes(k)), k as f32 / 100.0, "{k} votes");
        }
        assert_eq!(votes(66).to_string(), "0.65999967");
        assert_eq!(shares.snap(votes(66)).to_string(), "0.66");
        assert_eq!(shares.snap(-votes(3)), -0.03);
    }

    /// The reciprocal's product is the correctly rounded share for every count of
    /// votes, for forests of 1 to 1,000 trees and a few larger ones.
    #[test]
    fn snapped_shares_are_the_correctly_rounded_quotients() {
        let sizes = (1..=1000).chain([1023, 1024, 4097, 65_536, 99_991, MAX_DENOMINATOR]);
        for trees in sizes {
            let shares = VoteShares::detect(&[1.0 / trees as f32], trees, 1).unwrap();
            let step = (trees / 500).max(1);
            for k in (0..=trees).step_by(step).chain([trees]) {
                let exact = (k as f64 / trees as f64) as f32;
                assert_eq!(shares.snap(exact), exact, "{k} of {trees}");
                assert_eq!(shares.snap(-exact), -exact, "-{k} of {trees}");
            }
        }
        assert!(VoteShares::detect(&[1.0], MAX_DENOMINATOR + 1, 1).is_none());
    }

    #[test]
    fn vote_shares_need_every_weight_on_a_share_and_a_bounded_error() {
        assert!(VoteShares::detect(&[0.01, 0.02, 1.0, 0.0], 100, 100).is_some());
        // 0.015 is half a vote: not a share of 100.
        assert!(VoteShares::detect(&[0.01, 0.015], 100, 100).is_none());
        // A 1e-5 step would drown in 100,000 f32 additions.
        assert!(VoteShares::detect(&[1e-5], 100_000, 100_000).is_none());
        assert!(VoteShares::detect(&[], 100, 100).is_none());
        assert!(VoteShares::detect(&[0.5], 0, 1).is_none());
    }

    #[test]
    fn a_unanimous_forest_answers_probability_one() {
        let mut finish = classifier(3, false, true);
        finish.vote_shares = VoteShares::detect(&[0.01], 100, 100);
        let mut out = [0.0; 3];
        let sums = [votes(100), 0.0, 0.0];
        let winners = finish.finish(&scores(&sums, &[true, false, false]), &mut out);
        assert_eq!((winners, out), (vec![0], [1.0, 0.0, 0.0]));
        // Two classes, only the positive one's votes stored: both columns exact.
        let mut binary = classifier(2, true, true);
        binary.vote_shares = finish.vote_shares;
        let mut out = [0.0; 2];
        binary.finish(&scores(&[votes(66), 0.0], &[true, false]), &mut out);
        assert_eq!(out, [0.34, 0.66]);
    }

    #[test]
    fn softmax_sums_to_one() {
        let mut v = [1.0, 2.0, 3.0];
        transform(&mut v, PostTransform::Softmax);
        assert!((v.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(v[2] > v[1] && v[1] > v[0]);
    }

    #[test]
    fn regressor_average_divides_by_the_tree_count_and_adds_base() {
        let finish = RegressorFinish {
            aggregate: Aggregate::Average,
            base_values: vec![1.0],
            post_transform: PostTransform::None,
            n_trees: 4,
        };
        let out = finish.finish(scores(&[8.0], &[true]), 1);
        assert_eq!(out, [3.0]);
    }
}
