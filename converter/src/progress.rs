//! Progress bars for long runs (big files, many trees): drawn on stderr only when stderr
//! is a terminal, so piped output, `--json` and CI logs stay clean.

use std::io::IsTerminal;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// Work below this many units finishes in about a second, too fast for a bar to help.
/// A unit is one training row seen by one tree, or one byte of a CSV file.
pub const MIN_WORK: u64 = 2_000_000;

/// A progress bar that may be hidden. Cheap to pass around; all methods are no-ops
/// when hidden.
#[derive(Debug, Clone)]
pub struct Progress(ProgressBar);

impl Progress {
    /// A bar that never draws.
    pub fn hidden() -> Progress {
        Progress(ProgressBar::hidden())
    }

    /// A bar of `steps` steps labelled `what`, drawn only when `work` (in units of
    /// [`MIN_WORK`]) is large enough to be worth watching and stderr is a terminal.
    pub fn new(what: &'static str, steps: u64, work: u64) -> Progress {
        if work < MIN_WORK || !std::io::stderr().is_terminal() {
            return Progress::hidden();
        }
        let bar = ProgressBar::with_draw_target(Some(steps), ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("{msg:>10} [{bar:40}] {pos}/{len} {elapsed}<{eta}")
                .expect("the template is valid")
                .progress_chars("=> "),
        );
        bar.set_message(what);
        Progress(bar)
    }

    /// Advances by one step.
    pub fn step(&self) {
        self.0.inc(1);
    }

    /// Moves to step `position`.
    pub fn set_position(&self, position: u64) {
        self.0.set_position(position);
    }

    /// Removes the bar from the terminal.
    pub fn finish(&self) {
        self.0.finish_and_clear();
    }
}
