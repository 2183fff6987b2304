//! Walks over a compact copy of the walked trees: 8-byte nodes where [`Node`]s take 16,
//! each branch's children side by side so one relative offset finds both, for the rows
//! that compare `x < t` alone (see `Compare::LESS_THAN_ONLY`): one row through groups of
//! trees, and a group of [`LANES`] rows through one tree (a batch's 500-tree depth-12
//! forest went from 8.6 to 6.6-6.8 us per row with them, BENCHMARKS.md "Boosted trees
//! (issue 19)").
//!
//! A single row walks [`TREES_IN_FLIGHT`] trees in lock-step, and on boosted ensembles
//! (hundreds of trees of 30-odd leaves) that loop is bound by the instructions of a step,
//! not by its loads' latency: a compact step reads one 8-byte node with no flag to mask,
//! and adds the comparison's outcome to an offset, where a [`Node`] step selects between
//! two stored children; on large forests, half the bytes is half the cache misses. One row
//! of the 500-tree LightGBM model went from 5.6 to 4.6-4.9 us, of the 500-tree depth-12
//! forest from 13-15 to 10.6-11 us (BENCHMARKS.md, "Boosted trees (issue 19)").
//!
//! A branch at `p` has its true child at `p + offset` and its false child right after it,
//! so the step is `p + offset + !(x < t)`. Each tree is laid out in blocks of
//! [`BLOCK_LEVELS`] levels: a branch's children's pair, then its grandchildren's pairs,
//! then theirs, side by side (14 nodes, 112 bytes), so that a path reads a new block
//! every third step whichever way it turns; the blocks follow each other depth-first. A
//! depth-first layout of nodes, true subtree first, kept true turns within a few cache
//! lines but sent every false turn past the whole true subtree. One row of the 500-tree
//! depth-12 forest (10 MB of compact nodes), rows from N(3, 2), took 10.6-10.9 us when
//! the same row came again and again and 14.8-15.9 us when rows changed every call, and
//! 6.7 and 9.8 us in blocks; rows from N(0, 1), 8.4-9.0 and 17.5-18.0 us before, 8.6-9.0
//! and 15.4-15.8 us after (BENCHMARKS.md, "Boosted trees (issue 19)"). Blocks of 2
//! levels were as fast but for one repeated N(0, 1) row (9.2-10.1 us), of 4 levels slower
//! on changing rows; blocks kept within a 64- or 128-byte line (28% more nodes) measured
//! no better, and prefetching a block's lines when a walk enters it was slower.
//!
//! A leaf has a NaN threshold, which no `x < t` passes, and offset -1, so it loops to
//! itself and a walk takes a fixed number of steps, as over [`Node`]s. That NaN's payload
//! is the leaf's [`Node`] index, which is what the accumulators read a leaf's entries by:
//! a walk ends on the node it has just read, where a separate array would cost another
//! cache miss per tree on large forests (the 500-tree forest took 14.5-17 us with one).
//! Missing-value flags are not kept: NaN takes the false child, as
//! [`Fixed`](super::compare::Fixed) `x < t` sends it.

use super::layout::TreeGroup;
use super::nodes::Node;
use super::{LANES, TREES_IN_FLIGHT};

/// A node of the compact layout (see the module header).
#[derive(Debug, Clone, Copy, PartialEq)]
struct CompactNode {
    /// The split value (NaN for a leaf).
    threshold: f32,
    /// The input column.
    feature: u16,
    /// From this node to its true child; its false child is the next node. -1 for a leaf.
    offset: i16,
}

/// The quiet-NaN bit pattern with no payload; a leaf's threshold is it or'ed with the
/// leaf's [`Node`] index.
const QUIET_NAN: u32 = 0x7fc0_0000;
/// The payload bits below the quiet bit: the largest [`Node`] index a leaf can name.
const LEAF_INDEX: u32 = (1 << 22) - 1;

/// What fills the nodes no walk reaches: a leaf of node 0.
const PLACEHOLDER: CompactNode = CompactNode {
    threshold: f32::NAN,
    feature: 0,
    offset: -1,
};

/// Levels of a tree whose nodes are laid out together (see the module header).
const BLOCK_LEVELS: usize = 3;

impl CompactNode {
    /// The leaf copied from [`Node`] `from`, or `None` if its index does not fit in a
    /// NaN's payload (more than 4 million nodes).
    fn leaf(from: u32) -> Option<CompactNode> {
        (from <= LEAF_INDEX).then(|| CompactNode {
            threshold: f32::from_bits(QUIET_NAN | from),
            feature: 0,
            offset: -1,
        })
    }

    /// The [`Node`] index a leaf was copied from (meaningless for a branch).
    #[inline(always)]
    fn leaf_index(self) -> u32 {
        self.threshold.to_bits() & LEAF_INDEX
    }
}

