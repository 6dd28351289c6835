//! `cascade send`, `cascade track` and `cascade search`: the API's client, for the people
//! who send flows, with the same credentials as the API (an application's id and
//! secret, exchanged for a token).
//!
//! `cascade send --csv rows.csv --template flow.json` sends one flow per row: every
//! `{{column}}` in the template's strings is replaced by the row's value. Each row carries
//! an `Idempotency-Key` made from the template, the row's number and its values, so a run
//! that was interrupted can simply be started again: rows the server already accepted are
//! answered from its idempotency record (counted as "already accepted"), never sent twice.
//! Keys are kept by the server for 24 hours.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;

/// Where the API is and whose credentials to use.
#[derive(Debug, Clone, Args)]
pub struct Connection {
    /// The API's base URL.
    #[arg(long, env = "CASCADE_URL", default_value = "http://127.0.0.1:8080")]
    pub url: String,
    /// The application's id (`applicationId`).
    #[arg(long = "app", env = "CASCADE_APP_ID")]
    pub app: String,
    /// The application's secret.
    #[arg(long = "secret", env = "CASCADE_APP_SECRET", hide_env_values = true)]
    pub secret: String,
}

/// `cascade send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// A flow as the API takes it (`POST /failover` body), from a JSON file.
    #[arg(long, conflicts_with_all = ["to", "csv"])]
    pub file: Option<PathBuf>,
    /// A one-step SMS to this number (E.164) ...
    #[arg(long, requires = "body", conflicts_with = "csv")]
    pub to: Option<String>,
    /// ... with this text ...
    #[arg(long)]
    pub body: Option<String>,
    /// ... from this sender.
    #[arg(long, default_value = "Cascade")]
    pub from: String,
    /// Bulk: one flow per row of this CSV file (with a header row), from `--template`.
    #[arg(long, requires = "template")]
    pub csv: Option<PathBuf>,
    /// Bulk: the flow to send for each row; `{{column}}` is replaced by the row's value.
    #[arg(long)]
    pub template: Option<PathBuf>,
    /// Bulk: flows sent per second at most.
    #[arg(long, default_value_t = 100)]
    pub rate: u32,
    /// Bulk: requests in flight at most.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    /// An `Idempotency-Key` for a single flow.
    #[arg(long, conflicts_with = "csv")]
    pub idempotency_key: Option<String>,
}

/// `cascade track`.
#[derive(Debug, Args)]
pub struct TrackArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// The flow's `trackingId`.
    pub tracking_id: String,
    /// Print the tracking and its timeline as JSON instead.
    #[arg(long)]
    pub json: bool,
}

/// `cascade search`.
#[derive(Debug, Args)]
pub struct SearchArgs {
    #[command(flatten)]
    pub connection: Connection,
    /// `status is` this (Queued, InProgress, Succeeded, Failed).
    #[arg(long)]
    pub status: Option<String>,
    /// `to starts_with` this.
    #[arg(long)]
    pub to: Option<String>,
    /// `type is` this (Sms, Viber, Voice).
    #[arg(long = "type")]
    pub channel: Option<String>,
    /// Page number, from 0.
    #[arg(long, default_value_t = 0)]
    pub page: u32,
    /// Flows per page.
    #[arg(long, default_value_t = 20)]
    pub size: u32,
}

/// A signed-in client.
struct Api {
    http: reqwest::Client,
    base: String,
    token: String,
}

impl Api {
    async fn sign_in(c: &Connection) -> anyhow::Result<Api> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()?;
        let base = c.url.trim_end_matches('/').to_owned();
        let r = http
            .post(format!("{base}/oauth/token"))
            .basic_auth(&c.app, Some(&c.secret))
            .form(&[("grant_type", "client_credentials")])
            .send()
            .await
            .with_context(|| format!("reaching {base}"))?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("signing in as {}: {status} {}", c.app, explain(&body));
        }
        let token = body["access_token"]
            .as_str()
            .context("the token answer has no access_token")?
            .to_owned();
        Ok(Api { http, base, token })
    }

    async fn get(&self, path: &str) -> anyhow::Result<Value> {
        let r = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(&self.token)
            .send()
            .await?;
        let status = r.status();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        if !status.is_success() {
            bail!("GET {path}: {status} {}", explain(&body));
        }
        Ok(body)
    }

    /// `POST /failover`: the status, whether it was a replay, and the body.
    async fn send(&self, flow: &Value, key: Option<&str>) -> anyhow::Result<(u16, bool, Value)> {
        let mut request = self
            .http
            .post(format!("{}/failover", self.base))
            .bearer_auth(&self.token)
            .json(flow);
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        let r = request.send().await?;
        let status = r.status().as_u16();
        let replayed = r
            .headers()
            .get("idempotent-replayed")
            .is_some_and(|v| v == "true");
        let body: Value = r.json().await.unwrap_or(Value::Null);
        Ok((status, replayed, body))
    }
}

