//! How a branch decides: the `nodes_modes` comparisons, and the two ways a walk applies
//! them (one mode fixed at compile time, or each node's own with its missing-value rule).

#![forbid(unsafe_code)]

use super::nodes::NAN_TRUE;

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

/// How a walk decides a branch: one mode fixed at compile time, or the node's own.
pub(super) trait Compare: Copy {
    /// Whether `value` takes the true branch of node `index`, whose `feature` (with its
    /// [`NAN_TRUE`] flag) and `threshold` are given.
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool;
}

/// One mode for every node and no node sending NaN to its true child, fixed at compile
/// time (`M` is a [`Mode`] as `u8`): each mode gets its own copy of the walk with one
/// comparison inlined, the common case (every exporter we know writes one mode).
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
    #[inline(always)]
    fn goes_true(self, _feature: u32, threshold: f32, _index: usize, value: f32) -> bool {
        Self::MODE.holds(value, threshold)
    }
}

/// Any ensemble: the node's own mode and missing-value rule.
#[derive(Clone, Copy)]
pub(super) struct PerNode<'a>(pub(super) &'a [Mode]);

impl Compare for PerNode<'_> {
    #[inline(always)]
    fn goes_true(self, feature: u32, threshold: f32, index: usize, value: f32) -> bool {
        // `|`, not `||`: both sides are cheap, and a branch here would be unpredictable.
        self.0[index].holds(value, threshold) | ((feature & NAN_TRUE != 0) & value.is_nan())
    }
}