/// The trees of [`TreeGroup`]s in the compact layout, checked once when built so the
/// walks need no bounds checks: every node's possible next node is a node, every feature
/// below [`Self::columns`], every root a node. The fields are private so that nothing
/// can break that after the check.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct CompactTrees {
    nodes: Vec<CompactNode>,
    /// Per tree group, its trees' compact roots in lane order.
    roots: Vec<[u32; TREES_IN_FLIGHT]>,
    /// Per tree in tree order, its compact root; `u32::MAX` for a tree not walked.
    tree_roots: Vec<u32>,
    columns: usize,
}

impl CompactTrees {
    /// Lays out the trees of `groups` (roots among `nodes`, whose leaves are the nodes
    /// that are their own children), or `None` when the layout cannot hold them: a
    /// feature above `u16::MAX`, a leaf index above [`LEAF_INDEX`], or a tree whose
    /// layout puts a child more than `i16::MAX` nodes after its parent (a tree of tens of
    /// thousands of nodes).
    pub(super) fn new(nodes: &[Node], groups: &[TreeGroup]) -> Option<CompactTrees> {
        let mut compact = CompactTrees {
            nodes: Vec::new(),
            roots: Vec::with_capacity(groups.len()),
            tree_roots: Vec::new(),
            columns: 1,
        };
        for group in groups {
            let mut roots = [0; TREES_IN_FLIGHT];
            for ((root, &from), &tree) in roots.iter_mut().zip(&group.roots).zip(&group.trees) {
                *root = compact.add_tree(nodes, from)?;
                let tree = tree as usize;
                if compact.tree_roots.len() <= tree {
                    compact.tree_roots.resize(tree + 1, u32::MAX);
                }
                compact.tree_roots[tree] = *root;
            }
            compact.roots.push(roots);
        }
        compact.check().expect("the compact layout is consistent");
        Some(compact)
    }

    /// Appends the tree at `root` (see the module header) and returns where its root went.
    fn add_tree(&mut self, nodes: &[Node], root: u32) -> Option<u32> {
        let first = u32::try_from(self.nodes.len()).ok()?;
        self.push_placeholders(1);
        // Nodes placed whose children are not yet: a block is laid out for each.
        let mut pending = vec![(root, first)];
        while let Some((from, at)) = pending.pop() {
            match nodes[from as usize].children == [from, from] {
                true => self.nodes[at as usize] = CompactNode::leaf(from)?,
                false => self.add_block(nodes, from, at, &mut pending)?,
            }
        }
        Some(first)
    }

    /// Lays out, after the nodes so far, the children of the branch `from` (placed at
    /// `at`) and of its descendants down [`BLOCK_LEVELS`] levels: their pairs,
    /// breadth-first. Writes `from` and the block's branches and leaves; the nodes of the
    /// last level's pairs that are branches go to `pending`, for blocks of their own.
    fn add_block(
        &mut self,
        nodes: &[Node],
        from: u32,
        at: u32,
        pending: &mut Vec<(u32, u32)>,
    ) -> Option<()> {
        let is_branch = |n: u32| nodes[n as usize].children != [n, n];
        // The branches whose pairs go here, breadth-first; a pair is [true, false].
        let mut branches = vec![from];
        let mut level = vec![from];
        for _ in 1..BLOCK_LEVELS {
            level = (level.iter())
                .flat_map(|&n| [nodes[n as usize].children[1], nodes[n as usize].children[0]])
                .filter(|&n| is_branch(n))
                .collect();
            branches.extend(&level);
        }
        let mut pair = u32::try_from(self.nodes.len()).ok()?;
        self.push_placeholders(2 * branches.len());
        // Where the block's branches sit: breadth-first, a parent's pair comes first.
        let mut placed = vec![(from, at)];
        for &branch in &branches {
            let (_, branch_at) = *(placed.iter().find(|(n, _)| *n == branch))
                .expect("a branch's parent pair is laid out before its own");
            let node = nodes[branch as usize];
            self.nodes[branch_at as usize] = CompactNode {
                threshold: node.threshold,
                feature: u16::try_from(node.column()).ok()?,
                offset: i16::try_from(pair - branch_at).ok()?,
            };
            self.columns = self.columns.max(node.column() + 1);
            let [if_false, if_true] = node.children;
            for (child, child_at) in [(if_true, pair), (if_false, pair + 1)] {
                if !is_branch(child) {
                    self.nodes[child_at as usize] = CompactNode::leaf(child)?;
                } else if branches.contains(&child) {
                    placed.push((child, child_at));
                } else {
                    pending.push((child, child_at));
                }
            }
            pair += 2;
        }
        Some(())
    }

    fn push_placeholders(&mut self, n: usize) {
        self.nodes.extend(std::iter::repeat_n(PLACEHOLDER, n));
    }

