//! From the attributes, as the one reader checks them, to what the runtime runs: the
//! kernel's layout of the trees, and the post-transforms and aggregates it supports.

use super::attributes::{Attributes, NodeIndex, ParseError};
use super::finalize::PostTransform;
use super::kernel::{Aggregate, Trees};
use super::summary::EnsembleSize;

/// The trees of the ensemble `attributes` describe, laid out for the walks, and their
/// size; `n_outputs` is the number of classes or targets.
pub fn trees(
    attributes: &Attributes,
    n_outputs: usize,
) -> Result<(Trees, EnsembleSize), ParseError> {
    let index = NodeIndex::read(*attributes)?;
    let entries = index.leaf_entries(n_outputs)?;
    let forest = index.link()?;
    let size = EnsembleSize::of(&forest);
    let trees = Trees::new(forest, entries, n_outputs).map_err(|m| attributes.error(m))?;
    Ok((trees, size))
}

/// `post_transform`, of which we support all but PROBIT.
pub fn post_transform(attributes: &Attributes) -> Result<PostTransform, ParseError> {
    let name = attributes.post_transform();
    PostTransform::named(&name).ok_or_else(|| {
        attributes.error(format!(
            "post_transform {name} is not supported; accepted: {}",
            PostTransform::ACCEPTED
        ))
    })
}

/// `aggregate_function` of a regressor.
pub fn aggregate(attributes: &Attributes) -> Result<Aggregate, ParseError> {
    match attributes.aggregate_function().as_str() {
        "SUM" => Ok(Aggregate::Sum),
        "AVERAGE" => Ok(Aggregate::Average),
        "MIN" => Ok(Aggregate::Min),
        "MAX" => Ok(Aggregate::Max),
        other => Err(attributes.error(format!(
            "aggregate_function {other} is not supported; accepted: SUM, AVERAGE, MIN, MAX"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::super::attributes::fixtures::hand_built;
    use super::*;

    #[test]
    fn the_trees_read_the_features_their_branches_test() {
        let node = hand_built(3);
        let (trees, size) = trees(&Attributes::of(&node), 2).unwrap();
        assert_eq!(trees.columns(), 4, "feature 3 is the highest read");
        assert_eq!((trees.n_trees(), size.trees, size.nodes), (2, 2, 6));
    }

    #[test]
    fn probit_is_refused_naming_what_is_accepted() {
        let mut node = hand_built(3);
        node.attribute.push(tract_onnx::pb::AttributeProto {
            name: "post_transform".into(),
            s: b"PROBIT".to_vec(),
            ..Default::default()
        });
        let err = post_transform(&Attributes::of(&node)).unwrap_err();
        assert!(
            err.to_string()
                .ends_with("post_transform PROBIT is not supported; accepted: NONE, SOFTMAX, LOGISTIC, SOFTMAX_ZERO"),
            "{err}"
        );
    }
}
