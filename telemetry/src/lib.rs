//! What every HyperFleet binary (`hyperfleet-api`, `hyperfleet-operator`) wires the same way:
//! `tracing` with an `EnvFilter`, JSON or text lines on stderr, OpenTelemetry traces when the
//! `OTEL_*` variables ask for them ([`traces`]); one way of rendering a
//! `prometheus-client` registry for `/metrics`; errors with their causes for logs; and the
//! shutdown signals (Ctrl-C, SIGTERM); and how a process's CPU time is read ([`process`]).
#![warn(missing_docs)]

pub mod process;
pub mod traces;

use clap::ValueEnum;
use opentelemetry_sdk::trace::SdkTracerProvider;
use prometheus_client::registry::Registry;
use tracing_subscriber::{EnvFilter, fmt, prelude::*};

/// Content type of [`render_metrics`]' output.
pub const OPENMETRICS_CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// Log output formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line (for log collectors).
    Json,
    /// Human-readable lines.
    Text,
}

/// The logging flags every binary takes (flatten into its top-level parser).
#[derive(Debug, Clone, clap::Args)]
pub struct LogArgs {
    /// Log format: `json` for machines (default), `text` for people.
    #[arg(long, env = "HYPERFLEET_LOG_FORMAT", value_enum, default_value_t = LogFormat::Json, global = true)]
    pub log_format: LogFormat,
    /// Log filter in `RUST_LOG` syntax, e.g. `info` or `hyperfleet_operator=debug,info`.
    #[arg(long, env = "HYPERFLEET_LOG_LEVEL", default_value = "info", global = true)]
    pub log_level: String,
}

impl LogArgs {
    /// Installs the global subscriber as the flags say, exporting traces when the `OTEL_*`
    /// variables name a collector. Keep the returned [`Telemetry`] and shut it down on exit.
    pub fn init(&self, service: &'static str) -> Result<Telemetry, String> {
        init(self.log_format, &self.log_level, service, traces::Export::from_env())
    }
}

/// What [`init`] set up; [`Telemetry::shutdown`] sends the spans still buffered.
#[derive(Debug)]
#[must_use = "shut it down on exit, or the last spans are lost"]
pub struct Telemetry {
    traces: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends what is buffered now (tests; a process about to be killed).
    pub fn flush(&self) {
        if let Some(provider) = &self.traces
            && let Err(err) = provider.force_flush()
        {
            tracing::warn!(error = %err, "cannot send the buffered spans");
        }
    }

    /// Sends what is buffered and stops exporting.
    pub fn shutdown(self) {
        if let Some(provider) = self.traces
            && let Err(err) = provider.shutdown()
        {
            eprintln!("cannot send the last spans: {err}");
        }
    }
}

/// Installs the global subscriber. `RUST_LOG`, when set and valid, wins over `filter`; with
/// `export`, spans also go to that OTLP collector as `service`.
pub fn init(
    format: LogFormat,
    filter: &str,
    service: &'static str,
    export: Option<traces::Export>,
) -> Result<Telemetry, String> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|env| EnvFilter::try_new(env).ok())
        .map_or_else(|| EnvFilter::try_new(filter), Ok)
        .map_err(|err| format!("invalid log filter '{filter}': {err}"))?;
    traces::install_propagator();
    let provider = export.map(|export| export.provider(service)).transpose()?;
    let otel = provider.as_ref().map(|provider| traces::layer(provider, service));
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let result = match format {
        LogFormat::Json => registry.with(fmt::layer().json().with_writer(std::io::stderr)).try_init(),
        LogFormat::Text => {
            // Colours only for people at a terminal, never in files or CI logs.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            registry.with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr)).try_init()
        }
    };
    result.map_err(|err| err.to_string())?;
    Ok(Telemetry { traces: provider })
}

/// An error with its sources, `: `-joined, for logs and error details; a cause whose text is
/// already there (some errors print their sources themselves) is not repeated.
pub fn error_chain(err: &dyn std::error::Error) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// The registry in the OpenMetrics text format.
pub fn render_metrics(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, registry)?;
    Ok(body)
}

/// Resolves on Ctrl-C or SIGTERM (what Kubernetes sends before killing a pod).
pub async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for Ctrl-C");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
}
