//! The flat node layout every walk reads, checked once when built, and the one step of a
//! walk that reads a node and a row's value without bounds checks.

use super::compare::Compare;

/// In [`Node::feature`]: a NaN feature value takes the true branch.
pub const NAN_TRUE: u32 = 1 << 31;

/// The input column a node's `feature` names, without the [`NAN_TRUE`] flag. Every walk
/// and test reads it through here, so the bounds [`Nodes`] checks are the ones they use.
#[inline(always)]
pub(super) fn column(feature: u32) -> usize {
    (feature & !NAN_TRUE) as usize
}

/// A node. A leaf is a node whose two children are itself, so a walk can take a fixed
/// number of steps (its tree's depth) with no test for "reached a leaf" in the loop.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Node {
    /// Input column, with [`NAN_TRUE`] set when missing values go to the true branch
    /// (column 0 for leaves).
    pub feature: u32,
    /// Split value.
    pub threshold: f32,
    /// `[false child, true child]` as node indices.
    pub children: [u32; 2],
}

impl Node {
    /// The input column the node reads (see [`column()`]).
    #[inline(always)]
    pub fn column(&self) -> usize {
        column(self.feature)
    }

    /// A leaf at index `at`.
    pub fn leaf(at: u32) -> Node {
        Node {
            feature: 0,
            threshold: 0.0,
            children: [at, at],
        }
    }
}

/// The nodes of an ensemble, checked once when built so the walks need no bounds checks:
/// every child index is below the node count, and every feature below [`Self::columns`].
/// The fields are private so that nothing can break that after the check.
#[derive(Debug, Clone, PartialEq)]
pub struct Nodes {
    nodes: Vec<Node>,
    columns: usize,
}

impl Nodes {
    /// Checks `nodes` (see [`Nodes`]).
    pub fn new(nodes: Vec<Node>) -> Result<Nodes, String> {
        let len = nodes.len();
        if let Some(at) = nodes
            .iter()
            .position(|node| node.children.iter().any(|&c| c as usize >= len))
        {
            return Err(format!("node {at} has a child outside the {len} nodes"));
        }
        let columns = nodes
            .iter()
            .map(|node| node.column() + 1)
            .max()
            .unwrap_or(1);
        Ok(Nodes { nodes, columns })
    }

    /// The nodes, in index order.
    pub fn as_slice(&self) -> &[Node] {
        &self.nodes
    }

    /// One more than the largest feature index any node reads (at least 1: leaves read
    /// column 0 and ignore it). Rows must have at least this many values.
    pub fn columns(&self) -> usize {
        self.columns
    }

    /// Panics unless `at` is a node: the check a walk makes once, at its root, so that
    /// [`Self::step`] may take every later index on trust.
    #[inline(always)]
    pub(super) fn check(&self, at: u32) -> u32 {
        assert!((at as usize) < self.nodes.len(), "no node {at}");
        at
    }

    /// One step of a walk: the child of node `at` that the row takes, reading feature `f`
    /// of the row at `values[f * stride + lane]` (one row: stride 1, lane 0; a group of
    /// rows stored feature-major: stride [`LANES`](super::LANES)). A leaf stays where it is.
    ///
    /// # Safety
    /// `at` is below the node count (a root passed through [`Self::check`], or what an
    /// earlier step returned), and `values` holds at least `columns * stride` values
    /// with `lane < stride`.
    #[inline(always)]
    pub(super) unsafe fn step<C: Compare>(
        &self,
        compare: C,
        at: u32,
        values: &[f32],
        stride: usize,
        lane: usize,
    ) -> u32 {
        debug_assert!((at as usize) < self.nodes.len());
        debug_assert!(lane < stride && self.columns * stride <= values.len());
        // SAFETY: `at` is below the node count (the caller's contract).
        let node = unsafe { self.nodes.get_unchecked(at as usize) };
        // SAFETY: `node.column()` is below `columns` (its definition in `new`), so the
        // index is at most `(columns - 1) * stride + lane < columns * stride <= values.len()`.
        let value = unsafe { *values.get_unchecked(node.column() * stride + lane) };
        // A conditional move, never a branch: LLVM picks the child's address with a
        // `cmov` and loads from it, which is faster than indexing `children` by the
        // comparison; reading both children as one u64 and shifting was no faster (see
        // BENCHMARKS.md, "2026-11-28: feature-major row groups and unchecked steps").
        let [if_false, if_true] = node.children;
        std::hint::select_unpredictable(
            compare.goes_true(node.feature, node.threshold, at as usize, value),
            if_true,
            if_false,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::branch;
    use super::*;

    #[test]
    fn nodes_refuse_a_child_outside_the_array() {
        let err = Nodes::new(vec![branch(0, 0.0, [1, 3]), Node::leaf(1)]).unwrap_err();
        assert!(err.contains("node 0"), "{err}");
        assert!(Nodes::new(vec![branch(0, 0.0, [1, 1]), Node::leaf(1)]).is_ok());
    }

    #[test]
    fn columns_count_the_highest_feature_without_the_missing_value_flag() {
        let nodes = Nodes::new(vec![branch(4 | NAN_TRUE, 0.0, [1, 1]), Node::leaf(1)]).unwrap();
        assert_eq!(nodes.columns(), 5);
        assert_eq!(Nodes::new(vec![Node::leaf(0)]).unwrap().columns(), 1);
    }
}
