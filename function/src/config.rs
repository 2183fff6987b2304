//! Command-line flags and environment, validated into a ready [`Config`] before any work
//! starts. The environment is read through one lookup function so tests pass a map.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::limits::{
    Limits, DEFAULT_HEADER_READ_TIMEOUT, DEFAULT_MAX_BATCH_ROWS, DEFAULT_MAX_BODY_BYTES,
    DEFAULT_MAX_IN_FLIGHT, DEFAULT_REQUEST_TIMEOUT,
};
use model::BUNDLED_MODEL_NAME;

use crate::payload_log::settings::{self as payload_log, Mode as PayloadLogMode};
use crate::state::Serving;

/// Port to listen on; Knative sets it from the container port (default 8080).
pub const ENV_PORT: &str = "PORT";
/// Path of the ONNX model file.
pub const ENV_MODEL_PATH: &str = "MODEL_PATH";
/// Name the model is served under.
pub const ENV_MODEL_NAME: &str = "MODEL_NAME";
/// Knative's service name, the fallback model name.
pub const ENV_K_SERVICE: &str = "K_SERVICE";
/// Version the model is served as (Open Inference Protocol `/versions/{v}`).
pub const ENV_MODEL_VERSION: &str = "MODEL_VERSION";
/// One model per process, so one version: clients that pin a version use this one.
pub const DEFAULT_MODEL_VERSION: &str = "1";
/// Seconds to wait for in-flight requests after SIGTERM.
pub const ENV_DRAIN_TIMEOUT: &str = "DRAIN_TIMEOUT_SECONDS";
/// Seconds between SIGTERM and the drain, with readiness answering 503 meanwhile.
pub const ENV_SHUTDOWN_DELAY: &str = "SHUTDOWN_DELAY_SECONDS";
/// Set by the kubelet in every Kubernetes container (whatever `enableServiceLinks` says):
/// how the function tells a plain Kubernetes pod from a local run.
pub const ENV_KUBERNETES_SERVICE_HOST: &str = "KUBERNETES_SERVICE_HOST";
/// On plain Kubernetes (not Knative): the time it takes to remove a terminating pod from
/// the Service's endpoints (kube-proxy, ingresses, external load balancers), during which
/// requests still arrive. knative/kubernetes/deployment.yaml relies on it instead of a
/// `preStop` sleep. Elsewhere (Knative, a laptop, `docker run`) the default is 0.
pub const DEFAULT_SHUTDOWN_DELAY_SECONDS: u64 = 5;
/// `off` turns the metrics off (to measure what they cost); `on` is the default.
pub const ENV_METRICS: &str = "METRICS";
/// Largest request body in bytes.
pub const ENV_MAX_BODY_BYTES: &str = "MAX_BODY_BYTES";
/// Most rows in one request.
pub const ENV_MAX_BATCH_ROWS: &str = "MAX_BATCH_ROWS";
/// Most requests handled at once.
pub const ENV_MAX_IN_FLIGHT: &str = "MAX_IN_FLIGHT";
/// Bytes requests in flight may hold.
pub const ENV_MAX_IN_FLIGHT_BYTES: &str = "MAX_IN_FLIGHT_BYTES";
/// Seconds a client has to send a request head.
pub const ENV_HEADER_READ_TIMEOUT: &str = "HEADER_READ_TIMEOUT_SECONDS";
/// Seconds from a request head to its response.
pub const ENV_REQUEST_TIMEOUT: &str = "REQUEST_TIMEOUT_SECONDS";
/// Worker threads; by default the CPUs the container may use (see [`crate::runtime`]).
pub const ENV_WORKER_THREADS: &str = "WORKER_THREADS";
/// The Knative runtime contract's default port.
pub const DEFAULT_PORT: u16 = 8080;
/// Below Kubernetes' default 30 s grace period, so we exit before SIGKILL.
pub const DEFAULT_DRAIN_SECONDS: u64 = 20;
/// Exit code for a usage or configuration error (BSD `EX_USAGE`).
pub const EXIT_USAGE: u8 = 64;
/// Exit code when the model cannot be loaded or the port cannot be bound.
pub const EXIT_STARTUP: u8 = 1;

