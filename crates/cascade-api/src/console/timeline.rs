//! A flow's timeline as a picture: one lane per step on a shared time axis, with the
//! flow's own events above them and callbacks below. Pure: entries in, SVG out.
//!
//! What is drawn (every mark has a `<title>` that says it in words, and a `data-kind`):
//! - a bar per step from its start to its outcome, coloured by the outcome;
//! - submissions (triangles), refused submissions and provider fall-backs, provider
//!   reports (dots coloured by status), replies from the recipient;
//! - the TTL deadline of a step (a dashed line; a cross where it ran out);
//! - failovers: an arrow from a step's outcome to the next step's start;
//! - callbacks (diamonds, by outcome) and the flow's acceptance and final status.

use std::fmt::Write as _;

use cascade_core::Channel;
use cascade_core::Timestamp;
use cascade_core::machines::{TimelineEntry, TimelineKind};
use maud::{Markup, html};

/// A step as the picture needs it.
#[derive(Debug, Clone)]
pub struct Lane {
    pub order: u32,
    pub channel: Channel,
    pub ttl_ms: Option<i64>,
}

const WIDTH: f64 = 960.0;
const GUTTER: f64 = 150.0;
const RIGHT: f64 = 24.0;
const LANE_H: f64 = 44.0;
const TOP: f64 = 16.0;
const AXIS_H: f64 = 34.0;

/// How a status reads: good, bad or neither (CSS class).
pub fn tone(status: &str) -> &'static str {
    let s = status.to_ascii_lowercase();
    if ["delivered", "succeeded", "answered", "read", "seen", "sent"]
        .iter()
        .any(|g| s == *g)
    {
        "ok"
    } else if [
        "failed",
        "undelivered",
        "rejected",
        "expired",
        "unknown",
        "busy",
        "no_answer",
        "noanswer",
        "dead",
        "cancelled",
        "error",
    ]
    .iter()
    .any(|b| s.contains(b))
    {
        "bad"
    } else {
        "neutral"
    }
}

/// `+12 ms`, `+1.25 s`, `+3 min 5 s`.
pub fn offset_label(ms: i64) -> String {
    let sign = if ms < 0 { "-" } else { "+" };
    let ms = ms.unsigned_abs();
    if ms < 1_000 {
        format!("{sign}{ms} ms")
    } else if ms < 60_000 {
        format!("{sign}{:.2} s", ms as f64 / 1000.0)
    } else {
        format!("{sign}{} min {} s", ms / 60_000, (ms % 60_000) / 1000)
    }
}

/// What an entry says in words (its `<title>`).
pub fn describe(e: &TimelineEntry) -> String {
    let mut s = e.kind.as_str().replace('_', " ");
    if let Some(order) = e.order {
        let _ = write!(s, ", step {order}");
    }
    if let Some(part) = e.part {
        let _ = write!(s, ", part {part}");
    }
    if let Some(status) = &e.status {
        let _ = write!(s, ": {status}");
    }
    if let Some(provider) = &e.provider {
        let _ = write!(s, " via {provider}");
    }
    if let Some(detail) = &e.detail {
        let _ = write!(s, " ({detail})");
    }
    if let Some(description) = &e.description {
        let _ = write!(s, " — {description}");
    }
    s
}

