//! The layout the walks read: every tree of an ensemble in flat arrays, with the flags
//! that pick their loops. [`Trees::new`] derives all of it from the checked trees, so
//! the invariants the walks rely on are established here and nowhere else.

#![forbid(unsafe_code)]

use super::accumulate::output_presence;
use super::compact::CompactTrees;
use super::compare::{rewrite_as_less_than, Mode};
use super::nodes::{Node, Nodes, NAN_TRUE};
use super::small_trees::SmallTrees;
use super::TREES_IN_FLIGHT;

/// The trees of an ensemble as its attributes describe them, checked by the attribute
/// reader: what [`Trees::new`] lays out.
#[derive(Debug, Clone, PartialEq)]
pub struct Forest {
    /// Every node, in attribute order. A leaf's children are itself; a branch's are
    /// other nodes of its tree, with no cycle.
    pub nodes: Vec<Node>,
    /// Per node, its comparison; `None` for a leaf.
    pub modes: Vec<Option<Mode>>,
    /// Per tree, in order of first appearance, its root.
    pub roots: Vec<u32>,
    /// Per tree, the steps from its root to its deepest leaf.
    pub depths: Vec<u32>,
}

/// All trees of an ensemble in flat arrays. The fields are private to the kernel: only
/// [`Trees::new`] sets them, and the walks read them.
#[derive(Debug, Clone, PartialEq)]
pub struct Trees {
    /// Every node of every tree (a leaf loops to itself), bounds-checked once, and one
    /// more leaf without entries that pads the last group of walked trees.
    pub(super) nodes: Nodes,
    /// Per node comparison (any mode for leaves).
    pub(super) modes: Vec<Mode>,
    /// The comparison every branch uses, if they all use one: [`Mode::Lt`] unless some
    /// branch uses `Eq` or `Neq` (every other mode is rewritten to it).
    pub(super) uniform: Option<Mode>,
    /// Some branch sends missing values (NaN) to its true child (after the rewrite).
    pub(super) any_nan_true: bool,
    /// Per tree, its root node.
    pub(super) roots: Vec<u32>,
    /// Per tree, the steps from its root to its deepest leaf.
    pub(super) depths: Vec<u32>,
    /// The trees [`Self::small_trees`] does not test for single rows, in groups of
    /// [`TREES_IN_FLIGHT`] that one row walks together.
    pub(super) tree_groups: Vec<TreeGroup>,
    /// The trees of [`Self::tree_groups`] in 8-byte nodes, when every branch compares
    /// `x < t` and no tree or feature is too large for them.
    pub(super) compact: Option<CompactTrees>,
    /// The trees small enough for groups of rows to skip the walk.
    pub(super) small_trees: SmallTrees,
    /// Node `i` owns leaf entries `leaf_offsets[i]..leaf_offsets[i + 1]` (none for
    /// branches).
    pub(super) leaf_offsets: Vec<u32>,
    /// Output (class or target) of each leaf entry.
    pub(super) leaf_outputs: Vec<u32>,
    /// Weight of each leaf entry.
    pub(super) leaf_weights: Vec<f32>,
    /// Every leaf weight is > 0, so a sum is non-zero exactly when some leaf added to it.
    pub(super) weights_positive: bool,
    /// Every leaf has an entry for every output, so every output of every row is present.
    pub(super) leaves_dense: bool,
    /// Per output, whether a row's leaves have an entry for it, when that is the same for
    /// every row (see [`output_presence`]); `None` when it depends on the leaves reached.
    pub(super) presence: Option<Vec<bool>>,
    /// Every leaf's entries are one per output, in output order.
    pub(super) leaves_by_output: bool,
    /// When no leaf has more than one entry: per node, its leaf's entry (`(0, 0.0)` for
    /// branches and leaves without one, which only a sum may add).
    pub(super) single_entries: Option<Vec<(u32, f32)>>,
    /// Number of outputs (classes or targets).
    pub(super) n_outputs: usize,
}

/// [`TREES_IN_FLIGHT`] trees one row walks in lock-step.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct TreeGroup {
    /// Their roots; a short last group is padded with a leaf that has no entries.
    pub(super) roots: [u32; TREES_IN_FLIGHT],
    /// Their positions in tree order (the tree count for padding).
    pub(super) trees: [u32; TREES_IN_FLIGHT],
    /// The largest depth among them: the steps the group takes.
    pub(super) depth: u32,
}