/// The end of `--help`: the settings that have no flag (logging) and the exit codes,
/// read from their constants.
fn help_footer() -> String {
    use crate::logging::{DEFAULT_LEVEL, ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_RUST_LOG, LEVELS};
    format!(
        "Logging, on stderr (environment only):\n  \
         {ENV_LOG_FORMAT}  json or text [default: text]\n  \
         {ENV_LOG_LEVEL}   {levels} [default: {DEFAULT_LEVEL}]; debug adds a line per request\n  \
         {ENV_RUST_LOG}    a tracing filter directive, e.g. function=debug; wins over {ENV_LOG_LEVEL}\n\n\
         Exit codes:\n  \
         0   stopped by SIGTERM or SIGINT, after draining\n  \
         {EXIT_STARTUP}   the model cannot be loaded or the port cannot be bound\n  \
         {EXIT_USAGE}  a bad flag or environment variable",
        levels = LEVELS.join(", "),
    )
}

/// Serve an ONNX classifier (a random forest, a logistic regression) over HTTP.
///
/// With no model given it serves the bundled Iris random forest. Protocols: POST /predict,
/// KServe V1 (/v1/models/...), Open Inference Protocol V2 (/v2/...), CloudEvents (POST /);
/// GET /openapi.json documents every route, GET / summarises the model.
#[derive(Debug, Parser)]
#[command(name = "function", version, after_help = help_footer())]
pub struct Args {
    /// ONNX model file to serve, or a directory holding exactly one `.onnx` file (as
    /// KServe's storage initializer leaves /mnt/models) [env: MODEL_PATH] [default: the
    /// bundled Iris forest].
    #[arg(long, value_name = "PATH")]
    pub model: Option<PathBuf>,

    /// Name the model is served under [env: MODEL_NAME, then K_SERVICE] [default: the
    /// model file's name without extension].
    #[arg(long, value_name = "NAME")]
    pub model_name: Option<String>,

    /// Version the model is served as, in `/v2/models/NAME/versions/VERSION`
    /// [env: MODEL_VERSION] [default: 1].
    #[arg(long, value_name = "VERSION")]
    pub model_version: Option<String>,

    /// Port to listen on; 0 picks a free one [env: PORT] [default: 8080].
    #[arg(long, value_name = "PORT")]
    pub port: Option<u16>,

    /// Address to listen on [default: 0.0.0.0, all interfaces].
    #[arg(long, value_name = "IP")]
    pub host: Option<IpAddr>,

    /// Seconds to finish in-flight requests after SIGTERM or SIGINT
    /// [env: DRAIN_TIMEOUT_SECONDS] [default: 20].
    #[arg(long, value_name = "SECONDS")]
    pub drain_timeout: Option<u64>,

    /// Seconds to keep serving after SIGTERM, with every readiness route answering 503,
    /// before the drain starts: load balancers and probes see the pod leave while requests
    /// already routed to it are still answered. SIGINT skips it
    /// [env: SHUTDOWN_DELAY_SECONDS] [default: 5 on plain Kubernetes
    /// (KUBERNETES_SERVICE_HOST set, K_SERVICE unset); 0 under Knative, whose queue-proxy
    /// does this already, and outside Kubernetes].
    #[arg(long, value_name = "SECONDS")]
    pub shutdown_delay: Option<u64>,

    /// Keep no metrics and answer 404 on /metrics, to measure what they cost
    /// [env: METRICS=off].
    #[arg(long)]
    pub no_metrics: bool,
    /// Largest request body in bytes; larger ones get 413 [env: MAX_BODY_BYTES]
    /// [default: 4194304, 4 MiB].
    #[arg(long, value_name = "BYTES")]
    pub max_body_bytes: Option<usize>,

    /// Most rows in one request; more get 413 [env: MAX_BATCH_ROWS] [default: 10000].
    #[arg(long, value_name = "ROWS")]
    pub max_batch_rows: Option<usize>,

    /// Most requests handled at once (GET and HEAD not counted); more get 503 with
    /// Retry-After [env: MAX_IN_FLIGHT] [default: 1024].
    #[arg(long, value_name = "REQUESTS")]
    pub max_in_flight: Option<usize>,

    /// Bytes of memory that requests in flight may hold: their bodies as they are read
    /// and the batches decoded from them. A request that does not fit gets 503 with
    /// Retry-After; one that needs more than all of it gets 413
    /// [env: MAX_IN_FLIGHT_BYTES] [default: half of what the container's memory limit
    /// (cgroup memory.max) leaves after start-up; 268435456, 256 MiB, with no limit].
    #[arg(long, value_name = "BYTES")]
    pub max_in_flight_bytes: Option<usize>,

