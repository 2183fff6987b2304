//! Class probabilities from one-vs-one decision values, as onnxruntime's `ml_common.h`
//! computes them (after libsvm, and Wu, Lin and Weng's "Probability estimates for
//! multi-class classification by pairwise coupling"): Platt's sigmoid per pair
//! (`sigmoid_probability`), then the coupling iteration (`multiclass_probability`), in
//! single precision.

use crate::tree_ensemble::logistic;

/// Platt's estimate that a pair's first class wins, from its decision value.
pub fn sigmoid(score: f32, a: f32, b: f32) -> f32 {
    1.0 - logistic(score * a + b)
}

/// The `k` class probabilities from the pairwise ones, `r[i * k + j]` the probability
/// that class `i` beats class `j` (diagonal unused).
pub fn coupled(k: usize, r: &[f32]) -> Vec<f32> {
    let mut q = vec![0.0f32; k * k];
    let mut qp = vec![0.0f32; k];
    let mut p = vec![1.0 / k as f32; k];
    let eps = 0.005 / k as f32;
    for i in 0..k {
        for j in 0..i {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = q[j * k + i];
        }
        for j in i + 1..k {
            q[i * k + i] += r[j * k + i] * r[j * k + i];
            q[i * k + j] = -r[j * k + i] * r[i * k + j];
        }
    }
    for _ in 0..100 {
        // Stopping condition, with Qp and pQp recomputed for accuracy.
        let mut pqp = 0.0f32;
        for i in 0..k {
            qp[i] = (0..k)
                .map(|j| q[i * k + j] * p[j])
                .fold(0.0, |sum, v| sum + v);
            pqp += p[i] * qp[i];
        }
        let max_error = qp.iter().map(|&v| (v - pqp).abs()).fold(0.0f32, f32::max);
        if max_error < eps {
            break;
        }
        for i in 0..k {
            let diff = (-qp[i] + pqp) / q[i * k + i];
            p[i] += diff;
            pqp = (pqp + diff * (diff * q[i * k + i] + 2.0 * qp[i])) / (1.0 + diff) / (1.0 + diff);
            for j in 0..k {
                qp[j] = (qp[j] + diff * q[i * k + j]) / (1.0 + diff);
                p[j] /= 1.0 + diff;
            }
        }
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platt_sigmoid_is_one_minus_the_logistic_of_the_scaled_score() {
        // a * s + b = -2 * 1.5 + 1 = -2; 1 - 1 / (1 + e^2)
        let expected = 1.0 - 1.0 / (1.0 + 2.0f32.exp());
        assert!((sigmoid(1.5, -2.0, 1.0) - expected).abs() < 1e-6);
    }

    #[test]
    fn two_classes_couple_to_the_pairwise_probability() {
        // With two classes the fixed point is p = [r01, r10]; the iteration stops once
        // |Qp - pQp| < 0.005 / k, within about 0.01 of it.
        let r = [0.0, 0.8, 0.2, 0.0];
        let p = coupled(2, &r);
        assert!(
            (p[0] - 0.8).abs() < 1e-2 && (p[1] - 0.2).abs() < 1e-2,
            "{p:?}"
        );
    }

    #[test]
    fn consistent_pairwise_probabilities_couple_to_the_class_probabilities() {
        // Classes with probabilities 0.5, 0.3, 0.2 beat each other with
        // r_ij = p_i / (p_i + p_j), which the coupling recovers.
        let truth = [0.5f32, 0.3, 0.2];
        let mut r = [0.0f32; 9];
        for i in 0..3 {
            for j in 0..3 {
                if i != j {
                    r[i * 3 + j] = truth[i] / (truth[i] + truth[j]);
                }
            }
        }
        let p = coupled(3, &r);
        for (got, want) in p.iter().zip(truth) {
            assert!((got - want).abs() < 2e-2, "{p:?}");
        }
        assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-4, "{p:?}");
    }
}
