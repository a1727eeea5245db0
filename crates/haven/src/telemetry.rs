//! Logging: JSON lines in production, readable text in development, on standard output.
//!
//! What keeps PHI out: request spans carry the route template and request id, never the
//! path, query string, headers or body; PHI values are wrapped in
//! [`crate::compliance::Phi`], which prints as `[PHI]`; sqlx statement logging is off.

use tracing::Subscriber;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

/// A subscriber writing to `writer`; the binary installs it globally, tests capture it.
pub fn subscriber<W>(format: LogFormat, filter: &str, writer: W) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let mut filter = EnvFilter::try_new(filter).unwrap_or_else(|_| EnvFilter::new("info"));
    // PostgreSQL's notices ("relation already exists, skipping") are noise at info level.
    if let Ok(quiet_notices) = "sqlx::postgres::notice=warn".parse() {
        filter = filter.add_directive(quiet_notices);
    }
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .json()
                .flatten_event(true)
                .with_current_span(true)
                .with_span_list(false)
                .finish(),
        ),
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
