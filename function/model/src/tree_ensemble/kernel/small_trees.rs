//! Trees of at most [`MAX_LEAVES`] leaves, evaluated without walking them, for a group of
//! rows through one tree or for one row through [`LANES`] trees.
//!
//! A tree's leaves are numbered left to right, every true subtree before its false
//! sibling. A row that fails a branch's test cannot end in any leaf under that branch's
//! true child. So each row starts with every leaf as a candidate, every branch of the
//! tree is tested (not only those on the row's path), each failed test clears the leaves
//! of its true subtree, and the row's leaf is the lowest candidate left:
//! - a leaf left of the row's leaf meets it at a branch where the row went false, which
//!   cleared it;
//! - the row's own leaf is only under true children of branches on its path, where the
//!   row went true, so nothing clears it.
//!
//! This is the bit-vector evaluation of QuickScorer (Lucchese et al., SIGIR 2015) without
//! its per-feature sort of thresholds. It suits the walks' weak spot: a walk is a chain of
//! dependent loads, one per level, while here the tests of one branch for the
//! [`LANES`] rows of a feature-major group are independent comparisons of adjacent values
//! against one threshold, which compile to a few vector instructions. It costs a test
//! per branch instead of one per level, which is why it is kept to small trees.
//!
//! A single row has no lanes of rows to fill, so it takes [`LANES`] trees at once: a
//! [`SmallGroup`] stores branch `k` of each of its trees side by side (a [`Level`]), the
//! row's values for them are gathered, then tested together the same way.

#![forbid(unsafe_code)]

use std::ops::Range;

use super::compare::Compare;
use super::nodes::{Node, NAN_TRUE};
use super::LANES;

/// The most leaves a tree may have to be evaluated here: one bit each in a `u32`.
pub const MAX_LEAVES: usize = 32;

/// A branch as the bit-vector evaluation reads it.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Branch {
    /// The input column (without the missing-value flag, so a group of rows finds its
    /// values with no masking).
    column: u32,
    /// The node's split value.
    threshold: f32,
    /// The node's index (for per-node comparison modes), with the node's
    /// [`NAN_TRUE`] flag.
    at: u32,
    /// The candidate leaves that survive a failed test: all but the true subtree's.
    keep: u32,
}

impl Branch {
    /// The node's `feature` as [`Compare::goes_true`] takes it: only its flag is read
    /// (the value is already gathered).
    #[inline(always)]
    fn flag(self) -> u32 {
        self.at & NAN_TRUE
    }

    /// The node's index.
    #[inline(always)]
    fn node(self) -> usize {
        (self.at & !NAN_TRUE) as usize
    }
}

/// Where one small tree's branches and leaves are.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallTree {
    branches: Range<u32>,
    /// Its leaves in bit order (node indices).
    leaves: Range<u32>,
}

/// Branch `k` of each of the [`LANES`] trees of a [`SmallGroup`], side by side so that
/// one row tests them together.
#[derive(Debug, Clone, PartialEq)]
struct Level {
    columns: [u32; LANES],
    thresholds: [f32; LANES],
    ats: [u32; LANES],
    keeps: [u32; LANES],
}

/// [`LANES`] small trees that one row evaluates together.
#[derive(Debug, Clone, PartialEq)]
pub struct SmallGroup {
    /// Their positions in tree order (the tree count for padding lanes).
    pub trees: [u32; LANES],
    /// Where each one's leaves start in [`SmallTrees::leaves`].
    leaf_starts: [u32; LANES],
    /// Their branches, level `k` holding each tree's `k`th (a tree with fewer branches
    /// is padded with tests that keep every leaf).
    levels: Range<u32>,
}

/// Every small tree of an ensemble, ready for the bit-vector evaluation.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SmallTrees {
    /// Per tree, where its branches and leaves are, or `None` for a tree too large.
    trees: Vec<Option<SmallTree>>,
    branches: Vec<Branch>,
    leaves: Vec<u32>,
    /// The small trees in groups of [`LANES`] of like branch counts, for single rows.
    groups: Vec<SmallGroup>,
    /// Per tree, whether it is in one of [`Self::groups`].
    in_groups: Vec<bool>,
    levels: Vec<Level>,
}

