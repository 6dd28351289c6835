//! The product's metrics on `GET /metrics`: flows accepted and ended, failovers per
//! channel pair, step durations, timer lag, the callback outbox, and HTTP requests by
//! route pattern and status.

use std::time::Duration;

use serde_json::json;

use crate::helpers::*;

const FAILS: &str = "+306900000014";

/// Two SMS steps; the first one's recipient fails (a sandbox rule), so the second runs.
async fn send_failing_over(app: &TestApp) -> String {
    app.scenario(
        json!({"channel": "Sms", "to": FAILS, "events": [{"afterMs": 5, "status": "Failed"}]}),
    )
    .await;
    let mut first = sms_step(1, "first");
    first["to"] = json!(FAILS);
    app.send_flow(&flow(vec![first, sms_step(2, "second")]))
        .await
}

#[tokio::test]
async fn flows_failovers_steps_and_requests_are_counted() {
    let app = spawn_app().await;
    let failing_over = send_failing_over(&app).await;
    let plain = app.send_flow(&flow(vec![sms_step(1, "plain")])).await;
    for id in [&failing_over, &plain] {
        let t = app.wait_final(id).await;
        assert_eq!(t["status"], "Succeeded", "{t}");
    }
    let _ = app.post_flow(&json!({"flow": "not a list"})).await;

    let series = |m: &std::collections::HashMap<String, f64>, name: &str| {
        m.get(name).copied().unwrap_or(0.0)
    };
    let mut m = app.metrics().await;
    // The outbox gauge is read every few seconds: wait for its first reading.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while !m.contains_key("cascade_callbacks_pending") && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(100)).await;
        m = app.metrics().await;
    }
    assert_eq!(
        series(&m, "cascade_flows_accepted_total{channel=\"Sms\"}"),
        2.0,
        "{m:#?}"
    );
    assert_eq!(
        series(
            &m,
            "cascade_flows_finished_total{status=\"Succeeded\",termination_channel=\"Sms\"}"
        ),
        2.0
    );
    assert_eq!(
        series(&m, "cascade_failovers_total{from=\"Sms\",to=\"Sms\"}"),
        1.0
    );
    assert_eq!(
        series(
            &m,
            "cascade_step_duration_seconds_count{channel=\"Sms\",outcome=\"Failed\"}"
        ),
        1.0
    );
    assert_eq!(
        series(
            &m,
            "cascade_step_duration_seconds_count{channel=\"Sms\",outcome=\"Delivered\"}"
        ),
        2.0
    );
    assert_eq!(
        series(
            &m,
            "cascade_http_requests_total{route=\"/failover\",method=\"POST\",status=\"200\"}"
        ),
        2.0
    );
    assert_eq!(
        series(
            &m,
            "cascade_http_requests_total{route=\"/failover\",method=\"POST\",status=\"400\"}"
        ),
        1.0,
        "a refused request is counted under its status"
    );
    assert!(
        series(
            &m,
            "cascade_http_requests_total{route=\"/failover/tracking/{trackingId}\",method=\"GET\",status=\"200\"}"
        ) >= 2.0,
        "labelled by the route's pattern, never the id"
    );
    assert!(
        !m.keys().any(|k| k.contains(&failing_over)),
        "no tracking id in any label"
    );
    assert!(m.contains_key(
        "cascade_http_request_duration_seconds_count{route=\"/failover\",method=\"POST\"}"
    ));
    assert!(m.contains_key("cascade_timer_lag_seconds_count"));
    assert_eq!(series(&m, "cascade_callbacks_pending"), 0.0);
    assert_eq!(series(&m, "cascade_callbacks_dead"), 0.0);
}

/// Every series the Grafana dashboard in `docs/grafana/cascade.json` reads is one
/// `GET /metrics` describes, so the dashboard cannot drift from the code.
#[tokio::test]
async fn the_grafana_dashboard_reads_only_series_that_exist() {
    let app = spawn_app().await;
    // Families without a sample are not described: give each one a sample.
    let id = send_failing_over(&app).await;
    app.wait_final(&id).await;
    let text = reqwest::Client::new()
        .get(app.url("/metrics"))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grafana/cascade.json"
    );
    let dashboard: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut names = std::collections::BTreeSet::new();
    for panel in dashboard["panels"].as_array().unwrap() {
        for target in panel["targets"].as_array().unwrap() {
            let expr = target["expr"].as_str().unwrap();
            let mut rest = expr;
            while let Some(at) = rest.find("cascade_") {
                let name: String = rest[at..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                rest = &rest[at + name.len()..];
                names.insert(name);
            }
        }
    }
    assert!(names.len() >= 10, "{names:?}");
    for name in &names {
        let family = ["_total", "_bucket", "_count", "_sum"]
            .iter()
            .find_map(|suffix| name.strip_suffix(suffix))
            .unwrap_or(name);
        assert!(
            text.contains(&format!("# TYPE {family} ")),
            "the dashboard reads {name}, which /metrics does not describe:\n{text}"
        );
    }
}