    /// Seconds a client has to send a request's headers; also how long an idle
    /// keep-alive connection stays open [env: HEADER_READ_TIMEOUT_SECONDS] [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub header_read_timeout: Option<u64>,

    /// Seconds from a request's headers to its response, body included; later gets 408
    /// [env: REQUEST_TIMEOUT_SECONDS] [default: 30].
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<u64>,

    /// Worker threads answering requests [env: WORKER_THREADS] [default: the CPUs this
    /// process may use: its CPU quota (a Kubernetes CPU limit) rounded down, at least 1].
    #[arg(long, value_name = "THREADS")]
    pub workers: Option<usize>,

    /// Send each prediction's request and/or response body, in every protocol, as a
    /// CloudEvent to a sink, in KServe's logger format (types
    /// org.kubeflow.serving.inference.request and .response, one id per pair,
    /// extensions inferenceservicename, namespace, component, endpoint; K_CE_OVERRIDES
    /// applied). gRPC ModelInfer calls included: their messages are sent as the JSON
    /// of the same V2 REST request and answer. Sent from a bounded queue in the background: a slow or absent sink
    /// never delays a prediction, events it cannot take are dropped and counted
    /// (payload_events_*) [env: PAYLOAD_LOG] [default: off].
    #[arg(long, value_name = "MODE", value_enum)]
    pub payload_log: Option<PayloadLogMode>,

    /// Where payload events go, an http:// URL [env: PAYLOAD_LOG_URL, then K_SINK, which
    /// a Knative SinkBinding sets]; required when --payload-log is on.
    #[arg(long, value_name = "URL")]
    pub payload_log_url: Option<String>,
}

/// Where the model comes from.
#[derive(Debug, Clone, PartialEq)]
pub enum ModelSource {
    /// The Iris forest compiled into the binary.
    Bundled,
    /// An ONNX file on disk.
    Path(PathBuf),
}

/// The validated configuration the server runs with.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    /// The model to load.
    pub model: ModelSource,
    /// The name the model is served under.
    pub model_name: String,
    /// The version the model is served as.
    pub model_version: String,
    /// Address to bind.
    pub addr: SocketAddr,
    /// Time allowed for draining after a shutdown signal.
    pub drain_timeout: Duration,
    /// Time between SIGTERM and the drain, not ready but still serving.
    pub shutdown_delay: Duration,
    /// Whether to keep metrics and serve `/metrics`.
    pub metrics: bool,
    /// Body size, batch size, concurrency and time limits.
    pub limits: Limits,
    /// Worker threads, if set; `None` sizes them to the CPU budget.
    pub workers: Option<usize>,
    /// The byte budget of requests in flight, if set; `None` derives it from the memory
    /// limit at start-up ([`crate::budget::derive`]). `limits.max_in_flight_bytes` holds
    /// the default until then.
    pub max_in_flight_bytes: Option<usize>,
    /// Payload logging, if on.
    pub payload_log: Option<payload_log::Settings>,
}

impl Config {
    /// How the model is served, with `workers` worker threads (the flag's, or the
    /// CPU budget's when it is unset) and a byte budget of `in_flight_bytes` (the flag's,
    /// or the one derived from the memory limit).
    pub fn serving(&self, workers: usize, in_flight_bytes: usize) -> Serving {
        Serving {
            model_name: self.model_name.clone(),
            model_version: self.model_version.clone(),
            metrics: self.metrics,
            limits: Limits {
                max_in_flight_bytes: in_flight_bytes,
                ..self.limits
            },
            workers,
        }
    }
}

/// A flag or variable with a value we cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{setting} is not valid: {expected}")]
pub struct ConfigError {
    /// The setting as the user wrote it: `--max-batch-rows 0`, `MAX_BATCH_ROWS="0"`.
    setting: String,
    expected: &'static str,
}

impl ConfigError {
    /// `value` of the variable (or setting) `name`.
    fn variable(name: &str, value: &str, expected: &'static str) -> ConfigError {
        ConfigError {
            setting: format!("{name}={value:?}"),
            expected,
        }
    }

