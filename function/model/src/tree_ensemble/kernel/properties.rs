//! Property tests of the whole kernel: random forests with every comparison mode, mixed
//! missing-value rules, thresholds and values at the edges of f32, and leaf layouts of
//! every kind, evaluated by [`Trees::scores`] for batches that mix rows with and without
//! NaN, against a plain walk of the forest as its attributes describe it, bit for bit.

#![forbid(unsafe_code)]

use super::compare::Mode;
use super::layout::{Forest, Trees};
use super::nodes::{Node, NAN_TRUE};
use super::walk::tests::AVX2_OFF;
use super::Aggregate;

/// A small xorshift generator: the same cases on every run, no dependency (the SHAP
/// tests draw their forests with it too).
pub(in crate::tree_ensemble) struct Rng(pub(in crate::tree_ensemble) u64);

impl Rng {
    pub(in crate::tree_ensemble) fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    pub(in crate::tree_ensemble) fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    fn pick<T: Copy>(&mut self, from: &[T]) -> T {
        from[self.below(from.len())]
    }
}

/// Thresholds at the edges of f32 (±0, subnormals, the largest finite values, the
/// infinities, NaN) and ordinary ones.
const THRESHOLDS: [f32; 14] = [
    0.0,
    -0.0,
    f32::from_bits(1),
    -f32::from_bits(1),
    f32::MIN_POSITIVE,
    f32::MAX,
    f32::MIN,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    0.5,
    -1.25,
    3.0,
    1e-20,
];

/// The leaf layouts the accumulators specialise for.
#[derive(Debug, Clone, Copy)]
enum Leaves {
    /// XGBoost's binary classifier: one entry per leaf, all for output 0 of 2, weights
    /// of both signs.
    Binary,
    /// XGBoost's multi-class layout: every leaf of tree `t` has one entry, for output
    /// `t % outputs`.
    ClassPerTree,
    /// A weight for every output in every leaf (scikit-learn's forests).
    Dense,
    /// Any entries: presence depends on the leaves reached.
    Random,
}

/// A random forest of `modes` and its leaf entries for `outputs` outputs.
fn forest(
    rng: &mut Rng,
    modes: &[Mode],
    leaves: Leaves,
    outputs: usize,
) -> (Forest, Vec<Vec<(u32, f32)>>) {
    let features = 1 + rng.below(5);
    let mut forest = Forest {
        nodes: Vec::new(),
        modes: Vec::new(),
        roots: Vec::new(),
        depths: Vec::new(),
    };
    let mut entries = Vec::new();
    for tree in 0..1 + rng.below(12) {
        let root = forest.nodes.len() as u32;
        forest.roots.push(root);
        // Now and then a deep tree: often over 32 leaves, so walked by batches too.
        let max_depth = if rng.chance(20) { 9 } else { 1 + rng.below(6) };
        let depth = grow(rng, &mut forest, &mut entries, features, modes, max_depth);
        forest.depths.push(depth);
        let tree_nodes = entries.iter_mut().zip(&forest.modes).skip(root as usize);
        for (entries, _) in tree_nodes.filter(|(_, mode)| mode.is_none()) {
            let weight = |rng: &mut Rng| (rng.below(2001) as f32 - 1000.0) / 64.0;
            *entries = match leaves {
                Leaves::Binary => vec![(0, weight(rng))],
                Leaves::ClassPerTree => vec![((tree % outputs) as u32, weight(rng))],
                Leaves::Dense => (0..outputs as u32).map(|k| (k, weight(rng))).collect(),
                Leaves::Random => (0..rng.below(3))
                    .map(|_| (rng.below(outputs) as u32, weight(rng)))
                    .collect(),
            };
        }
    }
    (forest, entries)
}

