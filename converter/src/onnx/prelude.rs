//! The graph's preprocessing when it takes one input per CSV column, as skl2onnx exports
//! a `ColumnTransformer`: numeric inputs (float `[N, 1]`) are concatenated and their NaN
//! replaced by the training means (`ai.onnx.ml` Imputer); each categorical input
//! (string `[N, 1]`) is one-hot encoded (`ai.onnx.ml` OneHotEncoder, `zeros` = 1 so an
//! unseen category is a row of zeros) and reshaped to `[N, categories]`; one `Concat`
//! makes the features the model reads. A missing category is the empty string, which
//! the file names under `missing_category` so that the function takes `null` for it.
//! Internal names start with `~`, which keeps them apart from column names in practice;
//! a clash is refused at export.

use tract_onnx::pb::{tensor_proto::DataType, NodeProto, TensorProto, ValueInfoProto};

use super::{float, floats, int, strings, tensor_info, ML_DOMAIN};
use crate::data::Table;
use crate::train::encoding::{category_names, Encoded, Encoding};

/// Name of the features the model node reads after the preprocessing.
pub const FEATURES: &str = "~features";

/// The graph's inputs, the preprocessing nodes and their constant tensors.
pub struct Prelude {
    /// One input per column of the table, named as the column.
    pub inputs: Vec<ValueInfoProto>,
    /// Nodes from the inputs to [`FEATURES`].
    pub nodes: Vec<NodeProto>,
    /// The shapes the one-hot blocks are reshaped to.
    pub initializers: Vec<TensorProto>,
    /// Whether some input is a categorical column (a string input).
    pub categorical: bool,
}

/// The preprocessing of `encoding` over the columns of `table`. Errors when a column's
/// name is one of the internal names.
pub fn prelude(encoding: &Encoding, table: &Table) -> Result<Prelude, String> {
    if let Some(name) = table.feature_names.iter().find(|n| n.starts_with('~')) {
        return Err(format!(
            "column `{name}` starts with `~`, which the exported graph keeps for its own \
             tensors; rename the column"
        ));
    }
    let inputs = (table.columns.iter())
        .map(|c| {
            let element = if c.is_categorical() {
                DataType::String
            } else {
                DataType::Float
            };
            tensor_info(&c.name, element, &[None, Some(1)])
        })
        .collect();
    let mut nodes = Vec::new();
    let mut initializers = Vec::new();
    let mut blocks = Vec::new();
    let numeric: Vec<(usize, f32)> = (encoding.columns.iter())
        .filter_map(|e| match e {
            Encoded::Numeric { column, fill } => Some((*column, *fill)),
            Encoded::Categorical { .. } => None,
        })
        .collect();
    if !numeric.is_empty() {
        let names = numeric.iter().map(|&(c, _)| table.feature_names[c].clone());
        nodes.push(node(
            "Concat",
            "",
            names.collect(),
            "~numeric",
            vec![int("axis", 1)],
        ));
        nodes.push(node(
            "Imputer",
            ML_DOMAIN,
            vec!["~numeric".into()],
            "~imputed",
            vec![
                floats(
                    "imputed_value_floats",
                    numeric.iter().map(|&(_, f)| f).collect(),
                ),
                float("replaced_value_float", f32::NAN),
            ],
        ));
        blocks.push("~imputed".to_string());
    }
    for encoded in &encoding.columns {
        let Encoded::Categorical { column, categories } = encoded else {
            continue;
        };
        let name = &table.feature_names[*column];
        let all = category_names(&table.columns[*column]);
        let one_hot = format!("~onehot:{name}");
        let flat = format!("~flat:{name}");
        let shape = format!("~shape:{name}");
        nodes.push(node(
            "OneHotEncoder",
            ML_DOMAIN,
            vec![name.clone()],
            &one_hot,
            vec![
                strings(
                    "cats_strings",
                    categories.iter().map(|&c| all[c].as_str()).collect(),
                ),
                int("zeros", 1),
            ],
        ));
        initializers.push(TensorProto {
            name: shape.clone(),
            dims: vec![2],
            data_type: DataType::Int64 as i32,
            int64_data: vec![-1, categories.len() as i64],
            ..TensorProto::default()
        });
        nodes.push(node("Reshape", "", vec![one_hot, shape], &flat, vec![]));
        blocks.push(flat);
    }
    nodes.push(node("Concat", "", blocks, FEATURES, vec![int("axis", 1)]));
    Ok(Prelude {
        inputs,
        nodes,
        initializers,
        categorical: table.columns.iter().any(|c| c.is_categorical()),
    })
}

fn node(
    op_type: &str,
    domain: &str,
    input: Vec<String>,
    output: &str,
    attribute: Vec<tract_onnx::pb::AttributeProto>,
) -> NodeProto {
    NodeProto {
        input,
        output: vec![output.to_string()],
        name: output.to_string(),
        op_type: op_type.to_string(),
        domain: domain.to_string(),
        attribute,
        ..NodeProto::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{ClassLabels, FeatureColumn};
    use ndarray::array;

    fn table(names: [&str; 2]) -> Table {
        Table {
            records: array![[1.0, f32::NAN], [2.0, 3.0]],
            targets: vec![0, 1],
            values: vec![],
            columns: names.map(FeatureColumn::numeric).to_vec(),
            feature_names: names.map(String::from).to_vec(),
            class_names: vec!["a".into(), "b".into()],
            labels: ClassLabels::Int(vec![0, 1]),
        }
    }

    #[test]
    fn numeric_columns_are_concatenated_then_imputed_with_their_training_means() {
        let t = table(["x", "y"]);
        let prelude = prelude(&Encoding::fit(&t), &t).unwrap();
        let ops: Vec<&str> = prelude.nodes.iter().map(|n| n.op_type.as_str()).collect();
        assert_eq!(ops, ["Concat", "Imputer", "Concat"]);
        assert_eq!(prelude.nodes[0].input, ["x", "y"]);
        let imputed = &prelude.nodes[1].attribute[0];
        assert_eq!(imputed.floats, [1.5, 3.0]);
        assert!(!prelude.categorical);
    }

    #[test]
    fn a_column_named_like_an_internal_tensor_is_refused() {
        let t = table(["x", "~features"]);
        let e = prelude(&Encoding::fit(&t), &t).err().unwrap();
        assert!(e.contains("column `~features` starts with `~`"), "{e}");
    }
}
