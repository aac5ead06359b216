//! Telemetry wired the same way in every HyperFleet binary (`hyperfleet-api`,
//! `hyperfleet-operator`): `tracing` with an `EnvFilter`, JSON or text lines on stderr, and one
//! way of rendering a `prometheus-client` registry for `/metrics`.
#![warn(missing_docs)]

use clap::ValueEnum;
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

/// Installs the global subscriber. `RUST_LOG`, when set and valid, wins over `filter`.
pub fn init(format: LogFormat, filter: &str) -> Result<(), String> {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|env| EnvFilter::try_new(env).ok())
        .map_or_else(|| EnvFilter::try_new(filter), Ok)
        .map_err(|err| format!("invalid log filter '{filter}': {err}"))?;
    let registry = tracing_subscriber::registry().with(filter);
    let result = match format {
        LogFormat::Json => registry.with(fmt::layer().json().with_writer(std::io::stderr)).try_init(),
        LogFormat::Text => {
            // Colours only for people at a terminal, never in files or CI logs.
            let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
            registry.with(fmt::layer().with_ansi(ansi).with_writer(std::io::stderr)).try_init()
        }
    };
    result.map_err(|err| err.to_string())
}

/// The registry in the OpenMetrics text format.
pub fn render_metrics(registry: &Registry) -> Result<String, std::fmt::Error> {
    let mut body = String::new();
    prometheus_client::encoding::text::encode(&mut body, registry)?;
    Ok(body)
}
