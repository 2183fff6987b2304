//! LinearClassifier's behaviours, one each, with expected values worked out by hand from
//! onnxruntime's `linearclassifier.cc` and `ml_common.h`; and a property test against a
//! plain reference and tract's own expansion of the operator.

use tract_onnx::pb::tensor_proto::DataType;
use tract_onnx::pb::AttributeProto;

use super::super::super::testing::{floats, ints, model, node, run, string, strings, value, wired};
use super::super::probit;
use super::*;
use crate::tree_ensemble::logistic;

fn classifier(attributes: Vec<AttributeProto>) -> TractResult<LinearClassifier> {
    let node = node("LinearClassifier", attributes);
    LinearClassifier::new(&Attributes::of("LinearClassifier", &node))
}

/// Three classes over two features: scores `x0 + 1`, `x1`, `-x0 - x1`.
fn three_classes(extra: Vec<AttributeProto>) -> LinearClassifier {
    let mut attributes = vec![
        ints("classlabels_ints", vec![10, 20, 30]),
        floats("coefficients", vec![1.0, 0.0, 0.0, 1.0, -1.0, -1.0]),
        floats("intercepts", vec![1.0, 0.0, 0.0]),
    ];
    attributes.extend(extra);
    classifier(attributes).unwrap()
}

/// One coefficient row over one feature: score `2 * x0 - 1`.
fn one_row(extra: Vec<AttributeProto>) -> LinearClassifier {
    let mut attributes = vec![
        floats("coefficients", vec![2.0]),
        floats("intercepts", vec![-1.0]),
    ];
    attributes.extend(extra);
    classifier(attributes).unwrap()
}

fn labels_and_scores(classifier: &LinearClassifier, x: Tensor) -> (Tensor, Vec<f32>) {
    let mut out = run(classifier, vec![x]).unwrap();
    let scores = tensors::slice::<f32>(&out[1]).unwrap().to_vec();
    (out.remove(0), scores)
}

fn close(got: &[f32], want: &[f32]) -> bool {
    got.len() == want.len() && got.iter().zip(want).all(|(g, w)| (g - w).abs() < 1e-6)
}

#[test]
fn the_label_is_the_first_best_score_and_none_keeps_the_scores() {
    let classifier = three_classes(vec![]);
    let x = tensor2(&[[1.0f32, 2.0], [-3.0, -1.0], [1.0, 2.0]]);
    let (labels, scores) = labels_and_scores(&classifier, x);
    // [2, 2, -3] (a tie: the first), [-2, -1, 4].
    assert_eq!(labels, tensor1(&[10i64, 30, 10]));
    assert_eq!(&scores[..6], [2.0, 2.0, -3.0, -2.0, -1.0, 4.0]);
}

#[test]
fn logistic_transforms_each_score_after_the_label_is_chosen() {
    let classifier = three_classes(vec![string("post_transform", "LOGISTIC")]);
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[-3.0f32, -1.0]]));
    assert_eq!(labels, tensor1(&[30i64]));
    assert!(
        close(&scores, &[-2.0, -1.0, 4.0].map(logistic)),
        "{scores:?}"
    );
}

#[test]
fn softmax_makes_each_row_sum_to_one() {
    let classifier = three_classes(vec![string("post_transform", "SOFTMAX")]);
    let (_, scores) = labels_and_scores(&classifier, tensor2(&[[-3.0f32, -1.0]]));
    let e = [-6.0f32, -5.0, 0.0].map(f32::exp);
    let sum: f32 = e.iter().sum();
    assert!(close(&scores, &e.map(|e| e / sum)), "{scores:?}");
}

#[test]
fn softmax_zero_leaves_zero_scores_at_zero() {
    let classifier = three_classes(vec![string("post_transform", "SOFTMAX_ZERO")]);
    // Scores [2, 0, -1]: the 0 stays 0 * exp(-2).
    let (_, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32, 0.0]]));
    let (a, c) = (1.0f32, (-3.0f32).exp());
    assert!(
        close(&scores, &[a / (a + c), 0.0, c / (a + c)]),
        "{scores:?}"
    );
}

#[test]
fn probit_transforms_each_score() {
    let classifier = three_classes(vec![string("post_transform", "PROBIT")]);
    let (_, scores) = labels_and_scores(&classifier, tensor2(&[[-0.5f32, 0.25]]));
    // Scores [0.5, 0.25, 0.25].
    assert!(
        close(&scores, &[0.0, probit(0.25), probit(0.25)]),
        "{scores:?}"
    );
}