impl SmallTrees {
    /// Lays out, of the trees at `roots` with the given `depths` (steps to their deepest
    /// leaf), those with at most [`MAX_LEAVES`] leaves. `nodes` must form trees whose
    /// leaves are the nodes that are their own children (as `Nodes` are).
    pub fn new(nodes: &[Node], roots: &[u32], depths: &[u32]) -> SmallTrees {
        let mut small = SmallTrees::default();
        for (&root, &depth) in roots.iter().zip(depths) {
            let (branches, leaves) = (small.branches.len(), small.leaves.len());
            // A tree deeper than the leaf limit has too many leaves; testing the depth
            // first also bounds the recursion below.
            let fits = (depth as usize) < MAX_LEAVES && small.add_subtree(nodes, root, leaves);
            if fits {
                small.trees.push(Some(SmallTree {
                    branches: branches as u32..small.branches.len() as u32,
                    leaves: leaves as u32..small.leaves.len() as u32,
                }));
            } else {
                small.branches.truncate(branches);
                small.leaves.truncate(leaves);
                small.trees.push(None);
            }
        }
        small.group(depths);
        small
    }

    /// Lays out in [`SmallGroup`]s the small trees that one row tests faster than it
    /// walks them ([`Self::tested_by_single_rows`]), `depths` being every tree's.
    fn group(&mut self, depths: &[u32]) {
        let n_trees = depths.len();
        let mut by_size: Vec<(usize, &SmallTree)> = (self.trees.iter().enumerate())
            .filter_map(|(tree, small)| Some((tree, small.as_ref()?)))
            .filter(|(tree, small)| single_row_tests(small, depths[*tree]))
            .collect();
        self.in_groups = vec![false; n_trees];
        for &(tree, _) in &by_size {
            self.in_groups[tree] = true;
        }
        by_size.sort_by_key(|(_, small)| small.branches.len());
        for chunk in by_size.chunks(LANES) {
            // Padding lanes repeat the first tree; their leaves go to the unused slot.
            let lane = |lane: usize| chunk.get(lane).unwrap_or(&chunk[0]);
            let n_levels = chunk
                .iter()
                .map(|(_, t)| t.branches.len())
                .max()
                .unwrap_or(0);
            let first = self.levels.len() as u32;
            for k in 0..n_levels {
                let branch = |l: usize| {
                    let tree = lane(l).1;
                    match tree.branches.clone().nth(k) {
                        Some(at) => self.branches[at as usize],
                        // Column 0 exists in every row; all ones keeps every leaf.
                        None => Branch {
                            column: 0,
                            threshold: 0.0,
                            at: self.leaves[tree.leaves.start as usize],
                            keep: u32::MAX,
                        },
                    }
                };
                let branches: [Branch; LANES] = std::array::from_fn(branch);
                self.levels.push(Level {
                    columns: branches.map(|b| b.column),
                    thresholds: branches.map(|b| b.threshold),
                    ats: branches.map(|b| b.at),
                    keeps: branches.map(|b| b.keep),
                });
            }
            self.groups.push(SmallGroup {
                trees: std::array::from_fn(|l| chunk.get(l).map_or(n_trees, |&(t, _)| t) as u32),
                leaf_starts: std::array::from_fn(|l| lane(l).1.leaves.start),
                levels: first..self.levels.len() as u32,
            });
        }
    }

    /// The groups of small trees for single rows.
    pub fn groups(&self) -> &[SmallGroup] {
        &self.groups
    }

    /// Whether one row evaluates tree `tree` (in tree order) in a [`SmallGroup`] rather
    /// than by walking it.
    pub fn tested_by_single_rows(&self, tree: usize) -> bool {
        self.in_groups.get(tree).copied().unwrap_or(false)
    }

    /// Tree `tree` (in tree order), if it is laid out here (none are in the default,
    /// which leaves every tree to the walks).
    #[inline(always)]
    pub fn tree(&self, tree: usize) -> Option<&SmallTree> {
        self.trees.get(tree).and_then(Option::as_ref)
    }

    /// Appends the leaves under node `at` (true subtree first) to the tree whose leaves
    /// start at `first_leaf`, and its branches, each with the leaves it keeps; false
    /// once the tree has more than [`MAX_LEAVES`] leaves.
    fn add_subtree(&mut self, nodes: &[Node], at: u32, first_leaf: usize) -> bool {
        let node = nodes[at as usize];
        if node.children == [at, at] {
            self.leaves.push(at);
            return self.leaves.len() - first_leaf <= MAX_LEAVES;
        }
        let slot = self.branches.len();
        self.branches.push(Branch {
            column: node.column() as u32,
            threshold: node.threshold,
            at: at | (node.feature & NAN_TRUE),
            keep: 0,
        });
        let [if_false, if_true] = node.children;
        let before = self.leaves.len() - first_leaf;
        if !self.add_subtree(nodes, if_true, first_leaf) {
            return false;
        }
        let after = self.leaves.len() - first_leaf;
        // Bits before..after (after <= MAX_LEAVES, so u64 does not overflow).
        let true_leaves = ((1u64 << after) - (1u64 << before)) as u32;
        self.branches[slot].keep = !true_leaves;
        self.add_subtree(nodes, if_false, first_leaf)
    }

