//! Logging set-up.

use std::fmt;
use std::io::IsTerminal;

use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{DefaultFields, Format, Full, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent};
use tracing_subscriber::registry::LookupSpan;

/// Log to stderr, filtered by `RUST_LOG` (default `info`, with sqlx quieted). Call once.
pub fn init(default_filter: &str) {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter(default_filter))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

/// [`init`] for a server: every line starts with `node=<CASCADE_NODE_ID>`, so that the
/// logs of several nodes gathered in one place say which node wrote each line.
pub fn init_for_node(default_filter: &str, node: &str) {
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
}
