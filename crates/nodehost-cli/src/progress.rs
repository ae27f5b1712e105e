//! The progress display of long runs: on stderr, only when stderr is a terminal, only once a
//! run has taken a second, never with `--quiet`; cleared before the stop summary is printed.

use std::io::IsTerminal;
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use nodehost_core::{CancellationToken, Progress};

/// How long a run goes before its progress is shown.
const SHOW_AFTER: Duration = Duration::from_secs(1);
/// How often the display is refreshed.
const TICK: Duration = Duration::from_millis(100);

/// A running display.
pub struct Display {
    stop: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Whether a run shows progress: stderr is a terminal and `--quiet` was not given.
pub fn wanted(quiet: bool) -> bool {
    !quiet && std::io::stderr().is_terminal()
}

impl Display {
    /// Start showing `progress` of a run of `total` items (`None`: a stream); see [`wanted`].
    pub fn start(progress: &Arc<Progress>, total: Option<usize>) -> Self {
        let stop = CancellationToken::new();
        let progress = Arc::clone(progress);
        let token = stop.clone();
        let task = tokio::spawn(async move {
            tokio::select! {
                () = tokio::time::sleep(SHOW_AFTER) => {}
                () = token.cancelled() => return,
            }
            let (bar, template) = match total {
                Some(n) => (
                    ProgressBar::with_draw_target(Some(n as u64), ProgressDrawTarget::stderr()),
                    "{bar:30} {pos}/{len} items · {per_sec} · {msg} · ETA {eta}",
                ),
                None => (
                    ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr()),
                    "{spinner} {pos} items · {per_sec} · {msg}",
                ),
            };
            if let Ok(style) = ProgressStyle::with_template(template) {
                bar.set_style(style);
            }
            let retries_at_start = nodehost_http::retries();
            loop {
                bar.set_position(progress.settled() as u64);
                bar.set_message(format!(
                    "{} failed · {} retries",
                    progress.failed(),
                    nodehost_http::retries() - retries_at_start
                ));
                tokio::select! {
                    () = tokio::time::sleep(TICK) => {}
                    () = token.cancelled() => break,
                }
            }
            bar.finish_and_clear();
        });
        Self { stop, task }
    }

    /// Clear the display, so the summary lines that follow stand alone.
    pub async fn finish(self) {
        self.stop.cancel();
        let _ = self.task.await;
    }
}
