//! Logging set-up: JSON lines (`LOG_FORMAT=json`, the image's default) for log
//! collectors, or text for people; the level from `RUST_LOG`, else `LOG_LEVEL`, else
//! `info`; Knative's `K_SERVICE`, `K_CONFIGURATION` and `K_REVISION` on every line; and
//! panics as one error record.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Json, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::EnvFilter;

/// `json` or `text`.
pub const ENV_LOG_FORMAT: &str = "LOG_FORMAT";
/// The function's level (`debug` shows a line per request); `RUST_LOG` wins when set.
pub const ENV_LOG_LEVEL: &str = "LOG_LEVEL";
/// The filter variable tracing users know.
pub const ENV_RUST_LOG: &str = "RUST_LOG";
/// The Knative runtime contract's variables, logged (lowercased) on every line.
pub const KNATIVE_ENV: [&str; 3] = ["K_SERVICE", "K_CONFIGURATION", "K_REVISION"];
/// What `LOG_LEVEL` takes.
pub const LEVELS: [&str; 6] = ["error", "warn", "info", "debug", "trace", "off"];
/// Level when neither variable is set.
pub const DEFAULT_LEVEL: &str = "info";

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// tracing's human-readable format.
    Text,
}

/// A logging variable with a value we cannot use.
#[derive(Debug, thiserror::Error)]
#[error("{name}={value:?} is not valid: {expected}")]
pub struct LogConfigError {
    name: &'static str,
    value: String,
    expected: String,
}

/// What the environment asks of the logs.
#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// JSON or text.
    pub format: LogFormat,
    /// An `EnvFilter` directive.
    pub filter: String,
    /// `("k_revision", "iris-00001")`... for the Knative variables that are set.
    pub fields: Vec<(String, String)>,
}

impl LogConfig {
    /// Reads `LOG_FORMAT`, `RUST_LOG`, `LOG_LEVEL` and the Knative variables through
    /// `env`.
    pub fn from_env(env: impl Fn(&str) -> Option<String>) -> Result<LogConfig, LogConfigError> {
        let set = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let format = match set(ENV_LOG_FORMAT).as_deref().map(str::trim) {
            None => LogFormat::Text,
            Some(f) if f.eq_ignore_ascii_case("json") => LogFormat::Json,
            Some(f) if f.eq_ignore_ascii_case("text") => LogFormat::Text,
            Some(other) => {
                return Err(LogConfigError {
                    name: ENV_LOG_FORMAT,
                    value: other.to_string(),
                    expected: "json or text".into(),
                })
            }
        };
        let filter = match (set(ENV_RUST_LOG), set(ENV_LOG_LEVEL)) {
            (Some(filter), _) => {
                if let Err(error) = EnvFilter::builder().parse(&filter) {
                    return Err(LogConfigError {
                        name: ENV_RUST_LOG,
                        value: filter,
                        expected: format!("a tracing filter directive ({error})"),
                    });
                }
                filter
            }
            (None, Some(level)) => {
                let level = level.trim().to_ascii_lowercase();
                if !LEVELS.contains(&level.as_str()) {
                    return Err(LogConfigError {
                        name: ENV_LOG_LEVEL,
                        value: level,
                        expected: LEVELS.join(", "),
                    });
                }
                // debug and trace are for this function's own lines (the per-request
                // line); tract's debug output at load time is only noise here.
                match level.as_str() {
                    "debug" | "trace" => format!("{DEFAULT_LEVEL},function={level}"),
                    _ => level,
                }
            }
            (None, None) => DEFAULT_LEVEL.to_string(),
        };
        let fields = KNATIVE_ENV
            .iter()
            .filter_map(|name| Some((name.to_ascii_lowercase(), set(name)?)))
            .collect();
        Ok(LogConfig {
            format,
            filter,
            fields,
        })
    }

    /// Installs the global subscriber, writing to stderr.
    pub fn init(&self) {
        let filter = EnvFilter::builder()
            .parse(&self.filter)
            .unwrap_or_else(|_| EnvFilter::new(DEFAULT_LEVEL));
        let builder = tracing_subscriber::fmt()
            .with_env_filter(filter)
            .with_writer(std::io::stderr);
        match self.format {
            LogFormat::Json => builder
                .fmt_fields(JsonFields::new())
                .event_format(WithFields::json(
                    tracing_subscriber::fmt::format()
                        .json()
                        .flatten_event(true)
                        .with_current_span(false)
                        .with_span_list(false),
                    &self.fields,
                ))
                .init(),
            LogFormat::Text => builder
                // Colour codes only for a person at a terminal, not for log collectors.
                .with_ansi(std::io::stderr().is_terminal())
                .event_format(WithFields::text(
                    tracing_subscriber::fmt::format(),
                    &self.fields,
                ))
                .init(),
        }
    }

