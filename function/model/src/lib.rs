//! The model runtime: loads an ONNX classifier or regressor once, remembers what the
//! file says about itself, and predicts batches. A graph that is one tree-ensemble node
//! runs on our tree op directly; any other graph runs through tract's optimised plan
//! (with the same op for its tree ensembles). Protocols hand it a [`Batch`]; it never
//! sees JSON.
// One module uses `unsafe`: the tree walk (`tree_ensemble::kernel`), which reads nodes and
// row values unchecked after checking their bounds once per model.
#![deny(unsafe_code)]

mod check;
mod load;
mod size;
mod tree_ensemble;

pub use load::LoadError;
pub use size::EnsembleSize;

use std::sync::{Arc, Mutex};

use tract_onnx::prelude::*;

/// The Iris forest the function serves when no model path is given: produced by
/// `converter train` with its defaults (a test checks the converter reproduces it).
pub const BUNDLED_MODEL: &[u8] = include_bytes!("../../../models/iris-forest.onnx");

/// Name under which the bundled model is served.
pub const BUNDLED_MODEL_NAME: &str = "iris-forest";

/// tract's ONNX loader with our tree-ensemble ops in place of tract's: every model the
/// function or the converter loads goes through this.
pub fn onnx_loader() -> tract_onnx::Onnx {
    let mut onnx = tract_onnx::onnx();
    tree_ensemble::register(&mut onnx.op_register);
    onnx
}

/// Rows of features, row-major, each row exactly as wide as the model's input.
#[derive(Debug, Clone, PartialEq)]
pub struct Batch {
    values: Vec<f32>,
    rows: usize,
}

impl Batch {
    /// A batch of `values.len() / width` rows. Callers have checked the row widths.
    pub fn new(values: Vec<f32>, width: usize) -> Batch {
        debug_assert!(width > 0 && values.len().is_multiple_of(width));
        let rows = values.len().checked_div(width).unwrap_or(0);
        Batch { values, rows }
    }

    /// Number of rows.
    pub fn rows(&self) -> usize {
        self.rows
    }
}

/// Class labels as the model declares them: ONNX classifiers have either int64 or
/// string labels. Serialises as a plain JSON array of numbers or strings.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
#[serde(untagged)]
pub enum Labels {
    /// `classlabels_int64s` / `classlabels_ints`.
    Int(Vec<i64>),
    /// `classlabels_strings`.
    Str(Vec<String>),
}

impl Labels {
    /// Number of labels.
    pub fn len(&self) -> usize {
        match self {
            Labels::Int(v) => v.len(),
            Labels::Str(v) => v.len(),
        }
    }

    /// Whether there are no labels.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What kind of answer the model gives.
#[derive(Debug, Clone, PartialEq)]
pub enum Task {
    /// A class label per row (and usually class probabilities).
    Classifier {
        /// The class labels, in the order of the probability columns.
        labels: Labels,
    },
    /// `targets` values per row.
    Regressor {
        /// Number of values per row.
        targets: usize,
    },
}

/// Per-row answers: labels of a classifier, or values of a regressor.
#[derive(Debug, Clone, PartialEq)]
pub enum Predicted {
    /// One class label per row.
    Labels(Labels),
    /// `targets` values per row, row-major.
    Values {
        /// rows x targets.
        values: Vec<f32>,
        /// Values per row.
        targets: usize,
    },
}

impl Predicted {
    /// Number of rows answered.
    pub fn rows(&self) -> usize {
        match self {
            Predicted::Labels(labels) => labels.len(),
            Predicted::Values { values, targets } => values.len() / targets.max(&1),
        }
    }
}

/// A JSON array with one entry per row: a label, a value, or (several targets) an array.
impl serde::Serialize for Predicted {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Predicted::Labels(labels) => labels.serialize(serializer),
            Predicted::Values { values, targets: 1 } => values.serialize(serializer),
            Predicted::Values { values, targets } => {
                use serde::ser::SerializeSeq;
                let mut seq = serializer.serialize_seq(Some(values.len() / targets))?;
                for row in values.chunks(*targets) {
                    seq.serialize_element(row)?;
                }
                seq.end()
            }
        }
    }
}

/// What the model predicted for a batch.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// One answer per row.
    pub predicted: Predicted,
    /// Class probabilities, row-major (rows x classes), when the model outputs them.
    pub probabilities: Option<Vec<f32>>,
}

/// What the ONNX file says about the model, read once at load time.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    /// Number of features per row (the input's second dimension).
    pub n_features: usize,
    /// Name of the graph input.
    pub input_name: String,
    /// Names of the graph outputs, in order (label first).
    pub output_names: Vec<String>,
    /// Classifier (with its labels) or regressor (with its target count).
    pub task: Task,
    /// Feature names from `metadata_props`, if the file has them.
    pub feature_names: Option<Vec<String>>,
    /// Class names from `metadata_props`, if the file has them.
    pub class_names: Option<Vec<String>>,
    /// The operator that does the work (`TreeEnsembleClassifier`, `LinearRegressor`, ...).
    pub operator: String,
    /// `producer_name` and `producer_version` of the file.
    pub producer: String,
    /// Whether the model takes missing values (NaN): a tree ensemble with a
    /// `nodes_missing_value_tracks_true` entry set, i.e. trained to route missing values
    /// (scikit-learn's HistGradientBoosting, XGBoost, LightGBM exports). Other models
    /// would answer NaN input with an arbitrary branch or NaN scores, so they refuse it.
    pub handles_missing: bool,
}

