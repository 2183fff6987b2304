//! Reading the `ai.onnx.ml` TreeEnsembleClassifier / TreeEnsembleRegressor attributes
//! (opset 1-3) into the flat [`Trees`] layout, checking every cross-reference so the walk
//! can never leave its arrays or loop.

use std::collections::HashMap;

use tract_onnx::pb::{AttributeProto, NodeProto};

use super::kernel::{Aggregate, Mode, Node, Trees, LEAF, NAN_TRUE};
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

fn mode(name: &str) -> Option<Option<Mode>> {
    Some(match name {
        "BRANCH_LEQ" => Some(Mode::Leq),
        "BRANCH_LT" => Some(Mode::Lt),
        "BRANCH_GTE" => Some(Mode::Gte),
        "BRANCH_GT" => Some(Mode::Gt),
        "BRANCH_EQ" => Some(Mode::Eq),
        "BRANCH_NEQ" => Some(Mode::Neq),
        "LEAF" => None,
        _ => return None,
    })
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
    let mode_names = attributes.strings("nodes_modes").unwrap_or_default();
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

    // (tree, node id) -> position in the attribute arrays.
    let mut position: HashMap<(i64, i64), usize> = HashMap::with_capacity(n);
    let mut tree_order: Vec<i64> = Vec::new();
    let mut modes = Vec::with_capacity(n);
    for i in 0..n {
        if position.insert((tree_ids[i], node_ids[i]), i).is_some() {
            return Err(err(format!(
                "node {} appears twice in tree {}",
                node_ids[i], tree_ids[i]
            )));
        }
        if !tree_order.contains(&tree_ids[i]) {
            // The first node listed for a tree is its root, as onnxruntime reads it.
            tree_order.push(tree_ids[i]);
        }
        let m = mode(&mode_names[i]).ok_or_else(|| {
            err(format!(
                "nodes_modes[{i}] = {} is not one of BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF",
                mode_names[i]
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
        let at = *position
            .get(&(leaf_trees[j], leaf_nodes[j]))
            .ok_or_else(|| {
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

    // Number branch nodes and leaves in attribute order.
    let mut index = vec![0u32; n];
    let (mut n_nodes, mut n_leaves) = (0u32, 0u32);
    for (i, m) in modes.iter().enumerate() {
        if m.is_some() {
            index[i] = n_nodes;
            n_nodes += 1;
        } else {
            index[i] = n_leaves | LEAF;
            n_leaves += 1;
        }
    }
    if n_nodes >= LEAF || n_leaves >= LEAF {
        return Err(err(format!(
            "{n} nodes are more than this runtime indexes (2^31)"
        )));
    }
    let child = |i: usize, id: i64, which: &str| -> Result<u32, ParseError> {
        position
            .get(&(tree_ids[i], id))
            .map(|&c| index[c])
            .ok_or_else(|| {
                err(format!(
                    "node {} of tree {} has {which} child {id}, which does not exist in that tree",
                    node_ids[i], tree_ids[i]
                ))
            })
    };
    let mut nodes = Vec::with_capacity(n_nodes as usize);
    let mut node_modes = Vec::with_capacity(n_nodes as usize);
    let mut leaf_offsets = vec![0u32];
    let (mut outputs, mut weights) = (Vec::new(), Vec::new());
    let mut n_features_used = 0;
    for i in 0..n {
        match modes[i] {
            Some(mode) => {
                let feature = u32::try_from(features[i])
                    .ok()
                    .filter(|f| f & NAN_TRUE == 0)
                    .ok_or_else(|| {
                        err(format!(
                            "nodes_featureids[{i}] = {} is not a valid column",
                            features[i]
                        ))
                    })?;
                n_features_used = n_features_used.max(feature as usize + 1);
                let nan_true = missing_true.get(i).is_some_and(|&t| t != 0);
                nodes.push(Node {
                    feature: feature | if nan_true { NAN_TRUE } else { 0 },
                    threshold: values[i],
                    children: [
                        child(i, false_ids[i], "false")?,
                        child(i, true_ids[i], "true")?,
                    ],
                });
                node_modes.push(mode);
            }
            None => {
                for &(output, weight) in &entries[i] {
                    outputs.push(output);
                    weights.push(weight);
                }
                leaf_offsets.push(outputs.len() as u32);
            }
        }
    }
    let roots = tree_order
        .iter()
        .map(|tree| {
            index[tree_ids
                .iter()
                .position(|t| t == tree)
                .expect("tree seen above")]
        })
        .collect();
    let uniform = node_modes
        .first()
        .copied()
        .filter(|first| node_modes.iter().all(|m| m == first));
    let trees = Trees {
        nodes,
        modes: if uniform.is_some() {
            Vec::new()
        } else {
            node_modes
        },
        uniform,
        roots,
        leaf_offsets,
        leaf_outputs: outputs,
        leaf_weights: weights,
        n_outputs,
        n_features_used,
    };
    check_acyclic(&trees).map_err(err)?;
    Ok(trees)
}

/// Refuses cycles (a walk would never end); shared subtrees are fine.
fn check_acyclic(trees: &Trees) -> Result<(), String> {
    // 0 = unvisited, 1 = on the current path, 2 = done.
    let mut state = vec![0u8; trees.nodes.len()];
    for (tree, &root) in trees.roots.iter().enumerate() {
        let mut stack: Vec<(u32, usize)> = vec![(root, 0)];
        while let Some((at, next_child)) = stack.pop() {
            if at & LEAF != 0 {
                continue;
            }
            let i = at as usize;
            if next_child == 0 {
                match state[i] {
                    1 => return Err(format!("tree {tree} has a cycle")),
                    2 => continue,
                    _ => state[i] = 1,
                }
            }
            if next_child < 2 {
                stack.push((at, next_child + 1));
                let child = trees.nodes[i].children[next_child];
                if child & LEAF == 0 && state[child as usize] == 1 {
                    return Err(format!("tree {tree} has a cycle"));
                }
                stack.push((child, 0));
            } else {
                state[i] = 2;
            }
        }
    }
    Ok(())
}
