//! From a validated [`Config`] to a serving process: the model loads on its own thread
//! while the runtime starts, the port opens only once the model has loaded and answered
//! a first row, and the server runs until SIGTERM or SIGINT.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context as _;
use model::{Model, Task, BUNDLED_MODEL};

use crate::budget::{self, cgroup_memory_limit, resident_bytes};
use crate::config::{Config, ModelSource};
use crate::limits::DEFAULT_MAX_IN_FLIGHT_BYTES;
use crate::runtime::CpuBudget;
use crate::state::{App, Started};

/// Loads the model, binds the port and serves until a shutdown signal, then drains.
/// `started`: when `main` began, as an instant (start-up time) and as wall-clock time
/// (`process_start_time_seconds`). An error means the model or the port failed.
pub fn run(config: Config, started: (Instant, SystemTime)) -> anyhow::Result<()> {
    // The model loads on its own thread from here, while the runtime starts: with two
    // CPUs the two overlap, so start-up is the load rather than the sum of both.
    let (loaded, load) = tokio::sync::oneshot::channel();
    let source = config.model.clone();
    std::thread::Builder::new()
        .name("model-load".into())
        .spawn(move || {
            let loading = Instant::now();
            let model = load_and_warm_up(&source);
            // No receiver only when shutdown was requested first.
            let _ = loaded.send(model.map(|model| (model, loading.elapsed())));
        })?;
    let budget = CpuBudget::detect();
    let workers = config.workers.unwrap_or_else(|| budget.workers());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(workers)
        .enable_all()
        .build()?;
    let served = runtime.block_on(async {
        // Handlers before waiting for the model: as PID 1 in a container, a signal
        // without a handler is dropped, so a SIGTERM during a slow model load would wait
        // for SIGKILL.
        let mut shutdown = std::pin::pin!(shutdown_signal()?);
        let (model, load_time) = tokio::select! {
            loaded = load => loaded
                .map_err(|_| anyhow::anyhow!("the model loader stopped without an answer"))??,
            _ = &mut shutdown => {
                tracing::info!("shutdown requested while loading the model");
                return Ok(());
            }
        };
        // Bind only now: the port must not open before the model is ready.
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        // After the model has loaded, so that what it takes is not counted twice.
        let read = |path: &Path| std::fs::read_to_string(path).ok();
        let (in_flight_bytes, bytes_source) = budget::derive(
            config.max_in_flight_bytes,
            cgroup_memory_limit(&read),
            resident_bytes(),
            DEFAULT_MAX_IN_FLIGHT_BYTES,
        );
        log_serving(
            &config,
            &model,
            &listener,
            (load_time, started.0),
            (budget, workers),
            (in_flight_bytes, bytes_source),
        )?;
        let started = Started {
            at: started.1,
            load: load_time,
        };
        let serving = config.serving(workers, in_flight_bytes);
        let mut app = App::new(model, serving, started);
        let port = listener.local_addr()?.port();
        let delivery = start_payload_log(&config, &mut app, port);
        let app = Arc::new(app);
        let stopping = not_ready_then_delay(shutdown, Arc::clone(&app), config.shutdown_delay);
        // The drain timeout covers the connections and then the payload events queued
        // by their last requests: one deadline, so the process still exits before SIGKILL.
        let drain_started = std::cell::Cell::new(None);
        let stopping = async {
            stopping.await;
            drain_started.set(Some(Instant::now()));
        };
        crate::serve(listener, app, stopping, config.drain_timeout).await;
        if let Some(delivery) = delivery {
            let spent = drain_started
                .get()
                .map_or(Duration::ZERO, |at| at.elapsed());
            delivery
                .flush(config.drain_timeout.saturating_sub(spent))
                .await;
        }
        Ok(())
    });
    // A load interrupted by SIGTERM may still be blocked in a read: do not wait for it.
    runtime.shutdown_background();
    served
}

/// Starts the payload log's sender when `--payload-log` is on, and gives `app` its
/// queue; what is returned flushes it at shutdown.
fn start_payload_log(
    config: &Config,
    app: &mut App,
    port: u16,
) -> Option<crate::payload_log::Delivery> {
    let settings = config.payload_log.as_ref()?;
    let counters = app.metrics.as_ref().map(|m| m.payload_events().clone());
    let (log, delivery) = crate::payload_log::start(
        settings,
        &config.model_name,
        port,
        counters.unwrap_or_default(),
    );
    app.payload_log = Some(log);
    Some(delivery)
}

