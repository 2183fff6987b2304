//! TreeSHAP by table lookups, for trees whose paths meet few features: per leaf, the
//! subset weights every row could need are computed once, at load, so a row costs a
//! pass over the tree's branches and `O(features on the path)` per leaf, where
//! [`super::ShapTrees`]' recursion costs `O(depth^2)` per leaf (the idea of Yang's Fast
//! TreeSHAP v2, 2021; derived here from the definition).
//!
//! One leaf `l` of value `v` whose path meets the `d` distinct features `P` plays, for
//! a row, the game `value(S) = v * prod_{j in P} (j in S ? o_j : z_j)`: `z_j` the share
//! of training rows that go the leaf's way at the path's branches on `j` (their
//! product), `o_j` 1 when the row goes that way at all of them, else 0. Features off
//! the path are dummies. With `U` the features the row agrees on (`o_j = 1`) and
//! `w(s) = s! (d - 1 - s)! / d!`, the Shapley values are
//! - for `i` not in `U`: `-v * zout(U) * inner(U)`;
//! - for `i` in `U`: `v * (1 - z_i) * zout(U) * inner(U - {i})`;
//!
//! where `zout(U)` is the product of the `z_j` off `U` and
//! `inner(T) = sum_{S in T} w(|S|) prod_{j in T - S} z_j`, which depends on the row only
//! through `T`. `inner` of every subset of `P` is the leaf's table: `2^d` numbers, built
//! from the elementary symmetric polynomials of the `z_j`
//! (`inner(T) = sum_s w(s) e_{|T| - s}(z_T)`). When every `z_j` is above 0 the table
//! holds `zout(T) * inner(T)` instead, and both credits are one entry times a constant
//! ([`scaled_credits`]).
//!
//! A batch goes through a tree 64 rows at a time, as bits ([`Tables::explain_block`]):
//! which way each row goes at each branch is one mask per branch, which rows agree
//! with a leaf's path on each feature one AND per step.
//!
//! Tables grow as `2^d` per leaf, so a leaf gets one only when its `d` is at most
//! [`MAX_PATH_FEATURES`] and the ensemble's tables stay within a budget
//! ([`TABLE_BUDGET`] entries). Any other leaf computes the `inner` values its row needs
//! from the polynomials themselves, in `O(d^2)`: still no chain of dependent divisions,
//! as in the recursion's unwinding. Only a tree with a path of over 64 distinct
//! features (a row's agreements are a 64-bit mask) keeps the recursion. Tables are `f64`, like
//! the recursion's arithmetic: `f32` would halve them, but its 1e-7 relative error per
//! entry, summed over hundreds of trees, shows in the additivity of large ensembles.

use std::ops::Range;

use super::ShapTrees;

/// The most distinct features a leaf's path may meet for it to get a table: 2^10
/// entries.
pub const MAX_PATH_FEATURES: usize = 10;

/// The most distinct features a leaf's path may meet for its tree to be explained
/// here: the bits of a row's agreement mask.
const MAX_PATH_BITS: usize = 64;

/// The most rows [`Tables::explain_block`] takes at once: the bits of a branch's mask.
pub const BLOCK_ROWS: usize = 64;

/// The most table entries (8 bytes each) an ensemble holds: 32 MiB. A 500-tree booster
/// of depth 6 needs 2M (16 MiB); of depth 8, 8M, so its trees past the budget keep the
/// recursion.
pub const TABLE_BUDGET: usize = 4 << 20;

/// The tables of the trees that have them.
#[derive(Debug, Clone, Default)]
pub struct Tables {
    /// Per tree of the ensemble, its tables, or `None` (explained by recursion).
    trees: Vec<Option<TreeTables>>,
    /// Every tabled tree's branches, by tree (node indices).
    branches: Vec<u32>,
    /// Every tabled leaf, by tree.
    leaves: Vec<Leaf>,
    /// Every tabled leaf's path, by leaf: which branch, which way.
    steps: Vec<Step>,
    /// Every tabled leaf's distinct features, by leaf.
    slots: Vec<Slot>,
    /// Every tabled leaf's `inner` per subset of its slots, by leaf.
    inner: Vec<f64>,
    /// The most branches of one tabled tree (the scratch a row needs).
    most_branches: usize,
    /// `w(s)` per path length `d` (see [`subset_weights`]).
    weights: Vec<Vec<f64>>,
}