impl Trees {
    /// Lays `forest` out for the walks, with `entries` per node its leaf entries (output,
    /// weight; none for a branch) for `n_outputs` outputs: its branches rewritten to
    /// `x < t` where they can be, its nodes padded with an empty leaf and checked, its
    /// leaf entries in flat arrays, its small trees for the bit-set evaluation, the others
    /// in groups by depth, and the flags that pick the loops.
    pub fn new(
        forest: Forest,
        mut entries: Vec<Vec<(u32, f32)>>,
        n_outputs: usize,
    ) -> Result<Trees, String> {
        let Forest {
            mut nodes,
            mut modes,
            roots,
            depths,
        } = forest;
        assert_eq!(modes.len(), nodes.len(), "a mode per node");
        assert_eq!(entries.len(), nodes.len(), "leaf entries per node");
        assert_eq!(depths.len(), roots.len(), "a depth per tree");
        assert!(
            (entries.iter().flatten()).all(|&(output, _)| (output as usize) < n_outputs),
            "leaf entries for outputs below {n_outputs}"
        );
        let (leaves_dense, leaves_by_output) = leaf_coverage(&entries, &modes, n_outputs);
        let presence = match leaves_dense {
            true => Some(vec![true; n_outputs]),
            false => output_presence(&nodes, &roots, &entries, n_outputs),
        };
        rewrite_as_less_than(&mut nodes, &mut modes);
        // When every leaf has one entry per output (scikit-learn's forests), put them in
        // output order, so a leaf's weights add to a row's scores as a row. Each output
        // still gets one add per leaf, in tree order: the sums are unchanged.
        if leaves_by_output {
            for entries in &mut entries {
                entries.sort_by_key(|&(output, _)| output);
            }
        }
        let single_entries = single_entries(&entries);
        let (leaf_offsets, leaf_outputs, leaf_weights) = leaf_arrays(&entries);
        let empty_leaf = nodes.len() as u32;
        let nodes = Nodes::new(padded(nodes))?;
        let small_trees = SmallTrees::new(nodes.as_slice(), &roots, &depths);
        let tree_groups = tree_groups(&roots, &depths, &small_trees, empty_leaf);
        let uniform = uniform_mode(&modes);
        // Only `x < t` walks read it (its nodes keep no modes).
        let compact = (uniform == Some(Mode::Lt))
            .then(|| CompactTrees::new(nodes.as_slice(), &tree_groups))
            .flatten();
        let any_nan_true = nodes
            .as_slice()
            .iter()
            .any(|node| node.feature & NAN_TRUE != 0);
        Ok(Trees {
            nodes,
            uniform,
            // A leaf's comparison does not matter (both children are itself).
            modes: modes
                .iter()
                .map(|m| m.unwrap_or(Mode::Lt))
                .chain([Mode::Lt])
                .collect(),
            any_nan_true,
            weights_positive: leaf_weights.iter().all(|&w| w > 0.0),
            leaves_dense,
            presence,
            leaves_by_output,
            single_entries,
            roots,
            depths,
            tree_groups,
            compact,
            small_trees,
            leaf_offsets,
            leaf_outputs,
            leaf_weights,
            n_outputs,
        })
    }

    /// The number of features the trees read: rows must be at least this wide.
    #[inline]
    pub fn columns(&self) -> usize {
        self.nodes.columns()
    }

    /// Number of outputs (classes or targets).
    #[inline]
    pub fn n_outputs(&self) -> usize {
        self.n_outputs
    }

    /// Number of trees.
    #[inline]
    pub fn n_trees(&self) -> usize {
        self.roots.len()
    }

    /// Output (class or target) of each leaf entry.
    #[inline]
    pub fn leaf_outputs(&self) -> &[u32] {
        &self.leaf_outputs
    }

    /// Weight of each leaf entry.
    #[inline]
    pub fn leaf_weights(&self) -> &[f32] {
        &self.leaf_weights
    }