/// Appends a random subtree (at most `depth_left` levels of branches) in pre-order;
/// returns its depth.
fn grow(
    rng: &mut Rng,
    forest: &mut Forest,
    entries: &mut Vec<Vec<(u32, f32)>>,
    features: usize,
    modes: &[Mode],
    depth_left: usize,
) -> u32 {
    let at = forest.nodes.len() as u32;
    entries.push(Vec::new());
    if depth_left == 0 || rng.chance(25) {
        forest.nodes.push(Node::leaf(at));
        forest.modes.push(None);
        return 0;
    }
    let nan_true = if rng.chance(50) { NAN_TRUE } else { 0 };
    let threshold = match rng.chance(50) {
        true => rng.pick(&THRESHOLDS),
        false => (rng.below(64) as f32 - 32.0) / 8.0,
    };
    forest.nodes.push(Node {
        feature: rng.below(features) as u32 | nan_true,
        threshold,
        children: [0, 0],
    });
    forest.modes.push(Some(rng.pick(modes)));
    let if_true = forest.nodes.len() as u32;
    let true_depth = grow(rng, forest, entries, features, modes, depth_left - 1);
    let if_false = forest.nodes.len() as u32;
    let false_depth = grow(rng, forest, entries, features, modes, depth_left - 1);
    forest.nodes[at as usize].children = [if_false, if_true];
    1 + true_depth.max(false_depth)
}

/// A value to test against the forest's thresholds: one of them, a neighbour, a zero,
/// an infinity, or NaN (`nan` percent of the time).
fn value(rng: &mut Rng, forest: &Forest, nan: usize) -> f32 {
    if rng.chance(nan) {
        return f32::NAN;
    }
    let threshold = forest.nodes[rng.below(forest.nodes.len())].threshold;
    match rng.below(5) {
        0 => threshold,
        1 => threshold.next_up(),
        2 => threshold.next_down(),
        3 => rng.pick(&THRESHOLDS),
        _ => (rng.below(80) as f32 - 40.0) / 8.0,
    }
}

/// The reference: each tree walked node by node as the attributes say, the entries of
/// the reached leaves summed in tree order; per output, (sum, whether any entry).
fn reference(
    forest: &Forest,
    entries: &[Vec<(u32, f32)>],
    row: &[f32],
    outputs: usize,
) -> Vec<(f32, bool)> {
    let mut scores = vec![(0.0f32, false); outputs];
    for &root in &forest.roots {
        let mut at = root as usize;
        while let Some(mode) = forest.modes[at] {
            let node = forest.nodes[at];
            let x = row[node.column()];
            let t = node.threshold;
            let holds = match mode {
                Mode::Leq => x <= t,
                Mode::Lt => x < t,
                Mode::Gte => x >= t,
                Mode::Gt => x > t,
                Mode::Eq => x == t,
                Mode::Neq => x != t,
            };
            let goes_true = holds || (node.feature & NAN_TRUE != 0 && x.is_nan());
            at = node.children[usize::from(goes_true)] as usize;
        }
        for &(output, weight) in &entries[at] {
            let (sum, present) = &mut scores[output as usize];
            *sum += weight;
            *present = true;
        }
    }
    scores
}

/// Random forests of `modes` and `leaves`, on batches of every path's size with
/// `nan_percent` of values missing: every row's scores equal the reference's bit for bit.
fn scores_equal_the_reference(seed: u64, modes: &[Mode], leaves: Leaves, nan_percent: &[usize]) {
    let mut rng = Rng(seed);
    // Cases whose single rows walk trees in the compact layout (some were walked, and
    // every mode but equality was rewritten to `x < t`).
    let mut compact_walks = 0;
    // Cases with a tree of more than 32 leaves, which batches walk instead of testing.
    let mut large_trees = 0;
    for case in 0..150 {
        let outputs = match leaves {
            Leaves::Binary => 2,
            _ => 1 + rng.below(4),
        };
        let (forest, entries) = forest(&mut rng, modes, leaves, outputs);
        let trees = Trees::new(forest.clone(), entries.clone(), outputs).unwrap();
        let walked = !trees.tree_groups.is_empty();
        compact_walks += usize::from(walked && trees.compact.is_some());
        large_trees +=
            usize::from((0..trees.n_trees()).any(|t| trees.small_trees.tree(t).is_none()));
        let width = trees.columns() + rng.below(2);
        let nan = rng.pick(nan_percent);
        let rows = rng.pick(&[1, 2, 7, 8, 9, 17, 40]);
        let input: Vec<f32> = (0..rows * width)
            .map(|_| value(&mut rng, &forest, nan))
            .collect();
        let scores = trees.scores(&input, width, Aggregate::Sum);
        // The baseline copy of the batch loop answers as the one this CPU picked.
        AVX2_OFF.with(|off| off.set(true));
        let baseline = trees.scores(&input, width, Aggregate::Sum);
        AVX2_OFF.with(|off| off.set(false));
        let bits = |values: &[f32]| values.iter().map(|v| v.to_bits()).collect::<Vec<_>>();
        assert_eq!(bits(&baseline.values), bits(&scores.values), "case {case}");
        assert_eq!(baseline.present, scores.present, "case {case}");
        for (row, values) in input.chunks(width).enumerate() {
            let want = reference(&forest, &entries, values, outputs);
            for (k, &(sum, present)) in want.iter().enumerate() {
                let at = row * outputs + k;
                assert_eq!(
                    (scores.values[at].to_bits(), scores.present[at]),
                    (sum.to_bits(), present),
                    "case {case} ({leaves:?}, {nan}% NaN), row {row} {values:?}, output {k}: \
                     {} vs {sum}",
                    scores.values[at]
                );
            }
        }
    }
    assert!(
        large_trees >= 10,
        "{large_trees} cases with a tree over 32 leaves"
    );
    if !modes.contains(&Mode::Eq) && !modes.contains(&Mode::Neq) {
        assert!(
            compact_walks >= 20,
            "{compact_walks} cases walked compactly"
        );
    }
}