/// The API's error body in one line: its message and each field's problem.
fn explain(body: &Value) -> String {
    let mut text = body["developerMessage"]
        .as_str()
        .or_else(|| body["message"].as_str())
        .or_else(|| body["error_description"].as_str())
        .unwrap_or("")
        .to_owned();
    if let Some(errors) = body["errors"].as_object() {
        for (field, problem) in errors {
            let problem = problem
                .as_array()
                .and_then(|a| a.first())
                .and_then(Value::as_str)
                .or_else(|| problem.as_str())
                .unwrap_or("invalid");
            text.push_str(&format!(" {field}: {problem};"));
        }
    }
    if text.is_empty() {
        body.to_string()
    } else {
        text.trim().trim_end_matches(';').to_owned()
    }
}

/// `cascade send`.
///
/// # Errors
/// A flow refused or not sent (single), or rows refused or not sent (bulk).
pub async fn send(args: SendArgs) -> anyhow::Result<()> {
    let api = Api::sign_in(&args.connection).await?;
    if let (Some(csv), Some(template)) = (&args.csv, &args.template) {
        return bulk(api, csv, template, args.rate, args.concurrency).await;
    }
    let flow = match (&args.file, &args.to, &args.body) {
        (Some(file), _, _) => read_json(file)?,
        (None, Some(to), Some(body)) => json!({"flow": [{
            "type": "Sms", "order": 1, "from": args.from, "to": to, "message": {"body": body}
        }]}),
        _ => bail!("say what to send: --file flow.json, --to … --body …, or --csv … --template …"),
    };
    let (status, replayed, body) = api.send(&flow, args.idempotency_key.as_deref()).await?;
    if status != 200 {
        bail!("refused ({status}): {}", explain(&body));
    }
    let id = body["trackingId"].as_str().unwrap_or_default();
    if replayed {
        println!("{id} (already accepted under this Idempotency-Key)");
    } else {
        println!("{id}");
    }
    Ok(())
}

fn read_json(path: &Path) -> anyhow::Result<Value> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))
}

/// `template` with every `{{column}}` in its strings replaced by `row`'s value.
///
/// # Errors
/// The placeholders that name no column.
fn render(template: &Value, row: &BTreeMap<String, String>) -> Result<Value, String> {
    match template {
        Value::String(s) => {
            let mut out = String::with_capacity(s.len());
            let mut rest = s.as_str();
            while let Some(start) = rest.find("{{") {
                let Some(len) = rest[start + 2..].find("}}") else {
                    break;
                };
                let name = rest[start + 2..start + 2 + len].trim();
                let value = row
                    .get(name)
                    .ok_or_else(|| format!("no column {name:?} for {{{{{name}}}}}"))?;
                out.push_str(&rest[..start]);
                out.push_str(value);
                rest = &rest[start + 2 + len + 2..];
            }
            out.push_str(rest);
            Ok(Value::String(out))
        }
        Value::Array(items) => items
            .iter()
            .map(|v| render(v, row))
            .collect::<Result<_, _>>()
            .map(Value::Array),
        Value::Object(map) => map
            .iter()
            .map(|(k, v)| render(v, row).map(|v| (k.clone(), v)))
            .collect::<Result<_, _>>()
            .map(Value::Object),
        other => Ok(other.clone()),
    }
}

/// The row's `Idempotency-Key`: the same template, row number and values give the same
/// key on every run.
fn row_key(template: &[u8], number: usize, fields: &[String]) -> String {
    let mut hash = Sha256::new();
    hash.update(template);
    hash.update(number.to_le_bytes());
    for f in fields {
        hash.update((f.len() as u64).to_le_bytes());
        hash.update(f.as_bytes());
    }
    format!("csv-{}", &hex::encode(hash.finalize())[..40])
}

/// What became of one row.
enum Row {
    Accepted,
    AlreadyAccepted,
    Refused(String),
    NotSent(String),
}