#[test]
fn one_row_and_two_labels_score_one_minus_s_and_s_unless_logistic() {
    for post in ["NONE", "SOFTMAX", "SOFTMAX_ZERO"] {
        let labels = ints("classlabels_ints", vec![4, 7]);
        let classifier = one_row(vec![labels, string("post_transform", post)]);
        let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32], [0.25]]));
        // Scores 1 (above 0: the second label) and -0.5.
        assert_eq!(labels, tensor1(&[7i64, 4]), "{post}");
        assert_eq!(scores, [0.0, 1.0, 1.5, -0.5], "{post}");
    }
}

#[test]
fn one_row_and_two_labels_under_logistic_score_the_logistic_of_minus_s_and_s() {
    let labels = ints("classlabels_ints", vec![4, 7]);
    let classifier = one_row(vec![labels, string("post_transform", "LOGISTIC")]);
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32], [0.25]]));
    assert_eq!(labels, tensor1(&[7i64, 4]));
    let want = [logistic(-1.0), logistic(1.0), logistic(0.5), logistic(-0.5)];
    assert!(close(&scores, &want), "{scores:?}");
}

#[test]
fn one_row_and_two_string_labels_pick_by_the_sign() {
    let classifier = one_row(vec![strings("classlabels_strings", &["no", "yes"])]);
    let (labels, _) = labels_and_scores(&classifier, tensor2(&[[0.5f32], [0.75]]));
    // A score of exactly 0 is not above 0.
    assert_eq!(labels, tensor1(&["no".to_string(), "yes".into()]));
}

#[test]
fn one_row_without_two_labels_answers_0_or_1_and_one_score() {
    let classifier = one_row(vec![string("post_transform", "LOGISTIC")]);
    let (labels, scores) = labels_and_scores(&classifier, tensor2(&[[1.0f32], [0.0]]));
    assert_eq!(labels, tensor1(&[1i64, 0]));
    assert_eq!(scores, [1.0, -1.0], "LOGISTIC leaves a lone score");
    let probit = one_row(vec![string("post_transform", "PROBIT")]);
    let (_, scores) = labels_and_scores(&probit, tensor2(&[[0.75f32]]));
    assert_eq!(scores, [0.0]);
}

#[test]
fn integer_input_and_a_vector_of_one_row_are_read() {
    let classifier = three_classes(vec![]);
    let (labels, scores) = labels_and_scores(&classifier, tensor1(&[-3i32, -1]));
    assert_eq!(labels, tensor1(&[30i64]));
    assert_eq!(scores, [-2.0, -1.0, 4.0]);
}

#[test]
fn one_row_with_labels_not_two_and_both_label_lists_are_refused() {
    let three = classifier(vec![
        strings("classlabels_strings", &["a", "b", "c"]),
        floats("coefficients", vec![1.0]),
        floats("intercepts", vec![0.0]),
    ]);
    let err = three.unwrap_err().to_string();
    assert!(
        err.contains("lists 3 labels for one coefficient row"),
        "{err}"
    );
    let both = classifier(vec![
        ints("classlabels_ints", vec![0, 1]),
        strings("classlabels_strings", &["a", "b"]),
        floats("coefficients", vec![1.0; 2]),
        floats("intercepts", vec![0.0; 2]),
    ]);
    let err = both.unwrap_err().to_string();
    assert!(err.contains("are both given"), "{err}");
}

#[test]
fn probit_with_one_row_and_two_labels_is_refused() {
    let attributes = vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0]),
        floats("intercepts", vec![0.0]),
        string("post_transform", "PROBIT"),
    ];
    let err = classifier(attributes).unwrap_err().to_string();
    assert!(
        err.starts_with("LinearClassifier `n`: attribute post_transform is PROBIT"),
        "{err}"
    );
}

#[test]
fn fewer_labels_than_classes_and_missing_intercepts_are_refused() {
    let attributes = vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0; 3]),
        floats("intercepts", vec![0.0; 3]),
    ];
    let err = classifier(attributes).unwrap_err().to_string();
    assert!(err.contains("lists 2 labels for 3 classes"), "{err}");
    let attributes = vec![
        ints("classlabels_ints", vec![0, 1]),
        floats("coefficients", vec![1.0; 2]),
    ];
    let err = classifier(attributes).unwrap_err().to_string();
    assert!(
        err.contains("attribute intercepts is missing or empty"),
        "{err}"
    );
}

