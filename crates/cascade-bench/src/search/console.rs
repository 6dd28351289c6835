//! `console`: the web console's pages timed in headless Chromium over a store filled
//! like the search benchmark's (`--search-flows`). `console-bench.py` (Playwright from
//! the repository's `.venv-web`, Debian's `chromium`) signs in as the bench application
//! and loads each page kind `--search-requests` times; the sign-in page, which reads
//! nothing from the store, is the baseline measured the same way in the same run.

use anyhow::Context;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use super::Rng;
use crate::{APP, Cli, SECRET};

/// Returns the table rows: (measurement, result).
pub async fn run(cli: &Cli) -> anyhow::Result<Vec<(String, String)>> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let python = root.join(".venv-web/bin/python");
    anyhow::ensure!(
        python.exists(),
        "{} is missing: run .ci/run (or make the venv from tests/web/requirements.txt)",
        python.display()
    );
    let super::FilledServer {
        run,
        templates,
        filled,
        fill_secs,
        ..
    } = super::filled_server(cli).await?;
    eprintln!("filled in {fill_secs:.0} s");

    let mut rng = Rng(0xC0DE);
    // The copies the fill imported carry no timeline (import stores a flow's state, not
    // its history), so the flow page is timed on the template flows: real flows that went
    // through the pipeline (delivered, failed over, failed), with their whole timeline,
    // looked up by id in the filled store like any other.
    let flows: Vec<String> = templates
        .iter()
        .filter(|t| t.real)
        .map(|t| format!("/console/flows/{}", t.flow.definition.tracking_id))
        .collect();
    let prefixes: Vec<String> = (0..50)
        .map(|_| {
            let used = filled.used[rng.below(filled.used.len() as u64) as usize];
            let number = filled.numbers[used].number.to_string();
            // The first six digits (country code included): tens to thousands of flows.
            let digits = number.trim_start_matches('+');
            format!(
                "/console/trackings?to_op=starts_with&to=%2B{}",
                &digits[..digits.len().min(6)]
            )
        })
        .collect();
    let n = cli.search_flows;
    let pages = json!([
        {"name": "Console baseline: sign-in page, signed out (reads nothing from the store)", "paths": ["/console/login"], "signed_out": true},
        {"name": format!("Console, {n} flows: trackings, first page (the 10 newest: the default size)"), "paths": ["/console/trackings"]},
        {"name": format!("Console, {n} flows: trackings, status Failed"), "paths": ["/console/trackings?status=Failed"]},
        {"name": format!("Console, {n} flows: trackings, to starts with the first 6 digits"), "paths": prefixes},
        {"name": format!("Console, {n} flows: one flow (tracking, timeline picture, events; the {} real template flows in turn)", flows.len()), "paths": flows},
    ]);
    let input = json!({
        "base": run.base,
        "chromium": "/usr/bin/chromium",
        "app_id": APP,
        "secret": SECRET,
        "runs": cli.search_requests,
        "pages": pages,
    });
    let mut child = tokio::process::Command::new(&python)
        .arg(root.join("crates/cascade-bench/console-bench.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .context("the console script starts")?;
    let mut stdin = child.stdin.take().context("stdin")?;
    stdin.write_all(input.to_string().as_bytes()).await?;
    drop(stdin);
    let out = child.wait_with_output().await?;
    anyhow::ensure!(out.status.success(), "the console script failed");
    let mut rows = Vec::new();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let m: Value = serde_json::from_str(line).with_context(|| line.to_owned())?;
        let ms = |k: &str, p: &str| m[k][p].as_f64().unwrap_or(f64::NAN);
        rows.push((
            m["name"].as_str().unwrap_or_default().to_owned(),
            format!(
                "first render (FCP) p50 {:.0} ms, p99 {:.0} ms; first byte p50 {:.0} ms, p99 {:.0} ms; \
                 document {:.1} KB transferred ({:.1} KB of HTML), {} B more; {} loads",
                ms("fcp", "p50"),
                ms("fcp", "p99"),
                ms("ttfb", "p50"),
                ms("ttfb", "p99"),
                m["doc_bytes"].as_f64().unwrap_or_default() / 1024.0,
                m["body_bytes"].as_f64().unwrap_or_default() / 1024.0,
                m["other_bytes"],
                m["runs"],
            ),
        ));
    }
    run.stop().await;
    Ok(rows)
}