/// Where one tree's parts are.
#[derive(Debug, Clone)]
struct TreeTables {
    branches: Range<u32>,
    leaves: Range<u32>,
}

/// A leaf, its path and its table.
#[derive(Debug, Clone)]
struct Leaf {
    node: u32,
    steps: Range<u32>,
    /// Its first slot; it has `slot_count`.
    slots: u32,
    slot_count: u8,
    /// Its first table entry (it has `2^slot_count`), or [`NO_TABLE`].
    table: u32,
    /// Whether its table holds `zout(T) * inner(T)` rather than `inner(T)`: when no
    /// slot's `z` is 0 (see [`scale_by_zout`]).
    scaled: bool,
}

/// [`Leaf::table`] of a leaf without one.
const NO_TABLE: u32 = u32::MAX;

/// A branch on a leaf's path.
#[derive(Debug, Clone, Copy)]
struct Step {
    /// The branch, as its index among its tree's branches.
    branch: u32,
    /// Whether the path takes its true child.
    to_true: bool,
    /// The slot of its feature.
    slot: u8,
}

/// One distinct feature of a leaf's path.
#[derive(Debug, Clone, Copy)]
struct Slot {
    column: u32,
    /// `z`: the product of the path's shares at the branches on this feature.
    zero: f64,
    /// `(1 - z) / z`, what a scaled table's entry is multiplied by for a row that
    /// agrees on this feature (see [`scaled_credits`]); set once the path is complete.
    on_factor: f64,
}

impl Tables {
    /// The tables of `trees`' trees that fit, with `budget` entries in all.
    pub fn new(trees: &ShapTrees, budget: usize) -> Tables {
        let mut tables = Tables::default();
        let weights = subset_weights();
        for &root in &trees.forest.roots {
            let tabled = tables.add_tree(trees, root, budget, &weights);
            tables.trees.push(tabled);
        }
        tables.weights = weights;
        tables
    }

    /// Whether tree `t` has tables.
    pub fn has(&self, t: usize) -> bool {
        self.trees.get(t).is_some_and(Option::is_some)
    }

    /// Scratch for [`Tables::explain_block`]: one mask of rows per branch.
    pub fn scratch(&self) -> Vec<u64> {
        vec![0; self.most_branches]
    }

    /// Adds the tree at `root`'s tables, or leaves everything as it was and returns
    /// `None` when they would not fit.
    fn add_tree(
        &mut self,
        trees: &ShapTrees,
        root: u32,
        budget: usize,
        weights: &[Vec<f64>],
    ) -> Option<TreeTables> {
        let marks = (
            self.branches.len(),
            self.leaves.len(),
            self.steps.len(),
            self.slots.len(),
            self.inner.len(),
        );
        let tree = (self.branches.len() as u32, self.leaves.len() as u32);
        let mut path: Vec<(u32, bool)> = Vec::new();
        let fits = self.visit(trees, root, tree.0, &mut path, budget, weights);
        if !fits {
            self.branches.truncate(marks.0);
            self.leaves.truncate(marks.1);
            self.steps.truncate(marks.2);
            self.slots.truncate(marks.3);
            self.inner.truncate(marks.4);
            return None;
        }
        let branches = tree.0..self.branches.len() as u32;
        self.most_branches = self.most_branches.max(branches.len());
        Some(TreeTables {
            branches,
            leaves: tree.1..self.leaves.len() as u32,
        })
    }

