//! What every integration test shares, one module per way of driving the function:
//!
//! - [`process`]: the real binaries as child processes: spawned with their arguments and
//!   environment, killed when their guard drops; free ports, readiness, exit, SIGTERM.
//! - [`raw`]: HTTP/1.1 written and read by hand over TCP, for what a client library
//!   would not send or would hide.
//! - [`load`]: clients sending requests one after another on kept-alive connections.
//! - [`client`]: an HTTP/1.1 and h2c client built on hyper, and [`client::Reply`].
//! - [`server`]: the server in this process on an ephemeral port ([`server::TestServer`]).
//!
//! Every wait is bounded by [`TIMEOUT`], so a hung server fails a test instead of
//! hanging it.
#![forbid(unsafe_code)]

use std::time::Duration;

pub mod client;
pub mod load;
pub mod process;
pub mod raw;
pub mod server;

/// Upper bound on any single step of a test: a start, a connection, an answer, an exit.
pub const TIMEOUT: Duration = Duration::from_secs(10);
