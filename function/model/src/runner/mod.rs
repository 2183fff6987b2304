//! What runs a prediction: our tree-ensemble op called directly when the graph is that
//! one node, tract's optimised plan for any other graph. [`crate::Model::predict`] only
//! dispatches here.

mod plan;

pub use plan::onnx_loader;
pub(crate) use plan::Plan;

use crate::batch::Batch;
use crate::error::PredictError;
use crate::info::ModelInfo;
use crate::prediction::Prediction;
use crate::tree_ensemble::TreeEnsemble;

/// What runs a prediction.
#[derive(Debug)]
pub(crate) enum Runner {
    /// The graph is one tree-ensemble node from the input straight to the outputs, or
    /// through `Identity` nodes that rename them (what the converter, skl2onnx's forests
    /// without ZipMap and onnxmltools' LightGBM regressors export): its op is called
    /// directly. tract's plan would only wrap the same call in tensors and run states,
    /// and building that plan is most of a start-up.
    TreeEnsemble(TreeEnsemble),
    /// tract's plan, with the run states of finished predictions.
    Plan(Plan),
}

impl Runner {
    /// Whether predictions go through tract's plan.
    pub(crate) fn is_plan(&self) -> bool {
        matches!(self, Runner::Plan(_))
    }

    /// Predicts every row of `batch`, rows as wide as `info` says.
    pub(crate) fn predict(
        &self,
        batch: &Batch,
        info: &ModelInfo,
    ) -> Result<Prediction, PredictError> {
        match self {
            Runner::TreeEnsemble(op) => {
                let values = batch
                    .single_f32()
                    .expect("the op runs alone only for a graph of one float input");
                Ok(op.predict(values, info.inputs[0].width)?)
            }
            Runner::Plan(plan) => plan.predict(batch, info),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use crate::{Batch, Labels, Model, Predicted, BUNDLED_MODEL};

    /// `n` rows of 4 features spread over Iris' ranges (a fixed sequence, no RNG).
    pub(crate) fn iris_like_rows(n: usize) -> Vec<f32> {
        let (low, span) = ([4.0, 2.0, 1.0, 0.1], [4.0, 2.5, 6.0, 2.5]);
        let mut state = 0x2545_f491_u32;
        (0..n * 4)
            .map(|i| {
                state ^= state << 13;
                state ^= state >> 17;
                state ^= state << 5;
                low[i % 4] + span[i % 4] * (state as f32 / u32::MAX as f32)
            })
            .collect()
    }

    #[test]
    fn the_tree_ensemble_run_directly_answers_as_tracts_plan() {
        let direct = Model::from_bytes(BUNDLED_MODEL).unwrap();
        let planned = Model::from_bytes_through_tract(BUNDLED_MODEL).unwrap();
        assert!(!direct.runs_through_tract());
        assert!(planned.runs_through_tract());
        let rows = iris_like_rows(500);
        let all = Batch::new(rows.clone(), 4);
        let answer = direct.predict(&all).unwrap();
        assert_eq!(answer, planned.predict(&all).unwrap());
        let Predicted::Labels(Labels::Int(labels)) = &answer.predicted else {
            panic!("the bundled model is a classifier")
        };
        let mut seen = labels.clone();
        seen.sort_unstable();
        seen.dedup();
        assert_eq!(seen, [0, 1, 2], "the rows reach every class");
        for row in rows.chunks(4).take(50) {
            let one = Batch::new(row.to_vec(), 4);
            assert_eq!(
                direct.predict(&one).unwrap(),
                planned.predict(&one).unwrap()
            );
        }
    }

    #[test]
    fn reused_run_states_answer_the_same_for_any_batch_size() {
        for model in [
            Model::from_bytes(BUNDLED_MODEL).unwrap(),
            Model::from_bytes_through_tract(BUNDLED_MODEL).unwrap(),
        ] {
            answers_the_same_for_any_batch_size(&model);
        }
    }

    /// Rows predicted one by one, then together twice, get the same answers.
    fn answers_the_same_for_any_batch_size(model: &Model) {
        let rows = [
            [5.1, 3.5, 1.4, 0.2],
            [6.0, 2.9, 4.5, 1.5],
            [6.7, 3.0, 5.2, 2.3],
        ];
        let all = model.predict(&Batch::new(rows.concat(), 4)).unwrap();
        let Predicted::Labels(Labels::Int(labels)) = &all.predicted else {
            panic!("the bundled model is a classifier")
        };
        let probabilities = all.probabilities.as_ref().unwrap();
        for (i, row) in rows.iter().enumerate() {
            let one = model.predict(&Batch::new(row.to_vec(), 4)).unwrap();
            assert_eq!(
                one.predicted,
                Predicted::Labels(Labels::Int(vec![labels[i]]))
            );
            assert_eq!(
                one.probabilities.unwrap(),
                probabilities[i * 3..(i + 1) * 3]
            );
        }
        assert_eq!(model.predict(&Batch::new(rows.concat(), 4)).unwrap(), all);
    }
}
