//! TreeSHAP against the definition: on random small forests (every comparison mode, both
//! missing-value rules, features met twice on a path, covers with zeros), every value
//! equals the Shapley value computed by enumerating every set of features, and the
//! values plus the expected value add up to the row's score, by recursion and by the
//! leaf ways alike.

use super::*;
use crate::tree_ensemble::kernel::properties::Rng;
use crate::tree_ensemble::kernel::{Mode, Node};

/// A forest, its leaf entries per node, and its covers per node.
type Case = (Forest, Vec<Vec<(u32, f32)>>, Vec<f64>);

const MODES: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];
const THRESHOLDS: [f32; 5] = [-1.0, 0.0, 0.5, 1.0, 2.0];
const VALUES: [f32; 7] = [-1.0, 0.0, 0.25, 0.5, 1.0, 3.0, f32::NAN];

/// A random forest on `features` features for `outputs` outputs: its trees, leaf
/// entries and covers (a leaf's is random, 0 one time in 8; a branch's is its
/// children's sum).
fn forest(rng: &mut Rng, features: usize, outputs: usize) -> Case {
    forest_of_depth(rng, features, outputs, 4)
}

/// [`forest`] with trees of at most `depth` levels of branches.
fn forest_of_depth(rng: &mut Rng, features: usize, outputs: usize, depth: usize) -> Case {
    let mut forest = Forest {
        nodes: Vec::new(),
        modes: Vec::new(),
        roots: Vec::new(),
        depths: Vec::new(),
    };
    let (mut entries, mut covers) = (Vec::new(), Vec::new());
    for _ in 0..1 + rng.below(3) {
        forest.roots.push(forest.nodes.len() as u32);
        let depth = grow(
            rng,
            &mut forest,
            &mut entries,
            &mut covers,
            features,
            outputs,
            depth,
        );
        forest.depths.push(depth);
    }
    (forest, entries, covers)
}

/// Appends a random subtree of at most `depth_left` levels of branches in pre-order and
/// returns its depth.
fn grow(
    rng: &mut Rng,
    forest: &mut Forest,
    entries: &mut Vec<Vec<(u32, f32)>>,
    covers: &mut Vec<f64>,
    features: usize,
    outputs: usize,
    depth_left: usize,
) -> u32 {
    let at = forest.nodes.len();
    entries.push(Vec::new());
    covers.push(0.0);
    if depth_left == 0 || rng.below(4) == 0 {
        forest.nodes.push(Node::leaf(at as u32));
        forest.modes.push(None);
        entries[at] = (0..1 + rng.below(2))
            .map(|_| {
                (
                    rng.below(outputs) as u32,
                    rng.below(200) as f32 / 8.0 - 12.0,
                )
            })
            .collect();
        covers[at] = match rng.below(8) {
            0 => 0.0,
            _ => (1 + rng.below(20)) as f64,
        };
        return 0;
    }
    let nan_true = if rng.below(2) == 0 { NAN_TRUE } else { 0 };
    forest.nodes.push(Node {
        feature: rng.below(features) as u32 | nan_true,
        threshold: THRESHOLDS[rng.below(THRESHOLDS.len())],
        children: [0, 0],
    });
    forest.modes.push(Some(MODES[rng.below(MODES.len())]));
    let if_true = forest.nodes.len() as u32;
    let true_depth = grow(
        rng,
        forest,
        entries,
        covers,
        features,
        outputs,
        depth_left - 1,
    );
    let if_false = forest.nodes.len() as u32;
    let false_depth = grow(
        rng,
        forest,
        entries,
        covers,
        features,
        outputs,
        depth_left - 1,
    );
    forest.nodes[at].children = [if_false, if_true];
    covers[at] = covers[if_false as usize] + covers[if_true as usize];
    1 + true_depth.max(false_depth)
}

/// The value of the features in `known` (a bit set) for `row`: each tree's expected
/// output when only those are known, summed; per output.
fn value_of(trees: &ShapTrees, row: &[f32], known: u32) -> Vec<f64> {
    fn subtree(trees: &ShapTrees, row: &[f32], known: u32, at: u32, share: f64, out: &mut [f64]) {
        if trees.is_leaf(at) {
            let values = &trees.leaf_values[at as usize * trees.n_outputs..][..trees.n_outputs];
            for (sum, value) in out.iter_mut().zip(values) {
                *sum += share * value;
            }
            return;
        }
        let node = trees.forest.nodes[at as usize];
        if known & (1 << node.column()) != 0 {
            let next = node.children[usize::from(trees.goes_true(at, row))];
            subtree(trees, row, known, next, share, out);
        } else {
            let shares = trees.shares[at as usize];
            for (child, child_share) in node.children.into_iter().zip(shares) {
                subtree(trees, row, known, child, share * child_share, out);
            }
        }
    }
    let mut out = vec![0.0; trees.n_outputs];
    for &root in &trees.forest.roots {
        subtree(trees, row, known, root, 1.0, &mut out);
    }
    out
}

