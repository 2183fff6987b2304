//! The served model as metrics: `model_info` and its size and load time, set once at
//! start-up.

use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::info::Info;
use prometheus_client::registry::Registry;

use model::{Model, Task};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ModelLabels {
    name: String,
    version: String,
    operator: String,
    producer: String,
}

/// The model's description: fixed for the life of the process.
pub(super) fn register(
    registry: &mut Registry,
    model: &Model,
    name: &str,
    version: &str,
    load: Duration,
) {
    let info = model.info();
    registry.register(
        "model",
        "The served model: its name and version as served, the ONNX operator doing the work and the file's producer",
        Info::new(ModelLabels {
            name: name.to_string(),
            version: version.to_string(),
            operator: info.operator.clone(),
            producer: info.producer.clone(),
        }),
    );
    let gauge = |registry: &mut Registry, name: &str, help: &str, value: i64| {
        let gauge: Gauge = Gauge::default();
        gauge.set(value);
        registry.register(name, help, gauge);
    };
    gauge(
        registry,
        "model_features",
        "Values per row the model takes, over every input",
        info.n_features() as i64,
    );
    if let Task::Classifier { labels } = &info.task {
        gauge(
            registry,
            "model_classes",
            "Classes the model chooses between",
            labels.len() as i64,
        );
    }
    if let Some(size) = model.ensemble_size() {
        gauge(
            registry,
            "model_trees",
            "Trees in the model's tree ensemble",
            size.trees as i64,
        );
        gauge(
            registry,
            "model_tree_nodes",
            "Nodes (branches and leaves) in all trees of the ensemble",
            size.nodes as i64,
        );
    }
    let seconds = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    seconds.set(load.as_secs_f64());
    registry.register(
        "model_load_duration_seconds",
        "Time taken to read, check and optimise the model at start-up",
        seconds,
    );
}
