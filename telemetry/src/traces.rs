//! OpenTelemetry traces: `tracing` spans exported over OTLP (HTTP/protobuf, the SDK's default
//! protocol) when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` / `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`
//! variables name a collector, and W3C trace context carried across processes: `traceparent` /
//! `tracestate` HTTP headers, and the CloudEvents distributed-tracing extension attributes of the
//! same names. Off by default; sampling follows `OTEL_TRACES_SAMPLER` / `OTEL_TRACES_SAMPLER_ARG`.

use std::collections::HashMap;

use opentelemetry::{
    propagation::Extractor,
    trace::{TraceContextExt, TracerProvider as _},
};
use opentelemetry_sdk::{Resource, propagation::TraceContextPropagator, trace::SdkTracerProvider};
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// Where spans go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Export {
    /// The collector's OTLP/HTTP traces URL, e.g. `http://collector:4318/v1/traces`.
    pub endpoint: String,
}

impl Export {
    /// From the standard variables: `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
    /// `OTEL_EXPORTER_OTLP_ENDPOINT` + `/v1/traces`; none when `OTEL_SDK_DISABLED=true` or
    /// `OTEL_TRACES_EXPORTER=none`.
    pub fn from_env() -> Option<Self> {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let var = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        if var("OTEL_SDK_DISABLED").is_some_and(|v| v.eq_ignore_ascii_case("true"))
            || var("OTEL_TRACES_EXPORTER").is_some_and(|v| v.eq_ignore_ascii_case("none"))
        {
            return None;
        }
        let endpoint = var("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT").or_else(|| {
            var("OTEL_EXPORTER_OTLP_ENDPOINT").map(|base| format!("{}/v1/traces", base.trim_end_matches('/')))
        })?;
        Some(Self { endpoint })
    }

    /// A batching tracer provider exporting to the endpoint as `service` (the `tracing` layer
    /// holds its tracer; nothing reads a global provider).
    pub fn provider(&self, service: &'static str) -> Result<SdkTracerProvider, String> {
        use opentelemetry_otlp::WithExportConfig as _;
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_endpoint(&self.endpoint)
            .build()
            .map_err(|err| format!("cannot export traces to {}: {err}", self.endpoint))?;
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        Ok(provider)
    }
}

/// The layer turning `tracing` spans into OpenTelemetry spans of `provider`.
pub fn layer<S>(provider: &SdkTracerProvider, service: &'static str) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer(service))
}

/// W3C trace context, the one propagation format every process uses.
pub fn install_propagator() {
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
}

/// The current span's context as `traceparent` (and `tracestate`) values; empty when no trace
/// is being recorded.
pub fn current_context() -> HashMap<String, String> {
    let mut carrier = HashMap::new();
    let context = tracing::Span::current().context();
    if context.span().span_context().is_valid() {
        opentelemetry::global::get_text_map_propagator(|propagator| {
            propagator.inject_context(&context, &mut carrier)
        });
    }
    carrier
}

/// Makes `span` a child of the context `carrier` holds (`traceparent`, `tracestate`), if any,
/// and records its trace and span ids into the span's `trace_id` and `span_id` fields (when it
/// declares them) so that log lines inside it name their trace.
pub fn continue_from(span: &tracing::Span, carrier: &dyn Extractor) {
    if carrier.get("traceparent").is_some() {
        let parent = opentelemetry::global::get_text_map_propagator(|propagator| propagator.extract(carrier));
        if let Err(err) = span.set_parent(parent) {
            tracing::debug!(error = %err, "cannot attach the incoming trace context");
        }
    }
    record_trace_id(span);
}

/// Records `span`'s trace and span ids into its `trace_id` and `span_id` fields (declared
/// `tracing::field::Empty`), so every log line inside it names them.
pub fn record_trace_id(span: &tracing::Span) {
    let context = span.context();
    let span_context = context.span().span_context().clone();
    if span_context.is_valid() {
        span.record("trace_id", span_context.trace_id().to_string());
        span.record("span_id", span_context.span_id().to_string());
    }
}

/// HTTP headers as a propagation carrier (OpenTelemetry's own; a `HashMap<String, String>`
/// is one too).
pub use opentelemetry_http::HeaderExtractor;

#[cfg(test)]
mod tests {
    use super::Export;

    fn export(vars: &[(&str, &str)]) -> Option<String> {
        let lookup = |name: &str| vars.iter().find(|(n, _)| *n == name).map(|(_, v)| (*v).to_owned());
        Export::from_vars(lookup).map(|export| export.endpoint)
    }

    #[test]
    fn the_standard_variables_choose_the_endpoint_or_turn_traces_off() {
        assert_eq!(export(&[]), None, "off by default");
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318/")]).as_deref(),
            Some("http://c:4318/v1/traces")
        );
        let both = [
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c:4318"),
            ("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://t/x"),
        ];
        assert_eq!(export(&both).as_deref(), Some("http://t/x"), "the traces endpoint is taken as given");
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_SDK_DISABLED", "TRUE")]),
            None
        );
        assert_eq!(
            export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", "http://c"), ("OTEL_TRACES_EXPORTER", "none")]),
            None
        );
        assert_eq!(export(&[("OTEL_EXPORTER_OTLP_ENDPOINT", " ")]), None);
    }
}