/// Loads the model and predicts one row (zeros, or for an input an encoder reads the
/// first category it knows: [`model::ModelInfo::example_row`]), so the first request
/// finds its code paged in (a third of its cold cost), and a model that cannot answer
/// is refused here rather than served to fail every request.
fn load_and_warm_up(source: &ModelSource) -> anyhow::Result<Model> {
    let model = match source {
        ModelSource::Bundled => Model::from_bytes(BUNDLED_MODEL)?,
        ModelSource::Path(path) => Model::from_path(&model_file(path)?)?,
    };
    model
        .predict(&model.info().example_row())
        .context("the model failed on its first row (all zeros)")?;
    Ok(model)
}

/// `path` itself, or when it is a directory, the one `.onnx` file directly inside it:
/// KServe's storage initializer downloads a `storageUri` into `/mnt/models` and the
/// runtime is handed the directory, whatever the file is called. Hidden entries are
/// skipped (a ConfigMap volume keeps its real files under `..data`); none or several
/// `.onnx` files is an error that lists what the directory holds.
fn model_file(path: &Path) -> anyhow::Result<PathBuf> {
    if !path.is_dir() {
        return Ok(path.to_path_buf());
    }
    let shown = path.display();
    let mut onnx = Vec::new();
    let mut others = Vec::new();
    for entry in std::fs::read_dir(path)
        .with_context(|| format!("cannot list the model directory {shown}"))?
    {
        let entry = entry.with_context(|| format!("cannot list the model directory {shown}"))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') {
            continue;
        }
        let is_onnx = Path::new(&name)
            .extension()
            .is_some_and(|ext| ext.eq_ignore_ascii_case("onnx"));
        // `is_file` follows symlinks, as the read will.
        if is_onnx && entry.path().is_file() {
            onnx.push(name);
        } else {
            others.push(name);
        }
    }
    onnx.sort();
    others.sort();
    match onnx.as_slice() {
        [one] => {
            let file = path.join(one);
            tracing::info!(directory = %shown, file = %one, "serving the model directory's .onnx file");
            Ok(file)
        }
        [] => anyhow::bail!(
            "the model directory {shown} holds no .onnx file (it holds: {}); \
             put one ONNX model in it, or pass the file itself",
            if others.is_empty() {
                "nothing".to_string()
            } else {
                others.join(", ")
            }
        ),
        several => anyhow::bail!(
            "the model directory {shown} holds {} .onnx files ({}): keep one, or pass \
             the file to serve itself, e.g. --model {}",
            several.len(),
            several.join(", "),
            path.join(&several[0]).display()
        ),
    }
}

/// The one start-up line: what is served, how it was found, how long it took, and the
/// CPUs and memory it may use and why.
fn log_serving(
    config: &Config,
    model: &Model,
    listener: &tokio::net::TcpListener,
    (load_time, started): (Duration, Instant),
    (budget, workers): (CpuBudget, usize),
    (in_flight_bytes, bytes_source): (usize, budget::Source),
) -> std::io::Result<()> {
    let (memory_limit, resident) = match bytes_source {
        budget::Source::MemoryLimit { limit, resident } => (Some(limit), Some(resident)),
        _ => (None, None),
    };
    let info = model.info();
    let classes = match &info.task {
        Task::Classifier { labels } => Some(labels.len()),
        Task::Regressor { .. } => None,
    };
    tracing::info!(
        addr = %listener.local_addr()?,
        model = %config.model_name,
        version = %config.model_version,
        source = %match &config.model {
            ModelSource::Bundled => "bundled".into(),
            ModelSource::Path(path) => path.display().to_string(),
        },
        operator = %info.operator,
        producer = %info.producer,
        inputs = info.inputs.len(),
        features = info.n_features(),
        classes,
        trees = model.ensemble_size().map(|s| s.trees),
        load_ms = load_time.as_secs_f64() * 1e3,
        startup_ms = started.elapsed().as_secs_f64() * 1e3,
        metrics = config.metrics,
        workers,
        cpus = budget.cpus,
        cpu_quota = budget.quota,
        max_in_flight_bytes = in_flight_bytes,
        max_in_flight_bytes_from = bytes_source.label(),
        memory_limit,
        resident_at_start = resident,
        "serving"
    );
    Ok(())
}

/// The signal that asked the process to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Signal {
    /// SIGTERM: Kubernetes or Knative stopping the pod.
    Terminate,
    /// SIGINT: a person pressing Ctrl-C.
    Interrupt,
}

/// Installs the SIGTERM and SIGINT handlers now and returns a future that completes on
/// either: Kubernetes and Knative stop pods with SIGTERM, a person with Ctrl-C.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = Signal>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => {
                tracing::info!("received SIGTERM");
                Signal::Terminate
            }
            _ = interrupt.recv() => {
                tracing::info!("received SIGINT");
                Signal::Interrupt
            }
        }
    })
}

