//! The progress of something the CLI waits on (a deployment converging,
//! nodes leaving a state): an indicatif bar on standard error when the
//! output is a terminal (standard output and error both); otherwise a line whenever the counts change, so a log or a
//! pipe reads as a record; nothing with `--json`. A spinner, for work
//! with nothing to count.

use std::io::IsTerminal;
use std::time::Instant;

use indicatif::{ProgressBar, ProgressStyle};

/// A waiting operation's progress.
pub(crate) struct Progress {
    how: Shown,
    what: String,
    start: Instant,
    last: Option<(u64, u64, String)>,
}

enum Shown {
    Bar(ProgressBar),
    Lines { indent: String },
    Nothing,
}

impl Progress {
    /// Progress of `what`; plain lines start with `indent`.
    pub(crate) fn new(what: &str, json_out: bool, indent: &str) -> Progress {
        let how = if json_out {
            Shown::Nothing
        } else if std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
            let bar = ProgressBar::new(0);
            bar.set_style(
                ProgressStyle::with_template("{prefix} [{bar:30}] {pos}/{len} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_bar())
                    .progress_chars("=> "),
            );
            bar.set_prefix(what.to_string());
            Shown::Bar(bar)
        } else {
            Shown::Lines { indent: indent.to_string() }
        };
        Progress { how, what: what.to_string(), start: Instant::now(), last: None }
    }

    /// Like [`Progress::new`], but shown only on a terminal: for work that
    /// prints its own line per step (a bulk verb's nodes).
    pub(crate) fn on_terminal(what: &str, json_out: bool) -> Progress {
        let mut p = Progress::new(what, json_out, "");
        if matches!(p.how, Shown::Lines { .. }) {
            p.how = Shown::Nothing;
        }
        p
    }

    /// A spinner on a terminal for work with no count (an image build),
    /// nothing elsewhere.
    pub(crate) fn spinner(what: &str, json_out: bool) -> Progress {
        let how = if !json_out && std::io::stderr().is_terminal() && std::io::stdout().is_terminal() {
            let bar = ProgressBar::new_spinner();
            bar.set_style(
                ProgressStyle::with_template("{spinner} {msg} ({elapsed})")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message(what.to_string());
            bar.enable_steady_tick(std::time::Duration::from_millis(120));
            Shown::Bar(bar)
        } else {
            Shown::Nothing
        };
        Progress { how, what: what.to_string(), start: Instant::now(), last: None }
    }

    /// Prints `text` on standard output as its own line (above the bar,
    /// when there is one).
    pub(crate) fn line(&self, text: &str) {
        match &self.how {
            Shown::Bar(bar) => bar.suspend(|| println!("{text}")),
            _ => println!("{text}"),
        }
    }

    /// `done` of `total` are finished; `detail` says more (the counts per state).
    pub(crate) fn update(&mut self, done: u64, total: u64, detail: &str) {
        let now = (done, total, detail.to_string());
        if self.last.as_ref() == Some(&now) {
            return;
        }
        match &self.how {
            Shown::Bar(bar) => {
                bar.set_length(total);
                bar.set_position(done);
                bar.set_message(detail.to_string());
            }
            Shown::Lines { indent } => {
                let at = self.start.elapsed().as_secs_f64();
                if detail.is_empty() {
                    println!("{indent}{:>6.2}s  {}: {done} of {total} finished", at, self.what);
                } else {
                    println!("{indent}{at:>6.2}s  {detail}");
                }
            }
            Shown::Nothing => {}
        }
        self.last = Some(now);
    }

    /// The wait is over: the bar is cleared, so what follows is the result.
    pub(crate) fn finish(&self) {
        if let Shown::Bar(bar) = &self.how {
            bar.finish_and_clear();
        }
    }
}
