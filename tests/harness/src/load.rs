//! Load on the real binary: clients on threads, each sending requests one after another
//! on kept-alive connections and reconnecting when the server closes one, until told to
//! stop; then the count of answers and every wrong one.

use std::io::{BufReader, Write};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::raw::{self, Response};

/// How long a client waits for a connection before trying again.
const CONNECT_TIMEOUT: Duration = Duration::from_millis(500);

/// A request a load client sends, and what it accepts back.
pub trait Exchange {
    /// The request's bytes (keep-alive: no `connection: close`).
    fn request(&self) -> &[u8];

    /// `Err` describing the response unless it is a right answer.
    fn check(&self, response: &Response) -> Result<(), String>;

    /// Whether the connection may carry the next request after `response` (no, when
    /// the server may not have read the whole request).
    fn keeps_connection(&self, _response: &Response) -> bool {
        true
    }
}

impl<E: Exchange + ?Sized> Exchange for &E {
    fn request(&self) -> &[u8] {
        (**self).request()
    }

    fn check(&self, response: &Response) -> Result<(), String> {
        (**self).check(response)
    }

    fn keeps_connection(&self, response: &Response) -> bool {
        (**self).keeps_connection(response)
    }
}

/// One client: sends the exchanges `next` picks until `count` are answered or `stop` is
/// set. Returns (answered, failures): a failure is a response that broke off or failed
/// its check; a connection refused, or closed before any response byte, is a request
/// the server never took up, and the client reconnects.
pub fn client<E: Exchange>(
    addr: SocketAddr,
    count: usize,
    stop: &AtomicBool,
    mut next: impl FnMut() -> E,
) -> (usize, Vec<String>) {
    let (mut answered, mut failures) = (0, Vec::new());
    'connections: while answered < count && !stop.load(Ordering::Relaxed) {
        let Some(stream) = raw::connect(addr, CONNECT_TIMEOUT) else {
            std::thread::sleep(Duration::from_millis(5));
            continue;
        };
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut writer = stream;
        while answered < count && !stop.load(Ordering::Relaxed) {
            let exchange = next();
            if writer.write_all(exchange.request()).is_err() {
                continue 'connections;
            }
            let response = match raw::read_response(&mut reader) {
                Ok(Some(response)) => response,
                Ok(None) => continue 'connections,
                Err(failure) => {
                    failures.push(failure);
                    continue 'connections;
                }
            };
            answered += 1;
            if let Err(failure) = exchange.check(&response) {
                failures.push(failure);
            }
            if !exchange.keeps_connection(&response) {
                continue 'connections;
            }
        }
    }
    (answered, failures)
}

/// Joins client threads that each return (answered, failures), fails the test on any
/// failure (showing the first five), and returns the total answered.
pub fn join_clients(clients: Vec<JoinHandle<(usize, Vec<String>)>>) -> usize {
    let mut answered = 0;
    for client in clients {
        let (count, failures) = client.join().unwrap();
        assert!(
            failures.is_empty(),
            "{} failures: {:?}",
            failures.len(),
            &failures[..failures.len().min(5)]
        );
        answered += count;
    }
    answered
}