    /// Adds the subtree at `at` (reached by `path`: branch indices in the tree, ways);
    /// false when a leaf's path meets too many features or the budget runs out.
    fn visit(
        &mut self,
        trees: &ShapTrees,
        at: u32,
        first_branch: u32,
        path: &mut Vec<(u32, bool)>,
        budget: usize,
        weights: &[Vec<f64>],
    ) -> bool {
        if !trees.is_leaf(at) {
            let branch = self.branches.len() as u32 - first_branch;
            self.branches.push(at);
            let children = trees.forest.nodes[at as usize].children;
            for (way, child) in [(false, children[0]), (true, children[1])] {
                path.push((branch, way));
                let fits = self.visit(trees, child, first_branch, path, budget, weights);
                path.pop();
                if !fits {
                    return false;
                }
            }
            return true;
        }
        // The path's distinct features and their shares.
        let first_slot = self.slots.len();
        let first_step = self.steps.len() as u32;
        for &(branch, to_true) in path.iter() {
            let node = self.branches[(first_branch + branch) as usize];
            let column = trees.forest.nodes[node as usize].column() as u32;
            let share = trees.shares[node as usize][usize::from(to_true)];
            let slot = match (self.slots[first_slot..].iter()).position(|s| s.column == column) {
                Some(slot) => {
                    self.slots[first_slot + slot].zero *= share;
                    slot
                }
                None => {
                    if self.slots.len() - first_slot == MAX_PATH_BITS {
                        return false;
                    }
                    self.slots.push(Slot {
                        column,
                        zero: share,
                        on_factor: 0.0,
                    });
                    self.slots.len() - first_slot - 1
                }
            };
            self.steps.push(Step {
                branch,
                to_true,
                slot: slot as u8,
            });
        }
        let d = self.slots.len() - first_slot;
        let zeros: Vec<f64> = self.slots[first_slot..].iter().map(|s| s.zero).collect();
        let scaled = zeros.iter().all(|&z| z > 0.0);
        for slot in &mut self.slots[first_slot..] {
            slot.on_factor = (1.0 - slot.zero) / slot.zero;
        }
        let table = match d <= MAX_PATH_FEATURES && self.inner.len() + (1 << d) <= budget {
            true => {
                let table = self.inner.len() as u32;
                let mut inner = inner_table(&zeros, &weights[d]);
                if scaled {
                    scale_by_zout(&mut inner, &zeros);
                }
                self.inner.extend(inner);
                table
            }
            false => NO_TABLE,
        };
        self.leaves.push(Leaf {
            node: at,
            steps: first_step..self.steps.len() as u32,
            slots: first_slot as u32,
            slot_count: d as u8,
            table,
            scaled,
        });
        true
    }

