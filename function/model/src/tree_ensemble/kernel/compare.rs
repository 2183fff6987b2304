//! How a branch decides: the `nodes_modes` comparisons, their rewrite to `x < t` at load,
//! and the two ways a walk applies them (one mode fixed at compile time, or each node's
//! own with its missing-value rule).

#![forbid(unsafe_code)]

use super::nodes::{Node, NAN_TRUE};

/// The `nodes_modes` comparisons: the true branch is taken when `x <op> threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Mode {
    /// `BRANCH_LEQ`: `x <= t`.
    Leq,
    /// `BRANCH_LT`: `x < t`.
    Lt,
    /// `BRANCH_GTE`: `x >= t`.
    Gte,
    /// `BRANCH_GT`: `x > t`.
    Gt,
    /// `BRANCH_EQ`: `x == t`.
    Eq,
    /// `BRANCH_NEQ`: `x != t`.
    Neq,
}

impl Mode {
    /// Whether `value` takes the true branch of a node of this mode, `threshold` and
    /// missing-value rule (`nan_true`: NaN goes to the true child), as the attributes
    /// say, before any rewrite: what the explanations follow.
    pub(crate) fn takes_true(self, value: f32, threshold: f32, nan_true: bool) -> bool {
        self.holds(value, threshold) || (nan_true && value.is_nan())
    }

    /// Whether `value` takes the true branch (IEEE comparisons: NaN only passes `Neq`).
    #[inline(always)]
    fn holds(self, value: f32, threshold: f32) -> bool {
        match self {
            Mode::Leq => value <= threshold,
            Mode::Lt => value < threshold,
            Mode::Gte => value >= threshold,
            Mode::Gt => value > threshold,
            Mode::Eq => value == threshold,
            Mode::Neq => value != threshold,
        }
    }
}

/// A branch's comparison as `x < threshold`, the one comparison every walk can inline:
/// `swapped` when the children trade places (the original true child is taken when
/// `x < threshold` fails). Exact for every value but NaN, which fails every `<` and so
/// takes the false child; where the original node sent NaN elsewhere, its missing-value
/// flag says so (see [`Mode::as_less_than`]).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct LessThan {
    pub(super) threshold: f32,
    pub(super) swapped: bool,
}

impl Mode {
    /// This comparison against `threshold` as a [`LessThan`] that sends every non-NaN
    /// value to the same child, or `None` for `Eq` and `Neq`. `x <= t` holds exactly when
    /// `x < next_up(t)` (no f32 lies between them; `next_up` of ±0 is the smallest
    /// subnormal, and Rust never flushes subnormals to zero), and `x >= t` when
    /// `x < t` fails. What no `<` can say becomes a test no value passes, `x < -inf`:
    /// `x <= +inf` (every value, swapped), `x > +inf` and any comparison with a NaN
    /// threshold (no value).
    pub(super) fn as_less_than(self, threshold: f32) -> Option<LessThan> {
        let never = LessThan {
            threshold: f32::NEG_INFINITY,
            swapped: false,
        };
        let less_than = |threshold: f32, swapped: bool| LessThan { threshold, swapped };
        Some(match self {
            Mode::Lt => less_than(threshold, false),
            Mode::Leq if threshold == f32::INFINITY => less_than(f32::NEG_INFINITY, true),
            Mode::Leq => less_than(threshold.next_up(), false),
            Mode::Gte | Mode::Gt if threshold.is_nan() => never,
            Mode::Gte => less_than(threshold, true),
            Mode::Gt if threshold == f32::INFINITY => never,
            Mode::Gt => less_than(threshold.next_up(), true),
            Mode::Eq | Mode::Neq => return None,
        })
    }
}

/// How a walk decides a branch: one mode fixed at compile time, or the node's own.
pub(super) trait Compare: Copy {
    /// Every node compares `x < t`, whatever its flags: a walk may read the compact
    /// layout, which keeps neither modes nor missing-value flags.
    const LESS_THAN_ONLY: bool = false;

    /// Whether `value` takes the true branch of node `index`, whose `feature` (with its
    /// [`NAN_TRUE`] flag) and `threshold` are given.
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool;
}

/// One mode for every node, fixed at compile time (`M` is a [`Mode`] as `u8`), ignoring
/// the missing-value flags: right for rows without NaN, or when no node sends NaN to its
/// true child. The walks use it for [`Mode::Lt`], which every ensemble without `Eq` and
/// `Neq` is rewritten to ([`Mode::as_less_than`]).
#[derive(Clone, Copy)]
pub(super) struct Fixed<const M: u8>;

