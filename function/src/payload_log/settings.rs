//! What `--payload-log` needs, read from flags and environment: the mode, the sink
//! (`K_SINK`, which a Knative SinkBinding injects, or `--payload-log-url`) and the
//! attributes a SinkBinding asks for (`K_CE_OVERRIDES`). A leaf: [`crate::config`]
//! calls [`Settings::from_parts`] and reports its errors like any other setting's.

use hyper::Uri;

/// Which payloads are sent, as KServe's `logger.mode` names them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Mode {
    /// Request and response events.
    All,
    /// Request events only.
    Request,
    /// Response events only.
    Response,
    /// No events (the default).
    Off,
}

impl Mode {
    /// The name it is set by: `all`, `request`, `response` or `off`.
    pub fn name(self) -> &'static str {
        match self {
            Mode::All => "all",
            Mode::Request => "request",
            Mode::Response => "response",
            Mode::Off => "off",
        }
    }

    /// Whether request events are sent.
    pub fn requests(self) -> bool {
        matches!(self, Mode::All | Mode::Request)
    }

    /// Whether response events are sent.
    pub fn responses(self) -> bool {
        matches!(self, Mode::All | Mode::Response)
    }
}

/// `all`, `request`, `response` or `off`.
pub const ENV_PAYLOAD_LOG: &str = "PAYLOAD_LOG";
/// Where events go when `K_SINK` is not set (or to override it).
pub const ENV_PAYLOAD_LOG_URL: &str = "PAYLOAD_LOG_URL";
/// The sink's address, injected by a Knative SinkBinding (or a ContainerSource).
pub const ENV_K_SINK: &str = "K_SINK";
/// `{"extensions": {"name": "value", ...}}`, injected by a SinkBinding with
/// `ceOverrides`: attributes added to (or replacing those of) every event sent.
pub const ENV_K_CE_OVERRIDES: &str = "K_CE_OVERRIDES";
/// The pod's namespace, from the downward API (`fieldRef: metadata.namespace`).
pub const ENV_POD_NAMESPACE: &str = "POD_NAMESPACE";
/// The pod's name in Kubernetes: the events' `source`, as KServe's logger sets it.
pub const ENV_HOSTNAME: &str = "HOSTNAME";

/// A setting [`Settings::from_parts`] cannot use: the setting as written and what it
/// accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The setting as the user wrote it: `--payload-log-url ftp://x`, `K_SINK="..."`.
    pub setting: String,
    /// What would be accepted.
    pub expected: &'static str,
}

/// Payload logging, validated: on, with a sink.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Which events are sent; never [`Mode::Off`].
    pub mode: Mode,
    /// The sink, an `http://` URL.
    pub sink: Uri,
    /// `K_CE_OVERRIDES`' extensions, by name: set on every event last.
    pub overrides: Vec<(String, String)>,
    /// `POD_NAMESPACE`, if set (else the service account's namespace file is read at
    /// start, see `crate::payload_log`).
    pub namespace: Option<String>,
    /// `HOSTNAME`, the pod's name, if set: the events' `source`.
    pub pod_name: Option<String>,
}

