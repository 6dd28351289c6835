//! What only the SQLite store does: one server per store file, the second refused with
//! a message naming the first (PostgreSQL takes any number of nodes instead).

use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::Command;

use crate::helpers::*;
use crate::restart::start;

/// `cascade serve` on the store at `url` run to completion (it is expected to refuse to
/// start).
async fn serve_once(url: &str) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", url)
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("RUST_LOG", "warn")
        .kill_on_drop(true)
        .output();
    tokio::time::timeout(Duration::from_secs(60), run)
        .await
        .expect("a refused server exits at once")
        .expect("the cascade binary runs")
}

#[tokio::test]
async fn a_second_server_on_the_same_store_is_refused_and_names_the_first() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cascade.db");
    let url = format!("sqlite://{}", db.display());
    let first = start(&url).await;
    let pid = first.child.id().expect("the first server runs");

    let second = serve_once(&url).await;
    assert!(!second.status.success(), "the second server must not run");
    let said = String::from_utf8_lossy(&second.stderr);
    assert!(
        said.contains("is in use by another server") && said.contains(&format!("pid {pid} ")),
        "the refusal names the holder: {said}"
    );
    // The first one is untouched: it still answers.
    let r = reqwest::get(format!("{}/healthz", first.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);

    // A crash leaves no stale lock: the next server starts at once.
    first.kill_9().await;
    let next = start(&url).await;
    let r = reqwest::get(format!("{}/healthz", next.base))
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

/// A URL option the store would honour only in part (its readers and writer open the
/// file through two libraries) stops the server before it creates anything.
#[tokio::test]
async fn a_store_url_option_the_store_cannot_honour_stops_the_server_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("data");
    for (option, says) in [
        (
            "mode=memory",
            "use `sqlite::memory:` for an in-memory store",
        ),
        ("mode=ro", "the store must be writable"),
        (
            "vfs=unix-dotfile",
            "the store accepts only `mode=rw` or `mode=rwc` and the defaults",
        ),
        ("immutable=1", "`immutable=0`"),
    ] {
        let url = format!("sqlite://{}?{option}", sub.join("cascade.db").display());
        let run = serve_once(&url).await;
        assert!(!run.status.success(), "{option}: the server must not run");
        let said = String::from_utf8_lossy(&run.stderr);
        assert!(
            said.contains(&format!("`{option}` cannot be used")) && said.contains(says),
            "{option}: {said}"
        );
        assert!(!sub.exists(), "{option}: nothing is created");
    }
}
