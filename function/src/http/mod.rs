//! The serving edge, in the order a request meets it: [`server`] accepts connections
//! (HTTP/1.1 and h2c) and drains them on shutdown; [`layers`] resolves the route once,
//! gives the request its id, counts and times it, and enforces the server-wide limits;
//! [`router`] hands it to its handler: a protocol adapter ([`crate::protocol`]), the
//! health routes, the summary at `GET /` ([`index`]) or the OpenAPI document
//! ([`openapi`]). A gRPC call (`content-type: application/grpc`) goes to [`grpc`]
//! instead of the layers and the router: same port, same limits, its own framing.

pub mod grpc;
pub mod health;
pub mod index;
pub mod layers;
pub mod openapi;
pub mod request_id;
pub mod router;
pub mod server;
