//! The node arrays of a tree ensemble, checked and linked into trees, each step a
//! function named for what it establishes: arrays of equal length, nodes found by id,
//! known modes, leaf entries attached to existing leaves, flat nodes with checked
//! children and features, depths without cycles. Shared subtrees are fine.

use super::positions::Positions;
use super::{Attributes, ParseError};
use crate::tree_ensemble::kernel::{Forest, Mode, Node, NAN_TRUE};

/// The node arrays, one entry per node each (`missing_true` may also be empty).
struct NodeArrays<'a> {
    tree_ids: &'a [i64],
    node_ids: &'a [i64],
    features: &'a [i64],
    values: &'a [f32],
    true_ids: &'a [i64],
    false_ids: &'a [i64],
    modes: &'a [Vec<u8>],
    missing_true: &'a [i64],
}

impl<'a> NodeArrays<'a> {
    /// The node arrays of `attributes`, refusing an ensemble without nodes and arrays of
    /// different lengths.
    fn of_equal_length(attributes: &Attributes<'a>) -> Result<NodeArrays<'a>, ParseError> {
        let err = |m: String| attributes.error(m);
        let tree_ids = attributes.ints("nodes_treeids");
        let n = tree_ids.len();
        if n == 0 {
            return Err(err(
                "nodes_treeids is empty: the ensemble has no node".into()
            ));
        }
        let arrays = NodeArrays {
            tree_ids,
            node_ids: attributes.ints("nodes_nodeids"),
            features: attributes.ints("nodes_featureids"),
            values: attributes.floats("nodes_values"),
            true_ids: attributes.ints("nodes_truenodeids"),
            false_ids: attributes.ints("nodes_falsenodeids"),
            modes: attributes.byte_strings("nodes_modes"),
            missing_true: attributes.missing_value_tracks_true(),
        };
        for (name, len) in [
            ("nodes_nodeids", arrays.node_ids.len()),
            ("nodes_featureids", arrays.features.len()),
            ("nodes_values", arrays.values.len()),
            ("nodes_truenodeids", arrays.true_ids.len()),
            ("nodes_falsenodeids", arrays.false_ids.len()),
            ("nodes_modes", arrays.modes.len()),
        ] {
            if len != n {
                return Err(err(format!(
                    "{name} has {len} entries, nodes_treeids has {n}"
                )));
            }
        }
        let missing_true = arrays.missing_true;
        if !missing_true.is_empty() && missing_true.len() != n {
            return Err(err(format!(
                "nodes_missing_value_tracks_true has {} entries, nodes_treeids has {n}",
                missing_true.len()
            )));
        }
        Ok(arrays)
    }
}

/// The nodes of an ensemble found by their ids, each with its mode: what leaf entries
/// and children are checked against.
pub struct NodeIndex<'a> {
    attributes: Attributes<'a>,
    arrays: NodeArrays<'a>,
    positions: Positions,
    /// Per node, its comparison; `None` for a leaf.
    modes: Vec<Option<Mode>>,
}

