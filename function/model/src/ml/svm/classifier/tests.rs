//! SVMClassifier's behaviours, one each, with expected values worked out by hand from
//! onnxruntime's `svmclassifier.cc` (votes, ChooseClass, the score layouts).

use tract_onnx::pb::AttributeProto;

use super::super::super::testing::{floats, ints, node, run, string, two_class_svm};
use super::*;

fn classifier(attributes: Vec<AttributeProto>) -> TractResult<SvmClassifier> {
    let node = node("SVMClassifier", attributes);
    SvmClassifier::new(&Attributes::of("SVMClassifier", &node))
}

/// `testing::two_class_svm` with `extra` attributes.
fn two_classes(extra: Vec<AttributeProto>) -> SvmClassifier {
    let mut attributes = two_class_svm();
    attributes.extend(extra);
    classifier(attributes).unwrap()
}

fn labels_and_scores(classifier: &SvmClassifier, x: Tensor) -> (Tensor, Tensor) {
    let mut out = run(classifier, vec![x]).unwrap();
    let scores = out.remove(1);
    (out.remove(0), scores)
}

fn close(got: &Tensor, want: &[f32]) -> bool {
    let got = tensors::slice::<f32>(got).unwrap();
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-5)
}

#[test]
fn two_classes_vote_by_the_sign_of_the_decision_and_score_minus_s_and_s() {
    let classifier = two_classes(vec![]);
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[2.0f32], [-2.0]]));
    // Row 1: 2.1 > 0 votes for class 0; row 2: -1.9 votes for class 1.
    assert_eq!(labels, tensor1(&[10i64, 20]));
    assert!(close(&scores, &[-2.1, 2.1, 1.9, -1.9]), "{scores:?}");
}

#[test]
fn two_classes_with_a_post_transform_score_one_minus_s_and_s_untransformed() {
    let classifier = two_classes(vec![string("post_transform", "LOGISTIC")]);
    let (_, scores) = labels_and_scores(&classifier, tensor2(&[[2.0f32]]));
    assert!(close(&scores, &[1.0 - 2.1, 2.1]), "{scores:?}");
}

#[test]
fn two_classes_with_platt_parameters_score_probabilities_and_keep_the_vote() {
    let platt = vec![floats("prob_a", vec![-2.0]), floats("prob_b", vec![0.5])];
    let classifier = two_classes(platt);
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[2.0f32]]));
    // Decision 2.1; P(class 0) = 1 - logistic(-2 * 2.1 + 0.5) = 1 - logistic(-3.7).
    let p0 = 1.0 - 1.0 / (1.0 + 3.7f32.exp());
    let p = tensors::slice::<f32>(&scores).unwrap();
    assert!(
        (p[0] - p0).abs() < 1e-2 && (p[0] + p[1] - 1.0).abs() < 1e-5,
        "{p:?}"
    );
    assert_eq!(labels, tensor1(&[10i64]));
}

#[test]
fn three_classes_take_the_most_voted_class_and_score_each_pair() {
    // Vectors [1], [2], [3], one per class, linear kernel: kernels for row [1] are
    // 1, 2, 3. Pair (0, 1): 1 * 1 - 1 * 2 + 0 = -1 -> class 1; pair (0, 2):
    // 1 * 1 + 1 * 3 - 10 = -6 -> class 2; pair (1, 2): 1 * 2 - 1 * 3 + 0 = -1 -> class 2.
    let classifier = classifier(vec![
        ints("classlabels_ints", vec![0, 1, 2]),
        ints("vectors_per_class", vec![1, 1, 1]),
        floats("support_vectors", vec![1.0, 2.0, 3.0]),
        floats("coefficients", vec![1.0, -1.0, 1.0, 1.0, 1.0, -1.0]),
        floats("rho", vec![0.0, -10.0, 0.0]),
    ])
    .unwrap();
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32]]));
    assert_eq!(labels, tensor1(&[2i64]));
    assert!(close(&scores, &[-1.0, -6.0, -1.0]), "{scores:?}");
}

#[test]
fn without_support_vectors_each_class_has_a_linear_score_plus_rho0() {
    let classifier = classifier(vec![
        ints("classlabels_ints", vec![7, 8, 9]),
        floats("coefficients", vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0]),
        floats("rho", vec![0.5]),
    ])
    .unwrap();
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32, 2.0]]));
    // [1, 2] . rows + 0.5: 1.5, 2.5, -2.5
    assert_eq!(labels, tensor1(&[8i64]));
    assert!(close(&scores, &[1.5, 2.5, -2.5]), "{scores:?}");
}

#[test]
fn two_linear_classes_with_mixed_weights_take_the_second_on_any_positive_score() {
    // onnxruntime's ChooseClass: the best score is class 0's (2 > -2), but it is
    // positive and some weight is negative, so the label is the second class.
    let classifier = classifier(vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0, 0.0, -1.0, 0.0]),
        floats("rho", vec![0.0]),
    ])
    .unwrap();
    let (labels, _) = labels_and_scores(&classifier, tensor2(&[[2.0f32, 0.0], [-2.0, 0.0]]));
    // Row 2: the best score is class 1's, 2 > 0, so class 1 again.
    assert_eq!(labels, tensor1(&[1i64, 1]));
}

#[test]
fn attributes_of_the_wrong_length_are_refused_naming_them() {
    let err = classifier(vec![
        ints("classlabels_ints", vec![0, 1]),
        ints("vectors_per_class", vec![1, 1]),
        floats("support_vectors", vec![1.0, -1.0]),
        floats("coefficients", vec![0.5, -0.5]),
        floats("rho", vec![0.1, 0.2]),
    ])
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        "SVMClassifier `n`: attribute rho has 2 values; it needs 1 (one per pair of classes)"
    );
    let err = classifier(vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0, 2.0, 3.0]),
        floats("rho", vec![0.0]),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .contains("attribute coefficients has 3 values"),
        "{err}"
    );
}

#[test]
fn an_unknown_kernel_is_refused_naming_the_accepted_ones() {
    let err = classifier(vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0, 2.0]),
        floats("rho", vec![0.0]),
        string("kernel_type", "CUBIC"),
    ])
    .unwrap_err();
    assert!(
        err.to_string()
            .ends_with("accepted: LINEAR, POLY, RBF, SIGMOID"),
        "{err}"
    );
}

#[test]
fn rows_of_another_width_are_refused_at_load() {
    let classifier = two_classes(vec![]);
    let input = f32::fact([TDim::from(1), TDim::from(3)]);
    let err = classifier.output_facts(&[&input]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "SVMClassifier `n`: rows have 3 features, the model 1"
    );
}
