//! The `function` binary: logging, configuration, model load, then serve until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Instant, SystemTime};

use clap::Parser;
use function::config::{Args, Config, ModelSource};
use function::logging::LogConfig;
use function::metrics::Metrics;
use function::runtime::{CpuBudget, Offload};
use function::App;
use model::{Batch, Model, Task, BUNDLED_MODEL};

/// Exit code for a usage or configuration error (BSD `EX_USAGE`).
const EXIT_USAGE: u8 = 64;
/// Exit code when the model cannot be loaded or the port cannot be bound.
const EXIT_STARTUP: u8 = 1;

fn main() -> ExitCode {
    let started = (Instant::now(), SystemTime::now());
    match LogConfig::from_env(|key| std::env::var(key).ok()) {
        Ok(logging) => logging.init(),
        Err(error) => {
            LogConfig::init_fallback();
            tracing::error!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    function::limits::log_panics();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let config = match Config::from_args(args, |key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match run(config, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever a library put in its message: log collectors split on
            // newlines, and the cause must stay in one record.
            tracing::error!("{}", format!("{error:#}").replace('\n', " "));
            ExitCode::from(EXIT_STARTUP)
        }
    }
}

/// `started`: when `main` began, as an instant (start-up time) and as wall-clock time
/// (`process_start_time_seconds`).
fn run(config: Config, started: (Instant, SystemTime)) -> anyhow::Result<()> {
    // The model loads on its own thread from here, while the runtime starts: with two
    // CPUs the two overlap, so start-up is the load rather than the sum of both.
    let (loaded, load) = tokio::sync::oneshot::channel();
    let source = config.model.clone();
    std::thread::Builder::new()
        .name("model-load".into())
        .spawn(move || {
            let loading = Instant::now();
            let model = match source {
                ModelSource::Bundled => Model::from_bytes(BUNDLED_MODEL),
                ModelSource::Path(path) => Model::from_path(&path),
            };
            // One prediction now, while the runtime starts, so the first request finds a
            // run state ready and the model's code paged in (a third of its cold cost).
            if let Ok(model) = &model {
                let width = model.n_features();
                let _ = model.predict(&Batch::new(vec![0.0; width], width));
            }
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
            () = &mut shutdown => {
                tracing::info!("shutdown requested while loading the model");
                return Ok(());
            }
        };
        // Bind only now: the port must not open before the model is ready.
        let listener = tokio::net::TcpListener::bind(config.addr)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.addr))?;
        let info = model.info();
        let classes = match &info.task {
            Task::Classifier { labels } => Some(labels.len()),
            Task::Regressor { .. } => None,
        };
        let size = model.ensemble_size();
        // The one start-up line: what is served, how it was found, and how long it took.
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
            features = info.n_features,
            classes,
            trees = size.map(|s| s.trees),
            load_ms = load_time.as_secs_f64() * 1e3,
            startup_ms = started.0.elapsed().as_secs_f64() * 1e3,
            metrics = config.metrics,
            workers,
            cpus = budget.cpus,
            cpu_quota = budget.quota,
            "serving"
        );
        let metrics = config.metrics.then(|| {
            Metrics::new(
                &model,
                &config.model_name,
                &config.model_version,
                load_time,
                started.1,
            )
        });
        let app = Arc::new(App {
            model: Arc::new(model),
            model_name: config.model_name.clone(),
            model_version: config.model_version.clone(),
            metrics,
            limits: config.limits,
            offload: Offload::new(workers),
        });
        function::server::run(listener, app, shutdown, config.drain_timeout).await;
        Ok(())
    });
    // A load interrupted by SIGTERM may still be blocked in a read: do not wait for it.
    runtime.shutdown_background();
    served
}

/// Installs the SIGTERM and SIGINT handlers now and returns a future that completes on
/// either: Kubernetes and Knative stop pods with SIGTERM, a person with Ctrl-C.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut terminate = signal(SignalKind::terminate())?;
    let mut interrupt = signal(SignalKind::interrupt())?;
    Ok(async move {
        tokio::select! {
            _ = terminate.recv() => tracing::info!("received SIGTERM"),
            _ = interrupt.recv() => tracing::info!("received SIGINT"),
        }
    })
}