#[test]
fn coefficients_for_another_width_are_refused_at_load() {
    let classifier = three_classes(vec![]);
    let input = f32::fact([TDim::from(4), TDim::from(3)]);
    let err = classifier.output_facts(&[&input]).unwrap_err();
    assert_eq!(
        err.to_string(),
        "LinearClassifier `n`: rows have 3 features, the coefficients 2"
    );
}

/// A splitmix64 stream: reproducible random coefficients without a dependency.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f32 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^= z >> 31;
        // Uniform in [-2, 2).
        (z >> 40) as f32 / (1u64 << 24) as f32 * 4.0 - 2.0
    }

    fn vec(&mut self, n: usize) -> Vec<f32> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// The scores and label index of one row, straight from the operator's definition.
fn reference(x: &[f32], w: &[f32], b: &[f32], post: &str) -> (usize, Vec<f32>) {
    let mut s: Vec<f32> = (w.chunks(x.len()).zip(b))
        .map(|(w, b)| x.iter().zip(w).map(|(x, w)| x * w).sum::<f32>() + b)
        .collect();
    let best = (0..s.len()).fold(0, |best, i| if s[i] > s[best] { i } else { best });
    match post {
        "LOGISTIC" => s.iter_mut().for_each(|v| *v = 1.0 / (1.0 + (-*v).exp())),
        "SOFTMAX" => {
            let total: f32 = s.iter().map(|v| v.exp()).sum();
            s.iter_mut().for_each(|v| *v = v.exp() / total);
        }
        _ => {}
    }
    (best, s)
}

/// Random models of 2 to 5 classes over 1 to 8 features, on random rows: ours against
/// the reference, and against tract's expansion of the operator, which our loader
/// replaces.
#[test]
fn random_models_agree_with_the_reference_and_with_tracts_expansion() {
    let mut random = Random(18);
    for case in 0..60 {
        let (classes, features, rows) = (2 + case % 4, 1 + case % 8, 1 + case % 5);
        let post = ["NONE", "LOGISTIC", "SOFTMAX"][case % 3];
        let (w, b, x) = (
            random.vec(classes * features),
            random.vec(classes),
            random.vec(rows * features),
        );
        let labels: Vec<i64> = (0..classes as i64).map(|c| c * 3).collect();
        let attributes = vec![
            ints("classlabels_ints", labels.clone()),
            floats("coefficients", w.clone()),
            floats("intercepts", b.clone()),
            string("post_transform", post),
        ];
        let ours = classifier(attributes.clone()).unwrap();
        let input = tract_ndarray::Array2::from_shape_vec((rows, features), x.clone()).unwrap();
        let (got_labels, got_scores) = labels_and_scores(&ours, input.clone().into_tensor());
        for (r, row) in x.chunks(features).enumerate() {
            let (best, want) = reference(row, &w, &b, post);
            let got = &got_scores[r * classes..][..classes];
            assert!(
                got.iter().zip(&want).all(|(g, w)| (g - w).abs() < 1e-5),
                "case {case}: {got:?} {want:?}"
            );
            assert_eq!(
                tensors::slice::<i64>(&got_labels).unwrap()[r],
                labels[best],
                "case {case}"
            );
        }
        let graph = model(
            vec![wired("LinearClassifier", &["x"], &["y", "z"], attributes)],
            vec![value(
                "x",
                DataType::Float,
                &[Some(rows as i64), Some(features as i64)],
            )],
            vec![
                value("y", DataType::Int64, &[Some(rows as i64)]),
                value(
                    "z",
                    DataType::Float,
                    &[Some(rows as i64), Some(classes as i64)],
                ),
            ],
            vec![],
            1,
        );
        let tract = tract_onnx::onnx()
            .model_for_proto_model(&graph)
            .and_then(|m| m.into_optimized()?.into_runnable())
            .unwrap();
        let out = tract.run(tvec!(input.into_tensor().into_tvalue())).unwrap();
        let theirs = tensors::slice::<f32>(&out[1]).unwrap();
        assert!(
            theirs
                .iter()
                .zip(&got_scores)
                .all(|(t, g)| (t - g).abs() < 1e-5),
            "case {case}: {theirs:?} {got_scores:?}"
        );
        assert_eq!(
            out[0].cast_to::<i64>().unwrap().as_ref(),
            &got_labels,
            "case {case}"
        );
    }
}
