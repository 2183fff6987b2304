//! The real binaries as child processes: a command with nothing inherited that would
//! change what it does, a guard that kills it on drop, free ports, and waits for readiness
//! and exit bounded by [`TIMEOUT`]. A binary's path comes from the test
//! (`env!("CARGO_BIN_EXE_function")`), which only cargo knows.

use std::ffi::OsStr;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use function::config::{
    ENV_DRAIN_TIMEOUT, ENV_HEADER_READ_TIMEOUT, ENV_MAX_BATCH_ROWS, ENV_MAX_BODY_BYTES,
    ENV_MAX_IN_FLIGHT, ENV_MAX_IN_FLIGHT_BYTES, ENV_METRICS, ENV_MODEL_NAME, ENV_MODEL_PATH,
    ENV_MODEL_VERSION, ENV_PORT, ENV_REQUEST_TIMEOUT, ENV_SHUTDOWN_DELAY, ENV_WORKER_THREADS,
};
use function::logging::{ENV_LOG_FORMAT, ENV_LOG_LEVEL, ENV_RUST_LOG, KNATIVE_ENV};

use crate::{raw, TIMEOUT};

/// The variables the function reads besides Knative's ([`KNATIVE_ENV`]), removed so that
/// a test's own environment (a `RUST_LOG`, a `PORT`) cannot change what the binary does.
const FUNCTION_ENV: [&str; 17] = [
    ENV_PORT,
    ENV_MODEL_PATH,
    ENV_MODEL_NAME,
    ENV_MODEL_VERSION,
    ENV_DRAIN_TIMEOUT,
    ENV_SHUTDOWN_DELAY,
    ENV_METRICS,
    ENV_MAX_BODY_BYTES,
    ENV_MAX_BATCH_ROWS,
    ENV_MAX_IN_FLIGHT,
    ENV_MAX_IN_FLIGHT_BYTES,
    ENV_HEADER_READ_TIMEOUT,
    ENV_REQUEST_TIMEOUT,
    ENV_WORKER_THREADS,
    ENV_LOG_FORMAT,
    ENV_LOG_LEVEL,
    ENV_RUST_LOG,
];

/// A free port on 127.0.0.1 (bound then released; the kernel will not hand it out
/// again immediately).
pub fn free_port() -> u16 {
    held_port().1
}

/// `preferred` when nothing listens on it, else a [`free_port`].
pub fn free_port_or(preferred: u16) -> u16 {
    TcpListener::bind(("127.0.0.1", preferred))
        .map(|_| preferred)
        .unwrap_or_else(|_| free_port())
}

/// A port on 127.0.0.1 that stays in use for as long as the returned listener lives.
pub fn held_port() -> (TcpListener, u16) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    (listener, port)
}

/// 127.0.0.1:`port`.
pub fn localhost(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}

/// The binary at `bin` with stdin, stdout and stderr on `/dev/null`; a test that reads
/// an output pipes it.
pub fn command(bin: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(bin);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    command
}

/// The function binary at `bin` as [`command`], with none of its settings taken from
/// the test's environment: it serves the bundled model with its defaults, except that
/// SIGTERM drains at once even when the tests run in a Kubernetes pod (no load balancer
/// waits on a test's server; the tests of the shutdown delay set their own).
pub fn function(bin: impl AsRef<OsStr>) -> Command {
    let mut command = command(bin);
    for name in FUNCTION_ENV.into_iter().chain(KNATIVE_ENV) {
        command.env_remove(name);
    }
    command.env(ENV_SHUTDOWN_DELAY, "0");
    command
}

/// [`function()`] listening on a free port of 127.0.0.1, and that address; start it with
/// [`Running::ready`].
pub fn serving(bin: impl AsRef<OsStr>) -> (Command, SocketAddr) {
    let addr = localhost(free_port());
    let mut command = function(bin);
    command.args(["--host", "127.0.0.1", "--port", &addr.port().to_string()]);
    (command, addr)
}

/// Runs `command` to its exit, which must come within [`TIMEOUT`], with its stdout and
/// stderr captured.
pub fn run(command: &mut Command) -> Output {
    let mut running = Running::spawn(command.stdout(Stdio::piped()).stderr(Stdio::piped()));
    let stdout = read_in_background(running.child.stdout.take());
    let stderr = read_in_background(running.child.stderr.take());
    let status = running
        .wait_exit(TIMEOUT)
        .expect("the binary exits by itself");
    Output {
        status,
        stdout: stdout.join().unwrap(),
        stderr: stderr.join().unwrap(),
    }
}

/// stderr of `output`, line by line.
pub fn stderr_lines(output: &Output) -> Vec<String> {
    String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// Returns once `GET path` on `addr` answers 200; fails the test after [`TIMEOUT`].
pub fn wait_ready(addr: SocketAddr, path: &str) {
    let deadline = Instant::now() + TIMEOUT;
    while raw::get(addr, path)
        .and_then(|response| raw::status_and_body(&response))
        .map(|(status, _)| status)
        != Some(200)
    {
        assert!(
            Instant::now() < deadline,
            "{addr}{path} did not answer 200 within {TIMEOUT:?}"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// A child process, killed (and reaped) when this guard drops, so that a failing test
/// leaves no server behind.
pub struct Running {
    child: Child,
}

impl Running {
    /// Spawns `command`.
    pub fn spawn(command: &mut Command) -> Running {
        Running {
            child: command.spawn().unwrap(),
        }
    }

    /// Spawns `command` and returns once `GET /readyz` on `addr` answers 200.
    pub fn ready(command: &mut Command, addr: SocketAddr) -> Running {
        let running = Running::spawn(command);
        wait_ready(addr, "/readyz");
        running
    }

    /// The child's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The exit status if the child has exited, without waiting.
    pub fn exited(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().unwrap()
    }

    /// The exit status if the child exits within `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.exited() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM, as the kubelet does.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.id().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    /// SIGTERM, then a successful exit within [`TIMEOUT`] (else the test fails); returns
    /// what the child wrote to stderr, when it was piped.
    pub fn stop(mut self) -> String {
        self.sigterm();
        let stderr = read_in_background(self.child.stderr.take());
        let status = self.wait_exit(TIMEOUT).expect("exits after SIGTERM");
        assert!(status.success(), "{status}");
        String::from_utf8_lossy(&stderr.join().unwrap()).into_owned()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `pipe` to its end on a thread of its own, so a chatty child never blocks on a
/// full pipe while the test waits for its exit. No pipe reads as empty.
fn read_in_background(pipe: Option<impl Read + Send + 'static>) -> JoinHandle<Vec<u8>> {
    std::thread::spawn(move || {
        let mut bytes = Vec::new();
        if let Some(mut pipe) = pipe {
            pipe.read_to_end(&mut bytes).unwrap();
        }
        bytes
    })
}
