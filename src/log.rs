//! Where the process's log goes and in what form (`[log] format`): text,
//! with colour only on a terminal; one JSON object per line; or
//! journald's native protocol, each event's fields as journal fields
//! (`node` becomes `NODE`, so `journalctl -u fulcrum NODE=n1.example`
//! filters by node). `auto` picks journald when stderr is the journal,
//! as systemd says through `JOURNAL_STREAM`, and text otherwise.

use std::io::IsTerminal;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;

use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::EnvFilter;

use crate::config::LogFormat;

/// What the log is written as, once decided.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sink {
    /// Human-readable lines on stderr; ANSI colour when `ansi`.
    Text { ansi: bool },
    /// One JSON object per line on stderr, the event's fields at its top.
    Json,
    /// Datagrams to journald's socket.
    Journald,
}

/// A log that cannot be set up as configured.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LogError {
    #[error("log.format = \"journald\": cannot reach the journal ({0}); is systemd-journald running?")]
    Journal(std::io::Error),
    #[error("a log is set up already")]
    Twice(#[from] tracing_subscriber::util::TryInitError),
}

/// The device and inode of what stderr is open on.
fn stderr_identity() -> Option<(u64, u64)> {
    let fd = std::io::stderr().as_fd().try_clone_to_owned().ok()?;
    let meta = std::fs::File::from(fd).metadata().ok()?;
    Some((meta.dev(), meta.ino()))
}

/// Whether `journal_stream` (systemd's `JOURNAL_STREAM`, `DEV:INODE`)
/// names the file stderr is open on: then stderr is the journal, not
/// something a unit redirected it to.
fn is_the_journal(journal_stream: Option<&str>, stderr: Option<(u64, u64)>) -> bool {
    let Some((dev, ino)) = journal_stream.and_then(|v| v.split_once(':')) else { return false };
    match (dev.parse::<u64>(), ino.parse::<u64>(), stderr) {
        (Ok(dev), Ok(ino), Some(s)) => (dev, ino) == s,
        _ => false,
    }
}

/// Decides the sink for `format`, from systemd's `JOURNAL_STREAM`, what
/// stderr is, and whether it is a terminal.
pub(crate) fn choose(
    format: LogFormat,
    journal_stream: Option<&str>,
    stderr: Option<(u64, u64)>,
    terminal: bool,
) -> Sink {
    match format {
        LogFormat::Json => Sink::Json,
        LogFormat::Journald => Sink::Journald,
        LogFormat::Auto if is_the_journal(journal_stream, stderr) => Sink::Journald,
        LogFormat::Auto | LogFormat::Text => Sink::Text { ansi: terminal },
    }
}

/// Sets up the process's log for `format`, at `FULCRUM_LOG`'s level or
/// filter, else `default_level`. An automatically chosen journal that
/// cannot be reached falls back to text; a configured one is an error.
pub(crate) fn init(format: LogFormat, default_level: &str) -> Result<(), LogError> {
    let filter = || EnvFilter::try_from_env("FULCRUM_LOG").unwrap_or_else(|_| EnvFilter::new(default_level));
    let journal_stream = std::env::var("JOURNAL_STREAM").ok();
    let terminal = std::io::stderr().is_terminal();
    let sink = choose(format, journal_stream.as_deref(), stderr_identity(), terminal);
    let text = |ansi: bool| tracing_subscriber::fmt::layer().with_target(false).with_ansi(ansi);
    match sink {
        Sink::Journald => match tracing_journald::layer() {
            Ok(journal) => {
                // Fields keep their own names (`NODE`, `MAC`), as
                // operators filter on them.
                let journal = journal.with_field_prefix(None).with_syslog_identifier("fulcrum".into());
                tracing_subscriber::registry().with(filter()).with(journal).try_init()?;
            }
            Err(e) if format == LogFormat::Journald => return Err(LogError::Journal(e)),
            Err(e) => {
                tracing_subscriber::registry().with(filter()).with(text(false)).try_init()?;
                tracing::warn!(error = %e, "stderr is the journal, but its socket cannot be reached: logging text");
            }
        },
        Sink::Json => {
            let json = tracing_subscriber::fmt::layer().json().flatten_event(true).with_current_span(false);
            tracing_subscriber::registry().with(filter()).with(json).try_init()?;
        }
        Sink::Text { ansi } => tracing_subscriber::registry().with(filter()).with(text(ansi)).try_init()?,
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn auto_is_the_journal_only_when_stderr_is_it() {
        let stderr = Some((23, 4711));
        assert_eq!(choose(LogFormat::Auto, Some("23:4711"), stderr, false), Sink::Journald);
        // A unit that sends stderr elsewhere keeps the variable: text.
        assert_eq!(choose(LogFormat::Auto, Some("23:4712"), stderr, false), Sink::Text { ansi: false });
        assert_eq!(choose(LogFormat::Auto, Some("garbage"), stderr, false), Sink::Text { ansi: false });
        assert_eq!(choose(LogFormat::Auto, None, stderr, true), Sink::Text { ansi: true });
        assert_eq!(choose(LogFormat::Auto, Some("23:4711"), None, false), Sink::Text { ansi: false });
        // Colour only on a terminal, also when asked for text.
        assert_eq!(choose(LogFormat::Text, Some("23:4711"), stderr, false), Sink::Text { ansi: false });
        assert_eq!(choose(LogFormat::Json, None, None, true), Sink::Json);
        assert_eq!(choose(LogFormat::Journald, None, None, true), Sink::Journald);
    }
}