    /// `value` of the flag of [`Args`] field `id`, named as typed (`--max-batch-rows`).
    fn flag(id: &str, value: &str, expected: &'static str) -> ConfigError {
        let command = <Args as clap::CommandFactory>::command();
        let long = command
            .get_arguments()
            .find(|arg| arg.get_id() == id)
            .and_then(|arg| arg.get_long())
            .expect("the id of an Args field with a long flag");
        ConfigError {
            setting: format!("--{long} {value}"),
            expected,
        }
    }
}

impl Config {
    /// Merges flags with the environment (flags win) and validates the result.
    pub fn from_args(
        args: Args,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let port = match args.port {
            Some(port) => port,
            None => {
                parse_env(&env, ENV_PORT, "a port number from 0 to 65535")?.unwrap_or(DEFAULT_PORT)
            }
        };
        let drain_seconds = match args.drain_timeout {
            Some(seconds) => seconds,
            None => parse_env(&env, ENV_DRAIN_TIMEOUT, "a whole number of seconds")?
                .unwrap_or(DEFAULT_DRAIN_SECONDS),
        };
        // Knative's queue-proxy already fails readiness and keeps forwarding for its own
        // drain before the container gets SIGTERM: a second delay would only add to it.
        // Outside Kubernetes no load balancer waits on the process, and Ctrl-C or
        // `docker stop` should stop it at once.
        let set = |name| env(name).is_some_and(|value| !value.is_empty());
        let default_delay = match (set(ENV_KUBERNETES_SERVICE_HOST), set(ENV_K_SERVICE)) {
            (true, false) => DEFAULT_SHUTDOWN_DELAY_SECONDS,
            _ => 0,
        };
        let shutdown_delay = match args.shutdown_delay {
            Some(seconds) => seconds,
            None => parse_env(&env, ENV_SHUTDOWN_DELAY, "a whole number of seconds")?
                .unwrap_or(default_delay),
        };
        let metrics = match env(ENV_METRICS).as_deref().map(str::trim) {
            _ if args.no_metrics => false,
            None | Some("") | Some("on") => true,
            Some("off") => false,
            Some(other) => return Err(ConfigError::variable(ENV_METRICS, other, "on or off")),
        };
        let limits = Limits {
            max_body_bytes: positive(
                (args.max_body_bytes, "max_body_bytes"),
                &env,
                ENV_MAX_BODY_BYTES,
                DEFAULT_MAX_BODY_BYTES,
            )?,
            max_batch_rows: positive(
                (args.max_batch_rows, "max_batch_rows"),
                &env,
                ENV_MAX_BATCH_ROWS,
                DEFAULT_MAX_BATCH_ROWS,
            )?,
            max_in_flight: positive(
                (args.max_in_flight, "max_in_flight"),
                &env,
                ENV_MAX_IN_FLIGHT,
                DEFAULT_MAX_IN_FLIGHT,
            )?,
            // Set by `serving` once the memory limit is known (see `max_in_flight_bytes`).
            max_in_flight_bytes: Limits::default().max_in_flight_bytes,
            header_read_timeout: Duration::from_secs(positive(
                (args.header_read_timeout, "header_read_timeout"),
                &env,
                ENV_HEADER_READ_TIMEOUT,
                DEFAULT_HEADER_READ_TIMEOUT.as_secs(),
            )?),
            request_timeout: Duration::from_secs(positive(
                (args.request_timeout, "request_timeout"),
                &env,
                ENV_REQUEST_TIMEOUT,
                DEFAULT_REQUEST_TIMEOUT.as_secs(),
            )?),
        };
        // Unset means "derive from the memory limit"; a budget of zero would refuse all.
        let bytes_set = args.max_in_flight_bytes.is_some()
            || env(ENV_MAX_IN_FLIGHT_BYTES).is_some_and(|v| !v.is_empty());
        let max_in_flight_bytes = bytes_set
            .then(|| {
                positive(
                    (args.max_in_flight_bytes, "max_in_flight_bytes"),
                    &env,
                    ENV_MAX_IN_FLIGHT_BYTES,
                    0,
                )
            })
            .transpose()?;
        // Unset means "size to the CPU budget"; zero threads could serve nothing.
        let workers_set =
            args.workers.is_some() || env(ENV_WORKER_THREADS).is_some_and(|v| !v.is_empty());
        let workers = workers_set
            .then(|| positive((args.workers, "workers"), &env, ENV_WORKER_THREADS, 0))
            .transpose()?;
        let model = args
            .model
            .or_else(|| {
                env(ENV_MODEL_PATH)
                    .filter(|p| !p.is_empty())
                    .map(PathBuf::from)
            })
            .map_or(ModelSource::Bundled, ModelSource::Path);
        let model_name = args
            .model_name
            .or_else(|| env(ENV_MODEL_NAME))
            .or_else(|| env(ENV_K_SERVICE))
            .filter(|name| !name.is_empty())
            .unwrap_or_else(|| default_model_name(&model));
        let model_version = args
            .model_version
            .or_else(|| env(ENV_MODEL_VERSION))
            .filter(|version| !version.is_empty())
            .unwrap_or_else(|| DEFAULT_MODEL_VERSION.to_string());
        for (name, value) in [
            ("model name", &model_name),
            ("model version", &model_version),
        ] {
            if !value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
            {
                return Err(ConfigError::variable(
                    name,
                    value,
                    "letters, digits, '-', '_' and '.' only (it appears in URLs)",
                ));
            }
        }
        let payload_log =
            payload_log::Settings::from_parts(args.payload_log, args.payload_log_url, &env)
                .map_err(|invalid| ConfigError {
                    setting: invalid.setting,
                    expected: invalid.expected,
                })?;
        Ok(Config {
            model,
            model_name,
            model_version,
            addr: SocketAddr::new(args.host.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)), port),
            drain_timeout: Duration::from_secs(drain_seconds),
            shutdown_delay: Duration::from_secs(shutdown_delay),
            metrics,
            limits,
            workers,
            max_in_flight_bytes,
            payload_log,
        })
    }
}

