//! `cascade send`, `cascade track` and `cascade search` against a running server, with an
//! application's credentials, as a user types them; and a bulk send of 10 000 CSV rows
//! interrupted and started again: every row accepted once.

use std::io::Write;
use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::*;

fn cascade(app: &TestApp, args: &[&str]) -> tokio::process::Command {
    let mut cmd = tokio::process::Command::new(env!("CARGO_BIN_EXE_cascade"));
    cmd.args(args)
        .env("CASCADE_URL", &app.base)
        .env("CASCADE_APP_ID", &app.app_id)
        .env("CASCADE_APP_SECRET", &app.app_secret)
        .env_remove("CASCADE_CONFIG");
    cmd
}

/// Runs the command to its end (the server keeps serving meanwhile).
async fn run(app: &TestApp, args: &[&str]) -> Output {
    cascade(app, args)
        .output()
        .await
        .expect("the cascade binary runs")
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn send_track_and_search_from_the_command_line() {
    let app = spawn_app().await;
    let id = stdout(
        &run(
            &app,
            &["send", "--to", "+306912345678", "--body", "from the CLI"],
        )
        .await,
    )
    .trim()
    .to_owned();
    let t = app.wait_final(&id).await;
    assert_eq!(t["status"], "Succeeded");
    assert_eq!(t["messages"][0]["body"], "from the CLI");

    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("flow.json");
    std::fs::write(
        &file,
        flow(vec![sms_step(1, "from a file"), sms_step(2, "fallback")]).to_string(),
    )
    .unwrap();
    let file = file.display().to_string();
    let args = [
        "send",
        "--file",
        file.as_str(),
        "--idempotency-key",
        "cli-once",
    ];
    let second = stdout(&run(&app, &args).await).trim().to_owned();
    let again = stdout(&run(&app, &args).await);
    assert!(
        again.starts_with(&second) && again.contains("already accepted"),
        "{again}"
    );
    app.wait_final(&second).await;

    let shown = stdout(&run(&app, &["track", &id]).await);
    assert!(
        shown.starts_with(&format!("flow {id}  Succeeded on Sms")),
        "{shown}"
    );
    assert!(
        shown.contains("Delivered") && shown.contains("timeline"),
        "{shown}"
    );
    assert!(
        shown.contains("submitted"),
        "the timeline is printed: {shown}"
    );
    let as_json: Value =
        serde_json::from_str(&stdout(&run(&app, &["track", &id, "--json"]).await)).unwrap();
    assert_eq!(as_json["tracking"]["trackingId"], id.as_str());

    let found = stdout(&run(&app, &["search", "--status", "Succeeded", "--size", "5"]).await);
    assert!(found.starts_with("2 flow(s); page 1 of 1"), "{found}");
    assert!(found.contains(&id) && found.contains(&second), "{found}");
}

#[tokio::test]
async fn bad_input_on_the_command_line_gets_a_clear_error_and_sends_nothing() {
    let app = spawn_app().await;
    let refused = run(&app, &["send", "--to", "not-a-number", "--body", "x"]).await;
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(err.contains("refused (400)") && err.contains("to"), "{err}");

    let mut wrong = cascade(&app, &["send", "--to", "+306912345678", "--body", "x"]);
    let wrong = wrong
        .env("CASCADE_APP_SECRET", "not-the-secret")
        .output()
        .await
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        String::from_utf8_lossy(&wrong.stderr).contains("signing in as"),
        "{wrong:?}"
    );

    let nothing = run(&app, &["send"]).await;
    assert!(!nothing.status.success());
    assert!(String::from_utf8_lossy(&nothing.stderr).contains("say what to send"));

    let missing = run(&app, &["track", "01a24501-7403-792a-8894-5800ce2294e4"]).await;
    assert!(!missing.status.success());
    assert!(
        String::from_utf8_lossy(&missing.stderr).contains("404"),
        "{missing:?}"
    );
    assert_eq!(app.flow_count().await, 0, "nothing was stored");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bulk_send_interrupted_and_started_again_accepts_every_row_once() {
    const ROWS: usize = 10_000;
    let app = spawn_app_with(&[("CASCADE_RATE_LIMIT_PER_SECOND", "0")]).await;
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("recipients.csv");
    let mut f = std::fs::File::create(&csv).unwrap();
    writeln!(f, "phone,name").unwrap();
    for i in 0..ROWS {
        // A quoted field with a comma, as spreadsheets write them.
        writeln!(f, "+3069{:08},\"Customer, {i}\"", 10_000_000 + i).unwrap();
    }
    // One bad row: refused by the API, reported, nothing stored for it.
    writeln!(f, "+30,Nobody").unwrap();
    drop(f);
    let template = dir.path().join("flow.json");
    std::fs::write(
        &template,
        json!({"flow": [{"type": "Sms", "order": 1, "from": "Cascade", "to": "{{phone}}",
                         "message": {"body": "Hello {{name}}"}}]})
        .to_string(),
    )
    .unwrap();
    let (csv, template) = (csv.display().to_string(), template.display().to_string());
    let args = [
        "send",
        "--csv",
        &csv,
        "--template",
        &template,
        "--rate",
        "100000",
        "--concurrency",
        "32",
    ];

    // The first run is killed part of the way through.
    let mut first = cascade(&app, &args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    while app.flow_count().await < 2_000 {
        assert!(Instant::now() < deadline, "the first run made no progress");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    first.kill().await.unwrap();
    let before = app.flow_count().await;
    assert!(before < ROWS as i64, "interrupted before the end: {before}");

    let second = cascade(&app, &args).output().await.unwrap();
    let out = String::from_utf8_lossy(&second.stdout).into_owned();
    assert!(!second.status.success(), "one row was refused: {out}");
    let number = |label: &str| -> usize {
        out.lines()
            .find_map(|l| l.strip_prefix(label))
            .and_then(|n| n.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {label:?} in {out}"))
    };
    let accepted = number("accepted:");
    let already = number("already accepted (an earlier run):");
    assert_eq!(accepted + already, ROWS, "{out}");
    assert!(
        already as i64 >= before - 32,
        "rows of the first run were not sent again: {out}"
    );
    assert_eq!(number("refused:"), 1, "{out}");
    assert!(
        out.contains(&format!("row {}", ROWS + 2)),
        "the bad row is named: {out}"
    );
    assert_eq!(number("not sent (start again to send them):"), 0, "{out}");
    assert_eq!(
        app.flow_count().await,
        ROWS as i64,
        "every row accepted exactly once"
    );
}