    /// The most entries one leaf has: with [`Self::n_trees`], a bound on the leaf
    /// weights one row adds to one output.
    pub fn max_leaf_entries(&self) -> usize {
        self.leaf_offsets
            .windows(2)
            .map(|pair| (pair[1] - pair[0]) as usize)
            .max()
            .unwrap_or(0)
    }

    /// The leaf entries of node `leaf` (none for a branch).
    #[inline(always)]
    pub(super) fn entries(&self, leaf: u32) -> std::ops::Range<usize> {
        let leaf = leaf as usize;
        self.leaf_offsets[leaf] as usize..self.leaf_offsets[leaf + 1] as usize
    }
}

/// Whether every leaf names every output (the leaves are dense), and whether each names
/// each exactly once (the leaves can be rows): `(dense, by_output)`.
fn leaf_coverage(
    entries: &[Vec<(u32, f32)>],
    modes: &[Option<Mode>],
    n_outputs: usize,
) -> (bool, bool) {
    let (mut leaves_dense, mut leaves_by_output) = (true, true);
    for (entries, _) in entries.iter().zip(modes).filter(|(_, mode)| mode.is_none()) {
        let mut outputs: Vec<u32> = entries.iter().map(|&(output, _)| output).collect();
        outputs.sort_unstable();
        leaves_by_output &= outputs.iter().copied().eq(0..n_outputs as u32);
        outputs.dedup();
        leaves_dense &= outputs.len() == n_outputs;
    }
    (leaves_dense, leaves_by_output)
}

/// When no node has more than one entry: per node (and the padding leaf), its entry or
/// `(0, 0.0)`.
fn single_entries(entries: &[Vec<(u32, f32)>]) -> Option<Vec<(u32, f32)>> {
    entries.iter().all(|entries| entries.len() <= 1).then(|| {
        entries
            .iter()
            .map(|entries| entries.first().copied().unwrap_or((0, 0.0)))
            .chain([(0, 0.0)])
            .collect()
    })
}

/// Every node's entries one after the other: `(offsets, outputs, weights)`, node `i`
/// (and then the padding leaf, which has none) owning `offsets[i]..offsets[i + 1]`.
fn leaf_arrays(entries: &[Vec<(u32, f32)>]) -> (Vec<u32>, Vec<u32>, Vec<f32>) {
    let mut leaf_offsets = Vec::with_capacity(entries.len() + 2);
    leaf_offsets.push(0u32);
    let (mut outputs, mut weights) = (Vec::new(), Vec::new());
    for entries in entries {
        for &(output, weight) in entries {
            outputs.push(output);
            weights.push(weight);
        }
        leaf_offsets.push(outputs.len() as u32);
    }
    leaf_offsets.push(outputs.len() as u32);
    (leaf_offsets, outputs, weights)
}

/// `nodes` and one more, a leaf without entries, that pads the last group of trees a
/// row walks together.
fn padded(mut nodes: Vec<Node>) -> Vec<Node> {
    let empty_leaf = nodes.len() as u32;
    nodes.push(Node::leaf(empty_leaf));
    nodes
}

/// The trees `small_trees` leaves to single rows' walks, in groups of [`TREES_IN_FLIGHT`] of like
/// depth, so few lanes idle at a leaf while the group's deepest tree finishes (the walk
/// puts leaves back in tree order before adding). The last group is padded with
/// `empty_leaf`.
fn tree_groups(
    roots: &[u32],
    depths: &[u32],
    small_trees: &SmallTrees,
    empty_leaf: u32,
) -> Vec<TreeGroup> {
    let mut by_depth: Vec<usize> = (0..roots.len())
        .filter(|&tree| !small_trees.tested_by_single_rows(tree))
        .collect();
    by_depth.sort_by_key(|&tree| depths[tree]);
    by_depth
        .chunks(TREES_IN_FLIGHT)
        .map(|group| TreeGroup {
            roots: std::array::from_fn(|lane| group.get(lane).map_or(empty_leaf, |&t| roots[t])),
            trees: std::array::from_fn(|lane| group.get(lane).map_or(roots.len(), |&t| t) as u32),
            depth: group.iter().map(|&t| depths[t]).max().unwrap_or(0),
        })
        .collect()
}

