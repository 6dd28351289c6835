//! The sandbox providers' durable state, and the one procedure that records a send —
//! written once, over [`SandboxTx`], so every backend applies the same rules.

use async_trait::async_trait;
use cascade_core::Timestamp;
use cascade_core::sandbox::{NewScenario, Scenario, choose_rule, plan};

use crate::Result;
use crate::model::{SandboxMessage, SandboxReport, SandboxSend, SandboxSendOutcome};

/// The sandbox providers' durable state: scenario rules, what they received, and the
/// reports they still owe.
#[async_trait]
pub trait SandboxStore: Send + Sync {
    async fn create_scenario(&self, scenario: &NewScenario, now: Timestamp) -> Result<Scenario>;
    async fn scenarios(&self) -> Result<Vec<Scenario>>;
    async fn delete_scenarios(&self) -> Result<u64>;

    /// Record a send and schedule its reports in one transaction (see [`send`]).
    async fn sandbox_send(&self, send: SandboxSend, now: Timestamp) -> Result<SandboxSendOutcome>;

    /// Up to `limit` reports due at `now` from providers whose name starts with
    /// `provider_prefix`, in due order, leaving out the rows whose ids are in `skip`.
    /// They stay until acknowledged, so a crash between delivering and acknowledging
    /// delivers again (at least once).
    ///
    /// `skip` holds the reports the caller is delivering already: read again on every
    /// round they would cost as much as the new ones, and `limit` of them would keep the
    /// new ones from being read at all.
    async fn due_sandbox_reports(
        &self,
        provider_prefix: &str,
        now: Timestamp,
        limit: u32,
        skip: &[i64],
    ) -> Result<Vec<SandboxReport>>;
    async fn ack_sandbox_reports(&self, ids: &[i64]) -> Result<()>;
    /// When the next report of providers named `provider_prefix...` falls due.
    async fn next_sandbox_report_due(&self, provider_prefix: &str) -> Result<Option<Timestamp>>;
    async fn sandbox_messages(&self, limit: u32) -> Result<Vec<SandboxMessage>>;
    /// The provider ids a committed send with this `client_ref` was given, if any.
    async fn sandbox_provider_ids(&self, client_ref: &str) -> Result<Option<Vec<String>>>;
}

/// What [`send`] needs from an open transaction.
#[async_trait]
pub(crate) trait SandboxTx: Send {
    /// The provider ids a send with this `client_ref` already got (committed, or earlier
    /// in this transaction); `first_attempt` allows skipping the lookup of committed ones.
    async fn sent_before(
        &mut self,
        client_ref: &str,
        first_attempt: bool,
    ) -> Result<Option<Vec<String>>>;
    /// Every scenario rule, oldest first, with `times_left` as committed.
    async fn scenario_rules(&mut self) -> Result<Vec<Scenario>>;
    /// Sends of this transaction that used up one of a rule's `times`, not yet in
    /// [`SandboxTx::scenario_rules`].
    fn uses_pending(&self, scenario_id: i64) -> u32;
    /// Count one use of a rule's `times`.
    fn use_scenario(&mut self, scenario_id: i64);
    /// Keep the send (for `GET /sandbox/messages` and the duplicate check) and its reports.
    async fn record_send(
        &mut self,
        send: &SandboxSend,
        scenario_id: Option<i64>,
        reports: &[cascade_core::sandbox::PlannedReport],
        now: Timestamp,
    ) -> Result<()>;
}

/// Record a send: a `client_ref` seen before gets its first send's ids back and nothing
/// new is scheduled; otherwise the newest matching rule with sends left is chosen (and one
/// of its `times` used up), and the reports it scripts are scheduled.
pub(crate) async fn send<T: SandboxTx + ?Sized>(
    tx: &mut T,
    send: SandboxSend,
    now: Timestamp,
) -> Result<SandboxSendOutcome> {
    if let Some(provider_ids) = tx.sent_before(&send.client_ref, send.first_attempt).await? {
        return Ok(SandboxSendOutcome::repeat_of(provider_ids));
    }
    let rules = tx.scenario_rules().await?;
    let mut chosen = choose_rule(&rules, send.channel, &send.to, |id| tx.uses_pending(id)).cloned();
    if let Some(s) = chosen.as_mut() {
        if s.times_left.is_some() {
            tx.use_scenario(s.id);
        }
        // As the rule stands after this send.
        let used = tx.uses_pending(s.id);
        s.times_left = s.times_left.map(|left| left.saturating_sub(used));
    }
    let mut plan = plan(&send.kind, chosen.as_ref(), send.provider_ids.clone(), now);
    let sender = send
        .payload
        .get("from")
        .and_then(serde_json::Value::as_str)
        .unwrap_or_default();
    plan.address_replies(&send.to, sender);
    let mut send = send;
    send.provider_ids = plan.provider_ids;
    tx.record_send(&send, chosen.as_ref().map(|s| s.id), &plan.reports, now)
        .await?;
    Ok(SandboxSendOutcome {
        provider_ids: send.provider_ids,
        duplicate: false,
        scenario: chosen,
    })
}
