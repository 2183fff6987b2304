//! What every request shares: the served model, its name and version, the limits, the
//! metrics and where big batches run. Built once, by [`App::new`], for `main` and for
//! the tests alike; everything above (protocols, health, the request layers) reads it.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use model::{Model, BUNDLED_MODEL_NAME};

use crate::config::DEFAULT_MODEL_VERSION;
use crate::error::ApiError;
use crate::limits::Limits;
use crate::metrics::Metrics;
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
        let metrics = serving.metrics.then(|| {
            Metrics::new(
                &model,
                &serving.model_name,
                &serving.model_version,
                started.load,
                started.at,
            )
        });
        App {
            model: Arc::new(model),
            model_name: serving.model_name,
            model_version: serving.model_version,
            metrics,
            limits: serving.limits,
            offload: Offload::new(serving.workers),
        }
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