/// Completes `delay` after SIGTERM (at once after SIGINT), having made every readiness
/// route answer 503 the moment the signal came; the server goes on accepting and
/// answering until then, and drains after.
///
/// Kubernetes sends SIGTERM while it removes the pod from the Service's endpoints, and
/// kube-proxy, ingresses and load balancers outside the cluster learn of it only
/// seconds later: a pod that closed its port at once would refuse the requests still
/// routed to it. Under Knative the delay defaults to 0: its queue-proxy has already done
/// this before the container gets SIGTERM. A person pressing Ctrl-C has no load
/// balancer to wait for.
async fn not_ready_then_delay(
    signal: impl std::future::Future<Output = Signal>,
    app: Arc<App>,
    delay: Duration,
) {
    let signal = signal.await;
    app.stop_being_ready();
    if signal == Signal::Terminate && !delay.is_zero() {
        tracing::info!(
            delay_seconds = delay.as_secs_f64(),
            "not ready: still serving for the shutdown delay, then draining"
        );
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Batch;
    use tract_onnx::pb::{tensor_proto::DataType, ModelProto, NodeProto, TensorProto};

    /// The bundled forest reading only the batch's second row: it loads (the batch size
    /// is symbolic when tract checks the graph) but cannot answer a one-row batch.
    fn model_failing_on_one_row() -> Vec<u8> {
        let mut proto: ModelProto = prost::Message::decode(BUNDLED_MODEL).unwrap();
        let graph = proto.graph.as_mut().unwrap();
        let input = graph.input[0].name.clone();
        graph.initializer.push(TensorProto {
            name: "second_row".into(),
            dims: vec![1],
            data_type: DataType::Int64 as i32,
            int64_data: vec![1],
            ..Default::default()
        });
        graph.node[0].input = vec!["second".into()];
        graph.node.insert(
            0,
            NodeProto {
                op_type: "Gather".into(),
                input: vec![input, "second_row".into()],
                output: vec!["second".into()],
                ..Default::default()
            },
        );
        prost::Message::encode_to_vec(&proto)
    }

    #[test]
    fn a_model_that_fails_on_its_first_row_is_refused() {
        let bytes = model_failing_on_one_row();
        let model = Model::from_bytes(&bytes).expect("the graph loads");
        assert!(model.predict(&Batch::new(vec![0.0; 4], 4)).is_err());
        let path = std::env::temp_dir().join(format!("fails-{}.onnx", std::process::id()));
        std::fs::write(&path, &bytes).unwrap();
        let refused = load_and_warm_up(&ModelSource::Path(path.clone()));
        std::fs::remove_file(&path).unwrap();
        let message = format!("{:#}", refused.unwrap_err());
        assert!(message.contains("failed on its first row"), "{message}");
    }

    /// A fresh directory under the system's temporary one holding `files` (empty ones).
    fn directory_with(test: &str, files: &[&str]) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("model-dir-{test}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for file in files {
            std::fs::write(dir.join(file), b"").unwrap();
        }
        dir
    }

    #[test]
    fn a_directory_with_one_onnx_file_serves_that_file() {
        let dir = directory_with("one", &["model.ONNX", "README.md", ".hidden.onnx"]);
        std::fs::create_dir(dir.join("nested.onnx")).unwrap();
        let found = model_file(&dir);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(found.unwrap(), dir.join("model.ONNX"));
    }

    #[test]
    fn a_directory_with_several_onnx_files_is_refused_naming_them() {
        let dir = directory_with("several", &["b.onnx", "a.onnx"]);
        let message = format!("{:#}", model_file(&dir).unwrap_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            message.contains("holds 2 .onnx files (a.onnx, b.onnx)"),
            "{message}"
        );
    }

    #[test]
    fn a_directory_without_an_onnx_file_is_refused_saying_what_it_holds() {
        let dir = directory_with("none", &["model.pkl"]);
        let message = format!("{:#}", model_file(&dir).unwrap_err());
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(
            message.contains("no .onnx file (it holds: model.pkl)"),
            "{message}"
        );
    }

    #[test]
    fn a_file_path_is_used_as_it_is() {
        let path = Path::new("/nonexistent/iris.onnx");
        assert_eq!(model_file(path).unwrap(), path);
    }

    #[test]
    fn the_bundled_model_loads_and_answers_its_first_row() {
        assert!(load_and_warm_up(&ModelSource::Bundled).is_ok());
    }
}