    /// Adds to `phi` (per row, `features x outputs`) tree `t`'s SHAP values for each of
    /// `rows` (row-major, `width` values each, at most [`BLOCK_ROWS`] rows); `scratch`
    /// from [`Tables::scratch`].
    ///
    /// The rows go through the tree together, as bits: per branch, the mask of rows that
    /// take its true child; per leaf, per slot, the mask of rows that agree with the
    /// path, one AND per step for all the rows. Only what depends on a row's own
    /// agreements (its table entries and credits) is done row by row, and there rows
    /// are independent of each other, where one row leaf after leaf adds to the same
    /// few features in a chain.
    pub fn explain_block(
        &self,
        trees: &ShapTrees,
        t: usize,
        rows: &[f32],
        width: usize,
        scratch: &mut [u64],
        phi: &mut [f64],
    ) {
        let Some(Some(tree)) = self.trees.get(t) else {
            return;
        };
        let n_rows = rows.len() / width;
        assert!(n_rows <= BLOCK_ROWS, "a block of at most {BLOCK_ROWS} rows");
        let branches = &self.branches[tree.branches.start as usize..tree.branches.end as usize];
        for (ways, &node) in scratch.iter_mut().zip(branches) {
            *ways = rows
                .chunks_exact(width)
                .enumerate()
                .fold(0, |ways, (r, row)| {
                    ways | u64::from(trees.goes_true(node, row)) << r
                });
        }
        let outputs = trees.n_outputs;
        let per_row = trees.n_features * outputs;
        let mut agreeing = [0u64; MAX_PATH_BITS];
        let mut packed = [0u64; BLOCK_ROWS / 8];
        let mut inners_buffer = [0.0; MAX_PATH_BITS];
        for leaf in &self.leaves[tree.leaves.start as usize..tree.leaves.end as usize] {
            let d = usize::from(leaf.slot_count);
            if d == 0 {
                continue;
            }
            let steps = &self.steps[leaf.steps.start as usize..leaf.steps.end as usize];
            let agreements = match n_rows {
                // One row's agreements are one mask, kept in a register.
                1 => Agreements::One(steps.iter().fold(u64::MAX >> (64 - d), |agreed, step| {
                    let missed = (scratch[step.branch as usize] & 1) ^ u64::from(step.to_true);
                    agreed & !(missed << step.slot)
                })),
                // Per slot, the rows that go the path's way at every branch on its
                // feature: one AND per step for all the rows.
                _ => {
                    let agreeing = &mut agreeing[..d];
                    agreeing.fill(u64::MAX);
                    for step in steps {
                        // All ones when the path takes the false child: then the rows
                        // that agree are those that do not take the true one.
                        let flip = u64::from(step.to_true).wrapping_sub(1);
                        agreeing[usize::from(step.slot)] &= scratch[step.branch as usize] ^ flip;
                    }
                    match d <= 8 {
                        true => Agreements::Packed(pack(agreeing, n_rows, &mut packed)),
                        false => Agreements::Rows(agreeing),
                    }
                }
            };
            let slots = &self.slots[leaf.slots as usize..][..d];
            let values = &trees.leaf_values[leaf.node as usize * outputs..][..outputs];
            let table = match leaf.table {
                NO_TABLE => None,
                at => Some(&self.inner[at as usize..][..1 << d]),
            };
            if let (Some(table), true) = (table, leaf.scaled) {
                let phi = &mut phi[..n_rows * per_row];
                match agreements {
                    Agreements::One(agreed) => {
                        scaled_credits(slots, |_| agreed, table, values, per_row, phi)
                    }
                    Agreements::Packed(packed) => {
                        scaled_credits(slots, |r| of_packed(packed, r), table, values, per_row, phi)
                    }
                    Agreements::Rows(agreeing) => {
                        scaled_credits(slots, |r| of_row(agreeing, r), table, values, per_row, phi)
                    }
                }
                continue;
            }
            for (r, phi) in phi.chunks_exact_mut(per_row).take(n_rows).enumerate() {
                // Branch-free: which way a row goes is data, and mispredicted branches
                // were most of a leaf's time.
                let agreed = match agreements {
                    Agreements::One(agreed) => agreed,
                    Agreements::Packed(packed) => of_packed(packed, r),
                    Agreements::Rows(agreeing) => of_row(agreeing, r),
                };
                let mut zout = 1.0;
                for (j, slot) in slots.iter().enumerate() {
                    zout *= if agreed >> j & 1 == 0 { slot.zero } else { 1.0 };
                }
                if zout == 0.0 {
                    continue;
                }
                // Per slot, `inner(U)` (off U) or `inner(U - {j})` (on U): the table's
                // entry for `U` without `j` either way.
                let inners = &mut inners_buffer[..d];
                match table {
                    None => direct_inners(slots, agreed, &self.weights[d], inners),
                    Some(table) => {
                        for (j, inner) in inners.iter_mut().enumerate() {
                            *inner = table[(agreed & !(1u64 << j)) as usize];
                        }
                    }
                }
                for (j, (slot, inner)) in slots.iter().zip(inners.iter()).enumerate() {
                    let factor = if agreed >> j & 1 == 0 {
                        -1.0
                    } else {
                        1.0 - slot.zero
                    };
                    let scale = factor * zout * inner;
                    match values {
                        [value] => phi[slot.column as usize] += scale * value,
                        _ => {
                            let out = &mut phi[slot.column as usize * outputs..][..outputs];
                            for (phi, value) in out.iter_mut().zip(values) {
                                *phi += scale * value;
                            }
                        }
                    }
                }
            }
        }
    }
}

/// The agreements of a block's rows with one leaf's path.
#[derive(Clone, Copy)]
enum Agreements<'a> {
    /// A block of one row: bit `j` for slot `j`.
    One(u64),
    /// Per group of 8 rows, byte `r % 8` for row `r`, bit `j` of it for slot `j`: the
    /// agreements of a leaf with at most 8 slots (see [`pack`]).
    Packed(&'a [u64]),
    /// Per slot, bit `r` for row `r`.
    Rows(&'a [u64]),
}

/// Per byte value `b`, the 8 bytes whose `r`th is bit `r` of `b`.
const SPREAD: [u64; 256] = {
    let mut spread = [0u64; 256];
    let mut b = 0;
    while b < 256 {
        let mut r = 0;
        while r < 8 {
            spread[b] |= ((b as u64 >> r) & 1) << (8 * r);
            r += 1;
        }
        b += 1;
    }
    spread
};

/// Transposes `agreeing` (at most 8 slots; per slot, bit `r` for row `r`) into
/// `packed` for the first `n_rows` rows: per 8 rows one word, a byte per row, a bit per
/// slot. Five operations per slot per 8 rows, where taking a row's bits one by one
/// ([`of_row`]) is four per slot per row and was a quarter of a leaf's time.
fn pack<'a>(agreeing: &[u64], n_rows: usize, packed: &'a mut [u64; BLOCK_ROWS / 8]) -> &'a [u64] {
    let packed = &mut packed[..n_rows.div_ceil(8)];
    for (group, word) in packed.iter_mut().enumerate() {
        *word = (agreeing.iter().enumerate()).fold(0, |word, (j, &rows)| {
            word | SPREAD[(rows >> (8 * group) & 0xff) as usize] << j
        });
    }
    packed
}

