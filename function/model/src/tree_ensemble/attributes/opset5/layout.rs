//! The opset 1-3 node arrays the opset-5 conversion appends to, node by node, and the
//! attributes they become.

use tract_onnx::pb::AttributeProto;

/// The opset 1-3 arrays being built.
#[derive(Default)]
pub struct Layout {
    tree_ids: Vec<i64>,
    node_ids: Vec<i64>,
    features: Vec<i64>,
    values: Vec<f32>,
    modes: Vec<Vec<u8>>,
    children: [Vec<i64>; 2],
    tracks_true: Vec<i64>,
    targets: [Vec<i64>; 3],
    weights: Vec<f32>,
}

impl Layout {
    pub fn leaf(&mut self, tree: usize, id: i64, target: i64, weight: f32) {
        self.node(tree, id, 0, 0.0, "LEAF", [0, 0], 0);
        self.targets[0].push(tree as i64);
        self.targets[1].push(id);
        self.targets[2].push(target);
        self.weights.push(weight);
    }

    #[allow(clippy::too_many_arguments)]
    pub fn node(
        &mut self,
        tree: usize,
        id: i64,
        feature: i64,
        value: f32,
        mode: &str,
        [f, t]: [i64; 2],
        tracks: i64,
    ) {
        self.tree_ids.push(tree as i64);
        self.node_ids.push(id);
        self.features.push(feature);
        self.values.push(value);
        self.modes.push(mode.as_bytes().to_vec());
        self.children[0].push(f);
        self.children[1].push(t);
        self.tracks_true.push(tracks);
    }

    /// The arrays as opset 1-3 attributes (`nodes_missing_value_tracks_true` only when
    /// the input had it).
    pub fn attributes(self, tracks_true: bool) -> Vec<AttributeProto> {
        let [false_ids, true_ids] = self.children;
        let [target_trees, target_nodes, target_ids] = self.targets;
        let mut attributes = vec![
            ints("nodes_treeids", self.tree_ids),
            ints("nodes_nodeids", self.node_ids),
            ints("nodes_featureids", self.features),
            floats("nodes_values", self.values),
            AttributeProto {
                name: "nodes_modes".into(),
                strings: self.modes,
                ..Default::default()
            },
            ints("nodes_falsenodeids", false_ids),
            ints("nodes_truenodeids", true_ids),
            ints("target_treeids", target_trees),
            ints("target_nodeids", target_nodes),
            ints("target_ids", target_ids),
            floats("target_weights", self.weights),
        ];
        if tracks_true {
            attributes.push(ints("nodes_missing_value_tracks_true", self.tracks_true));
        }
        attributes
    }
}

fn ints(name: &str, ints: Vec<i64>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        ints,
        ..Default::default()
    }
}

fn floats(name: &str, floats: Vec<f32>) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        floats,
        ..Default::default()
    }
}

pub fn int(name: &str, i: i64) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        i,
        ..Default::default()
    }
}

pub fn string(name: &str, s: &str) -> AttributeProto {
    AttributeProto {
        name: name.into(),
        s: s.as_bytes().to_vec(),
        ..Default::default()
    }
}