fn parse_env<T: std::str::FromStr>(
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    expected: &'static str,
) -> Result<Option<T>, ConfigError> {
    match env(name) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => match value.trim().parse() {
            Ok(parsed) => Ok(Some(parsed)),
            Err(_) => Err(ConfigError::variable(name, &value, expected)),
        },
    }
}

/// A limit from its flag (the value and the [`Args`] field), else its variable `name`,
/// else `default`; zero is refused, named as the user gave it (a limit of zero would
/// refuse every request).
fn positive<T>(
    (flag, field): (Option<T>, &str),
    env: &impl Fn(&str) -> Option<String>,
    name: &'static str,
    default: T,
) -> Result<T, ConfigError>
where
    T: std::str::FromStr + PartialEq + Default + ToString,
{
    const EXPECTED: &str = "a whole number above 0";
    let (value, from_flag) = match flag {
        Some(value) => (value, true),
        None => (parse_env(env, name, EXPECTED)?.unwrap_or(default), false),
    };
    if value == T::default() {
        let value = value.to_string();
        return Err(if from_flag {
            ConfigError::flag(field, &value, EXPECTED)
        } else {
            ConfigError::variable(name, &value, EXPECTED)
        });
    }
    Ok(value)
}

/// The file stem of the model path, or the bundled model's name.
fn default_model_name(model: &ModelSource) -> String {
    match model {
        ModelSource::Bundled => BUNDLED_MODEL_NAME.to_string(),
        ModelSource::Path(path) => path
            .file_stem()
            .map(|stem| {
                stem.to_string_lossy()
                    .chars()
                    .map(|c| {
                        if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                            c
                        } else {
                            '-'
                        }
                    })
                    .collect()
            })
            .unwrap_or_else(|| "model".to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(flags: &[&str], env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let args =
            Args::try_parse_from(std::iter::once("function").chain(flags.iter().copied())).unwrap();
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from_args(args, |key| env.get(key).cloned())
    }

    #[test]
    fn defaults_serve_the_bundled_model_on_8080() {
        let config = config(&[], &[]).unwrap();
        assert_eq!(config.model, ModelSource::Bundled);
        assert_eq!(config.addr, "0.0.0.0:8080".parse().unwrap());
        assert_eq!(config.model_name, BUNDLED_MODEL_NAME);
    }

    #[test]
    fn port_comes_from_the_environment_and_flags_win() {
        assert_eq!(config(&[], &[("PORT", "9000")]).unwrap().addr.port(), 9000);
        assert_eq!(
            config(&["--port", "7000"], &[("PORT", "9000")])
                .unwrap()
                .addr
                .port(),
            7000
        );
    }

    #[test]
    fn rejects_a_port_that_is_not_a_number() {
        let err = config(&[], &[("PORT", "eighty")]).unwrap_err();
        assert!(err.to_string().contains("PORT=\"eighty\""), "{err}");
    }

    #[test]
    fn model_path_from_env_names_the_model() {
        let config = config(&[], &[("MODEL_PATH", "/models/churn v2.onnx")]).unwrap();
        assert_eq!(
            config.model,
            ModelSource::Path("/models/churn v2.onnx".into())
        );
        assert_eq!(config.model_name, "churn-v2");
    }

    #[test]
    fn model_name_falls_back_to_k_service() {
        let config = config(&[], &[("K_SERVICE", "iris")]).unwrap();
        assert_eq!(config.model_name, "iris");
        let config =
            super::tests::config(&[], &[("K_SERVICE", "iris"), ("MODEL_NAME", "m")]).unwrap();
        assert_eq!(config.model_name, "m");
    }

    #[test]
    fn shutdown_delay_is_set_on_plain_kubernetes_only_and_flags_win() {
        let delay =
            |flags: &[&str], env: &[(&str, &str)]| config(flags, env).unwrap().shutdown_delay;
        let kubernetes = ("KUBERNETES_SERVICE_HOST", "10.96.0.1");
        assert_eq!(
            delay(&[], &[kubernetes]),
            Duration::from_secs(DEFAULT_SHUTDOWN_DELAY_SECONDS)
        );
        assert_eq!(
            delay(&[], &[kubernetes, ("K_SERVICE", "iris")]),
            Duration::ZERO
        );
        assert_eq!(delay(&[], &[]), Duration::ZERO);
        assert_eq!(
            delay(&[], &[("KUBERNETES_SERVICE_HOST", "")]),
            Duration::ZERO
        );
        let set = [("K_SERVICE", "iris"), ("SHUTDOWN_DELAY_SECONDS", "3")];
        assert_eq!(delay(&[], &set), Duration::from_secs(3));
        assert_eq!(delay(&["--shutdown-delay", "0"], &set), Duration::ZERO);
        let err = config(&[], &[("SHUTDOWN_DELAY_SECONDS", "5s")]).unwrap_err();
        assert!(
            err.to_string().contains("SHUTDOWN_DELAY_SECONDS=\"5s\""),
            "{err}"
        );
    }

    #[test]
    fn rejects_a_model_name_unfit_for_urls() {
        assert!(config(&["--model-name", "a/b"], &[]).is_err());
    }

    #[test]
    fn metrics_are_on_unless_turned_off_by_flag_or_env() {
        assert!(config(&[], &[]).unwrap().metrics);
        assert!(
            !config(&["--no-metrics"], &[("METRICS", "on")])
                .unwrap()
                .metrics
        );
        assert!(!config(&[], &[("METRICS", "off")]).unwrap().metrics);
        let err = config(&[], &[("METRICS", "false")]).unwrap_err();
        assert!(err.to_string().contains("on or off"), "{err}");
    }

    #[test]
    fn limits_come_from_flags_or_env_and_zero_is_refused() {
        let limits = config(&[], &[]).unwrap().limits;
        assert_eq!(limits, Limits::default());
        let from_env = config(
            &["--max-in-flight", "3"],
            &[
                ("MAX_BODY_BYTES", "1000"),
                ("MAX_BATCH_ROWS", "7"),
                ("MAX_IN_FLIGHT", "9"),
                ("REQUEST_TIMEOUT_SECONDS", "2"),
            ],
        )
        .unwrap()
        .limits;
        assert_eq!(from_env.max_body_bytes, 1000);
        assert_eq!(from_env.max_batch_rows, 7);
        assert_eq!(from_env.max_in_flight, 3);
        assert_eq!(from_env.request_timeout, Duration::from_secs(2));
        let err = config(&[], &[("MAX_BATCH_ROWS", "0")]).unwrap_err();
        assert!(err.to_string().contains("MAX_BATCH_ROWS=\"0\""), "{err}");
        assert!(config(&["--header-read-timeout", "0"], &[]).is_err());
        assert!(config(&[], &[("MAX_BODY_BYTES", "4MiB")]).is_err());
    }

    /// `--help` ends with what no flag covers: the logging variables and the exit codes.
    #[test]
    fn help_lists_the_logging_variables_and_the_exit_codes() {
        let help = <Args as clap::CommandFactory>::command()
            .render_long_help()
            .to_string();
        for fact in [
            "LOG_FORMAT  json or text",
            "LOG_LEVEL   error, warn, info, debug, trace, off [default: info]",
            "RUST_LOG    a tracing filter directive",
            "0   stopped by SIGTERM",
            "1   the model cannot be loaded",
            "64  a bad flag",
        ] {
            assert!(help.contains(fact), "{fact:?} missing from:\n{help}");
        }
    }

    /// A bad flag is named as typed, not by the variable it stands in for.
    #[test]
    fn a_zero_limit_is_reported_by_the_flag_or_variable_that_set_it() {
        for flag in [
            "--max-body-bytes",
            "--max-batch-rows",
            "--max-in-flight",
            "--max-in-flight-bytes",
            "--header-read-timeout",
            "--request-timeout",
            "--workers",
        ] {
            let err = config(&[flag, "0"], &[]).unwrap_err().to_string();
            assert_eq!(
                err,
                format!("{flag} 0 is not valid: a whole number above 0"),
                "{flag}"
            );
        }
        let err = config(&[], &[("MAX_IN_FLIGHT", "0")]).unwrap_err();
        assert!(err.to_string().starts_with("MAX_IN_FLIGHT=\"0\""), "{err}");
    }

    #[test]
    fn model_version_defaults_to_1_and_comes_from_flag_or_env() {
        assert_eq!(config(&[], &[]).unwrap().model_version, "1");
        let from_env = config(&[], &[("MODEL_VERSION", "2024-06")]).unwrap();
        assert_eq!(from_env.model_version, "2024-06");
        let flag = config(&["--model-version", "7"], &[("MODEL_VERSION", "2")]).unwrap();
        assert_eq!(flag.model_version, "7");
        assert!(config(&["--model-version", "v 1"], &[]).is_err());
    }

    #[test]
    fn the_memory_budget_is_unset_by_default_and_comes_from_flag_or_env() {
        let bytes = |flags: &[&str], env: &[(&str, &str)]| {
            config(flags, env).map(|c| (c.max_in_flight_bytes, c.serving(1, 77).limits))
        };
        let (unset, limits) = bytes(&[], &[("MAX_IN_FLIGHT_BYTES", "")]).unwrap();
        assert_eq!(unset, None);
        assert_eq!(limits.max_in_flight_bytes, 77, "derived at start-up");
        let env = [("MAX_IN_FLIGHT_BYTES", "1048576")];
        assert_eq!(bytes(&[], &env).unwrap().0, Some(1 << 20));
        let flag = bytes(&["--max-in-flight-bytes", "5000"], &env).unwrap().0;
        assert_eq!(flag, Some(5000));
        let err = config(&[], &[("MAX_IN_FLIGHT_BYTES", "64Mi")]).unwrap_err();
        assert!(
            err.to_string().contains("MAX_IN_FLIGHT_BYTES=\"64Mi\""),
            "{err}"
        );
        assert!(config(&[], &[("MAX_IN_FLIGHT_BYTES", "0")]).is_err());
    }

    #[test]
    fn payload_logging_is_off_by_default_and_needs_a_sink_when_on() {
        assert_eq!(
            config(&[], &[("K_SINK", "http://sink/")])
                .unwrap()
                .payload_log,
            None
        );
        let on = config(&["--payload-log", "all"], &[("K_SINK", "http://sink/")]).unwrap();
        assert_eq!(on.payload_log.unwrap().sink, "http://sink/");
        let err = config(&[], &[("PAYLOAD_LOG", "response")]).unwrap_err();
        assert!(err.to_string().contains("needs a sink: K_SINK"), "{err}");
    }

    #[test]
    fn workers_are_unset_by_default_and_zero_is_refused() {
        assert_eq!(config(&[], &[]).unwrap().workers, None);
        assert_eq!(
            config(&[], &[("WORKER_THREADS", "")]).unwrap().workers,
            None
        );
        assert_eq!(
            config(&[], &[("WORKER_THREADS", "3")]).unwrap().workers,
            Some(3)
        );
        assert_eq!(
            config(&["--workers", "1"], &[("WORKER_THREADS", "3")])
                .unwrap()
                .workers,
            Some(1)
        );
        let err = config(&[], &[("WORKER_THREADS", "0")]).unwrap_err();
        assert!(err.to_string().contains("WORKER_THREADS=\"0\""), "{err}");
        assert!(config(&["--workers", "0"], &[]).is_err());
    }
}