    /// The invariants the unchecked steps rely on (see [`CompactTrees`]). A node with a
    /// NaN threshold only ever takes its second child: `x < NaN` holds for no `x`.
    fn check(&self) -> Result<(), String> {
        let len = self.nodes.len() as i64;
        for (at, node) in self.nodes.iter().enumerate() {
            let first = at as i64 + i64::from(node.offset);
            let reachable = if node.threshold.is_nan() {
                first + 1..first + 2
            } else {
                first..first + 2
            };
            if reachable.start < 0 || reachable.end > len {
                return Err(format!("compact node {at} steps outside the {len} nodes"));
            }
            if usize::from(node.feature) >= self.columns {
                return Err(format!("compact node {at} reads past {}", self.columns));
            }
        }
        match (self.roots.iter().flatten()).find(|&&root| i64::from(root) >= len) {
            Some(root) => Err(format!("root {root} outside the {len} nodes")),
            None => Ok(()),
        }
    }

    /// Puts in `leaves[tree]` the leaf (as a [`Node`] index) one row (at least
    /// `columns` values) reaches in each tree of `groups`, the groups this layout was
    /// built from, walking a group's trees in lock-step.
    #[inline(always)]
    pub(super) fn row_through_groups(
        &self,
        groups: &[TreeGroup],
        features: &[f32],
        leaves: &mut [u32],
    ) {
        assert!(features.len() >= self.columns);
        assert_eq!(groups.len(), self.roots.len(), "the groups laid out");
        for (group, roots) in groups.iter().zip(&self.roots) {
            let mut at = *roots;
            for _ in 0..group.depth {
                for at in at.iter_mut() {
                    // SAFETY: `at` starts at a checked root and only takes values `step`
                    // returns; `features` holds `columns` values (asserted above).
                    *at = unsafe { self.step(*at, features, 1, 0) };
                }
            }
            for (&tree, at) in group.trees.iter().zip(at) {
                leaves[tree as usize] = self.nodes[at as usize].leaf_index();
            }
        }
    }

    /// The leaves (as [`Node`] indices) the [`LANES`] rows of `values` (a group's
    /// `columns` values, feature-major) reach in `tree` (in tree order, one of the
    /// groups' trees), walked in lock-step.
    #[inline(always)]
    pub(super) fn rows_through_tree(
        &self,
        tree: usize,
        depth: u32,
        values: &[f32],
    ) -> [u32; LANES] {
        assert!(values.len() >= self.columns * LANES);
        let root = self.tree_roots[tree];
        assert!((root as usize) < self.nodes.len(), "tree {tree} is walked");
        let mut at = [root; LANES];
        for _ in 0..depth {
            for (lane, at) in at.iter_mut().enumerate() {
                // SAFETY: `at` starts at a root (asserted above) and only takes values
                // `step` returns; `values` holds `columns * LANES` values (asserted above).
                *at = unsafe { self.step(*at, values, LANES, lane) };
            }
        }
        at.map(|at| self.nodes[at as usize].leaf_index())
    }

