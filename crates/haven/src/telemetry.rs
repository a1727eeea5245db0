//! Logging: JSON lines in production, readable text in development, on standard output.
//!
//! What keeps PHI out: request spans carry the route template and request id, never the
//! path, query string, headers or body; PHI values are wrapped in
//! [`crate::compliance::Phi`], which prints as `[PHI]`; sqlx statement logging is off.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::filter::Targets;
use tracing_subscriber::fmt::MakeWriter;
use tracing_subscriber::layer::SubscriberExt as _;

use crate::config::LogFormat;

/// JSON lines: the event's fields flattened, with the request's span.
macro_rules! json {
    ($builder:expr) => {
        $builder
            .json()
            .flatten_event(true)
            .with_current_span(true)
            .with_span_list(false)
    };
}

/// A subscriber writing to `writer`; the binary installs it globally, tests capture it.
///
/// A filter of targets and levels (`info`, `haven=debug,sqlx=warn`) is checked once per
/// callsite; only a filter that names spans or fields needs `EnvFilter`, which looks
/// every span up each time a request's future is polled.
pub fn subscriber<W>(format: LogFormat, filter: &str, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    // PostgreSQL's notices ("relation already exists, skipping") are noise at info level.
    const QUIET_NOTICES: &str = "sqlx::postgres::notice=warn";
    let names_spans = filter.contains(['[', '{']);
    if let Some(targets) = (!names_spans)
        .then(|| format!("{filter},{QUIET_NOTICES}").parse::<Targets>().ok())
        .flatten()
    {
        // The targets decide; the builder's own level (info by default) lets all through.
        let builder = tracing_subscriber::fmt()
            .with_max_level(tracing::level_filters::LevelFilter::TRACE)
            .with_writer(writer);
        return match format {
            LogFormat::Json => Box::new(json!(builder).finish().with(targets)),
            LogFormat::Text => Box::new(builder.compact().with_ansi(false).finish().with(targets)),
        };
    }
    let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    if let Ok(quiet_notices) = QUIET_NOTICES.parse() {
        filter = filter.add_directive(quiet_notices);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(json!(builder).finish()),
        LogFormat::Text => Box::new(builder.compact().with_ansi(false).finish()),
    }
}

/// `haven serve` logs to standard output; the other commands keep standard output for
/// their results and log warnings only, to standard error.
pub fn init(format: LogFormat, filter: &str, serving: bool) {
    let subscriber = if serving {
        subscriber(format, filter, std::io::stdout)
    } else {
        subscriber(LogFormat::Text, "warn", std::io::stderr)
    };
    let _already_set = tracing::subscriber::set_global_default(subscriber);
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn logged(filter: &str) -> String {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = subscriber(LogFormat::Text, filter, move || writer.clone());
        tracing::subscriber::with_default(subscriber, || {
            tracing::debug!(target: "haven::clients", "haven debug line");
            tracing::info!(target: "sqlx::postgres::notice", "a notice");
            tracing::info!(target: "hyper", "hyper info line");
            tracing::debug!(target: "hyper", "hyper debug line");
            tracing::info_span!("request", route = "/x").in_scope(|| {
                tracing::debug!(target: "hyper", "inside the request");
            });
        });
        let bytes = captured.0.lock().unwrap().clone();
        String::from_utf8(bytes).unwrap()
    }

    #[test]
    fn targets_and_levels_filter_as_written_and_span_filters_still_work() {
        let lines = logged("info,haven=debug");
        assert!(lines.contains("haven debug line"), "{lines}");
        assert!(lines.contains("hyper info line"), "{lines}");
        assert!(!lines.contains("hyper debug line"), "{lines}");
        assert!(!lines.contains("a notice"), "notices stay quiet: {lines}");
        // A filter naming a span needs EnvFilter, and gets it.
        let lines = logged("info,[request]=debug");
        assert!(lines.contains("inside the request"), "{lines}");
        assert!(!lines.contains("hyper debug line"), "{lines}");
    }
}