impl Settings {
    /// Payload logging from the flags (`mode`, `url`, which win) and the environment;
    /// `None` when it is off. On without a sink is an error: events would be dropped
    /// silently, which is worse than not starting.
    pub fn from_parts(
        mode: Option<Mode>,
        url: Option<String>,
        env: &impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Settings>, Invalid> {
        let set = |name: &str| env(name).filter(|value| !value.trim().is_empty());
        let mode =
            match mode {
                Some(mode) => mode,
                None => match set(ENV_PAYLOAD_LOG) {
                    None => Mode::Off,
                    Some(value) => <Mode as clap::ValueEnum>::from_str(value.trim(), true)
                        .map_err(|_| Invalid {
                            setting: format!("{ENV_PAYLOAD_LOG}={value:?}"),
                            expected: "all, request, response or off",
                        })?,
                },
            };
        if mode == Mode::Off {
            return Ok(None);
        }
        let (setting, url) = match (url, set(ENV_PAYLOAD_LOG_URL), set(ENV_K_SINK)) {
            (Some(url), _, _) => (format!("--payload-log-url {url}"), url),
            (None, Some(url), _) => (format!("{ENV_PAYLOAD_LOG_URL}={url:?}"), url),
            (None, None, Some(url)) => (format!("{ENV_K_SINK}={url:?}"), url),
            (None, None, None) => {
                return Err(Invalid {
                    setting: format!("payload logging ({})", mode.name()),
                    expected: "it needs a sink: K_SINK (a Knative SinkBinding sets it), \
                               or --payload-log-url / PAYLOAD_LOG_URL",
                });
            }
        };
        let sink = parse_sink(url.trim()).ok_or(Invalid {
            setting,
            expected: "an http:// URL with a host, e.g. \
                       http://broker-ingress.knative-eventing.svc.cluster.local/ns/default",
        })?;
        let overrides = match set(ENV_K_CE_OVERRIDES) {
            None => Vec::new(),
            Some(json) => parse_overrides(&json).ok_or_else(|| Invalid {
                setting: format!("{ENV_K_CE_OVERRIDES}={json:?}"),
                expected: "JSON {\"extensions\": {\"name\": \"value\", ...}} with names of \
                           lowercase letters and digits (CloudEvents attribute names)",
            })?,
        };
        Ok(Some(Settings {
            mode,
            sink,
            overrides,
            namespace: set(ENV_POD_NAMESPACE).map(|ns| ns.trim().to_string()),
            pod_name: set(ENV_HOSTNAME).map(|name| name.trim().to_string()),
        }))
    }
}

/// An `http://` URL with a host. No TLS: in-cluster sinks (a Broker's ingress, a
/// KafkaSink) are plain HTTP, and a mesh encrypts below us.
fn parse_sink(url: &str) -> Option<Uri> {
    let uri: Uri = url.parse().ok()?;
    (uri.scheme_str() == Some("http") && uri.host().is_some_and(|h| !h.is_empty())).then_some(uri)
}

/// `K_CE_OVERRIDES`' extensions as header-ready pairs. Strings are taken as they are;
/// numbers and booleans as their JSON text (the HTTP binding sends every attribute as
/// text). A name that is not a CloudEvents attribute name, or a value a header cannot
/// carry, refuses the whole setting.
fn parse_overrides(json: &str) -> Option<Vec<(String, String)>> {
    let value: serde_json::Value = serde_json::from_str(json).ok()?;
    let object = value.as_object()?;
    let Some(extensions) = object.get("extensions") else {
        // Knative documents only `extensions`; an empty object overrides nothing.
        return object.is_empty().then(Vec::new);
    };
    let mut pairs = Vec::new();
    for (name, value) in extensions.as_object()? {
        let valid_name = !name.is_empty()
            && name.len() <= 20
            && name
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
        let text = match value {
            serde_json::Value::String(text) => text.clone(),
            serde_json::Value::Number(_) | serde_json::Value::Bool(_) => value.to_string(),
            _ => return None,
        };
        let valid_value = text
            .bytes()
            .all(|b| b == b'\t' || (b' '..=b'~').contains(&b));
        if !valid_name || !valid_value {
            return None;
        }
        pairs.push((name.clone(), text));
    }
    Some(pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(
        mode: Option<Mode>,
        url: Option<&str>,
        env: &[(&str, &str)],
    ) -> Result<Option<Settings>, Invalid> {
        let env: HashMap<String, String> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_parts(mode, url.map(String::from), &|key| env.get(key).cloned())
    }

    #[test]
    fn off_by_default_even_with_a_sink() {
        assert_eq!(settings(None, None, &[("K_SINK", "http://sink")]), Ok(None));
        assert_eq!(
            settings(Some(Mode::Off), None, &[("PAYLOAD_LOG", "all")]),
            Ok(None)
        );
    }

    #[test]
    fn on_without_a_sink_is_refused() {
        let err = settings(None, None, &[("PAYLOAD_LOG", "request")]).unwrap_err();
        assert!(err.expected.contains("K_SINK"), "{err:?}");
        assert!(err.setting.contains("request"), "{err:?}");
    }

    #[test]
    fn the_flag_wins_over_payload_log_url_which_wins_over_k_sink() {
        let env = [
            ("PAYLOAD_LOG", "ALL"),
            ("K_SINK", "http://k-sink/"),
            ("PAYLOAD_LOG_URL", "http://env-url:8080/events"),
        ];
        let from_env = settings(None, None, &env).unwrap().unwrap();
        assert_eq!(from_env.mode, Mode::All);
        assert_eq!(from_env.sink, "http://env-url:8080/events");
        let flag = settings(Some(Mode::Response), Some("http://flag/"), &env);
        let flag = flag.unwrap().unwrap();
        assert_eq!(
            (flag.mode, flag.sink.to_string()),
            (Mode::Response, "http://flag/".into())
        );
        let k_sink = settings(None, None, &[env[0], env[1]]).unwrap().unwrap();
        assert_eq!(k_sink.sink, "http://k-sink/");
    }

    #[test]
    fn refuses_a_sink_that_is_not_plain_http_naming_where_it_came_from() {
        for url in ["https://sink/", "sink:8080", "http://", "not a url"] {
            let err = settings(None, None, &[("PAYLOAD_LOG", "all"), ("K_SINK", url)]);
            let err = err.unwrap_err();
            assert!(err.setting.starts_with("K_SINK="), "{url}: {err:?}");
        }
        let err = settings(None, None, &[("PAYLOAD_LOG", "everything")]).unwrap_err();
        assert_eq!(err.setting, "PAYLOAD_LOG=\"everything\"");
    }

    #[test]
    fn ce_overrides_become_extensions_and_bad_ones_are_refused() {
        let on = |overrides: &str| {
            settings(
                Some(Mode::All),
                Some("http://sink"),
                &[("K_CE_OVERRIDES", overrides)],
            )
        };
        let parsed = on(r#"{"extensions": {"team": "fraud", "tier": 2, "canary": true}}"#);
        assert_eq!(
            parsed.unwrap().unwrap().overrides,
            [
                ("canary".to_string(), "true".to_string()),
                ("team".into(), "fraud".into()),
                ("tier".into(), "2".into()),
            ]
        );
        assert_eq!(on("{}").unwrap().unwrap().overrides, []);
        for bad in [
            "extensions",
            r#"{"extensions": {"Team": "x"}}"#,
            r#"{"extensions": {"team-name": "x"}}"#,
            r#"{"extensions": {"team": {"nested": 1}}}"#,
            r#"{"extensions": {"team": "line\nbreak"}}"#,
            r#"{"other": 1}"#,
        ] {
            let err = on(bad).unwrap_err();
            assert!(err.setting.starts_with("K_CE_OVERRIDES="), "{bad}: {err:?}");
        }
    }
}
