//! The graph's inputs as the function serves them: each one's name, element type (float,
//! int64 or string) and width, whether a missing value in it gets a defined answer
//! (`missing`), and an example row every encoder of the graph accepts.

use tract_onnx::pb::{
    tensor_proto::DataType, tensor_shape_proto::dimension::Value as Dim, type_proto, GraphProto,
    NodeProto, ValueInfoProto,
};

use super::missing;
use crate::batch::{Column, Values};
use crate::error::{unsupported, LoadError};
use crate::info::{ElementType, InputInfo};

/// Operators that pass a tensor on unchanged in its values, followed from an input to
/// the encoder that reads it.
const PASS_THROUGH: [&str; 6] = [
    "Identity",
    "Reshape",
    "Flatten",
    "Squeeze",
    "Unsqueeze",
    "Cast",
];

/// The attributes in which encoders list the categories they know.
const CATEGORIES: [&str; 4] = ["cats_strings", "keys_strings", "cats_int64s", "keys_int64s"];

/// Every graph input that is not an initializer, in the graph's order. String inputs
/// take a missing value (as the empty string) when `missing_category` says the file
/// learned one.
pub(super) fn inputs(
    graph: &GraphProto,
    missing_category: bool,
) -> Result<Vec<InputInfo>, LoadError> {
    let initializers: Vec<&str> = graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let declared: Vec<&ValueInfoProto> = (graph.input.iter())
        .filter(|i| !initializers.contains(&i.name.as_str()))
        .collect();
    if declared.is_empty() {
        return Err(unsupported("the graph has no input"));
    }
    declared
        .into_iter()
        .map(|input| {
            let (element, width, rank) = signature(input)?;
            Ok(InputInfo {
                name: input.name.clone(),
                element,
                width,
                rank,
                takes_missing: match element {
                    ElementType::F32 => missing::defined_for(graph, &input.name),
                    ElementType::Str => missing_category,
                    ElementType::I64 => false,
                },
                example: example(graph, &input.name, element, width),
            })
        })
        .collect()
}

/// The element type, width and rank of an input declared `[N]` or `[N, width]`.
fn signature(input: &ValueInfoProto) -> Result<(ElementType, usize, usize), LoadError> {
    let bad = |why: &str| {
        unsupported(format!(
            "input `{}` must be a float, int64 or string tensor [N, width] or [N]: {why}",
            input.name
        ))
    };
    let Some(type_proto::Value::TensorType(tensor)) =
        input.r#type.as_ref().and_then(|t| t.value.as_ref())
    else {
        return Err(bad("it is not a tensor"));
    };
    let element = match DataType::try_from(tensor.elem_type) {
        Ok(DataType::Float) => ElementType::F32,
        Ok(DataType::Int64) => ElementType::I64,
        Ok(DataType::String) => ElementType::Str,
        other => {
            let name = other.map(|d| d.as_str_name()).unwrap_or("an unknown type");
            return Err(bad(&format!("its element type is {name}")));
        }
    };
    let dims = tensor.shape.as_ref().map(|s| &s.dim[..]).unwrap_or(&[]);
    match dims {
        [_] => Ok((element, 1, 1)),
        [_, width] => match width.value {
            Some(Dim::DimValue(n)) if n > 0 => Ok((element, n as usize, 2)),
            _ => Err(bad("its feature dimension is not a fixed positive number")),
        },
        _ => Err(bad(&format!("it has {} dimensions", dims.len()))),
    }
}

/// One row for the input `name`: for a string or int64 input an encoder reads (through
/// [`PASS_THROUGH`] operators), the first category it lists, since an encoder told to
/// refuse unknown categories would fail on any other value; zeros (or empty strings)
/// otherwise.
fn example(graph: &GraphProto, name: &str, element: ElementType, width: usize) -> Column {
    let category = match element {
        ElementType::F32 => None,
        _ => encoder_of(&graph.node, name).and_then(|node| first_category(node, element)),
    };
    let values = match (element, category) {
        (ElementType::F32, _) => Values::F32(vec![0.0; width]),
        (ElementType::I64, Some(Category::Int(i))) => Values::I64(vec![i; width]),
        (ElementType::I64, _) => Values::I64(vec![0; width]),
        (ElementType::Str, Some(Category::Str(s))) => Values::Str(vec![s; width]),
        (ElementType::Str, _) => Values::Str(vec![String::new(); width]),
    };
    Column::new(values, width)
}