impl<const M: u8> Fixed<M> {
    const MODE: Mode = MODES_BY_CODE[M as usize];
}

/// [`Mode`]s indexed by their `as u8` code.
const MODES_BY_CODE: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

impl<const M: u8> Compare for Fixed<M> {
    const LESS_THAN_ONLY: bool = M == Mode::Lt as u8;

    #[inline(always)]
    fn goes_true(self, _feature: u32, threshold: f32, _index: usize, value: f32) -> bool {
        Self::MODE.holds(value, threshold)
    }
}

/// Any ensemble and any row: the node's own mode and missing-value rule.
#[derive(Clone, Copy)]
pub(super) struct PerNode<'a>(pub(super) &'a [Mode]);

impl Compare for PerNode<'_> {
    #[inline(always)]
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool {
        // `|`, not `||`: both sides are cheap, and a branch here would be unpredictable.
        self.0[index].holds(value, threshold) | ((feature & NAN_TRUE != 0) & value.is_nan())
    }
}

/// Rewrites every branch but `Eq` and `Neq` ones to [`Mode::Lt`] (see
/// [`Mode::as_less_than`]): its threshold moved, its children swapped where the test is
/// negated, and its missing-value flag set where NaN, which fails `x < t` and so takes
/// the (new) false child, must take the true one. Walks then inline one comparison for
/// every ensemble, whatever mix of modes it was exported with.
pub(super) fn rewrite_as_less_than(nodes: &mut [Node], modes: &mut [Option<Mode>]) {
    for (node, mode) in nodes.iter_mut().zip(modes) {
        let Some(unified) = mode.and_then(|m| m.as_less_than(node.threshold)) else {
            continue;
        };
        node.threshold = unified.threshold;
        if unified.swapped {
            node.children.swap(0, 1);
            node.feature ^= NAN_TRUE;
        }
        *mode = Some(Mode::Lt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Thresholds and values at the edges of f32: zeros of both signs, the subnormals,
    /// the largest finite values, the infinities, NaN, and their neighbours.
    fn edges() -> Vec<f32> {
        let tiny = f32::from_bits(1);
        let mut values = vec![
            0.0,
            -0.0,
            tiny,
            -tiny,
            f32::MIN_POSITIVE,
            -f32::MIN_POSITIVE,
            f32::MIN_POSITIVE.next_down(),
            f32::MAX,
            f32::MIN,
            f32::MAX.next_down(),
            f32::MIN.next_up(),
            f32::INFINITY,
            f32::NEG_INFINITY,
            f32::NAN,
            1.0,
            -1.0,
            0.5,
            1e-30,
            -3.75e12,
        ];
        // A few pseudo-random bit patterns (any f32, NaNs with payloads included).
        let mut state = 0x9e37_79b9u32;
        for _ in 0..40 {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            values.push(f32::from_bits(state));
        }
        let neighbours: Vec<f32> = values
            .iter()
            .flat_map(|&v| [v.next_up(), v.next_down()])
            .collect();
        values.extend(neighbours);
        values
    }

    /// The invariant the walks rely on: for every mode but Eq and Neq, every threshold,
    /// every value (NaN included) and either missing-value rule, the rewritten node with
    /// the flag `nan_true != swapped` reaches the child the original reaches.
    #[test]
    fn less_than_reaches_the_child_the_original_comparison_reaches() {
        let values = edges();
        for mode in [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt] {
            for &threshold in &values {
                let unified = mode.as_less_than(threshold).unwrap();
                for nan_true in [false, true] {
                    let nan_left = nan_true != unified.swapped;
                    for &x in &values {
                        let original = mode.holds(x, threshold) || (nan_true && x.is_nan());
                        let less = (x < unified.threshold) || (nan_left && x.is_nan());
                        assert_eq!(
                            less != unified.swapped,
                            original,
                            "{mode:?} {threshold:e} (nan_true {nan_true}), x = {x:e}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn equality_tests_are_not_rewritten() {
        assert_eq!(Mode::Eq.as_less_than(1.0), None);
        assert_eq!(Mode::Neq.as_less_than(1.0), None);
    }

    #[test]
    fn less_or_equal_moves_the_threshold_to_the_next_float_up() {
        let unified = Mode::Leq.as_less_than(-0.0).unwrap();
        assert_eq!(unified.threshold.to_bits(), 1, "the smallest subnormal");
        assert!(!unified.swapped);
        let unified = Mode::Gt.as_less_than(f32::MAX).unwrap();
        assert_eq!((unified.threshold, unified.swapped), (f32::INFINITY, true));
    }
}
