//! Where each (tree id, node id) sits in the node arrays, and each tree's root: what
//! children and leaf entries are looked up by.

/// Where each (tree id, node id) sits in the attribute arrays, and each tree's root: a
/// sorted index, not a hash map, whose hashing of every node was a measurable part of a
/// model's load (see BENCHMARKS.md, "The tree ensemble called directly, without tract's
/// plan", on what a load costs).
pub(super) struct Positions {
    /// (tree id, node id, position), sorted.
    sorted: Vec<(i64, i64, usize)>,
    /// Per tree, in id order: its id and where its nodes start in `sorted`.
    trees: Vec<(i64, usize)>,
    /// Per tree, in order of first appearance, the position of its first node: its root,
    /// as onnxruntime reads it.
    roots: Vec<usize>,
}

impl Positions {
    /// Indexes the nodes whose ids are `tree_ids[i]`, `node_ids[i]` at position `i`,
    /// refusing a node id listed twice in one tree.
    pub(super) fn new(tree_ids: &[i64], node_ids: &[i64]) -> Result<Positions, String> {
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
    /// looked for at its own index, so that the ~2 lookups per node a load makes are no
    /// binary searches at all.
    pub(super) fn get(&self, tree: i64, node: i64) -> Option<usize> {
        let t = at_own_index(&self.trees, tree, |&(id, _)| id)?;
        let start = self.trees[t].1;
        let end = self.trees.get(t + 1).map_or(self.sorted.len(), |&(_, s)| s);
        let nodes = &self.sorted[start..end];
        let n = at_own_index(nodes, node, |&(_, id, _)| id)?;
        Some(nodes[n].2)
    }

    /// Each tree's root, in order of first appearance.
    pub(super) fn roots(&self) -> &[usize] {
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
    }

    #[test]
    fn a_node_id_listed_twice_in_a_tree_is_refused() {
        let err = Positions::new(&[0, 0], &[1, 1]).err().unwrap();
        assert_eq!(err, "node 1 appears twice in tree 0");
        assert!(
            Positions::new(&[0, 1], &[1, 1]).is_ok(),
            "same id, other tree"
        );
    }
}
