//! The process's log output: tracing to stderr, filtered by `LINERATE_LOG` (env-filter
//! syntax, e.g. `debug` or `info,linerate::ingest=debug`).
//!
//! - `LINERATE_LOG_FORMAT=json`: one JSON object per line (for journald and log shippers);
//!   `text` (default): human-readable lines.
//! - Colour (ANSI escapes) only when stderr is a terminal, so files, pipes and journald get
//!   plain text.

use std::io::IsTerminal;

/// The log line formats `LINERATE_LOG_FORMAT` selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl LogFormat {
    /// The format named by `LINERATE_LOG_FORMAT`'s value (`None`: unset); `Err` names an
    /// unknown value.
    pub fn from_env_value(value: Option<&str>) -> Result<Self, String> {
        match value.map(str::trim) {
            None | Some("") | Some("text") => Ok(Self::Text),
            Some("json") => Ok(Self::Json),
            Some(other) => Err(format!(
                "LINERATE_LOG_FORMAT={other:?}: expected \"text\" or \"json\""
            )),
        }
    }
}

/// Install the global subscriber (once; a second call changes nothing). `default_filter`
/// applies when `LINERATE_LOG` is unset or invalid. An unknown `LINERATE_LOG_FORMAT` is
/// reported on stderr and text is used.
pub fn init(default_filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LINERATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter));
    let value = std::env::var("LINERATE_LOG_FORMAT").ok();
    let format = LogFormat::from_env_value(value.as_deref()).unwrap_or_else(|e| {
        eprintln!("linerate: {e}; logging as text");
        LogFormat::Text
    });
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder
            .with_ansi(std::io::stderr().is_terminal())
            .try_init(),
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn format_values() {
        assert_eq!(LogFormat::from_env_value(None), Ok(LogFormat::Text));
        assert_eq!(LogFormat::from_env_value(Some("json")), Ok(LogFormat::Json));
        assert_eq!(
            LogFormat::from_env_value(Some(" text ")),
            Ok(LogFormat::Text)
        );
        assert!(LogFormat::from_env_value(Some("yaml")).is_err());
    }
}
