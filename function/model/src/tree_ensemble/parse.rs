//! Reading the `ai.onnx.ml` TreeEnsembleClassifier / TreeEnsembleRegressor attributes
//! (opset 1-3) into the flat [`Trees`] layout, checking every cross-reference so the walk
//! can never leave its arrays or loop.

use tract_onnx::pb::{AttributeProto, NodeProto};

use super::kernel::{Aggregate, Mode, Node, Nodes, SmallTrees, TreeGroup, Trees, LANES, NAN_TRUE};
use super::PostTransform;

/// A model we refuse at load time, naming the attribute and what we accept.
#[derive(Debug, thiserror::Error)]
#[error("{op} `{node}`: {message}")]
pub struct ParseError {
    op: String,
    node: String,
    message: String,
}

/// Attribute access with errors that name the node.
pub struct Attributes<'a> {
    node: &'a NodeProto,
}

impl<'a> Attributes<'a> {
    /// Wraps `node`, refusing attributes we would silently misread.
    pub fn new(node: &'a NodeProto) -> Result<Attributes<'a>, ParseError> {
        let attributes = Attributes { node };
        for attribute in &node.attribute {
            if attribute.name.ends_with("_as_tensor") {
                return Err(attributes.error(format!(
                    "attribute {} (double precision) is not supported; export with float attributes",
                    attribute.name
                )));
            }
        }
        Ok(attributes)
    }

    /// An error about this node.
    pub fn error(&self, message: impl Into<String>) -> ParseError {
        ParseError {
            op: self.node.op_type.clone(),
            node: self.node.name.clone(),
            message: message.into(),
        }
    }

    fn get(&self, name: &str) -> Option<&'a AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// An `ints` attribute, empty when absent.
    pub fn ints(&self, name: &str) -> &'a [i64] {
        self.get(name).map_or(&[], |a| &a.ints[..])
    }

