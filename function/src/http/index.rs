//! `GET /`: a summary a person can read with curl: the served model, what its file says
//! about itself, and every route of the table ([`crate::routes`]) with what it is for.

use bytes::Bytes;
use http_body_util::Full;
use hyper::{Response, StatusCode};
use serde_json::{Map, Value};

use crate::error::json_response;
use crate::protocol::open_inference::input_metadata;
use crate::routes::{Methods, ROUTES};
use crate::state::App;

/// The summary as a JSON response.
pub fn summary(app: &App) -> Response<Full<Bytes>> {
    let info = app.model.info();
    let body = serde_json::json!({
        "name": app.model_name,
        "model": {
            "operator": info.operator,
            "producer": info.producer,
            "inputs": input_metadata(info),
            "features": info.n_features(),
            "feature_names": info.feature_names,
            "class_names": info.class_names,
            "missing_values": info.handles_missing(),
        },
        "version": app.model_version,
        "routes": routes(),
    });
    json_response(StatusCode::OK, body.to_string().into_bytes())
}

/// `"METHOD path, path": summary` for every route, in table order.
fn routes() -> Map<String, Value> {
    ROUTES
        .iter()
        .map(|route| {
            let method = match route.methods {
                Methods::Get => "GET",
                Methods::Post => "POST",
            };
            let paths: Vec<&str> = route.paths.iter().map(|path| path.template).collect();
            (
                format!("{method} {}", paths.join(", ")),
                Value::from(route.summary),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_every_route_once_with_its_method() {
        let routes = routes();
        assert_eq!(routes.len(), ROUTES.len());
        assert!(routes.contains_key("POST /predict"));
        assert!(routes.contains_key("GET /healthz, /health/liveness"));
        assert!(routes.contains_key(
            "POST /v2/models/{name}/infer, /v2/models/{name}/versions/{version}/infer"
        ));
    }
}