/// Row `r`'s agreements from [`pack`]'s words.
#[inline(always)]
fn of_packed(packed: &[u64], r: usize) -> u64 {
    packed[r / 8] >> (8 * (r % 8)) & 0xff
}

/// Row `r`'s agreements (bit `j` for slot `j`) from the per-slot masks of rows.
#[inline(always)]
fn of_row(agreeing: &[u64], r: usize) -> u64 {
    (agreeing.iter().enumerate()).fold(0, |agreed, (j, &rows)| agreed | (rows >> r & 1) << j)
}

/// Adds to each row's `phi` (`features x outputs`, one row after the other) one leaf's
/// credits by its scaled table (`zout(T) * inner(T)`), for rows whose agreements
/// (bit `j` for slot `j`) `agreed_of` gives by row. With every `z` above 0,
/// `zout(U) = zout(U - {i}) / z_i`, so an on-`U` credit
/// `v (1 - z_i) zout(U) inner(U - {i})` is `v (1 - z_i) / z_i` times the table's entry
/// for `U - {i}`, and an off-`U` one is `-v` times the entry for `U`: one lookup per
/// slot and no product of `z`s per row (that product's chain of multiplications was the
/// largest cost of a leaf).
fn scaled_credits(
    slots: &[Slot],
    agreed_of: impl Fn(usize) -> u64,
    table: &[f64],
    values: &[f64],
    per_row: usize,
    phi: &mut [f64],
) {
    let outputs = values.len();
    let mut nonzero = values.iter().enumerate().filter(|(_, v)| **v != 0.0);
    if let (first, None) = (nonzero.next(), nonzero.next()) {
        // One output with a value (a regressor's, a binary booster's, each tree's class of
        // a multiclass booster): it is folded into each slot's two factors, once per leaf,
        // and no zeros are added to the other outputs. A leaf of zeros credits nothing.
        let Some((k, &value)) = first else {
            return;
        };
        let mut columns = [0usize; MAX_PATH_FEATURES];
        let mut on_factors = [0.0; MAX_PATH_FEATURES];
        for ((column, on), slot) in columns.iter_mut().zip(&mut on_factors).zip(slots) {
            (*column, *on) = (slot.column as usize * outputs + k, slot.on_factor * value);
        }
        let (columns, on_factors) = (&columns[..slots.len()], &on_factors[..slots.len()]);
        for (r, phi) in phi.chunks_exact_mut(per_row).enumerate() {
            let agreed = agreed_of(r) as usize;
            for (j, (&column, &on)) in columns.iter().zip(on_factors).enumerate() {
                let factor = if agreed >> j & 1 == 0 { -value } else { on };
                phi[column] += factor * table[agreed & !(1 << j)];
            }
        }
        return;
    }
    for (r, phi) in phi.chunks_exact_mut(per_row).enumerate() {
        let agreed = agreed_of(r) as usize;
        for (j, slot) in slots.iter().enumerate() {
            let factor = if agreed >> j & 1 == 0 {
                -1.0
            } else {
                slot.on_factor
            };
            let credit = factor * table[agreed & !(1 << j)];
            let out = &mut phi[slot.column as usize * outputs..][..outputs];
            for (phi, value) in out.iter_mut().zip(values) {
                *phi += credit * value;
            }
        }
    }
}

/// Multiplies each `inner(T)` of `table` by `zout(T)`, the product of the `z`s of the
/// slots off `T` (`zeros`, every one above 0).
fn scale_by_zout(table: &mut [f64], zeros: &[f64]) {
    for (subset, entry) in table.iter_mut().enumerate() {
        let zout: f64 = (zeros.iter().enumerate())
            .filter(|&(j, _)| subset >> j & 1 == 0)
            .map(|(_, z)| z)
            .product();
        *entry *= zout;
    }
}