/// A category an encoder lists.
enum Category {
    Int(i64),
    Str(String),
}

/// The first node reading `name` that lists categories, following pass-through ops.
fn encoder_of<'g>(nodes: &'g [NodeProto], name: &str) -> Option<&'g NodeProto> {
    let lists =
        |node: &NodeProto| (node.attribute.iter()).any(|a| CATEGORIES.contains(&a.name.as_str()));
    let mut names = vec![name.to_string()];
    // Each step follows one more operator; a graph has no longer chain than its nodes.
    for _ in 0..=nodes.len() {
        let readers: Vec<&'g NodeProto> = (nodes.iter())
            .filter(|node| node.input.iter().any(|i| names.contains(i)))
            .collect();
        if let Some(encoder) = readers.iter().find(|node| lists(node)) {
            return Some(*encoder);
        }
        names = (readers.iter())
            .filter(|node| PASS_THROUGH.contains(&node.op_type.as_str()))
            .flat_map(|node| node.output.iter().cloned())
            .collect();
        if names.is_empty() {
            return None;
        }
    }
    None
}

/// The first category `node` lists of the input's element type.
fn first_category(node: &NodeProto, element: ElementType) -> Option<Category> {
    let attribute = |name: &str| node.attribute.iter().find(|a| a.name == name);
    match element {
        ElementType::Str => ["cats_strings", "keys_strings"]
            .iter()
            .find_map(|name| attribute(name)?.strings.first())
            .map(|s| Category::Str(String::from_utf8_lossy(s).into_owned())),
        _ => ["cats_int64s", "keys_int64s"]
            .iter()
            .find_map(|name| attribute(name)?.ints.first())
            .map(|&i| Category::Int(i)),
    }
}

#[cfg(test)]
mod tests {
    use super::super::fixtures::{bundled_proto, declare};
    use super::*;
    use tract_onnx::pb::AttributeProto;

    #[test]
    fn the_bundled_model_has_one_float_input_of_four_features() {
        let graph = bundled_proto().graph.unwrap();
        let inputs = inputs(&graph, false).unwrap();
        assert_eq!(inputs.len(), 1);
        let input = &inputs[0];
        assert_eq!(
            (input.name.as_str(), input.element, input.width, input.rank),
            ("input", ElementType::F32, 4, 2)
        );
        assert_eq!(input.example.values(), &Values::F32(vec![0.0; 4]));
    }

    #[test]
    fn int64_and_string_inputs_are_served_and_double_is_refused_by_name() {
        let mut proto = bundled_proto();
        let graph = proto.graph.as_mut().unwrap();
        declare(&mut graph.input[0], DataType::Int64);
        assert_eq!(inputs(graph, false).unwrap()[0].element, ElementType::I64);
        declare(&mut graph.input[0], DataType::String);
        assert_eq!(inputs(graph, false).unwrap()[0].element, ElementType::Str);
        // A string input takes a missing value only when the file names its category.
        assert!(!inputs(graph, false).unwrap()[0].takes_missing);
        assert!(inputs(graph, true).unwrap()[0].takes_missing);
        declare(&mut graph.input[0], DataType::Double);
        let err = inputs(graph, false).unwrap_err().to_string();
        assert!(err.contains("its element type is DOUBLE"), "{err}");
    }

    #[test]
    fn a_string_input_s_example_is_the_first_category_its_encoder_knows() {
        let reshape = NodeProto {
            op_type: "Reshape".into(),
            input: vec!["island".into(), "shape".into()],
            output: vec!["flat".into()],
            ..Default::default()
        };
        let encoder = NodeProto {
            op_type: "OneHotEncoder".into(),
            input: vec!["flat".into()],
            output: vec!["encoded".into()],
            attribute: vec![AttributeProto {
                name: "cats_strings".into(),
                strings: vec![b"Biscoe".to_vec(), b"Dream".to_vec()],
                ..Default::default()
            }],
            ..Default::default()
        };
        let graph = GraphProto {
            node: vec![reshape, encoder],
            ..Default::default()
        };
        let island = example(&graph, "island", ElementType::Str, 1);
        assert_eq!(island.values(), &Values::Str(vec!["Biscoe".into()]));
        let unread = example(&graph, "count", ElementType::I64, 2);
        assert_eq!(
            unread.values(),
            &Values::I64(vec![0, 0]),
            "no encoder: zeros"
        );
    }
}
