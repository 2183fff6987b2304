//! The server in this process on an ephemeral port of 127.0.0.1, built the way
//! `function::startup` builds it ([`function::App::new`], then [`function::serve`]), with
//! a shutdown the test triggers.

use std::sync::Arc;
use std::time::Duration;

use function::limits::Limits;
use function::{App, Serving, Started};
use model::{Model, BUNDLED_MODEL};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::TIMEOUT;

/// The name a [`TestServer`] serves its model under.
pub const MODEL_NAME: &str = "test-model";

/// A server running in this process until [`TestServer::stop`].
pub struct TestServer {
    /// Where it listens.
    pub addr: std::net::SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl TestServer {
    /// Serves `model` on 127.0.0.1 with an ephemeral port.
    pub async fn start(model: Model) -> TestServer {
        TestServer::start_with(model, Limits::default()).await
    }

    /// Serves the bundled Iris forest.
    pub async fn bundled() -> TestServer {
        TestServer::bundled_with(Limits::default()).await
    }

    /// Serves the bundled Iris forest with `limits`.
    pub async fn bundled_with(limits: Limits) -> TestServer {
        TestServer::start_with(Model::from_bytes(BUNDLED_MODEL).unwrap(), limits).await
    }

    /// Serves `model` with `limits` on 127.0.0.1 with an ephemeral port.
    pub async fn start_with(model: Model, limits: Limits) -> TestServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let serving = Serving {
            model_name: MODEL_NAME.into(),
            limits,
            workers: 2,
            ..Serving::default()
        };
        let app = Arc::new(App::new(model, serving, Started::now()));
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(function::serve(
            listener,
            app,
            async {
                let _ = rx.await;
            },
            Duration::from_secs(5),
        ));
        TestServer {
            addr,
            shutdown: Some(tx),
            task,
        }
    }

    /// Starts the graceful shutdown without waiting for it.
    pub fn begin_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Shuts down and waits for the drain to finish.
    pub async fn stop(mut self) {
        self.begin_shutdown();
        tokio::time::timeout(TIMEOUT, self.task)
            .await
            .expect("server drains within the timeout")
            .unwrap();
    }
}
