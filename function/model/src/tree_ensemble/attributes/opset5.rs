//! The opset-5 `TreeEnsemble` (ai.onnx.ml 5) read into the opset 1-3 layout the rest of
//! this reader checks and the kernel runs, as onnxruntime's `tree_ensemble_attribute.h`
//! (`TreeEnsembleAttributesV5::convert_to_v3`) does: trees unrolled from `tree_roots`
//! with node ids numbered per tree, leaves given their `leaf_targetids` /
//! `leaf_weights` entry, and a `BRANCH_MEMBER` split `x in {a, b, c}` a chain of
//! `BRANCH_EQ` nodes (`x == a`, else `x == b`, else `x == c`, else the false child),
//! each with the node's feature, true child and missing-value rule (so a NaN takes the
//! true child exactly when the node's `nodes_missing_value_tracks_true` says so).
//! Unlike onnxruntime, a subtree two branches share is kept once, not copied.

use std::collections::HashMap;

use tract_onnx::pb::{tensor_proto::DataType, NodeProto};

use self::layout::{int, string, Layout};
use super::{Attributes, ParseError};
use crate::tensor_proto::{self, Values};

mod layout;

/// The operator this module reads.
pub const OP: &str = "TreeEnsemble";

/// `nodes_modes`'s BRANCH_MEMBER, as the ONNX specification numbers the modes.
const MEMBER: u8 = 6;

/// The opset 1-3 name of `nodes_modes` value `mode` (below [`MEMBER`]).
fn mode_name(mode: u8) -> &'static str {
    match mode {
        0 => "BRANCH_LEQ",
        1 => "BRANCH_LT",
        2 => "BRANCH_GTE",
        3 => "BRANCH_GT",
        4 => "BRANCH_EQ",
        _ => "BRANCH_NEQ",
    }
}

/// The most targets: far more than any model has, few enough that a row of scores is a
/// small allocation.
const MAX_TARGETS: i64 = 1 << 20;

/// `aggregate_function` values (the specification and onnxruntime agree).
const AGGREGATES: [&str; 4] = ["AVERAGE", "SUM", "MIN", "MAX"];

/// A node of the converted layout: a branch of the input (a `BRANCH_MEMBER` split's
/// `k`-th member for `(i, k)`), or a leaf.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Key {
    Branch(usize, usize),
    Leaf(usize),
}

/// The opset-5 attributes, checked.
struct Opset5<'a> {
    attributes: Attributes<'a>,
    features: &'a [i64],
    splits: Vec<f32>,
    modes: Vec<u8>,
    children: [&'a [i64]; 2],
    /// Per node and side (false, true): whether the child is a leaf.
    leafs: [&'a [i64]; 2],
    tracks_true: &'a [i64],
    /// Per node, its members (empty unless `BRANCH_MEMBER`).
    members: Vec<Vec<f32>>,
    leaf_targets: &'a [i64],
    leaf_weights: Vec<f32>,
}

/// The opset 1-3 regressor attributes of the opset-5 TreeEnsemble `node`, as a node of
/// the same name and operator, for the rest of the reader.
pub fn regressor_layout(node: &NodeProto) -> Result<NodeProto, ParseError> {
    let attributes = Attributes::of(node);
    let n_targets = attributes.int("n_targets").unwrap_or(0);
    if !(1..=MAX_TARGETS).contains(&n_targets) {
        return Err(attributes.error(format!(
            "n_targets is {n_targets}; accepted: 1 to {MAX_TARGETS}"
        )));
    }
    let aggregate = aggregate_function(&attributes)?;
    let post_transform = post_transform(&attributes, n_targets)?;
    let opset5 = Opset5::read(attributes)?;
    let mut out = Layout::default();
    let roots = attributes.ints("tree_roots");
    if roots.is_empty() {
        return Err(attributes.error("tree_roots is empty: the ensemble has no tree"));
    }
    let mut owners = vec![None; opset5.features.len()];
    for (tree, &root) in roots.iter().enumerate() {
        let root = opset5.root(tree, root)?;
        opset5.unroll(tree, root, &mut owners, &mut out)?;
    }
    let mut converted = out.attributes(!opset5.tracks_true.is_empty());
    converted.push(int("n_targets", n_targets));
    converted.push(string("aggregate_function", aggregate));
    converted.push(string("post_transform", post_transform));
    Ok(NodeProto {
        name: node.name.clone(),
        op_type: node.op_type.clone(),
        input: node.input.clone(),
        output: node.output.clone(),
        attribute: converted,
        ..Default::default()
    })
}

/// `aggregate_function` (SUM, 1, by default) by name.
fn aggregate_function(attributes: &Attributes) -> Result<&'static str, ParseError> {
    let value = attributes.int("aggregate_function").unwrap_or(1);
    (usize::try_from(value).ok().and_then(|i| AGGREGATES.get(i).copied())).ok_or_else(|| {
        attributes.error(format!(
            "aggregate_function {value} is not supported; accepted: 0 (AVERAGE), 1 (SUM), 2 (MIN), 3 (MAX)"
        ))
    })
}