    /// The leaves the [`LANES`] rows of `values` (a feature-major group, as the walks
    /// read it) reach in `tree`.
    #[inline(always)]
    pub(super) fn rows_through<C: Compare>(
        &self,
        compare: C,
        tree: &SmallTree,
        values: &[f32],
    ) -> [u32; LANES] {
        // Feature f of the group's rows is `values[f]`: one bounds check a branch, no
        // arithmetic on the column.
        let (values, _) = values.as_chunks::<LANES>();
        let mut candidates = [u32::MAX; LANES];
        for &branch in &self.branches[tree.branches.start as usize..tree.branches.end as usize] {
            let lanes = &values[branch.column as usize];
            for (candidates, &value) in candidates.iter_mut().zip(lanes) {
                let goes_true =
                    compare.goes_true(branch.flag(), branch.threshold, branch.node(), value);
                *candidates &= surviving(branch.keep, goes_true);
            }
        }
        let leaves = &self.leaves[tree.leaves.start as usize..tree.leaves.end as usize];
        // The row's own leaf always survives, so a candidate is left.
        candidates.map(|candidates| leaves[candidates.trailing_zeros() as usize])
    }

    /// The leaves one row (at least `columns` values, as the walks read it) reaches in
    /// the trees of `group`, in lane order.
    #[inline(always)]
    pub(super) fn row_through_group<C: Compare>(
        &self,
        compare: C,
        group: &SmallGroup,
        row: &[f32],
    ) -> [u32; LANES] {
        let mut candidates = [u32::MAX; LANES];
        for level in &self.levels[group.levels.start as usize..group.levels.end as usize] {
            // The gather first, then tests with no bounds checks between them, which
            // the compiler turns into vector instructions as in `rows_through`.
            let values: [f32; LANES] =
                std::array::from_fn(|lane| row[level.columns[lane] as usize]);
            for lane in 0..LANES {
                let at = level.ats[lane];
                let goes_true = compare.goes_true(
                    at & NAN_TRUE,
                    level.thresholds[lane],
                    (at & !NAN_TRUE) as usize,
                    values[lane],
                );
                candidates[lane] &= surviving(level.keeps[lane], goes_true);
            }
        }
        let mut reached = [0; LANES];
        for lane in 0..LANES {
            let bit = candidates[lane].trailing_zeros() as usize;
            reached[lane] = self.leaves[group.leaf_starts[lane] as usize + bit];
        }
        reached
    }
}

/// Whether one row should test every branch of `tree` (of `depth` levels) rather than walk
/// it. A row tests [`LANES`] trees' branches side by side, one level a branch, where a
/// walk takes one step a level of depth, a chain of dependent loads that lock-step
/// trees overlap: the tests win while a tree has no more than about twice as many
/// branches as levels (forests of small trees; not LightGBM's 31-leaf trees, ~30
/// branches over ~11 levels).
fn single_row_tests(tree: &SmallTree, depth: u32) -> bool {
    tree.branches.len() <= 2 * depth as usize
}

/// The candidate leaves a branch's test leaves standing: all of them when it holds, else
/// the ones it `keep`s. Computed without a branch, which would be unpredictable.
#[inline(always)]
fn surviving(keep: u32, goes_true: bool) -> u32 {
    keep | (goes_true as u32).wrapping_neg()
}

#[cfg(test)]
mod tests {
    use super::super::compare::{Fixed, Mode};
    use super::super::fixtures::branch;
    use super::*;

    #[test]
    fn leaves_are_numbered_true_subtree_first_and_each_branch_keeps_the_rest() {
        // 0: x0 < 1 ? 1 : 4;  1: x1 < 2 ? 2 : 3;  leaves 2, 3, 4.
        let nodes = vec![
            branch(0, 1.0, [4, 1]),
            branch(1, 2.0, [3, 2]),
            Node::leaf(2),
            Node::leaf(3),
            Node::leaf(4),
        ];
        let small = SmallTrees::new(&nodes, &[0], &[2]);
        let tree = small.tree(0).unwrap();
        assert_eq!(small.leaves[tree.leaves.start as usize..], [2, 3, 4]);
        let keeps: Vec<u32> = small.branches.iter().map(|b| b.keep).collect();
        assert_eq!(keeps, [!0b011, !0b001]);
    }