/// `w(s) = s! (d - 1 - s)! / d!` for `s < d`, per `d` up to [`MAX_PATH_BITS`].
fn subset_weights() -> Vec<Vec<f64>> {
    (0..=MAX_PATH_BITS)
        .map(|d| {
            (0..d)
                .map(|s| {
                    // s! (d-1-s)! / d! = 1 / (d * C(d-1, s)).
                    let mut choose = 1.0;
                    for k in 0..s {
                        choose = choose * (d - 1 - k) as f64 / (k + 1) as f64;
                    }
                    1.0 / (d as f64 * choose)
                })
                .collect()
        })
        .collect()
}

/// `inner(T)` for every subset `T` of the slots (bit `j` of the index: slot `j` is in
/// `T`), with `zeros` the slots' `z` and `weights` their count's `w`. The full set's
/// entry is never read (a row agreeing everywhere reads `inner(U - {i})`); it is 0.
fn inner_table(zeros: &[f64], weights: &[f64]) -> Vec<f64> {
    let d = zeros.len();
    // Per subset, the elementary symmetric polynomials e_0..e_|T| of its zs, built from
    // the subset without its highest slot: e(T) = e(T - {j}) * (1 + z_j t).
    let mut symmetric = vec![0.0f64; (1 << d) * (d + 1)];
    symmetric[0] = 1.0;
    let mut table = vec![0.0f64; 1 << d];
    for subset in 1usize..1 << d {
        let j = usize::BITS as usize - 1 - subset.leading_zeros() as usize;
        let (before, here) = symmetric.split_at_mut(subset * (d + 1));
        let smaller = &before[(subset ^ (1 << j)) * (d + 1)..][..d + 1];
        let here = &mut here[..d + 1];
        here[0] = 1.0;
        for k in 1..=d {
            here[k] = smaller[k] + zeros[j] * smaller[k - 1];
        }
        let size = subset.count_ones() as usize;
        if size < d {
            let sum: f64 = (0..=size).map(|s| weights[s] * here[size - s]).sum();
            table[subset] = sum;
        }
    }
    if d > 0 {
        // The empty set: w(0) e_0.
        table[0] = weights[0];
    }
    table
}

/// Into `inners`, per slot: `inner(U)` for a slot off `agreed` (`U`), `inner(U - {j})`
/// for a slot `j` on it. Both come from the elementary symmetric polynomials `e` of
/// `U`'s zs (size `m`). `inner(U - {j}) = sum_s w(s) q_{m-1-s}` with `q = e / (1 + z_j t)`,
/// and since `q_k = sum_{i <= k} (-z_j)^(k-i) e_i`, that is `R(-z_j)` for the one
/// polynomial `R(x) = sum_t x^t sum_i e_i w(m-1-i-t)`: built once per leaf in
/// `O(m^2)`, then each slot is a Horner evaluation in `O(m)`.
fn direct_inners(slots: &[Slot], agreed: u64, weights: &[f64], inners: &mut [f64]) {
    let mut symmetric = [0.0f64; MAX_PATH_BITS + 1];
    symmetric[0] = 1.0;
    let mut size = 0;
    for (j, slot) in slots.iter().enumerate() {
        if agreed & (1u64 << j) != 0 {
            size += 1;
            for k in (1..=size).rev() {
                symmetric[k] += slot.zero * symmetric[k - 1];
            }
        }
    }
    // A row agreeing everywhere has no slot off U, and inner(P) is never needed.
    let off = match size < slots.len() {
        true => (0..=size).map(|s| weights[s] * symmetric[size - s]).sum(),
        false => 0.0,
    };
    let mut r = [0.0f64; MAX_PATH_BITS];
    if size > 0 {
        for (t, r) in r[..size].iter_mut().enumerate() {
            *r = (0..size - t)
                .map(|i| symmetric[i] * weights[size - 1 - i - t])
                .sum();
        }
    }
    for (j, (slot, out)) in slots.iter().zip(inners.iter_mut()).enumerate() {
        *out = match agreed & (1u64 << j) {
            0 => off,
            _ => {
                let x = -slot.zero;
                r[..size].iter().rev().fold(0.0, |sum, &c| sum * x + c)
            }
        };
    }
}
