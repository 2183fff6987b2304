//! Running a graph through tract: the ONNX loader with our tree-ensemble ops, the
//! optimised plan with a symbolic batch, the run states it reuses, one tensor per input
//! fed in, and its output tensors turned into a [`Prediction`].

use std::sync::{Arc, Mutex};

use tract_onnx::pb::ModelProto;
use tract_onnx::prelude::*;

use crate::batch::{Batch, Column, Values};
use crate::error::PredictError;
use crate::info::{ElementType, InputInfo, ModelInfo, Task};
use crate::prediction::{Labels, Predicted, Prediction};
use crate::tree_ensemble;

/// Most run states kept for reuse; more only happen under more concurrent predictions.
const MAX_IDLE_STATES: usize = 64;

/// tract's ONNX loader with our tree-ensemble ops in place of tract's, and the other
/// `ai.onnx.ml` operators it lacks: every model the function or the converter loads
/// goes through this.
pub fn onnx_loader() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    tree_ensemble::register(&mut onnx.op_register);
    crate::ml::register(&mut onnx.op_register);
    onnx
}

/// tract's plan, with the run states of finished predictions. Making a state for every
/// run costs about as much as predicting one row with the whole forest, so predictions
/// borrow one from here (see BENCHMARKS.md, "The tree ensemble called directly, without
/// tract's plan").
#[derive(Debug)]
pub(crate) struct Plan {
    plan: Arc<TypedSimplePlan>,
    idle_states: Mutex<Vec<TypedSimpleState>>,
}

impl Plan {
    /// Lets tract parse the graph with the batch dimension symbolic, one `N` shared by
    /// every input, each input of its element type and width, then optimise it.
    pub(crate) fn optimise(
        onnx: &tract_onnx::Onnx,
        proto: &ModelProto,
        inputs: &[InputInfo],
    ) -> TractResult<Plan> {
        let mut model = onnx.model_for_proto_model(proto)?;
        let batch = model.symbols.sym("N").to_dim();
        for (i, input) in inputs.iter().enumerate() {
            let datum_type = match input.element {
                ElementType::F32 => f32::datum_type(),
                ElementType::I64 => i64::datum_type(),
                ElementType::Str => String::datum_type(),
            };
            let fact = match input.rank {
                1 => datum_type.fact([batch.clone()]),
                _ => datum_type.fact([batch.clone(), input.width.to_dim()]),
            };
            model.set_input_fact(i, fact.into())?;
        }
        model.analyse(false)?;
        Ok(Plan {
            plan: model.into_optimized()?.into_runnable()?,
            idle_states: Mutex::new(Vec::new()),
        })
    }

    /// The optimised graph, for the checks of its outputs.
    pub(crate) fn model(&self) -> &TypedModel {
        self.plan.model()
    }

    /// Runs `batch` through the plan, in a run state an earlier prediction left.
    pub(crate) fn predict(
        &self,
        batch: &Batch,
        info: &ModelInfo,
    ) -> Result<Prediction, PredictError> {
        let inputs = (batch.columns().iter().zip(&info.inputs))
            .map(|(column, input)| tensor(column, input, batch.rows()))
            .collect::<TractResult<TVec<TValue>>>()?;
        let idle = self.idle_states.lock().ok().and_then(|mut idle| idle.pop());
        let mut state = match idle {
            Some(state) => state,
            None => self.plan.spawn()?,
        };
        let outputs = state.run(inputs)?;
        if let Ok(mut idle) = self.idle_states.lock() {
            if idle.len() < MAX_IDLE_STATES {
                idle.push(state);
            }
        }
        let first = &outputs[0];
        let predicted = match info.task {
            Task::Regressor { targets } => Predicted::Values {
                values: first
                    .cast_to::<f32>()?
                    .try_as_plain_ram()?
                    .as_slice::<f32>()?
                    .to_vec(),
                targets,
            },
            Task::Classifier { .. } if first.datum_type() == String::datum_type() => {
                Predicted::Labels(Labels::Str(
                    first.try_as_plain_ram()?.as_slice::<String>()?.to_vec(),
                ))
            }
            Task::Classifier { .. } => Predicted::Labels(Labels::Int(
                first
                    .cast_to::<i64>()?
                    .try_as_plain_ram()?
                    .as_slice::<i64>()?
                    .to_vec(),
            )),
        };
        let probabilities = match (&info.task, outputs.get(1)) {
            (Task::Classifier { .. }, Some(p)) => Some(
                p.cast_to::<f32>()?
                    .try_as_plain_ram()?
                    .as_slice::<f32>()?
                    .to_vec(),
            ),
            _ => None,
        };
        Ok(Prediction {
            predicted,
            probabilities,
        })
    }
}

/// The tensor of one input's `column`: `[rows]` or `[rows, width]` as the input is
/// declared. Numbers are aligned as their type needs and no more: tract's default goes
/// through posix_memalign (see the tree-ensemble op).
fn tensor(column: &Column, input: &InputInfo, rows: usize) -> TractResult<TValue> {
    let two = [rows, column.width()];
    let shape = if input.rank == 1 { &two[..1] } else { &two[..] };
    let tensor = match column.values() {
        Values::F32(values) => Tensor::from_shape_align(shape, values, align_of::<f32>())?,
        Values::I64(values) => Tensor::from_shape_align(shape, values, align_of::<i64>())?,
        Values::Str(values) => {
            tract_ndarray::ArrayD::from_shape_vec(shape, values.clone())?.into_tensor()
        }
    };
    Ok(tensor.into_tvalue())
}
