//! The `function` binary: logging, then flags and environment into a [`Config`], then
//! [`function::startup::run`]; the result becomes the exit code.

use std::process::ExitCode;
use std::time::{Instant, SystemTime};

use clap::Parser;
use function::config::{Args, Config, EXIT_STARTUP, EXIT_USAGE};
use function::logging::{self, LogConfig};

fn main() -> ExitCode {
    let started = (Instant::now(), SystemTime::now());
    match LogConfig::from_env(|key| std::env::var(key).ok()) {
        Ok(logging) => logging.init(),
        Err(error) => {
            LogConfig::init_fallback();
            tracing::error!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    }
    logging::log_panics();
    let args = match Args::try_parse() {
        Ok(args) => args,
        Err(error) => {
            let _ = error.print();
            return if error.use_stderr() {
                ExitCode::from(EXIT_USAGE)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let config = match Config::from_args(args, |key| std::env::var(key).ok()) {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("{error}");
            return ExitCode::from(EXIT_USAGE);
        }
    };
    match function::startup::run(config, started) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            // One line, whatever a library put in its message: log collectors split on
            // newlines, and the cause must stay in one record.
            tracing::error!("{}", format!("{error:#}").replace('\n', " "));
            ExitCode::from(EXIT_STARTUP)
        }
    }
}
