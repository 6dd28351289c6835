//! Logging set-up.

use std::fmt;
use std::io::IsTerminal;

use serde_json::{Map, Value};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

/// Log to stderr, filtered by `RUST_LOG` (default `info`, with sqlx quieted). Call once.
pub fn init(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default_filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// How a server writes its log lines (`CASCADE_LOG_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// One readable line per event (the default).
    #[default]
    Text,
    /// One JSON object per line: `timestamp`, `level`, `target`, `node`, `message`, the
    /// event's fields, `trackingId` when the line is about a flow, and `spans`.
    Json,
}

/// [`init`] for a server: every line names the node (`node=<CASCADE_NODE_ID>` first on a
/// text line, a `node` field in JSON), so that the logs of several nodes gathered in one
/// place say which node wrote each line.
pub fn init_for_node(default_filter: &str, node: &str, format: LogFormat) {
    match format {
        LogFormat::Text => {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(filter(default_filter))
                .with_writer(std::io::stderr)
                .with_ansi(std::io::stderr().is_terminal())
                .event_format(WithNode {
                    node: node.to_owned(),
                    inner: Format::default(),
                })
                .try_init();
        }
        LogFormat::Json => {
            let _ = tracing_subscriber::registry()
                .with(filter(default_filter))
                .with(FlowTagLayer)
                .with(
                    tracing_subscriber::fmt::layer()
                        .with_writer(std::io::stderr)
                        .event_format(JsonLine {
                            node: node.to_owned(),
                        }),
                )
                .try_init();
        }
    }
}

fn filter(default_filter: &str) -> EnvFilter {
    EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
}

/// The usual line, after `node=<id> `.
struct WithNode {
    node: String,
    inner: Format<Full>,
}

impl<S> FormatEvent<S, DefaultFields> for WithNode
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, DefaultFields>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        write!(writer, "node={} ", self.node)?;
        self.inner.format_event(ctx, writer, event)
    }
}

/// Span and event fields that carry a flow's tracking id.
fn names_a_flow(field: &str) -> bool {
    matches!(field, "flow_id" | "tracking_id" | "trackingId")
}

/// The tracking id a span was opened with, kept in the span's extensions.
struct FlowTag(String);

/// Remembers which spans are about a flow ([`names_a_flow`]), for [`JsonLine`].
struct FlowTagLayer;

impl<S> Layer<S> for FlowTagLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut found = FlowField(None);
        attrs.record(&mut found);
        if let (Some(flow), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().insert(FlowTag(flow));
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        let mut found = FlowField(None);
        values.record(&mut found);
        if let (Some(flow), Some(span)) = (found.0, ctx.span(id)) {
            span.extensions_mut().replace(FlowTag(flow));
        }
    }
}

struct FlowField(Option<String>);

impl Visit for FlowField {
    fn record_str(&mut self, field: &Field, value: &str) {
        if names_a_flow(field.name()) {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if names_a_flow(field.name()) {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// An event's fields as JSON members; a flow's id under `trackingId`.
struct JsonFields<'a>(&'a mut Map<String, Value>);

impl JsonFields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        let name = if names_a_flow(field.name()) {
            "trackingId"
        } else {
            field.name()
        };
        self.0.insert(name.to_owned(), value);
    }
}

impl Visit for JsonFields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, Value::from(value));
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, Value::from(value));
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, Value::from(value));
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, Value::from(value));
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, Value::from(value));
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, Value::from(format!("{value:?}")));
    }
}

/// One JSON object per event (see [`LogFormat::Json`]).
struct JsonLine {
    node: String,
}

impl<S, N> FormatEvent<S, N> for JsonLine
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut line = Map::new();
        line.insert("timestamp".into(), Value::from(now_rfc3339()));
        line.insert("level".into(), Value::from(meta.level().as_str()));
        line.insert("target".into(), Value::from(meta.target()));
        line.insert("node".into(), Value::from(self.node.as_str()));
        event.record(&mut JsonFields(&mut line));
        let mut spans = Vec::new();
        if let Some(scope) = ctx.event_scope() {
            for span in scope {
                if !line.contains_key("trackingId")
                    && let Some(tag) = span.extensions().get::<FlowTag>()
                {
                    line.insert("trackingId".into(), Value::from(tag.0.as_str()));
                }
                spans.push(Value::from(span.name()));
            }
        }
        if !spans.is_empty() {
            spans.reverse();
            line.insert("spans".into(), Value::Array(spans));
        }
        writeln!(writer, "{}", Value::Object(line))
    }
}

/// Now, as RFC 3339 in UTC with milliseconds.
fn now_rfc3339() -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    cascade_core::Timestamp::from_millis(ms).to_rfc3339()
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;

    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn every_line_names_the_node() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || sink.clone())
            .with_ansi(false)
            .event_format(WithNode {
                node: "node-a".into(),
                inner: Format::default().with_ansi(false),
            })
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(flow = "f-1", "first");
            tracing::warn!("second");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        for line in &lines {
            assert!(line.starts_with("node=node-a "), "{line}");
        }
        assert!(
            lines[0].contains("INFO") && lines[0].contains("first flow=\"f-1\""),
            "{text}"
        );
    }

    #[test]
    fn json_lines_carry_the_node_and_the_flow_they_are_about() {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::registry().with(FlowTagLayer).with(
            tracing_subscriber::fmt::layer()
                .with_writer(move || sink.clone())
                .event_format(JsonLine {
                    node: "node-b".into(),
                }),
        );
        tracing::subscriber::with_default(subscriber, || {
            tracing::info!(port = 8080_u64, "started");
            let span = tracing::info_span!("submit", flow_id = %"0199-flow", order = 1_u64);
            span.in_scope(|| {
                let inner = tracing::info_span!("provider");
                inner
                    .in_scope(|| tracing::warn!(error = "timed out", "submission will be retried"));
            });
            tracing::error!(flow_id = %"0199-other", "engine refused an event");
        });
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(lines.len(), 3, "{text}");
        for line in &lines {
            assert_eq!(line["node"], "node-b");
            assert!(line["timestamp"].as_str().unwrap().ends_with('Z'), "{line}");
        }
        assert_eq!(lines[0]["message"], "started");
        assert_eq!(lines[0]["port"], 8080);
        assert_eq!(lines[0]["level"], "INFO");
        assert!(
            lines[0].get("trackingId").is_none(),
            "not about a flow: {}",
            lines[0]
        );
        assert_eq!(
            lines[1]["trackingId"], "0199-flow",
            "from the enclosing span"
        );
        assert_eq!(lines[1]["spans"], serde_json::json!(["submit", "provider"]));
        assert_eq!(lines[1]["error"], "timed out");
        assert_eq!(
            lines[2]["trackingId"], "0199-other",
            "from the event's own field"
        );
    }
}