impl<'a> NodeIndex<'a> {
    /// Reads the node arrays of `attributes`: of equal length, each (tree id, node id)
    /// once, every mode one ONNX defines.
    pub fn read(attributes: Attributes<'a>) -> Result<NodeIndex<'a>, ParseError> {
        let arrays = NodeArrays::of_equal_length(&attributes)?;
        let positions =
            Positions::new(arrays.tree_ids, arrays.node_ids).map_err(|m| attributes.error(m))?;
        let modes = known_modes(&attributes, arrays.modes)?;
        Ok(NodeIndex {
            attributes,
            arrays,
            positions,
            modes,
        })
    }

    /// Per node, its leaf entries (output, weight), from the leaf attributes
    /// (`class_*` of a classifier, `target_*` of a regressor): arrays of equal length,
    /// every entry for an existing leaf and an output below `n_outputs`.
    pub fn leaf_entries(&self, n_outputs: usize) -> Result<Vec<Vec<(u32, f32)>>, ParseError> {
        let attributes = &self.attributes;
        let err = |m: String| attributes.error(m);
        let prefix = attributes.leaf_prefix();
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
        let mut entries: Vec<Vec<(u32, f32)>> = vec![Vec::new(); self.modes.len()];
        for j in 0..m {
            let at = self
                .positions
                .get(leaf_trees[j], leaf_nodes[j])
                .ok_or_else(|| {
                    err(format!(
                        "{prefix} weight {j} is for node {} of tree {}, which does not exist",
                        leaf_nodes[j], leaf_trees[j]
                    ))
                })?;
            if self.modes[at].is_some() {
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
        Ok(entries)
    }

    /// Links the nodes into trees: flat nodes with checked children and features, each
    /// tree's root (its first listed node), and each tree's depth, refusing cycles.
    pub fn link(self) -> Result<Forest, ParseError> {
        let nodes = self.flat_nodes()?;
        let roots: Vec<u32> = (self.positions.roots().iter())
            .map(|&root| root as u32)
            .collect();
        let depths = depths_without_cycles(&nodes, &self.modes, &roots)
            .map_err(|m| self.attributes.error(m))?;
        Ok(Forest {
            nodes,
            modes: self.modes,
            roots,
            depths,
        })
    }

    /// Node `i` at attribute position `i`, as the kernel lays nodes out: a branch with its
    /// feature (and missing-value flag), threshold and children, a leaf looping to
    /// itself. Refuses more nodes than the kernel indexes, a feature that is no column,
    /// and a child that is not in its node's tree.
    fn flat_nodes(&self) -> Result<Vec<Node>, ParseError> {
        let err = |m: String| self.attributes.error(m);
        let NodeArrays {
            tree_ids,
            node_ids,
            features,
            values,
            true_ids,
            false_ids,
            missing_true,
            ..
        } = self.arrays;
        let n = tree_ids.len();
        // The kernel pads the nodes with one leaf, and flags features with NAN_TRUE.
        u32::try_from(n + 1)
            .ok()
            .filter(|&slots| slots & NAN_TRUE == 0)
            .ok_or_else(|| {
                err(format!(
                    "{n} nodes are more than this runtime indexes (2^31)"
                ))
            })?;
        let child = |i: usize, id: i64, which: &str| -> Result<u32, ParseError> {
            self.positions
                .get(tree_ids[i], id)
                .map(|c| c as u32)
                .ok_or_else(|| {
                    err(format!(
                        "node {} of tree {} has {which} child {id}, which does not exist in that tree",
                        node_ids[i], tree_ids[i]
                    ))
                })
        };
        // Room for the kernel's padding leaf.
        let mut nodes = Vec::with_capacity(n + 1);
        for i in 0..n {
            match self.modes[i] {
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
                None => nodes.push(Node::leaf(i as u32)),
            }
        }
        Ok(nodes)
    }
}

/// The trees `attributes` describe, checked and linked (see [`NodeIndex::read`] and
/// [`NodeIndex::link`]), without their leaf entries.
pub fn read_trees(attributes: Attributes) -> Result<Forest, ParseError> {
    NodeIndex::read(attributes)?.link()
}

/// Each node's `nodes_modes` entry, read as bytes (no string per node): `None` for a
/// leaf, refusing a name ONNX does not define.
fn known_modes(
    attributes: &Attributes,
    names: &[Vec<u8>],
) -> Result<Vec<Option<Mode>>, ParseError> {
    let mut modes = Vec::with_capacity(names.len());
    for (i, name) in names.iter().enumerate() {
        let m = mode(name).ok_or_else(|| {
            attributes.error(format!(
                "nodes_modes[{i}] = {} is not one of BRANCH_LEQ, BRANCH_LT, BRANCH_GTE, BRANCH_GT, BRANCH_EQ, BRANCH_NEQ, LEAF",
                String::from_utf8_lossy(name)
            ))
        })?;
        modes.push(m);
    }
    Ok(modes)
}

/// A `nodes_modes` entry: `Some(None)` for a leaf, `None` for an unknown name.
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

/// Per tree, the steps from its root to its deepest leaf, refusing cycles (a walk would
/// never end); shared subtrees are fine.
fn depths_without_cycles(
    nodes: &[Node],
    modes: &[Option<Mode>],
    roots: &[u32],
) -> Result<Vec<u32>, String> {
    const UNVISITED: u32 = u32::MAX;
    const ON_PATH: u32 = u32::MAX - 1;
    let is_leaf = |i: usize| modes[i].is_none();
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
    Ok(roots.iter().map(|&root| depth[root as usize]).collect())
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::hand_built;
    use super::*;

    /// Why the hand-built node with `true_of_2` as node 2's true child is refused.
    fn refusal(true_of_2: i64) -> String {
        let node = hand_built(true_of_2);
        read_trees(Attributes::of(&node)).unwrap_err().to_string()
    }

    #[test]
    fn a_shared_subtree_is_read_as_part_of_each_tree_that_reaches_it() {
        // Node 2's true child is leaf 1, which node 0 also points at.
        let node = hand_built(1);
        let forest = read_trees(Attributes::of(&node)).unwrap();
        assert_eq!(forest.roots, [0, 5]);
        assert_eq!(forest.depths, [2, 0]);
        assert_eq!(forest.nodes[2].children, [4, 1]);
    }

    #[test]
    fn a_cycle_is_refused_naming_its_tree() {
        // Node 2's true child is the root.
        let err = refusal(0);
        assert_eq!(err, "TreeEnsembleClassifier `hand`: tree 0 has a cycle");
    }

    #[test]
    fn a_child_outside_its_tree_is_refused_naming_it() {
        let err = refusal(9);
        assert!(
            err.ends_with("node 2 of tree 0 has true child 9, which does not exist in that tree"),
            "{err}"
        );
    }

    #[test]
    fn arrays_of_different_lengths_are_refused_naming_both() {
        let mut node = hand_built(3);
        let values = node.attribute.iter_mut().find(|a| a.name == "nodes_values");
        values.unwrap().floats.pop();
        let err = read_trees(Attributes::of(&node)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("nodes_values has 5 entries, nodes_treeids has 6"),
            "{err}"
        );
    }

    #[test]
    fn leaf_entries_are_attached_to_existing_leaves_only() {
        let node = hand_built(3);
        let index = NodeIndex::read(Attributes::of(&node)).unwrap();
        let entries = index.leaf_entries(2).unwrap();
        assert_eq!(entries[1], [(0, 1.0)]);
        assert_eq!(entries[5], [(0, 1.0)]);
        assert!(entries[0].is_empty() && entries[2].is_empty());
        let mut node = hand_built(3);
        let leaf_nodes = node
            .attribute
            .iter_mut()
            .find(|a| a.name == "class_nodeids");
        leaf_nodes.unwrap().ints[0] = 2;
        let index = NodeIndex::read(Attributes::of(&node)).unwrap();
        let err = index.leaf_entries(2).unwrap_err().to_string();
        assert!(
            err.ends_with("class weight 0 is for node 2 of tree 0, which is not a LEAF"),
            "{err}"
        );
    }
}
