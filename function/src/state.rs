//! What every request shares: the served model, its name and version, the limits, the
//! memory budget, the metrics and where big batches run. Built once, by [`App::new`], for `main` and for
//! the tests alike; everything above (protocols, health, the request layers) reads it.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use model::{Model, BUNDLED_MODEL_NAME};

use crate::budget::MemoryBudget;
use crate::config::DEFAULT_MODEL_VERSION;
use crate::error::ApiError;
use crate::limits::Limits;
use crate::metrics::Metrics;
use crate::payload_log::PayloadLog;
use crate::runtime::Offload;

/// The shared state of a running server.
#[derive(Debug)]
pub struct App {
    /// The loaded model (shared with the blocking pool for big batches).
    pub model: Arc<Model>,
    /// The name the model is served under.
    pub model_name: String,
    /// The version the model is served as (Open Inference Protocol paths).
    pub model_version: String,
    /// The metrics, or `None` when they are turned off (`/metrics` is then a 404).
    pub metrics: Option<Metrics>,
    /// Body size, batch size, concurrency and time limits.
    pub limits: Limits,
    /// Where big batches run (off the worker threads).
    pub offload: Offload,
    /// The bytes requests in flight may hold, and how many they hold now.
    pub budget: Arc<MemoryBudget>,
    /// Where predictions' bodies go as events (`--payload-log`), if anywhere; set after
    /// [`App::new`] by whoever started the sender (`crate::startup`).
    pub payload_log: Option<PayloadLog>,
    /// Cleared at SIGTERM, before the shutdown delay: see [`App::stop_being_ready`].
    ready: AtomicBool,
}

/// How the model is served: everything [`App::new`] needs besides the model.
#[derive(Debug, Clone, PartialEq)]
pub struct Serving {
    /// The name the model is served under.
    pub model_name: String,
    /// The version the model is served as.
    pub model_version: String,
    /// Whether to keep metrics and serve `/metrics`.
    pub metrics: bool,
    /// Body size, batch size, concurrency and time limits.
    pub limits: Limits,
    /// Worker threads: big batches run at most this many at a time.
    pub workers: usize,
}

/// The bundled model's name and version, metrics on, the default limits, one worker.
impl Default for Serving {
    fn default() -> Serving {
        Serving {
            model_name: BUNDLED_MODEL_NAME.to_string(),
            model_version: DEFAULT_MODEL_VERSION.to_string(),
            metrics: true,
            limits: Limits::default(),
            workers: 1,
        }
    }
}

/// When the process started and how long the model took to load, for the metrics.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Started {
    /// Wall-clock time `main` began (`process_start_time_seconds`).
    pub at: SystemTime,
    /// Time taken to load the model (`model_load_duration_seconds`).
    pub load: Duration,
}

impl Started {
    /// Now, with a load that took no time: for servers that tests start.
    pub fn now() -> Started {
        Started {
            at: SystemTime::now(),
            load: Duration::ZERO,
        }
    }
}

impl App {
    /// The state for serving `model` as `serving` says.
    pub fn new(model: Model, serving: Serving, started: Started) -> App {
        let budget = MemoryBudget::new(
            serving.limits.max_in_flight_bytes,
            model.info(),
            serving.limits.max_batch_rows,
        );
        let metrics = serving.metrics.then(|| {
            let mut metrics = Metrics::new(
                &model,
                &serving.model_name,
                &serving.model_version,
                started.load,
                started.at,
            );
            metrics.register_budget(Arc::clone(&budget));
            metrics
        });
        App {
            model: Arc::new(model),
            model_name: serving.model_name,
            model_version: serving.model_version,
            metrics,
            limits: serving.limits,
            offload: Offload::new(serving.workers),
            budget,
            payload_log: None,
            ready: AtomicBool::new(true),
        }
    }

    /// Whether the readiness routes answer 200. The port opens only once the model has
    /// loaded, so this is true from the first request until shutdown begins.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// 200 while [`App::is_ready`], else 503: the status of every protocol's readiness
    /// route, whatever its body says.
    pub fn readiness_status(&self) -> hyper::StatusCode {
        if self.is_ready() {
            hyper::StatusCode::OK
        } else {
            hyper::StatusCode::SERVICE_UNAVAILABLE
        }
    }

    /// From now on every readiness route answers 503 while predictions are still
    /// served: probes and load balancers outside Kubernetes stop sending traffic during
    /// the shutdown delay, before the drain closes the listener.
    pub fn stop_being_ready(&self) {
        self.ready.store(false, Ordering::Relaxed);
    }

    /// 404 unless `name` is the served model's, and `version`, when a path has one, its
    /// version. The message names what is served.
    pub fn check_model(&self, name: &str, version: Option<&str>) -> Result<(), ApiError> {
        if name != self.model_name {
            return Err(ApiError::ModelNotFound(format!(
                "unknown model {name:?}; this function serves {:?}",
                self.model_name
            )));
        }
        match version {
            Some(version) if version != self.model_version => {
                Err(ApiError::ModelNotFound(format!(
                    "model {name:?} has no version {version:?}; it has version {:?}",
                    self.model_version
                )))
            }
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::BUNDLED_MODEL;

    #[test]
    fn only_the_served_name_and_version_are_found() {
        let app = App::new(
            Model::from_bytes(BUNDLED_MODEL).unwrap(),
            Serving::default(),
            Started::now(),
        );
        assert!(app.check_model("iris-forest", None).is_ok());
        assert!(app.check_model("iris-forest", Some("1")).is_ok());
        let other = app.check_model("iris", None).unwrap_err().to_string();
        assert!(other.contains("serves \"iris-forest\""), "{other}");
        let version = app.check_model("iris-forest", Some("2")).unwrap_err();
        assert!(
            version.to_string().contains("has version \"1\""),
            "{version}"
        );
        assert_eq!(version.status(), hyper::StatusCode::NOT_FOUND);
    }

    #[test]
    fn readiness_is_lost_once_and_for_good() {
        let app = App::new(
            Model::from_bytes(BUNDLED_MODEL).unwrap(),
            Serving::default(),
            Started::now(),
        );
        assert!(app.is_ready());
        app.stop_being_ready();
        assert!(!app.is_ready());
    }

    #[test]
    fn metrics_are_kept_only_when_asked_for() {
        let model = || Model::from_bytes(BUNDLED_MODEL).unwrap();
        let off = Serving {
            metrics: false,
            ..Serving::default()
        };
        assert!(App::new(model(), off, Started::now()).metrics.is_none());
        assert!(App::new(model(), Serving::default(), Started::now())
            .metrics
            .is_some());
    }
}