    /// A complete tree of `depth` levels of branches on x0, in breadth-first order.
    fn complete(depth: u32) -> Vec<Node> {
        let branches = (1u32 << depth) - 1;
        (0..2 * branches + 1)
            .map(|i| match i < branches {
                true => branch(0, i as f32, [2 * i + 2, 2 * i + 1]),
                false => Node::leaf(i),
            })
            .collect()
    }

    /// The leaf a row reaches in the tree at `root`, by following the children.
    fn walk(nodes: &[Node], root: u32, row: &[f32]) -> u32 {
        let mut at = root;
        loop {
            let node = nodes[at as usize];
            if node.children == [at, at] {
                return at;
            }
            at = node.children[usize::from(row[node.column()] < node.threshold)];
        }
    }

    /// Both evaluations reach the leaf a walk does, for every tree of a forest of
    /// different sizes (groups padded, levels padded) and rows on every side of the
    /// thresholds; single rows for the trees they test rather than walk.
    #[test]
    fn groups_of_rows_and_single_rows_reach_the_walked_leaf() {
        // Three trees in one array: a complete tree of depth 3 (on x0), a stump on x1,
        // and a lone leaf.
        let mut nodes = complete(3);
        let stump = nodes.len() as u32;
        nodes.push(branch(1, 0.5, [stump + 1, stump + 2]));
        nodes.push(Node::leaf(stump + 1));
        nodes.push(Node::leaf(stump + 2));
        let lone = nodes.len() as u32;
        nodes.push(Node::leaf(lone));
        let roots = [0, stump, lone, stump];
        let small = SmallTrees::new(&nodes, &roots, &[3, 1, 0, 1]);
        let lt = Fixed::<{ Mode::Lt as u8 }>;
        let rows: Vec<[f32; 2]> = (0..LANES * 2)
            .map(|i| [i as f32 - 1.5, (i % 3) as f32 * 0.4])
            .collect();
        for row in &rows {
            let mut reached = vec![u32::MAX; roots.len() + 1];
            for group in small.groups() {
                let leaves = small.row_through_group(lt, group, row);
                for (&tree, leaf) in group.trees.iter().zip(leaves) {
                    reached[tree as usize] = leaf;
                }
            }
            for (tree, &root) in roots.iter().enumerate() {
                if small.tested_by_single_rows(tree) {
                    assert_eq!(
                        reached[tree],
                        walk(&nodes, root, row),
                        "{row:?}, tree {tree}"
                    );
                }
            }
        }
        for group in rows.chunks(LANES) {
            let values: Vec<f32> = (0..2)
                .flat_map(|f| group.iter().map(move |row| row[f]))
                .collect();
            for (tree, &root) in roots.iter().enumerate() {
                let leaves = small.rows_through(lt, small.tree(tree).unwrap(), &values);
                for (row, leaf) in group.iter().zip(leaves) {
                    assert_eq!(leaf, walk(&nodes, root, row), "{row:?}, tree {tree}");
                }
            }
        }
    }

    #[test]
    fn single_rows_walk_small_trees_with_many_branches_per_level() {
        // 7 branches over 3 levels: walked; 3 over 2: tested.
        let small = SmallTrees::new(&complete(3), &[0], &[3]);
        assert!(small.tree(0).is_some() && !small.tested_by_single_rows(0));
        assert!(small.groups().is_empty());
        let small = SmallTrees::new(&complete(2), &[0], &[2]);
        assert!(small.tested_by_single_rows(0));
        assert_eq!(small.groups().len(), 1);
    }

    #[test]
    fn trees_with_more_leaves_than_bits_are_left_to_the_walks() {
        let small = SmallTrees::new(&complete(5), &[0], &[5]);
        let tree = small.tree(0).expect("32 leaves fit");
        assert_eq!(tree.leaves.len(), MAX_LEAVES);
        let small = SmallTrees::new(&complete(6), &[0], &[6]);
        assert!(small.tree(0).is_none(), "64 leaves do not");
        assert!(small.branches.is_empty() && small.leaves.is_empty());
    }
}