    /// Installs a text subscriber at the default level: for reporting a bad logging
    /// variable before exiting.
    pub fn init_fallback() {
        tracing_subscriber::fmt()
            .with_env_filter(EnvFilter::new(DEFAULT_LEVEL))
            .with_writer(std::io::stderr)
            .with_ansi(std::io::stderr().is_terminal())
            .init();
    }
}

/// Adds fixed fields to every line of an inner formatter: inside the JSON object, or at
/// the end of a text line. Fields rather than a root span, because spans do not follow
/// the tasks tokio and hyper spawn, and a line without its revision is of little use.
struct WithFields<F> {
    inner: F,
    /// `"k_revision":"iris-00001",` for JSON, ` k_revision=iris-00001` for text.
    extra: String,
    json: bool,
}

impl WithFields<Format<Json>> {
    fn json(inner: Format<Json>, fields: &[(String, String)]) -> Self {
        let extra = fields
            .iter()
            .map(|(k, v)| {
                format!(
                    "{}:{},",
                    serde_json::Value::from(k.as_str()),
                    serde_json::Value::from(v.as_str())
                )
            })
            .collect();
        WithFields {
            inner,
            extra,
            json: true,
        }
    }
}

impl WithFields<Format<Full>> {
    fn text(inner: Format<Full>, fields: &[(String, String)]) -> Self {
        let extra = fields.iter().map(|(k, v)| format!(" {k}={v}")).collect();
        WithFields {
            inner,
            extra,
            json: false,
        }
    }
}

impl<S, N, F> FormatEvent<S, N> for WithFields<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        if self.extra.is_empty() {
            return self.inner.format_event(ctx, writer, event);
        }
        let mut line = String::with_capacity(256);
        self.inner
            .format_event(ctx, Writer::new(&mut line), event)?;
        let (body, newline) = match line.strip_suffix('\n') {
            Some(body) => (body, "\n"),
            None => (line.as_str(), ""),
        };
        match body.strip_prefix('{').filter(|_| self.json) {
            Some(rest) => write!(writer, "{{{}{rest}{newline}", self.extra),
            None => write!(writer, "{body}{}{newline}", self.extra),
        }
    }
}

/// Logs every panic as one error record (location and message) instead of the default
/// multi-line report on stderr: log collectors split records on newlines, and a panic
/// caught by the request guard (`crate::http::layers`) or by the model loader must not break the log.
pub fn log_panics() {
    std::panic::set_hook(Box::new(|info| {
        let payload = info.payload();
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default();
        let location = info.location().map(ToString::to_string).unwrap_or_default();
        tracing::error!(%location, "panic: {}", message.replace('\n', " "));
    }));
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(env: &[(&str, &str)]) -> Result<LogConfig, LogConfigError> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        LogConfig::from_env(|key| env.get(key).cloned())
    }

    #[test]
    fn defaults_to_text_at_info_without_knative_fields() {
        let config = config(&[]).unwrap();
        assert_eq!(config.format, LogFormat::Text);
        assert_eq!(config.filter, "info");
        assert!(config.fields.is_empty());
    }

    #[test]
    fn rust_log_wins_over_log_level() {
        let level = config(&[("LOG_LEVEL", "DEBUG")]).unwrap().filter;
        assert_eq!(level, "info,function=debug");
        assert_eq!(config(&[("LOG_LEVEL", "warn")]).unwrap().filter, "warn");
        let both = config(&[("LOG_LEVEL", "debug"), ("RUST_LOG", "warn")]).unwrap();
        assert_eq!(both.filter, "warn");
    }

    #[test]
    fn rejects_an_unknown_format_or_level() {
        let err = config(&[("LOG_FORMAT", "xml")]).unwrap_err();
        assert!(err.to_string().contains("LOG_FORMAT=\"xml\""), "{err}");
        // A bare word is a valid RUST_LOG target filter, but not a level.
        let err = config(&[("LOG_LEVEL", "verbose")]).unwrap_err();
        assert!(err.to_string().contains("LOG_LEVEL=\"verbose\""), "{err}");
        assert!(config(&[("RUST_LOG", "function=debug,hyper=[")]).is_err());
    }

    #[test]
    fn knative_variables_become_lowercase_fields() {
        let config = config(&[("LOG_FORMAT", "JSON"), ("K_REVISION", "iris-00002")]).unwrap();
        assert_eq!(config.format, LogFormat::Json);
        assert_eq!(
            config.fields,
            [("k_revision".to_string(), "iris-00002".to_string())]
        );
    }
}