/// Shapley values by their definition: for each feature, its marginal value averaged
/// over every set of the other features, weighted by `|S|! (n - |S| - 1)! / n!`.
fn shapley(trees: &ShapTrees, row: &[f32]) -> Vec<f64> {
    let n = trees.n_features;
    let factorial = |k: usize| (1..=k).map(|i| i as f64).product::<f64>();
    let mut phi = vec![0.0; n * trees.n_outputs];
    for feature in 0..n {
        for known in 0..1u32 << n {
            if known & (1 << feature) != 0 {
                continue;
            }
            let size = known.count_ones() as usize;
            let weight = factorial(size) * factorial(n - size - 1) / factorial(n);
            let with = value_of(trees, row, known | 1 << feature);
            let without = value_of(trees, row, known);
            for k in 0..trees.n_outputs {
                phi[feature * trees.n_outputs + k] += weight * (with[k] - without[k]);
            }
        }
    }
    phi
}

#[test]
fn tree_shap_equals_the_shapley_values_by_their_definition() {
    let mut rng = Rng(0x5eed_5ca1_ab1e);
    let (mut repeated_features, mut tables_used) = (0, 0);
    for case in 0..600 {
        let features = 1 + rng.below(5);
        let outputs = 1 + rng.below(3);
        let (forest, entries, covers) = forest(&mut rng, features, outputs);
        repeated_features += usize::from(features < 4 && forest.nodes.len() > 7);
        let tabled = ShapTrees::new(forest, &entries, &covers, outputs, features).unwrap();
        let n_trees = tabled.forest.roots.len();
        tables_used += (0..n_trees).filter(|&t| tabled.tables().has(t)).count();
        // The same trees by the recursion alone, leaf by leaf without tables, and with
        // tables for some leaves only.
        let recursive = tabled.clone().recursive_only();
        let direct = tabled.clone().with_table_budget(0);
        let mixed = tabled.clone().with_table_budget(1 << rng.below(5));
        assert!(!(0..n_trees).any(|t| recursive.tables().has(t)));
        for _ in 0..4 {
            let row: Vec<f32> = (0..features)
                .map(|_| VALUES[rng.below(VALUES.len())])
                .collect();
            let trees = [&tabled, &recursive, &direct, &mixed][rng.below(4)];
            let mut phi = vec![0.0; features * outputs];
            trees.explain(&row, &mut phi);
            let want = shapley(trees, &row);
            for (i, (got, want)) in phi.iter().zip(&want).enumerate() {
                assert!(
                    (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                    "case {case}, row {row:?}, feature {} output {}: {got} vs {want}",
                    i / outputs,
                    i % outputs
                );
            }
            // Additivity: the values and the expected value add up to the score.
            let score = value_of(trees, &row, (1 << features) - 1);
            for k in 0..outputs {
                let sum: f64 = (0..features).map(|f| phi[f * outputs + k]).sum();
                let total = trees.expected_values()[k] + sum;
                assert!(
                    (total - score[k]).abs() <= 1e-9 * score[k].abs().max(1.0),
                    "case {case}, output {k}: {total} vs {}",
                    score[k]
                );
            }
        }
    }
    assert!(repeated_features > 50, "{repeated_features} cases");
    assert!(tables_used > 300, "{tables_used} trees with tables");
}

/// Deep trees with many features on a path, past the tables' limit (too many sets for
/// the definition): the leaf-by-leaf ways give the recursion's values and add up.
#[test]
fn deep_paths_explained_leaf_by_leaf_equal_the_recursion() {
    let mut rng = Rng(0xdee9);
    let mut longest = 0;
    for case in 0..12 {
        let (features, outputs) = (16, 1 + rng.below(2));
        let (forest, entries, covers) = forest_of_depth(&mut rng, features, outputs, 12);
        longest = longest.max(*forest.depths.iter().max().unwrap());
        let tabled = ShapTrees::new(forest, &entries, &covers, outputs, features).unwrap();
        let recursive = tabled.clone().recursive_only();
        let direct = tabled.clone().with_table_budget(0);
        for _ in 0..4 {
            let row: Vec<f32> = (0..features)
                .map(|_| VALUES[rng.below(VALUES.len())])
                .collect();
            let mut want = vec![0.0; features * outputs];
            recursive.explain(&row, &mut want);
            for trees in [&tabled, &direct] {
                let mut phi = vec![0.0; features * outputs];
                trees.explain(&row, &mut phi);
                for (got, want) in phi.iter().zip(&want) {
                    assert!(
                        (got - want).abs() <= 1e-9 * want.abs().max(1.0),
                        "case {case}: {got} vs {want}"
                    );
                }
            }
        }
    }
    assert!(longest > 10, "the deepest tree has {longest} levels");
}

#[test]
fn a_feature_no_branch_reads_gets_nothing() {
    let mut rng = Rng(0xd0d0);
    for _ in 0..100 {
        let (forest, entries, covers) = forest(&mut rng, 3, 2);
        // Rows of 5 values: features 3 and 4 are never read.
        let trees = ShapTrees::new(forest, &entries, &covers, 2, 5).unwrap();
        let row: Vec<f32> = (0..5).map(|_| VALUES[rng.below(VALUES.len())]).collect();
        let mut phi = vec![0.0; 10];
        trees.explain(&row, &mut phi);
        assert_eq!(phi[6..], [0.0; 4]);
    }
}

#[test]
fn covers_must_be_counts_one_per_node_and_rows_wide_enough() {
    // A stump on feature 1: x1 <= 0.5 ? leaf 2 : leaf 1.
    let forest = Forest {
        nodes: vec![
            Node {
                feature: 1,
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
    let entries = vec![vec![], vec![(0, 1.0)], vec![(0, 3.0)]];
    let err = ShapTrees::new(forest.clone(), &entries, &[4.0, 3.0], 1, 2).unwrap_err();
    assert!(err.contains("2 node covers for 3 nodes"), "{err}");
    let err = ShapTrees::new(forest.clone(), &entries, &[4.0, f64::NAN, 1.0], 1, 2).unwrap_err();
    assert!(err.contains("node 1"), "{err}");
    let err = ShapTrees::new(forest.clone(), &entries, &[4.0, 3.0, 1.0], 1, 1).unwrap_err();
    assert!(err.contains("read 2 features, rows have 1"), "{err}");
    let trees = ShapTrees::new(forest, &entries, &[4.0, 3.0, 1.0], 1, 2).unwrap();
    // 3 of 4 rows went false (1.0), 1 true (3.0).
    assert_eq!(trees.expected_values(), [1.5]);
    let mut phi = [0.0; 2];
    trees.explain(&[9.0, 0.0], &mut phi);
    assert_eq!(phi, [0.0, 1.5], "x1 = 0 goes true: 3.0 - 1.5");
}

/// A batch of rows, more than a block of them, explained together: each row's values
/// are the ones it gets alone, whether its trees have tables, some or none.
#[test]
fn rows_explained_in_blocks_equal_each_row_explained_alone() {
    let mut rng = Rng(0xb10c);
    for case in 0..48 {
        // Every fourth forest deep enough for paths of more than 8 features.
        let (features, depth) = match case % 4 {
            3 => (12, 11),
            _ => (2 + rng.below(6), 6),
        };
        let outputs = 1 + rng.below(3);
        let (forest, entries, covers) = forest_of_depth(&mut rng, features, outputs, depth);
        let tabled = ShapTrees::new(forest, &entries, &covers, outputs, features).unwrap();
        let trees = match case % 3 {
            0 => tabled,
            1 => tabled.with_table_budget(1 << rng.below(6)),
            _ => tabled.recursive_only(),
        };
        // Wider rows than the model reads, as a batch may be.
        let width = features + rng.below(2);
        let n_rows = BLOCK_ROWS + 1 + rng.below(2 * BLOCK_ROWS);
        let rows: Vec<f32> = (0..n_rows * width)
            .map(|_| VALUES[rng.below(VALUES.len())])
            .collect();
        let per_row = features * outputs;
        let mut batch = vec![0.0; n_rows * per_row];
        trees.explain_rows(&rows, width, &mut batch);
        for (r, (row, got)) in rows.chunks(width).zip(batch.chunks(per_row)).enumerate() {
            let mut alone = vec![0.0; per_row];
            trees.explain(row, &mut alone);
            assert_eq!(got, alone, "case {case}, row {r} of {n_rows}");
        }
    }
}