/// `post_transform` (NONE, 0, by default) by name, where onnxruntime and the
/// specification give the same answer: onnxruntime reads 1 as LOGISTIC and 2 as
/// SOFTMAX (its own enum), the specification 1 as SOFTMAX and 2 as LOGISTIC, and
/// onnxruntime applies none but PROBIT to a single target.
fn post_transform(attributes: &Attributes, n_targets: i64) -> Result<&'static str, ParseError> {
    match attributes.int("post_transform").unwrap_or(0) {
        0 => Ok("NONE"),
        3 if n_targets > 1 => Ok("SOFTMAX_ZERO"),
        other => Err(attributes.error(format!(
            "post_transform {other} is not supported for {n_targets} target(s): onnxruntime and the ONNX \
             specification disagree on it; accepted: 0 (NONE), or 3 (SOFTMAX_ZERO) with several targets \
             (apply Softmax or Sigmoid after the node instead)"
        ))),
    }
}

impl<'a> Opset5<'a> {
    /// The node arrays of equal length, valid modes, children and features, members
    /// for every BRANCH_MEMBER node, leaf arrays of equal length with valid targets.
    fn read(attributes: Attributes<'a>) -> Result<Opset5<'a>, ParseError> {
        let err = |m: String| attributes.error(m);
        let features = attributes.ints("nodes_featureids");
        let n = features.len();
        let float_tensor = |name: &str| -> Result<Vec<f32>, ParseError> {
            match tensor(&attributes, name, DataType::Float)? {
                Some(Values::F32(values)) => Ok(values),
                _ => Ok(Vec::new()),
            }
        };
        let modes = match tensor(&attributes, "nodes_modes", DataType::Uint8)? {
            Some(Values::U8(modes)) => modes,
            _ => Vec::new(),
        };
        let opset5 = Opset5 {
            attributes,
            features,
            splits: float_tensor("nodes_splits")?,
            modes,
            children: [
                attributes.ints("nodes_falsenodeids"),
                attributes.ints("nodes_truenodeids"),
            ],
            leafs: [
                attributes.ints("nodes_falseleafs"),
                attributes.ints("nodes_trueleafs"),
            ],
            tracks_true: attributes.missing_value_tracks_true(),
            members: Vec::new(),
            leaf_targets: attributes.ints("leaf_targetids"),
            leaf_weights: float_tensor("leaf_weights")?,
        };
        for (name, len) in [
            ("nodes_splits", opset5.splits.len()),
            ("nodes_modes", opset5.modes.len()),
            ("nodes_falsenodeids", opset5.children[0].len()),
            ("nodes_truenodeids", opset5.children[1].len()),
            ("nodes_falseleafs", opset5.leafs[0].len()),
            ("nodes_trueleafs", opset5.leafs[1].len()),
        ] {
            if len != n {
                return Err(err(format!(
                    "{name} has {len} entries, nodes_featureids has {n}"
                )));
            }
        }
        if !opset5.tracks_true.is_empty() && opset5.tracks_true.len() != n {
            return Err(err(format!(
                "nodes_missing_value_tracks_true has {} entries, nodes_featureids has {n}",
                opset5.tracks_true.len()
            )));
        }
        let m = opset5.leaf_targets.len();
        if opset5.leaf_weights.len() != m {
            return Err(err(format!(
                "leaf_weights has {} entries, leaf_targetids has {m}",
                opset5.leaf_weights.len()
            )));
        }
        let members = opset5.checked(&float_tensor("membership_values")?)?;
        Ok(Opset5 { members, ..opset5 })
    }

    /// Checks modes, features, children and leaf targets, and returns each node's
    /// members: `membership_values` split at NaN, one set per BRANCH_MEMBER node in
    /// node order (as onnxruntime assigns them), none empty or left over.
    fn checked(&self, values: &[f32]) -> Result<Vec<Vec<f32>>, ParseError> {
        let err = |m: String| self.attributes.error(m);
        let n = self.features.len();
        let m = self.leaf_targets.len();
        let n_targets = self.attributes.int("n_targets").unwrap_or(0);
        let mut members = vec![Vec::new(); n];
        let mut next = 0;
        for (i, node_members) in members.iter_mut().enumerate() {
            let mode = self.modes[i];
            if mode > MEMBER {
                return Err(err(format!(
                    "nodes_modes[{i}] = {mode} is not one of 0 (BRANCH_LEQ) to 6 (BRANCH_MEMBER)"
                )));
            }
            if !(0..1 << 31).contains(&self.features[i]) {
                return Err(err(format!(
                    "nodes_featureids[{i}] = {} is not a valid column",
                    self.features[i]
                )));
            }
            for (side, name) in [(0, "false"), (1, "true")] {
                let (id, leaf) = (self.children[side][i], self.leafs[side][i] != 0);
                let bound = if leaf { m } else { n };
                if usize::try_from(id).ok().is_none_or(|id| id >= bound) {
                    let kind = if leaf { "leaf" } else { "node" };
                    return Err(err(format!(
                        "node {i} has {name} child {kind} {id}, which does not exist"
                    )));
                }
            }
            if mode == MEMBER {
                let set: Vec<f32> = values
                    .iter()
                    .skip(next)
                    .take_while(|v| !v.is_nan())
                    .copied()
                    .collect();
                next += set.len() + 1;
                if set.is_empty() {
                    return Err(err(format!(
                        "node {i} is BRANCH_MEMBER with no membership_values"
                    )));
                }
                *node_members = set;
            }
        }
        if next < values.len() {
            return Err(err(
                "membership_values has more sets than there are BRANCH_MEMBER nodes".into(),
            ));
        }
        if let Some((j, t)) = self
            .leaf_targets
            .iter()
            .enumerate()
            .find(|&(_, &t)| !(0..n_targets).contains(&t))
        {
            return Err(err(format!(
                "leaf_targetids[{j}] = {t} is outside 0..{n_targets}"
            )));
        }
        Ok(members)
    }

    /// Tree `tree`'s root: the node `root`, or (as onnxruntime reads a root whose two
    /// children are the same) the leaf of the same index.
    fn root(&self, tree: usize, root: i64) -> Result<Key, ParseError> {
        let err = |m: String| self.attributes.error(m);
        let n = self.features.len();
        let i = usize::try_from(root)
            .ok()
            .filter(|&i| i < n)
            .ok_or_else(|| err(format!("tree_roots[{tree}] = {root} is not a node")))?;
        if self.children[0][i] != self.children[1][i] {
            return Ok(Key::Branch(i, 0));
        }
        if self.leafs[0][i] == 0 || self.leafs[1][i] == 0 {
            return Err(err(format!(
                "tree_roots[{tree}] = {root} has the same node as both children, which onnxruntime reads as a \
                 one-leaf tree and the ONNX reference as a branch; make both children leaves or distinct"
            )));
        }
        if i >= self.leaf_targets.len() {
            return Err(err(format!(
                "tree_roots[{tree}] = {root} is a one-leaf tree, and leaf {root} does not exist"
            )));
        }
        Ok(Key::Leaf(i))
    }

    /// The child of branch `(i, k)` on `side` (0 false, 1 true): a member chain goes on
    /// to its next member before the node's false child.
    fn child(&self, (i, k): (usize, usize), side: usize) -> Key {
        if side == 0 && k + 1 < self.members[i].len() {
            return Key::Branch(i, k + 1);
        }
        let id = self.children[side][i] as usize;
        if self.leafs[side][i] != 0 {
            Key::Leaf(id)
        } else {
            Key::Branch(id, 0)
        }
    }

    /// Appends tree `tree`, from `root`, to `out`: ids in the order nodes are first
    /// reached, each node once (`owners` refuses a node two trees reach).
    fn unroll(
        &self,
        tree: usize,
        root: Key,
        owners: &mut [Option<usize>],
        out: &mut Layout,
    ) -> Result<(), ParseError> {
        // A node's id is its position in `order`.
        let mut ids: HashMap<Key, i64> = HashMap::from([(root, 0)]);
        let mut order = vec![root];
        let mut at = 0;
        while let Some(&key) = order.get(at) {
            let id = at as i64;
            at += 1;
            let (i, k) = match key {
                Key::Leaf(l) => {
                    out.leaf(tree, id, self.leaf_targets[l], self.leaf_weights[l]);
                    continue;
                }
                Key::Branch(i, k) => (i, k),
            };
            match owners[i] {
                Some(owner) if owner != tree => {
                    return Err(self.attributes.error(format!(
                        "node {i} is in trees {owner} and {tree}; trees must not share nodes"
                    )))
                }
                _ => owners[i] = Some(tree),
            }
            let mut child_id = |child: Key| {
                let next = ids.len() as i64;
                *ids.entry(child).or_insert_with(|| {
                    order.push(child);
                    next
                })
            };
            let [false_id, true_id] = [0, 1].map(|side| child_id(self.child((i, k), side)));
            let (mode, value) = match self.modes[i] {
                MEMBER => ("BRANCH_EQ", self.members[i][k]),
                mode => (mode_name(mode), self.splits[i]),
            };
            let tracks_true = self.tracks_true.get(i).copied().unwrap_or(0);
            out.node(
                tree,
                id,
                self.features[i],
                value,
                mode,
                [false_id, true_id],
                tracks_true,
            );
        }
        Ok(())
    }
}

/// The tensor attribute `name`, decoded, refusing another element type than `expected`
/// (for splits and weights: double precision a float runtime would misread).
fn tensor(
    attributes: &Attributes,
    name: &str,
    expected: DataType,
) -> Result<Option<Values>, ParseError> {
    let Some(tensor) = attributes.tensor(name) else {
        return Ok(None);
    };
    if tensor.data_type != expected as i32 {
        return Err(attributes.error(format!(
            "{name} is a {} tensor; it must be {}",
            tensor_proto::type_name(tensor),
            expected.as_str_name()
        )));
    }
    tensor_proto::values(tensor)
        .map(Some)
        .map_err(|problem| attributes.error(format!("{name} {problem}")))
}

#[cfg(test)]
mod tests;