async fn bulk(
    api: Api,
    csv_path: &Path,
    template_path: &Path,
    rate: u32,
    concurrency: usize,
) -> anyhow::Result<()> {
    let template_bytes = std::fs::read(template_path)
        .with_context(|| format!("reading {}", template_path.display()))?;
    let template: Value = serde_json::from_slice(&template_bytes)
        .with_context(|| format!("{} is not JSON", template_path.display()))?;
    let mut reader = csv::Reader::from_path(csv_path)
        .with_context(|| format!("reading {}", csv_path.display()))?;
    let headers: Vec<String> = reader
        .headers()
        .with_context(|| format!("the header row of {}", csv_path.display()))?
        .iter()
        .map(|h| h.trim().to_owned())
        .collect();
    let mut rows = Vec::new();
    for (i, record) in reader.records().enumerate() {
        let record = record.with_context(|| format!("row {} of {}", i + 2, csv_path.display()))?;
        rows.push(record.iter().map(str::to_owned).collect::<Vec<String>>());
    }
    let bar = indicatif::ProgressBar::new(rows.len() as u64);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{bar:40} {pos}/{len} rows ({per_sec}, {eta} left) {msg}",
        )
        .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let api = Arc::new(api);
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let every = Duration::from_secs_f64(1.0 / f64::from(rate.max(1)));
    let mut ticks = tokio::time::interval(every);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tasks = tokio::task::JoinSet::new();
    for (i, fields) in rows.into_iter().enumerate() {
        ticks.tick().await;
        let permit = Arc::clone(&permits).acquire_owned().await?;
        let number = i + 2; // as a spreadsheet shows it, after the header row
        let row: BTreeMap<String, String> = headers
            .iter()
            .cloned()
            .zip(fields.iter().cloned())
            .collect();
        let key = row_key(&template_bytes, number, &fields);
        let flow = render(&template, &row);
        let (api, bar) = (Arc::clone(&api), bar.clone());
        tasks.spawn(async move {
            let outcome = match flow {
                Err(problem) => Row::Refused(problem),
                Ok(flow) => send_row(&api, &flow, &key).await,
            };
            bar.inc(1);
            drop(permit);
            (number, outcome)
        });
    }
    let mut accepted = 0u64;
    let mut already = 0u64;
    let mut refused: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    let mut not_sent: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    while let Some(done) = tasks.join_next().await {
        let (number, outcome) = done?;
        match outcome {
            Row::Accepted => accepted += 1,
            Row::AlreadyAccepted => already += 1,
            Row::Refused(why) => refused.entry(why).or_default().push(number),
            Row::NotSent(why) => not_sent.entry(why).or_default().push(number),
        }
    }
    bar.finish_and_clear();
    println!("accepted: {accepted}");
    println!("already accepted (an earlier run): {already}");
    let count = |m: &BTreeMap<String, Vec<usize>>| m.values().map(Vec::len).sum::<usize>();
    println!("refused: {}", count(&refused));
    for (why, numbers) in &refused {
        println!(
            "  {} row(s), e.g. row {}: {why}",
            numbers.len(),
            numbers.iter().min().unwrap_or(&0)
        );
    }
    println!("not sent (start again to send them): {}", count(&not_sent));
    for (why, numbers) in &not_sent {
        println!(
            "  {} row(s), e.g. row {}: {why}",
            numbers.len(),
            numbers.iter().min().unwrap_or(&0)
        );
    }
    if !refused.is_empty() || !not_sent.is_empty() {
        bail!(
            "{} row(s) refused, {} not sent",
            count(&refused),
            count(&not_sent)
        );
    }
    Ok(())
}

/// One row: sent until the server answers for it (a busy or unreachable server is asked
/// again, a few times, with the same key).
async fn send_row(api: &Api, flow: &Value, key: &str) -> Row {
    let mut wait = Duration::from_millis(200);
    let mut last = String::new();
    for _ in 0..6 {
        match api.send(flow, Some(key)).await {
            Ok((200, true, _)) => return Row::AlreadyAccepted,
            Ok((200, false, _)) => return Row::Accepted,
            // The same key still in flight (an earlier run's request that was cut off is
            // released by the server in a moment): ask again.
            Ok((409, _, body)) if explain(&body).contains("still being processed") => {
                last = format!("409 {}", explain(&body));
            }
            Ok((status, _, body)) if status == 429 || status >= 500 => {
                last = format!("{status} {}", explain(&body));
            }
            Ok((status, _, body)) => return Row::Refused(format!("{status} {}", explain(&body))),
            Err(e) => last = cascade_core::error_chain(e.as_ref()),
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(Duration::from_secs(5));
    }
    Row::NotSent(last)
}

/// `cascade track`: the tracking and its timeline, readable in a terminal.
///
/// # Errors
/// The flow cannot be read.
pub async fn track(args: TrackArgs) -> anyhow::Result<()> {
    let api = Api::sign_in(&args.connection).await?;
    let tracking = api
        .get(&format!("/failover/tracking/{}", args.tracking_id))
        .await?;
    let events = api
        .get(&format!("/failover/tracking/{}/events", args.tracking_id))
        .await?;
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({"tracking": tracking, "events": events}))?
        );
        return Ok(());
    }
    print!("{}", describe_tracking(&tracking, &events));
    Ok(())
}

