//! The template flows: one real flow of each kind, sent through the sandbox and read back.

use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{Value, json};
use sqlx::{Row, SqliteConnection};

use crate::ADMIN;
use crate::server::Running;

/// A real flow to copy, with how often it occurs in the mix (per mille).
pub(super) struct Template {
    pub(super) per_mille: u32,
    /// A flow that exists in the store itself (every template but the queued one).
    pub(super) real: bool,
    pub(super) id: String,
    pub(super) recipient: String,
    pub(super) created_ms: i64,
    pub(super) updated_after_ms: i64,
    pub(super) application_id: String,
    pub(super) status: String,
    pub(super) termination: Option<String>,
    pub(super) event_seq: i64,
    pub(super) definition: Value,
    pub(super) state: Value,
    pub(super) channels: Vec<String>,
    /// `flows.channels`, the flow's channel set as the store wrote it.
    pub(super) channel_set: i64,
}

/// Send one flow of each kind through the sandbox and read back what the store wrote.
pub(super) async fn make_templates(
    client: &reqwest::Client,
    run: &Running,
    account: &str,
    conn: &mut SqliteConnection,
) -> anyhow::Result<Vec<Template>> {
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", run.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let sender = admin(
        &format!("/admin/accounts/{account}/viber-senders"),
        json!({"name": "BenchBrand"}),
    )
    .await?
    .json::<Value>()
    .await?["senderInfoTrackingId"]
        .as_str()
        .context("a Viber sender")?
        .to_owned();
    let sms = |order: u32, to: &str| json!({"type": "Sms", "order": order, "from": "Cascade", "to": to, "message": {"body": "Your code is 123456. It expires in 10 minutes."}});
    let viber = |order: u32, to: &str| json!({"type": "Viber", "order": order, "senderInfoTrackingId": sender, "to": to, "message": {"text": "Your parcel arrives today between 10:00 and 12:00."}});
    let voice = |order: u32, to: &str| json!({"type": "Voice", "order": order, "from": "+306900000000", "to": to, "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Your parcel arrives today"}}]}});
    let script = |channel: &str, to: &str, events: Value| {
        admin(
            "/sandbox/scenarios",
            json!({"channel": channel, "to": to, "events": events}),
        )
    };
    // (per mille, recipient, steps, scripted outcomes)
    let nums = [
        "+306999999001",
        "+306999999002",
        "+306999999003",
        "+306999999004",
        "+306999999005",
        "+306999999006",
        "+306999999007",
    ];
    script(
        "Viber",
        nums[2],
        json!([{"afterMs": 5, "status": "EXPIRED"}]),
    )
    .await?;
    script("Sms", nums[3], json!([{"afterMs": 5, "status": "Failed"}])).await?;
    script(
        "Viber",
        nums[4],
        json!([{"afterMs": 5, "status": "EXPIRED"}]),
    )
    .await?;
    script(
        "Sms",
        nums[4],
        json!([{"afterMs": 5, "status": "Undelivered"}]),
    )
    .await?;
    script("Sms", nums[6], json!([])).await?;
    let kinds: [(u32, &str, Vec<Value>); 7] = [
        (450, nums[0], vec![sms(1, nums[0])]),
        (200, nums[1], vec![viber(1, nums[1]), sms(2, nums[1])]),
        (100, nums[2], vec![viber(1, nums[2]), sms(2, nums[2])]),
        (80, nums[3], vec![sms(1, nums[3])]),
        (
            50,
            nums[4],
            vec![viber(1, nums[4]), sms(2, nums[4]), voice(3, nums[4])],
        ),
        (40, nums[5], vec![voice(1, nums[5])]),
        (50, nums[6], vec![sms(1, nums[6])]),
    ];
    let mut templates = Vec::new();
    for (per_mille, to, steps) in kinds {
        let r = client
            .post(format!("{}/failover", run.base))
            .bearer_auth(&run.token)
            .json(&json!({ "flow": steps }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "a template flow was refused");
        let id = r.json::<Value>().await?["trackingId"]
            .as_str()
            .context("a trackingId")?
            .to_owned();
        // Wait until it settled (the hanging one stays InProgress).
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let tracking: Value = client
                .get(format!("{}/failover/tracking/{id}", run.base))
                .bearer_auth(&run.token)
                .send()
                .await?
                .json()
                .await?;
            let status = tracking["status"].as_str().unwrap_or("");
            let settled = matches!(status, "Succeeded" | "Failed")
                || (to == nums[6] && status == "InProgress");
            if settled {
                break;
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "template {id} did not settle: {tracking}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        templates.push(read_template(conn, per_mille, &id, to).await?);
    }
    // Queued: accepted, nothing attempted yet (the state a new flow starts with).
    let mut queued = read_template(conn, 30, &templates[0].id, nums[0]).await?;
    queued.real = false;
    queued.status = "Queued".into();
    queued.termination = None;
    queued.updated_after_ms = 0;
    queued.event_seq = 1;
    queued.state =
        json!({"status": "Queued", "steps": [], "updated_at": queued.definition["created_at"]});
    templates.push(queued);
    anyhow::ensure!(
        templates.iter().map(|t| t.per_mille).sum::<u32>() == 1000,
        "the mix adds up to 1000 per mille"
    );
    Ok(templates)
}

pub(super) async fn read_template(
    conn: &mut SqliteConnection,
    per_mille: u32,
    id: &str,
    recipient: &str,
) -> anyhow::Result<Template> {
    let row = sqlx::query(
        "SELECT f.application_id, f.status, f.termination_channel, f.created_at, f.updated_at, \
         f.event_seq, f.state, d.definition, f.channels FROM flows f \
         JOIN flow_definitions d ON d.id = f.id WHERE f.id = ?",
    )
    .bind(id)
    .fetch_one(&mut *conn)
    .await?;
    let channels: Vec<String> =
        sqlx::query_scalar("SELECT channel FROM flow_steps WHERE flow_id = ? ORDER BY rowid")
            .bind(id)
            .fetch_all(&mut *conn)
            .await?;
    let created_ms: i64 = row.try_get(3)?;
    Ok(Template {
        per_mille,
        real: true,
        id: id.to_owned(),
        recipient: recipient.to_owned(),
        created_ms,
        updated_after_ms: row.try_get::<i64, _>(4)? - created_ms,
        application_id: row.try_get(0)?,
        status: row.try_get(1)?,
        termination: row.try_get(2)?,
        event_seq: row.try_get(5)?,
        state: serde_json::from_str(row.try_get(6)?)?,
        definition: serde_json::from_str(row.try_get(7)?)?,
        channels,
        channel_set: row.try_get(8)?,
    })
}