const ORDERED: [Mode; 4] = [Mode::Leq, Mode::Lt, Mode::Gte, Mode::Gt];
const ALL: [Mode; 6] = [
    Mode::Leq,
    Mode::Lt,
    Mode::Gte,
    Mode::Gt,
    Mode::Eq,
    Mode::Neq,
];

#[test]
fn mixed_modes_and_missing_rules_score_as_the_attributes_say() {
    for (seed, leaves) in [
        (1, Leaves::Binary),
        (2, Leaves::ClassPerTree),
        (3, Leaves::Dense),
        (4, Leaves::Random),
    ] {
        scores_equal_the_reference(seed, &ORDERED, leaves, &[0, 5, 30]);
    }
}

#[test]
fn each_single_mode_scores_as_the_attributes_say() {
    for (seed, mode) in ORDERED.into_iter().enumerate() {
        scores_equal_the_reference(10 + seed as u64, &[mode], Leaves::Binary, &[0, 10]);
    }
}

#[test]
fn ensembles_with_equality_tests_score_as_the_attributes_say() {
    scores_equal_the_reference(20, &ALL, Leaves::Random, &[0, 20]);
    scores_equal_the_reference(21, &ALL, Leaves::Binary, &[0, 20]);
}

#[test]
fn branches_but_equality_tests_become_less_than() {
    let mut rng = Rng(30);
    let (forest, entries) = forest(&mut rng, &ORDERED, Leaves::Binary, 2);
    let trees = Trees::new(forest, entries, 2).unwrap();
    assert_eq!(trees.uniform, Some(Mode::Lt));
    let (forest, entries) = forest_with_eq(&mut rng);
    let trees = Trees::new(forest, entries, 2).unwrap();
    assert_eq!(trees.uniform, None);
}

/// A forest whose first branch tests equality, and others that do not.
fn forest_with_eq(rng: &mut Rng) -> (Forest, Vec<Vec<(u32, f32)>>) {
    loop {
        let (mut forest, entries) = forest(rng, &ORDERED, Leaves::Binary, 2);
        if let Some(mode) = forest.modes.iter_mut().flatten().next() {
            *mode = Mode::Eq;
            if forest.modes.iter().flatten().any(|&m| m != Mode::Eq) {
                return (forest, entries);
            }
        }
    }
}

#[test]
fn presence_is_known_at_load_for_the_boosted_layouts() {
    let mut rng = Rng(40);
    for (leaves, outputs) in [
        (Leaves::Binary, 2),
        (Leaves::ClassPerTree, 3),
        (Leaves::Dense, 3),
    ] {
        let (forest, entries) = forest(&mut rng, &ORDERED, leaves, outputs);
        let trees = Trees::new(forest, entries, outputs).unwrap();
        assert!(trees.presence.is_some(), "{leaves:?}");
    }
    // A stump with an entry for output 1 in one leaf only: it depends on the row.
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
        modes: vec![Some(Mode::Lt), None, None],
        roots: vec![0],
        depths: vec![1],
    };
    let entries = vec![vec![], vec![(0, 1.0)], vec![(0, -1.0), (1, 2.0)]];
    let trees = Trees::new(forest, entries, 2).unwrap();
    assert_eq!(trees.presence, None);
}
