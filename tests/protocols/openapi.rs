//! The OpenAPI document lists every route the server answers, and nothing else.

use harness::client::{bodiless, send};
use harness::server::TestServer;
use hyper::Method;

use crate::NAME;

#[tokio::test]
async fn openapi_document_lists_every_route() {
    let server = TestServer::bundled().await;
    let spec = send(
        server.addr,
        bodiless(server.addr, Method::GET, "/openapi.json"),
    )
    .await
    .ok_json();
    assert_eq!(spec["openapi"], "3.0.3");
    let routes = [
        ("post", "/predict"),
        ("get", "/"),
        ("post", "/"),
        ("get", "/healthz"),
        ("get", "/readyz"),
        ("get", "/health/liveness"),
        ("get", "/health/readiness"),
        ("get", "/openapi.json"),
        ("get", "/metrics"),
        ("get", "/v1/models"),
        ("get", "/v1/models/{name}"),
        ("post", "/v1/models/{name}:predict"),
        ("post", "/v1/models/{name}:explain"),
        ("get", "/v2"),
        ("get", "/v2/health/live"),
        ("get", "/v2/health/ready"),
        ("get", "/v2/models/{name}"),
        ("get", "/v2/models/{name}/ready"),
        ("post", "/v2/models/{name}/infer"),
        ("get", "/v2/models/{name}/versions/{version}"),
        ("get", "/v2/models/{name}/versions/{version}/ready"),
        ("post", "/v2/models/{name}/versions/{version}/infer"),
    ];
    for (method, path) in routes {
        assert!(
            spec["paths"][path][method].is_object(),
            "{method} {path} is missing"
        );
    }
    let documented: usize = spec["paths"]
        .as_object()
        .unwrap()
        .values()
        .map(|item| {
            item.as_object()
                .unwrap()
                .keys()
                .filter(|m| *m != "head")
                .count()
        })
        .sum();
    assert_eq!(
        documented,
        routes.len(),
        "a documented route the test does not know"
    );
    assert_eq!(
        spec["components"]["parameters"]["ModelName"]["example"],
        NAME
    );
    server.stop().await;
}