/// The text `cascade track` prints.
fn describe_tracking(tracking: &Value, events: &Value) -> String {
    let s = |v: &Value| v.as_str().unwrap_or("-").to_owned();
    let mut out = format!(
        "flow {}  {}{}  created {}  total {}\n",
        s(&tracking["trackingId"]),
        s(&tracking["status"]),
        tracking["terminationChannel"]
            .as_str()
            .map(|c| format!(" on {c}"))
            .unwrap_or_default(),
        s(&tracking["createdAt"]),
        tracking["totalPrice"],
    );
    out.push_str("\nmessages\n");
    for m in tracking["messages"].as_array().into_iter().flatten() {
        out.push_str(&format!(
            "  {:>2}. {:<6} to {:<16} {:<14} {}\n",
            m["order"],
            s(&m["type"]),
            s(&m["to"]),
            s(&m["status"]["name"]),
            s(&m["status"]["reason"]["description"]),
        ));
    }
    let list = events
        .as_array()
        .or_else(|| events["events"].as_array())
        .cloned()
        .unwrap_or_default();
    out.push_str("\ntimeline\n");
    for e in &list {
        let mut detail = Vec::new();
        for field in [
            "order",
            "part",
            "status",
            "detail",
            "provider",
            "description",
            "node",
        ] {
            if let Some(v) = e.get(field).filter(|v| !v.is_null()) {
                detail.push(format!(
                    "{field}={}",
                    v.as_str().map_or_else(|| v.to_string(), str::to_owned)
                ));
            }
        }
        out.push_str(&format!(
            "  {}  {:<18} {}\n",
            s(&e["at"]),
            s(&e["type"]),
            detail.join(" ")
        ));
    }
    out
}

/// `cascade search`: one page of the account's flows.
///
/// # Errors
/// The search is refused.
pub async fn search(args: SearchArgs) -> anyhow::Result<()> {
    let api = Api::sign_in(&args.connection).await?;
    let mut filters = Vec::new();
    if let Some(status) = &args.status {
        filters.push(json!({"fieldName": "status", "searchOperator": "is", "searchTerm": status}));
    }
    if let Some(to) = &args.to {
        filters.push(json!({"fieldName": "to", "searchOperator": "starts_with", "searchTerm": to}));
    }
    if let Some(channel) = &args.channel {
        filters.push(json!({"fieldName": "type", "searchOperator": "is", "searchTerm": channel}));
    }
    let r = api
        .http
        .post(format!(
            "{}/failover/tracking?page={}&size={}",
            api.base, args.page, args.size
        ))
        .bearer_auth(&api.token)
        .json(&Value::Array(filters))
        .send()
        .await?;
    let status = r.status();
    let page: Value = r.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("search refused ({status}): {}", explain(&page));
    }
    println!(
        "{} flow(s); page {} of {}",
        page["totalElements"],
        args.page + 1,
        page["totalPages"].as_u64().unwrap_or(0).max(1)
    );
    for t in page["content"].as_array().into_iter().flatten() {
        let first = &t["messages"][0];
        println!(
            "{}  {:<10} {:<6} {:<16} {}",
            t["trackingId"].as_str().unwrap_or("-"),
            t["status"].as_str().unwrap_or("-"),
            t["terminationChannel"].as_str().unwrap_or("-"),
            first["to"].as_str().unwrap_or("-"),
            t["createdAt"].as_str().unwrap_or("-"),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn placeholders_are_filled_from_the_row_everywhere_in_the_template() {
        let template = json!({"flow": [{"type": "Sms", "order": 1, "to": "{{ phone }}",
            "message": {"body": "Hi {{name}}, code {{code}}!"}, "ttl": 5}]});
        let out = render(
            &template,
            &row(&[
                ("phone", "+306912345678"),
                ("name", "Ada"),
                ("code", "{{x}}"),
            ]),
        )
        .unwrap();
        assert_eq!(out["flow"][0]["to"], "+306912345678");
        assert_eq!(
            out["flow"][0]["message"]["body"], "Hi Ada, code {{x}}!",
            "a value is never read as a placeholder"
        );
        assert_eq!(out["flow"][0]["ttl"], 5);
        let missing = render(&template, &row(&[("phone", "+30")])).unwrap_err();
        assert!(missing.contains("\"name\""), "{missing}");
    }

    #[test]
    fn a_rows_key_is_stable_and_differs_between_rows() {
        let a = row_key(b"t", 2, &["+30".into(), "Ada".into()]);
        assert_eq!(a, row_key(b"t", 2, &["+30".into(), "Ada".into()]));
        assert_ne!(
            a,
            row_key(b"t", 3, &["+30".into(), "Ada".into()]),
            "same values, another row"
        );
        assert_ne!(
            a,
            row_key(b"u", 2, &["+30".into(), "Ada".into()]),
            "another template"
        );
        assert_ne!(
            a,
            row_key(b"t", 2, &["+30A".into(), "da".into()]),
            "fields are delimited"
        );
        assert!(cascade_core::idempotency::IdempotencyKey::parse(&a).is_ok());
    }
}