/// The picture of `entries` (in time order) for a flow with `lanes`; `now` extends the
/// axis of a flow that has not ended, and shows how far its TTL timers are.
pub fn picture(lanes: &[Lane], entries: &[TimelineEntry], now: Timestamp) -> Markup {
    let Some(first) = entries.first() else {
        return html! { p { "Nothing has happened to this flow yet." } };
    };
    let t0 = first.at;
    let ended = entries
        .iter()
        .any(|e| e.kind == TimelineKind::FlowCompleted);
    let mut t1 = entries.iter().map(|e| e.at).max().unwrap_or(t0);
    if !ended {
        t1 = t1.max(now);
    }
    // A step's TTL deadline, when the step started.
    let deadlines: Vec<(u32, Timestamp)> = lanes
        .iter()
        .filter_map(|lane| {
            let started = entries
                .iter()
                .find(|e| e.kind == TimelineKind::StepStarted && e.order == Some(lane.order))?;
            Some((lane.order, started.at.plus_millis(lane.ttl_ms?)))
        })
        .collect();
    // Deadlines count for the axis only while they matter: the step is still open, or
    // its TTL is what ended it.
    for &(order, deadline) in &deadlines {
        let open = !entries
            .iter()
            .any(|e| e.kind == TimelineKind::StepCompleted && e.order == Some(order));
        let expired = entries
            .iter()
            .any(|e| e.kind == TimelineKind::TtlExpired && e.order == Some(order));
        if (open && !ended) || expired {
            t1 = t1.max(deadline);
        }
    }
    let span = t1.millis_since(t0).max(1) as f64;
    let x = |t: Timestamp| GUTTER + (t.millis_since(t0) as f64 / span) * (WIDTH - GUTTER - RIGHT);

    // Lane 0: the flow; 1..=n: steps; n+1: callbacks.
    let lane_of_order = |order: u32| {
        lanes
            .iter()
            .position(|l| l.order == order)
            .map_or(0, |i| i + 1)
    };
    let callbacks_lane = lanes.len() + 1;
    let y = |lane: usize| TOP + lane as f64 * LANE_H + LANE_H / 2.0;
    let height = TOP + (lanes.len() + 2) as f64 * LANE_H + AXIS_H;
    let axis_y = TOP + (lanes.len() + 2) as f64 * LANE_H;

    let steps: Vec<StepBar> = lanes
        .iter()
        .filter_map(|lane| {
            let started = entries
                .iter()
                .find(|e| e.kind == TimelineKind::StepStarted && e.order == Some(lane.order))?;
            let done = entries
                .iter()
                .find(|e| e.kind == TimelineKind::StepCompleted && e.order == Some(lane.order));
            Some(StepBar {
                order: lane.order,
                from: started.at,
                to: done.map_or(if ended { t1 } else { now.max(started.at) }, |d| d.at),
                status: done.and_then(|d| d.status.clone()),
            })
        })
        .collect();

    let ticks: Vec<(f64, String)> = (0..=4)
        .map(|i| {
            let ms = (span * f64::from(i) / 4.0).round() as i64;
            (x(t0.plus_millis(ms)), offset_label(ms))
        })
        .collect();

    html! {
        svg class="timeline" xmlns="http://www.w3.org/2000/svg" role="img"
            viewBox={ "0 0 " (WIDTH) " " (height) } width=(WIDTH) height=(height)
            aria-label="The flow's timeline: steps on a time axis" {
            // Lanes and their names.
            @for (i, name) in lane_names(lanes).iter().enumerate() {
                rect class={ "lane " @if i % 2 == 0 { "even" } @else { "odd" } }
                    x="0" y=(TOP + i as f64 * LANE_H) width=(WIDTH) height=(LANE_H) {}
                text class="lane-name" x="8" y=(y(i) + 4.0) { (name) }
            }
            // The axis.
            line class="axis" x1=(GUTTER) y1=(axis_y) x2=(WIDTH - RIGHT) y2=(axis_y) {}
            @for (tx, label) in &ticks {
                line class="tick" x1=(tx) y1=(TOP) x2=(tx) y2=(axis_y + 4.0) {}
                text class="tick-label" x=(tx) y=(axis_y + 18.0) text-anchor="middle" { (label) }
            }
            // Step bars.
            @for bar in &steps {
                @let lane = lane_of_order(bar.order);
                @let status = bar.status.clone().unwrap_or_else(|| "in progress".into());
                rect class={ "step " (tone(&status)) } data-kind="step"
                    x=(x(bar.from)) y=(y(lane) - 9.0)
                    width=((x(bar.to) - x(bar.from)).max(3.0)) height="18" rx="4" {
                    title { "step " (bar.order) ": " (status) " after " (offset_label(bar.to.millis_since(bar.from))) }
                }
            }
            // TTL deadlines inside the picture.
            @for (order, deadline) in &deadlines {
                @if *deadline <= t1 {
                    @let lane = lane_of_order(*order);
                    line class="ttl" data-kind="ttl_deadline" x1=(x(*deadline)) y1=(y(lane) - 16.0)
                        x2=(x(*deadline)) y2=(y(lane) + 16.0) {
                        title { "step " (order) " TTL deadline at " (offset_label(deadline.millis_since(t0))) }
                    }
                }
            }
            // Failovers: from a step's outcome to the start of the next one.
            @for pair in steps.windows(2) {
                @let (a, b) = (&pair[0], &pair[1]);
                @let (x1, y1, x2, y2) = (x(a.to), y(lane_of_order(a.order)), x(b.from), y(lane_of_order(b.order)));
                path class="failover" data-kind="failover"
                    d={ "M" (x1) " " (y1 + 9.0) " C" (x1) " " (y2) ", " (x2) " " (y1) ", " (x2) " " (y2 - 10.0) } {
                    title { "failover from step " (a.order) " (" (a.status.as_deref().unwrap_or("?")) ") to step " (b.order) " after " (offset_label(b.from.millis_since(a.to))) }
                }
                path class="failover-head" d={ "M" (x2 - 4.0) " " (y2 - 16.0) " L" (x2) " " (y2 - 9.0) " L" (x2 + 4.0) " " (y2 - 16.0) } {}
            }
            // Every entry as a mark.
            @for e in entries {
                @let cx = x(e.at);
                @let when = offset_label(e.at.millis_since(t0));
                @match e.kind {
                    TimelineKind::Accepted | TimelineKind::FlowCompleted => {
                        circle class={ "flow-mark " (e.status.as_deref().map_or("neutral", tone)) }
                            data-kind=(e.kind.as_str()) cx=(cx) cy=(y(0)) r="7" {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::Callback => {
                        @let cy = y(callbacks_lane);
                        path class={ "callback " (e.status.as_deref().map_or("neutral", tone)) }
                            data-kind="callback"
                            d={ "M" (cx) " " (cy - 8.0) " L" (cx + 7.0) " " (cy) " L" (cx) " " (cy + 8.0) " L" (cx - 7.0) " " (cy) " Z" } {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::Submitted | TimelineKind::SubmitFailed | TimelineKind::ProviderAttempt => {
                        @let cy = y(e.order.map_or(0, lane_of_order)) - 12.0;
                        path class={ "submit " @if e.kind == TimelineKind::Submitted { "ok" } @else { "bad" } }
                            data-kind=(e.kind.as_str())
                            d={ "M" (cx - 6.0) " " (cy - 8.0) " L" (cx + 6.0) " " (cy - 8.0) " L" (cx) " " (cy) " Z" } {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::Report | TimelineKind::Inbound | TimelineKind::ProviderPrice => {
                        circle class={ "report " (e.status.as_deref().map_or("neutral", tone)) }
                            data-kind=(e.kind.as_str())
                            cx=(cx) cy=(y(e.order.map_or(0, lane_of_order)) + 14.0) r="5" {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::TtlExpired => {
                        @let cy = y(e.order.map_or(0, lane_of_order));
                        path class="expired" data-kind="ttl_expired"
                            d={ "M" (cx - 7.0) " " (cy - 7.0) " L" (cx + 7.0) " " (cy + 7.0) " M" (cx + 7.0) " " (cy - 7.0) " L" (cx - 7.0) " " (cy + 7.0) } {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::FundsRefused | TimelineKind::InternalError | TimelineKind::Rejected => {
                        @let cy = y(e.order.map_or(0, lane_of_order));
                        rect class="problem" data-kind=(e.kind.as_str())
                            x=(cx - 6.0) y=(cy - 6.0) width="12" height="12" {
                            title { (when) " " (describe(e)) }
                        }
                    }
                    TimelineKind::StepStarted | TimelineKind::StepCompleted => {}
                }
            }
            @if !ended {
                line class="now" data-kind="now" x1=(x(now)) y1=(TOP) x2=(x(now)) y2=(axis_y) {
                    title { "now: " (offset_label(now.millis_since(t0))) }
                }
            }
        }
    }
}

#[derive(Debug)]
struct StepBar {
    order: u32,
    from: Timestamp,
    to: Timestamp,
    status: Option<String>,
}

fn lane_names(lanes: &[Lane]) -> Vec<String> {
    let mut names = vec!["flow".to_owned()];
    names.extend(
        lanes
            .iter()
            .map(|l| format!("step {} · {}", l.order, l.channel.name())),
    );
    names.push("callbacks".to_owned());
    names
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(
        at: i64,
        kind: TimelineKind,
        order: Option<u32>,
        status: Option<&str>,
    ) -> TimelineEntry {
        let mut e = TimelineEntry::new(Timestamp::from_millis(at), kind);
        e.order = order;
        e.status = status.map(str::to_owned);
        e
    }

    fn failover_flow() -> (Vec<Lane>, Vec<TimelineEntry>) {
        use TimelineKind::*;
        let lanes = vec![
            Lane {
                order: 1,
                channel: Channel::Viber,
                ttl_ms: Some(60_000),
            },
            Lane {
                order: 2,
                channel: Channel::Sms,
                ttl_ms: Some(60_000),
            },
        ];
        let entries = vec![
            entry(0, Accepted, None, None),
            entry(1, StepStarted, Some(1), None),
            entry(5, Submitted, Some(1), None),
            entry(60_001, TtlExpired, Some(1), None),
            entry(60_001, StepCompleted, Some(1), Some("Expired")),
            entry(60_002, StepStarted, Some(2), None),
            entry(60_010, Submitted, Some(2), None),
            entry(60_200, Report, Some(2), Some("Delivered")),
            entry(60_200, StepCompleted, Some(2), Some("Delivered")),
            entry(60_200, FlowCompleted, None, Some("Succeeded")),
            entry(60_300, Callback, None, Some("delivered")),
        ];
        (lanes, entries)
    }

    fn count(svg: &str, kind: &str) -> usize {
        svg.matches(&format!("data-kind=\"{kind}\"")).count()
    }

    #[test]
    fn a_failover_after_a_ttl_draws_every_part() {
        let (lanes, entries) = failover_flow();
        let svg = picture(&lanes, &entries, Timestamp::from_millis(70_000)).into_string();
        assert_eq!(count(&svg, "step"), 2);
        assert_eq!(count(&svg, "failover"), 1);
        assert_eq!(count(&svg, "ttl_expired"), 1);
        assert_eq!(count(&svg, "submitted"), 2);
        assert_eq!(count(&svg, "report"), 1);
        assert_eq!(count(&svg, "callback"), 1);
        assert_eq!(count(&svg, "flow_completed"), 1);
        // The first step's deadline is inside the axis; the second's is not (it ended
        // long before its TTL).
        assert_eq!(count(&svg, "ttl_deadline"), 1);
        assert_eq!(count(&svg, "now"), 0, "an ended flow has no 'now' line");
        assert!(svg.contains("step 1 · Viber"), "{svg}");
        assert!(svg.contains("class=\"step bad\""));
        assert!(svg.contains("class=\"step ok\""));
    }

    #[test]
    fn marks_stay_inside_the_picture() {
        let (lanes, entries) = failover_flow();
        let svg = picture(&lanes, &entries, Timestamp::from_millis(70_000)).into_string();
        for attr in ["cx=\"", "x1=\"", "x2=\""] {
            for piece in svg.split(attr).skip(1) {
                let v: f64 = piece.split('"').next().unwrap().parse().unwrap();
                assert!((0.0..=WIDTH).contains(&v), "{attr}{v}");
            }
        }
    }

    #[test]
    fn an_open_flow_shows_now_and_its_pending_deadline() {
        let (lanes, mut entries) = failover_flow();
        entries.truncate(3);
        let svg = picture(&lanes, &entries, Timestamp::from_millis(10_000)).into_string();
        assert_eq!(count(&svg, "now"), 1);
        assert_eq!(count(&svg, "ttl_deadline"), 1);
        assert!(svg.contains("in progress"));
    }

    #[test]
    fn text_from_the_flow_is_escaped() {
        let mut e = entry(0, TimelineKind::Accepted, None, None);
        e.detail = Some("<script>alert(1)</script>\"&".into());
        let svg = picture(&[], &[e], Timestamp::from_millis(1)).into_string();
        assert!(!svg.contains("<script>"), "{svg}");
        assert!(svg.contains("&lt;script&gt;"));
    }

    #[test]
    fn offsets_read_in_the_right_unit() {
        assert_eq!(offset_label(0), "+0 ms");
        assert_eq!(offset_label(999), "+999 ms");
        assert_eq!(offset_label(1_250), "+1.25 s");
        assert_eq!(offset_label(185_000), "+3 min 5 s");
        assert_eq!(offset_label(-5), "-5 ms");
    }

    #[test]
    fn statuses_have_a_tone() {
        assert_eq!(tone("Delivered"), "ok");
        assert_eq!(tone("Succeeded"), "ok");
        assert_eq!(tone("Undelivered"), "bad");
        assert_eq!(tone("Failed"), "bad");
        assert_eq!(tone("Queued"), "neutral");
    }
}