/// The comparison every branch uses, if they all use one.
fn uniform_mode(modes: &[Option<Mode>]) -> Option<Mode> {
    let mut branch_modes = modes.iter().flatten();
    match branch_modes.next() {
        Some(&first) => branch_modes.all(|&m| m == first).then_some(first),
        // Only leaves: no comparison is ever made, any mode will do.
        None => Some(Mode::Lt),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One tree: a stump whose leaves each carry the given entries.
    fn stump_with(entries: [Vec<(u32, f32)>; 2], n_outputs: usize) -> Trees {
        let forest = Forest {
            nodes: vec![
                Node {
                    feature: 0,
                    threshold: 0.5,
                    children: [1, 2],
                },
                Node::leaf(1),
                Node::leaf(2),
            ],
            modes: vec![Some(Mode::Leq), None, None],
            roots: vec![0],
            depths: vec![1],
        };
        let entries = [vec![]].into_iter().chain(entries).collect();
        Trees::new(forest, entries, n_outputs).unwrap()
    }

    #[test]
    fn leaves_with_an_entry_per_output_are_laid_out_in_output_order() {
        let trees = stump_with([vec![(1, 2.0), (0, 1.0)], vec![(0, 3.0), (1, 4.0)]], 2);
        assert!(trees.leaves_by_output && trees.leaves_dense);
        assert_eq!(trees.leaf_outputs, [0, 1, 0, 1]);
        assert_eq!(trees.leaf_weights, [1.0, 2.0, 3.0, 4.0]);
        // The branch owns no entry, nor does the padding leaf.
        assert_eq!(trees.leaf_offsets, [0, 0, 2, 4, 4]);
        assert_eq!(trees.single_entries, None);
    }

    #[test]
    fn leaves_with_one_entry_each_are_read_by_node() {
        let trees = stump_with([vec![(1, 2.0)], vec![]], 2);
        assert!(!trees.leaves_by_output && !trees.leaves_dense);
        let single = [(0, 0.0), (1, 2.0), (0, 0.0), (0, 0.0)];
        assert_eq!(trees.single_entries.as_deref(), Some(&single[..]));
    }

    #[test]
    fn the_largest_leaf_bounds_the_entries_a_row_adds() {
        let trees = stump_with([vec![(0, 1.0), (1, 2.0)], vec![(1, 3.0)]], 2);
        assert_eq!(trees.max_leaf_entries(), 2);
    }

    #[test]
    fn walked_trees_are_grouped_by_depth_and_the_last_group_padded() {
        // Depths 1..=n in a shuffled order (multiplying by a unit mod n), so the group of
        // the shallowest trees and the padded last group both show.
        let n = TREES_IN_FLIGHT + 2;
        let depths: Vec<u32> = (0..n).map(|t| (t * 5 % n) as u32 + 1).collect();
        let roots: Vec<u32> = (0..n as u32).map(|t| 10 * t).collect();
        let groups = tree_groups(&roots, &depths, &SmallTrees::default(), 99);
        assert_eq!(groups.len(), 2);
        let group_depths = |group: &TreeGroup| -> Vec<u32> {
            let trees = group.trees.iter().filter(|&&t| (t as usize) < n);
            trees.map(|&t| depths[t as usize]).collect()
        };
        let first: Vec<u32> = (1..=TREES_IN_FLIGHT as u32).collect();
        assert_eq!(group_depths(&groups[0]), first);
        assert_eq!(groups[0].depth, TREES_IN_FLIGHT as u32);
        assert_eq!(group_depths(&groups[1]), [n as u32 - 1, n as u32]);
        assert_eq!(groups[1].depth, n as u32);
        assert_eq!(groups[1].roots[2..], [99; TREES_IN_FLIGHT - 2]);
        assert_eq!(groups[1].trees[2..], [n as u32; TREES_IN_FLIGHT - 2]);
    }

    #[test]
    fn a_mode_is_uniform_when_every_branch_uses_it() {
        let leq = Some(Mode::Leq);
        assert_eq!(uniform_mode(&[leq, None, leq]), Some(Mode::Leq));
        assert_eq!(uniform_mode(&[leq, None, Some(Mode::Lt)]), None);
        assert_eq!(
            uniform_mode(&[None]),
            Some(Mode::Lt),
            "leaves only: any mode"
        );
    }
}