    /// One step: the node after `at` for the row whose value of feature `f` is
    /// `values[f * stride + lane]`.
    ///
    /// # Safety
    /// `at` is below the node count (a root, or what an earlier step returned), `lane <
    /// stride`, and `values` holds at least `columns * stride` values.
    #[inline(always)]
    unsafe fn step(&self, at: u32, values: &[f32], stride: usize, lane: usize) -> u32 {
        debug_assert!((at as usize) < self.nodes.len());
        debug_assert!(lane < stride && self.columns * stride <= values.len());
        // SAFETY: `at` is below the node count (the caller's contract).
        let node = unsafe { self.nodes.get_unchecked(at as usize) };
        // SAFETY: `feature < columns` (`check`), so the index is below `columns * stride`
        // (`lane < stride`), at most the length (the contract).
        let value = unsafe { *values.get_unchecked(usize::from(node.feature) * stride + lane) };
        // `check` proved both `at + offset` and `at + offset + 1` are nodes, and only the
        // latter when the threshold is NaN, the one case `x < t` cannot hold.
        let first = at.wrapping_add(node.offset as i32 as u32);
        first + u32::from(!value.lt(&node.threshold))
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::branch;
    use super::*;

    /// Group the trees at `roots` (padded with the first).
    fn group(roots: &[u32], depth: u32) -> TreeGroup {
        TreeGroup {
            roots: std::array::from_fn(|lane| roots[lane.min(roots.len() - 1)]),
            trees: std::array::from_fn(|lane| lane.min(roots.len()) as u32),
            depth,
        }
    }

    #[test]
    fn branches_find_both_children_from_one_offset_and_leaves_loop_to_themselves() {
        // 0: x1 < 2 ? 1 : 2;  1: leaf;  2: x0 < 5 ? 3 : 4;  3, 4: leaves.
        let nodes = vec![
            branch(1, 2.0, [2, 1]),
            Node::leaf(1),
            branch(0, 5.0, [4, 3]),
            Node::leaf(3),
            Node::leaf(4),
        ];
        let compact = CompactTrees::new(&nodes, &[group(&[0], 2)]).unwrap();
        // The root, its true child (leaf 1) then its false child (2), then 2's children.
        let leaves: Vec<u32> = compact.nodes.iter().map(|n| n.leaf_index()).collect();
        assert_eq!(leaves[1], 1);
        assert_eq!(leaves[3..5], [3, 4]);
        assert_eq!(compact.nodes[0].offset, 1);
        assert_eq!(compact.nodes[2].offset, 1);
        assert_eq!(compact.nodes[1].offset, -1);
        let leaf_of = |row: [f32; 2]| {
            let mut leaves = vec![0; TREES_IN_FLIGHT + 1];
            compact.row_through_groups(&[group(&[0], 2)], &row, &mut leaves);
            leaves[0]
        };
        assert_eq!(leaf_of([0.0, 1.0]), 1);
        assert_eq!(leaf_of([0.0, 3.0]), 3);
        assert_eq!(leaf_of([9.0, 3.0]), 4);
        assert_eq!(leaf_of([9.0, f32::NAN]), 4, "NaN fails x < t");
    }

    #[test]
    fn a_block_holds_its_levels_of_pairs_breadth_first() {
        // A complete tree of depth 4 on feature 0, in pre-order: branch `i` splits at
        // `i`, leaves are numbered as nodes.
        let depth = 4u32;
        let mut nodes = Vec::new();
        fn grow(nodes: &mut Vec<Node>, depth: u32) -> u32 {
            let at = nodes.len() as u32;
            if depth == 0 {
                nodes.push(Node::leaf(at));
                return at;
            }
            nodes.push(branch(0, at as f32, [0, 0]));
            let if_true = grow(nodes, depth - 1);
            let if_false = grow(nodes, depth - 1);
            nodes[at as usize].children = [if_false, if_true];
            at
        }
        grow(&mut nodes, depth);
        let compact = CompactTrees::new(&nodes, &[group(&[0], depth)]).unwrap();
        // The root, then the pairs of the block's levels, breadth-first: as in a binary
        // heap, the children of the node at `p` are at `2p + 1` and `2p + 2`.
        let first_block = (1 << BLOCK_LEVELS) - 1;
        for p in 0..first_block {
            let offset = i64::from(compact.nodes[p].offset);
            assert_eq!(p as i64 + offset, 2 * p as i64 + 1, "node {p}");
        }
        // Then one block per branch on the last level: here, each a pair of leaves.
        assert_eq!(
            compact.roots[0][1], 31,
            "no gaps: the next lane's copy starts after 31"
        );
        // Every leaf is reached by the values that lead to it in the original tree.
        for x in 0..32 {
            let row = [x as f32 - 0.5];
            let mut at = 0;
            while nodes[at].children != [at as u32; 2] {
                let node = nodes[at];
                at = node.children[usize::from(row[0] < node.threshold)] as usize;
            }
            let mut leaves = vec![0; TREES_IN_FLIGHT + 1];
            compact.row_through_groups(&[group(&[0], depth)], &row, &mut leaves);
            assert_eq!(leaves[0], at as u32, "row {row:?}");
        }
    }

    #[test]
    fn what_eight_bytes_cannot_hold_is_left_to_the_wide_nodes() {
        let wide = vec![branch(70_000, 0.0, [1, 2]), Node::leaf(1), Node::leaf(2)];
        assert_eq!(CompactTrees::new(&wide, &[group(&[0], 1)]), None);
        // A complete tree of depth 16: the root's false child has its children after
        // the whole true subtree, 32k nodes on.
        let depth = 16u32;
        let branches = (1u32 << depth) - 1;
        let complete: Vec<Node> = (0..2 * branches + 1)
            .map(|i| match i < branches {
                true => branch(0, i as f32, [2 * i + 2, 2 * i + 1]),
                false => Node::leaf(i),
            })
            .collect();
        assert_eq!(CompactTrees::new(&complete, &[group(&[0], depth)]), None);
    }

    #[test]
    fn a_lone_leaf_first_in_the_array_is_a_valid_layout() {
        let nodes = vec![Node::leaf(0)];
        let compact = CompactTrees::new(&nodes, &[group(&[0], 0)]).unwrap();
        assert_eq!(compact.check(), Ok(()));
        let mut leaves = vec![7; TREES_IN_FLIGHT + 1];
        compact.row_through_groups(&[group(&[0], 0)], &[1.0], &mut leaves);
        assert_eq!(leaves[0], 0);
    }
}
