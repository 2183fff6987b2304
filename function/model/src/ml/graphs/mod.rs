//! Small hand-built graphs around each operator, as skl2onnx wires them, loaded and
//! run: as the function serves a model (one float input) in `numeric`, through tract's
//! loader when an input is strings (which the function cannot take yet) in `strings`;
//! the standard operators wired around them in `standard`. Expected answers are worked
//! out by hand in each test.

mod numeric;
mod standard;
mod strings;

use crate::runner::onnx_loader;

/// Every standard operator skl2onnx 1.20 and onnxmltools 1.16 wire around the ml
/// operators of tabular models (casts, reshapes, concatenations, the linear algebra of
/// linear models, SVM one-vs-rest scores, softmax and sigmoid heads, the string
/// imputer's Where...), and the ml operators themselves.
const OPERATORS_OF_TABULAR_EXPORTS: [&str; 56] = [
    "Abs",
    "Add",
    "And",
    "ArgMax",
    "ArgMin",
    "Cast",
    "CastLike",
    "Clip",
    "Concat",
    "Constant",
    "ConstantOfShape",
    "Div",
    "Equal",
    "Exp",
    "Expand",
    "Flatten",
    "Gather",
    "GatherElements",
    "Gemm",
    "Greater",
    "Identity",
    "Less",
    "Log",
    "MatMul",
    "Max",
    "Min",
    "Mul",
    "Neg",
    "Not",
    "Or",
    "Pow",
    "ReduceLogSumExp",
    "ReduceMax",
    "ReduceMean",
    "ReduceSum",
    "Reshape",
    "Shape",
    "Sigmoid",
    "Sign",
    "Slice",
    "Softmax",
    "Split",
    "Sqrt",
    "Squeeze",
    "Sub",
    "Sum",
    "Tile",
    "TopK",
    "Transpose",
    "Unsqueeze",
    "Where",
    "LinearClassifier",
    "LinearRegressor",
    "Normalizer",
    "CategoryMapper",
    "TreeEnsemble",
];

#[test]
fn every_operator_tabular_exports_use_is_in_the_loader() {
    let onnx = onnx_loader();
    let ml = [
        "ArrayFeatureExtractor",
        "Binarizer",
        "FeatureVectorizer",
        "Imputer",
        "LabelEncoder",
        "OneHotEncoder",
        "Scaler",
        "SVMClassifier",
        "SVMRegressor",
        "TreeEnsembleClassifier",
        "TreeEnsembleRegressor",
    ];
    let missing: Vec<&str> = (OPERATORS_OF_TABULAR_EXPORTS.iter().chain(&ml))
        .filter(|op| !onnx.op_register.0.contains_key(**op))
        .copied()
        .collect();
    assert!(missing.is_empty(), "not in tract's loader: {missing:?}");
}
