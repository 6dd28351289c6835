//! The template flows: one real flow of each kind in the mix, sent through the sandbox
//! (scripted to succeed, fail over, fail or hang) and read back from the store as typed
//! values, which the fill then copies.

use std::time::{Duration, Instant};

use anyhow::Context;
use cascade_core::FlowId;
use cascade_core::machines::FlowState;
use cascade_store::StoredFlow;
use serde_json::{Value, json};

use crate::ADMIN;
use crate::server::Running;

/// A flow to copy, with how often it occurs in the mix (per mille).
pub(super) struct Template {
    pub(super) per_mille: u32,
    /// Whether the flow itself is in the store (every template but the queued one), and so
    /// counts in the account's search totals beside its copies.
    pub(super) real: bool,
    pub(super) flow: StoredFlow,
}

/// Send one flow of each kind through the sandbox, wait until each has settled, and read
/// it back through the store; plus a queued flow made from the first. The mix adds up to
/// 1000 per mille.
pub(super) async fn make_templates(
    client: &reqwest::Client,
    run: &Running,
) -> anyhow::Result<Vec<Template>> {
    let admin = |path: &str, body: Value| {
        client
            .post(format!("{}{path}", run.base))
            .bearer_auth(ADMIN)
            .json(&body)
            .send()
    };
    let sender = admin(
        &format!("/admin/accounts/{}/viber-senders", run.account),
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
        templates.push(Template {
            per_mille,
            real: true,
            flow: read_flow(run, &id).await?,
        });
    }
    // Queued: accepted, nothing attempted yet. No such flow stays in the store for long,
    // so this one is made: the first template's definition with a new flow's state.
    let mut queued = templates[0].flow.clone();
    queued.state = FlowState::new(queued.definition.created_at);
    templates.push(Template {
        per_mille: 30,
        real: false,
        flow: queued,
    });
    anyhow::ensure!(
        templates.iter().map(|t| t.per_mille).sum::<u32>() == 1000,
        "the mix adds up to 1000 per mille"
    );
    Ok(templates)
}

/// The flow `id` of the bench account, as the store holds it.
async fn read_flow(run: &Running, id: &str) -> anyhow::Result<StoredFlow> {
    let id = FlowId::parse(id).with_context(|| format!("trackingId {id}"))?;
    run.store
        .flow(&run.account, id)
        .await?
        .with_context(|| format!("template {id} in the store"))
}
