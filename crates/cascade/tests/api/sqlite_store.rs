//! What only the SQLite store does: one server per store file, the second refused with
//! a message naming the first (PostgreSQL takes any number of nodes instead).

use std::path::Path;
use std::time::Duration;

use reqwest::StatusCode;
use tokio::process::Command;

use crate::helpers::*;
use crate::restart::start;

/// `cascade serve` on `db` run to completion (it is expected to refuse to start).
async fn serve_once(db: &Path) -> std::process::Output {
    let run = Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("serve")
        .env("CASCADE_LISTEN", "127.0.0.1:0")
        .env("CASCADE_SANDBOX_SMPP_LISTEN", "127.0.0.1:0")
        .env("CASCADE_DATABASE_URL", format!("sqlite://{}", db.display()))
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

    let second = serve_once(&db).await;
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