    /// A `floats` attribute, empty when absent.
    pub fn floats(&self, name: &str) -> &'a [f32] {
        self.get(name).map_or(&[], |a| &a.floats[..])
    }

    /// A `strings` attribute, if present.
    pub fn strings(&self, name: &str) -> Option<Vec<String>> {
        self.get(name).map(|a| {
            a.strings
                .iter()
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect()
        })
    }

    /// A `strings` attribute as raw bytes, empty when absent.
    pub fn byte_strings(&self, name: &str) -> &'a [Vec<u8>] {
        self.get(name).map_or(&[], |a| &a.strings[..])
    }

    /// A `string` attribute, or `default`.
    pub fn string(&self, name: &str, default: &str) -> String {
        self.get(name).map_or(default.to_string(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }

    /// An `int` attribute, if present.
    pub fn int(&self, name: &str) -> Option<i64> {
        self.get(name).map(|a| a.i)
    }
}

/// `post_transform`, of which we support all but PROBIT.
pub fn post_transform(attributes: &Attributes) -> Result<PostTransform, ParseError> {
    match attributes.string("post_transform", "NONE").as_str() {
        "NONE" => Ok(PostTransform::None),
        "SOFTMAX" => Ok(PostTransform::Softmax),
        "LOGISTIC" => Ok(PostTransform::Logistic),
        "SOFTMAX_ZERO" => Ok(PostTransform::SoftmaxZero),
        other => Err(attributes.error(format!(
            "post_transform {other} is not supported; accepted: NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO"
        ))),
    }
}

/// `aggregate_function` of a regressor.
pub fn aggregate(attributes: &Attributes) -> Result<Aggregate, ParseError> {
    match attributes.string("aggregate_function", "SUM").as_str() {
        "SUM" => Ok(Aggregate::Sum),
        "AVERAGE" => Ok(Aggregate::Average),
        "MIN" => Ok(Aggregate::Min),
        "MAX" => Ok(Aggregate::Max),
        other => Err(attributes.error(format!(
            "aggregate_function {other} is not supported; accepted: SUM, AVERAGE, MIN, MAX"
        ))),
    }
}

/// A `nodes_modes` entry, read as bytes: no string per node.
fn mode(name: &[u8]) -> Option<Option<Mode>> {
    Some(match name {
        b"BRANCH_LEQ" => Some(Mode::Leq),
        b"BRANCH_LT" => Some(Mode::Lt),
        b"BRANCH_GTE" => Some(Mode::Gte),
        b"BRANCH_GT" => Some(Mode::Gt),
        b"BRANCH_EQ" => Some(Mode::Eq),
        b"BRANCH_NEQ" => Some(Mode::Neq),
        b"LEAF" => None,
        _ => return None,
    })
}

/// Where each (tree id, node id) sits in the attribute arrays, and each tree's root: a
/// sorted index, not a hash map (SipHash over every node was a fifth of a model's load).
struct Positions {
    /// (tree id, node id, position), sorted.
    sorted: Vec<(i64, i64, usize)>,
    /// Per tree, in id order: its id and where its nodes start in `sorted`.
    trees: Vec<(i64, usize)>,
    /// Per tree, in order of first appearance, the position of its first node: its root,
    /// as onnxruntime reads it.
    roots: Vec<usize>,
}

impl Positions {
    fn new(tree_ids: &[i64], node_ids: &[i64]) -> Result<Positions, String> {
        let mut sorted: Vec<(i64, i64, usize)> = (tree_ids.iter().zip(node_ids).enumerate())
            .map(|(at, (&tree, &node))| (tree, node, at))
            .collect();
        sorted.sort_unstable();
        if let Some(twice) = sorted
            .windows(2)
            .find(|w| w[0].0 == w[1].0 && w[0].1 == w[1].1)
        {
            let (tree, node, _) = twice[0];
            return Err(format!("node {node} appears twice in tree {tree}"));
        }
        let mut trees = Vec::new();
        let mut roots = Vec::new();
        let mut start = 0;
        for tree in sorted.chunk_by(|a, b| a.0 == b.0) {
            trees.push((tree[0].0, start));
            roots.push(tree.iter().map(|&(_, _, at)| at).min().unwrap_or(0));
            start += tree.len();
        }
        roots.sort_unstable();
        Ok(Positions {
            sorted,
            trees,
            roots,
        })
    }

    /// The position of node `node` of tree `tree`.
    ///
    /// Exporters number trees and the nodes of each tree 0, 1, 2...: an id is first
    /// looked for at its own index, which makes a load's ~2 lookups per node no binary
    /// searches at all (they were a sixth of the bundled model's load).
    fn get(&self, tree: i64, node: i64) -> Option<usize> {
        let t = at_own_index(&self.trees, tree, |&(id, _)| id)?;
        let start = self.trees[t].1;
        let end = self.trees.get(t + 1).map_or(self.sorted.len(), |&(_, s)| s);
        let nodes = &self.sorted[start..end];
        let n = at_own_index(nodes, node, |&(_, id, _)| id)?;
        Some(nodes[n].2)
    }

    /// Each tree's root, in order of first appearance.
    fn roots(&self) -> &[usize] {
        &self.roots
    }
}

/// The index of `id` in `items`, sorted by `key` with unique keys: `items[id]` when that
/// is it, else by binary search.
fn at_own_index<T>(items: &[T], id: i64, key: impl Fn(&T) -> i64) -> Option<usize> {
    let own = usize::try_from(id)
        .ok()
        .filter(|&i| items.get(i).is_some_and(|item| key(item) == id));
    own.or_else(|| items.binary_search_by_key(&id, key).ok())
}

/// Builds the flat trees. `prefix` is `class` or `target` (the leaf attributes'
/// prefix); `n_outputs` the number of classes or targets.
pub fn trees(attributes: &Attributes, prefix: &str, n_outputs: usize) -> Result<Trees, ParseError> {
    let err = |m: String| attributes.error(m);
    let tree_ids = attributes.ints("nodes_treeids");
    let node_ids = attributes.ints("nodes_nodeids");
    let n = tree_ids.len();
    if n == 0 {
        return Err(err(
            "nodes_treeids is empty: the ensemble has no node".into()
        ));
    }
    let features = attributes.ints("nodes_featureids");
    let values = attributes.floats("nodes_values");
    let true_ids = attributes.ints("nodes_truenodeids");
    let false_ids = attributes.ints("nodes_falsenodeids");
    let mode_names = attributes.byte_strings("nodes_modes");
    let missing_true = attributes.ints("nodes_missing_value_tracks_true");
    for (name, len) in [
        ("nodes_nodeids", node_ids.len()),
        ("nodes_featureids", features.len()),
        ("nodes_values", values.len()),
        ("nodes_truenodeids", true_ids.len()),
        ("nodes_falsenodeids", false_ids.len()),
        ("nodes_modes", mode_names.len()),
    ] {
        if len != n {
            return Err(err(format!(
                "{name} has {len} entries, nodes_treeids has {n}"
            )));
        }
    }
    if !missing_true.is_empty() && missing_true.len() != n {
        return Err(err(format!(
            "nodes_missing_value_tracks_true has {} entries, nodes_treeids has {n}",
            missing_true.len()
        )));
    }

    let position = Positions::new(tree_ids, node_ids).map_err(err)?;
    let mut modes = Vec::with_capacity(n);
    for (i, name) in mode_names.iter().enumerate() {
        let m = mode(name).ok_or_else(|| {
            err(format!(
                "nodes_modes[{i}] = {} is not one of BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF",
                String::from_utf8_lossy(name)
            ))
        })?;
        modes.push(m);
    }

    // Leaf entries per attribute position.
    let leaf_trees = attributes.ints(&format!("{prefix}_treeids"));
    let leaf_nodes = attributes.ints(&format!("{prefix}_nodeids"));
    let leaf_outputs = attributes.ints(&format!("{prefix}_ids"));
    let leaf_weights = attributes.floats(&format!("{prefix}_weights"));
    let m = leaf_trees.len();
    for (name, len) in [
        (format!("{prefix}_nodeids"), leaf_nodes.len()),
        (format!("{prefix}_ids"), leaf_outputs.len()),
        (format!("{prefix}_weights"), leaf_weights.len()),
    ] {
        if len != m {
            return Err(err(format!(
                "{name} has {len} entries, {prefix}_treeids has {m}"
            )));
        }
    }
    let mut entries: Vec<Vec<(u32, f32)>> = vec![Vec::new(); n];
    for j in 0..m {
        let at = position.get(leaf_trees[j], leaf_nodes[j]).ok_or_else(|| {
            err(format!(
                "{prefix} weight {j} is for node {} of tree {}, which does not exist",
                leaf_nodes[j], leaf_trees[j]
            ))
        })?;
        if modes[at].is_some() {
            return Err(err(format!(
                "{prefix} weight {j} is for node {} of tree {}, which is not a LEAF",
                leaf_nodes[j], leaf_trees[j]
            )));
        }
        let output = usize::try_from(leaf_outputs[j])
            .ok()
            .filter(|&o| o < n_outputs)
            .ok_or_else(|| {
                err(format!(
                    "{prefix}_ids[{j}] = {} is outside 0..{n_outputs}",
                    leaf_outputs[j]
                ))
            })?;
        entries[at].push((output as u32, leaf_weights[j]));
    }
    // Per leaf, its outputs: every leaf naming every output makes the leaves dense, and
    // naming each exactly once lets them be rows.
    let (mut leaves_dense, mut leaves_by_output) = (true, true);
    for (entries, _) in entries
        .iter()
        .zip(&modes)
        .filter(|(_, mode)| mode.is_none())
    {
        let mut outputs: Vec<u32> = entries.iter().map(|&(output, _)| output).collect();
        outputs.sort_unstable();
        leaves_by_output &= outputs.iter().copied().eq(0..n_outputs as u32);
        outputs.dedup();
        leaves_dense &= outputs.len() == n_outputs;
    }
    // When every leaf has one entry per output (scikit-learn's forests), put them in
    // output order, so a leaf's weights add to a row's scores as a row. Each output still
    // gets one add per leaf, in tree order: the sums are unchanged.
    if leaves_by_output {
        for entries in &mut entries {
            entries.sort_by_key(|&(output, _)| output);
        }
    }

    // Node i of the flat layout is attribute position i; one more node, a leaf without
    // entries, pads the last group of trees a row walks together.
    let n_slots = u32::try_from(n + 1)
        .ok()
        .filter(|&slots| slots & NAN_TRUE == 0)
        .ok_or_else(|| {
            err(format!(
                "{n} nodes are more than this runtime indexes (2^31)"
            ))
        })?;
    let empty_leaf = n_slots - 1;
    let child = |i: usize, id: i64, which: &str| -> Result<u32, ParseError> {
        position
            .get(tree_ids[i], id)
            .map(|c| c as u32)
            .ok_or_else(|| {
                err(format!(
                    "node {} of tree {} has {which} child {id}, which does not exist in that tree",
                    node_ids[i], tree_ids[i]
                ))
            })
    };
    let mut nodes = Vec::with_capacity(n + 1);
    let mut leaf_offsets = vec![0u32];
    let (mut outputs, mut weights) = (Vec::new(), Vec::new());
    for i in 0..n {
        match modes[i] {
            Some(_) => {
                let feature = u32::try_from(features[i])
                    .ok()
                    .filter(|f| f & NAN_TRUE == 0)
                    .ok_or_else(|| {
                        err(format!(
                            "nodes_featureids[{i}] = {} is not a valid column",
                            features[i]
                        ))
                    })?;
                let nan_true = missing_true.get(i).is_some_and(|&t| t != 0);
                nodes.push(Node {
                    feature: feature | if nan_true { NAN_TRUE } else { 0 },
                    threshold: values[i],
                    children: [
                        child(i, false_ids[i], "false")?,
                        child(i, true_ids[i], "true")?,
                    ],
                });
            }
            None => {
                nodes.push(Node::leaf(i as u32));
                for &(output, weight) in &entries[i] {
                    outputs.push(output);
                    weights.push(weight);
                }
            }
        }
        leaf_offsets.push(outputs.len() as u32);
    }
    nodes.push(Node::leaf(empty_leaf));
    leaf_offsets.push(outputs.len() as u32);

    let roots: Vec<u32> = position.roots().iter().map(|&root| root as u32).collect();
    let is_branch: Vec<bool> = modes.iter().map(Option::is_some).chain([false]).collect();
    let nodes = Nodes::new(nodes).map_err(err)?;
    let node_depths = node_depths(nodes.as_slice(), &is_branch, &roots).map_err(err)?;
    let depths: Vec<u32> = roots.iter().map(|&r| node_depths[r as usize]).collect();
    let small_trees = SmallTrees::new(nodes.as_slice(), &roots, &depths);
    // The other trees are walked. Trees of like depth share a group, so few lanes idle
    // at a leaf while the group's deepest tree finishes (the walk puts leaves back in
    // tree order before adding).
    let mut by_depth: Vec<usize> = (0..roots.len())
        .filter(|&tree| small_trees.tree(tree).is_none())
        .collect();
    by_depth.sort_by_key(|&tree| depths[tree]);
    let tree_groups = by_depth
        .chunks(LANES)
        .map(|group| TreeGroup {
            roots: std::array::from_fn(|lane| group.get(lane).map_or(empty_leaf, |&t| roots[t])),
            trees: std::array::from_fn(|lane| group.get(lane).map_or(roots.len(), |&t| t) as u32),
            depth: group.iter().map(|&t| depths[t]).max().unwrap_or(0),
        })
        .collect();
    let branch_modes: Vec<Mode> = modes.iter().flatten().copied().collect();
    let uniform = match branch_modes.first() {
        Some(first) => Some(*first).filter(|first| branch_modes.iter().all(|m| m == first)),
        // Only leaves: no comparison is ever made, any mode will do.
        None => Some(Mode::Lt),
    };
    let any_nan_true = nodes
        .as_slice()
        .iter()
        .any(|node| node.feature & NAN_TRUE != 0);
    Ok(Trees {
        nodes,
        // A leaf's comparison does not matter (both children are itself).
        modes: modes
            .iter()
            .map(|m| m.unwrap_or(Mode::Lt))
            .chain([Mode::Lt])
            .collect(),
        uniform,
        any_nan_true,
        weights_positive: weights.iter().all(|&w| w > 0.0),
        leaves_dense,
        leaves_by_output,
        single_entries: entries.iter().all(|entries| entries.len() <= 1).then(|| {
            entries
                .iter()
                .map(|entries| entries.first().copied().unwrap_or((0, 0.0)))
                .chain([(0, 0.0)])
                .collect()
        }),
        roots,
        depths,
        tree_groups,
        small_trees,
        leaf_offsets,
        leaf_outputs: outputs,
        leaf_weights: weights,
        n_outputs,
    })
}

/// Per node, the steps from it to its deepest leaf, refusing cycles (a walk would never
/// end); shared subtrees are fine.
fn node_depths(nodes: &[Node], is_branch: &[bool], roots: &[u32]) -> Result<Vec<u32>, String> {
    const UNVISITED: u32 = u32::MAX;
    const ON_PATH: u32 = u32::MAX - 1;
    let is_leaf = |i: usize| !is_branch[i];
    let mut depth = vec![UNVISITED; nodes.len()];
    for (tree, &root) in roots.iter().enumerate() {
        // (node, whether its children are done)
        let mut stack: Vec<(usize, bool)> = vec![(root as usize, false)];
        while let Some((i, children_done)) = stack.pop() {
            if is_leaf(i) {
                depth[i] = 0;
            } else if children_done {
                let [f, t] = nodes[i].children.map(|c| depth[c as usize]);
                depth[i] = 1 + f.max(t);
            } else {
                match depth[i] {
                    ON_PATH => return Err(format!("tree {tree} has a cycle")),
                    UNVISITED => {
                        depth[i] = ON_PATH;
                        stack.push((i, true));
                        for child in nodes[i].children {
                            if depth[child as usize] == ON_PATH {
                                return Err(format!("tree {tree} has a cycle"));
                            }
                            stack.push((child as usize, false));
                        }
                    }
                    _ => {}
                }
            }
        }
    }
    Ok(depth)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_find_every_node_whatever_the_ids() {
        // Dense ids (found at their own index), sparse and negative ids (found by binary
        // search), and ids that would be in range as an index but name another node.
        let nodes: [(i64, i64); 9] = [
            (0, 0),
            (0, 2),
            (0, 1),
            (7, 3),
            (7, 10),
            (7, -4),
            (-2, 0),
            (1, 2),
            (1, 0),
        ];
        let (trees, ids): (Vec<i64>, Vec<i64>) = nodes.iter().copied().unzip();
        let positions = Positions::new(&trees, &ids).unwrap();
        for (at, &(tree, node)) in nodes.iter().enumerate() {
            assert_eq!(
                positions.get(tree, node),
                Some(at),
                "tree {tree} node {node}"
            );
        }
        for (tree, node) in [(0, 3), (7, 0), (7, 2), (1, 1), (3, 0), (-1, 0), (2, 2)] {
            assert_eq!(positions.get(tree, node), None, "tree {tree} node {node}");
        }
        // Roots: each tree's first listed node, trees in order of first appearance.
        assert_eq!(positions.roots(), [0, 3, 6, 7]);
        assert!(Positions::new(&[0, 0], &[1, 1]).is_err());
    }
}