impl ModelInfo {
    /// A two-feature classifier with `labels` and the graph outputs `outputs`, as the
    /// protocols' unit tests need one (no file behind it).
    pub fn for_tests(labels: Labels, outputs: &[&str]) -> ModelInfo {
        ModelInfo {
            n_features: 2,
            input_name: "input".into(),
            output_names: outputs.iter().map(|s| s.to_string()).collect(),
            task: Task::Classifier { labels },
            feature_names: None,
            class_names: None,
            operator: "LinearClassifier".into(),
            producer: String::new(),
            handles_missing: false,
        }
    }
}

/// Why a prediction failed. Inputs are validated before they reach the model, so this
/// is an internal error when it happens.
#[derive(Debug, thiserror::Error)]
#[error("the model failed to run: {0:#}")]
pub struct PredictError(#[from] TractError);

/// Most run states kept for reuse; more only happen under more concurrent predictions.
const MAX_IDLE_STATES: usize = 64;

/// A loaded, optimised model. Cheap to share: clone the [`Arc`].
#[derive(Debug)]
pub struct Model {
    runner: Runner,
    info: ModelInfo,
    /// Trees and nodes, for a tree ensemble.
    ensemble_size: Option<EnsembleSize>,
}

/// What runs a prediction.
#[derive(Debug)]
enum Runner {
    /// The graph is one tree-ensemble node from the input straight to the outputs (what
    /// the converter and skl2onnx's forests without ZipMap export): its op is called
    /// directly. tract's plan would only wrap the same call in tensors and run states,
    /// and building that plan is most of a start-up.
    TreeEnsemble(tree_ensemble::TreeEnsemble),
    /// tract's plan, with the run states of finished predictions. Making a state for
    /// every run costs as much as predicting one row with the whole forest (measured:
    /// 4.0 us per row with a new state, 2.3 us with a reused one), so predictions
    /// borrow one from here.
    Plan {
        plan: Arc<TypedSimplePlan>,
        idle_states: Mutex<Vec<TypedSimpleState>>,
    },
}

impl Model {
    /// Loads a model from the bytes of an ONNX file.
    pub fn from_bytes(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, false)
    }

    /// Loads a model from the bytes of an ONNX file and runs it through tract's plan
    /// even when the tree-ensemble op could run it alone: for tests and benchmarks that
    /// compare the two.
    pub fn from_bytes_through_tract(bytes: &[u8]) -> Result<Model, LoadError> {
        Model::load(bytes, true)
    }

    fn load(bytes: &[u8], through_tract: bool) -> Result<Model, LoadError> {
        let (runner, info, ensemble_size) = load::load(bytes, through_tract)?;
        Ok(Model {
            runner,
            info,
            ensemble_size,
        })
    }

    /// Loads the ONNX file at `path`.
    pub fn from_path(path: &std::path::Path) -> Result<Model, LoadError> {
        let bytes = std::fs::read(path).map_err(|source| LoadError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Model::from_bytes(&bytes)
    }

    /// Whether predictions go through tract's plan (false: the tree-ensemble op is
    /// called directly).
    pub fn runs_through_tract(&self) -> bool {
        matches!(self.runner, Runner::Plan { .. })
    }

    /// The model's description.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// Trees and nodes of the model's tree ensemble; `None` for a linear model.
    pub fn ensemble_size(&self) -> Option<EnsembleSize> {
        self.ensemble_size
    }

    /// Number of features each row must have.
    pub fn n_features(&self) -> usize {
        self.info.n_features
    }

    /// Work per row in tree-rows: the number of trees of a tree ensemble, 1 for a linear
    /// model (a row of a linear model costs about what one small tree does). What
    /// [`crate::runtime::Offload`] weighs a batch by.
    pub fn work_per_row(&self) -> usize {
        self.ensemble_size.map_or(1, |size| size.trees.max(1))
    }

    /// Predicts every row of `batch`.
    pub fn predict(&self, batch: &Batch) -> Result<Prediction, PredictError> {
        match &self.runner {
            Runner::TreeEnsemble(op) => Ok(op.predict(&batch.values, self.info.n_features)?),
            Runner::Plan { plan, idle_states } => self.predict_with_plan(plan, idle_states, batch),
        }
    }

    fn predict_with_plan(
        &self,
        plan: &Arc<TypedSimplePlan>,
        idle_states: &Mutex<Vec<TypedSimpleState>>,
        batch: &Batch,
    ) -> Result<Prediction, PredictError> {
        // Aligned as f32 needs: tract's default goes through posix_memalign (see the
        // tree-ensemble op).
        let shape = [batch.rows, self.info.n_features];
        let input = Tensor::from_shape_align(&shape, &batch.values, align_of::<f32>())?;
        let idle = idle_states.lock().ok().and_then(|mut idle| idle.pop());
        let mut state = match idle {
            Some(state) => state,
            None => plan.spawn()?,
        };
        let outputs = state.run(tvec!(input.into_tvalue()))?;
        if let Ok(mut idle) = idle_states.lock() {
            if idle.len() < MAX_IDLE_STATES {
                idle.push(state);
            }
        }
        let first = &outputs[0];
        let predicted = match self.info.task {
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
        let probabilities = match (&self.info.task, outputs.get(1)) {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// `n` rows of 4 features spread over Iris' ranges (a fixed sequence, no RNG).
    fn iris_like_rows(n: usize) -> Vec<f32> {
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
        let model = Model::from_bytes(BUNDLED_MODEL).unwrap();
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
