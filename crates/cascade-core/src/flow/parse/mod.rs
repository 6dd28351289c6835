//! Turning a `POST /failover` body into a [`FlowDefinition`]: every rule of the contract's
//! §3, all problems reported at once, keyed by field path.
//!
//! The body is read as a [`serde_json::Value`] (not through serde derive) so that every
//! problem carries the exact path of the field (`flow[2].dialPlan.verbs[1].message.text`)
//! and so that all problems are collected, not only the first. Unknown fields are ignored,
//! and JSON `null` counts as an absent field.

mod callback;
mod sms;
#[cfg(test)]
pub(super) mod tests;
mod url;
mod viber;
mod voice;

use std::collections::HashMap;

use serde_json::Value;

use super::model::*;
use crate::address::Msisdn;
use crate::channel::{Channel, StatusKind};
use crate::fields::Presence::Required;
use crate::fields::{FieldReader, JsonObject, ValidationErrors};
use crate::ids::FlowId;
use crate::money::Micros;
use crate::pricing::{OperatorTable, PriceList};
use crate::time::Timestamp;
pub use crate::ttl::{TtlClock, VOICE_REPORT_DEADLINE_MINUTES};

/// What parsing needs beyond the body itself.
#[derive(Debug, Clone, Copy)]
pub struct AcceptContext<'a> {
    pub tracking_id: FlowId,
    pub now: Timestamp,
    pub account_id: &'a str,
    pub application_id: &'a str,
    /// The account's Viber senders: `senderInfoTrackingId` → sender name.
    pub viber_senders: &'a HashMap<String, String>,
    pub prices: &'a PriceList,
    pub operators: &'a OperatorTable,
    pub ttl_clock: TtlClock,
}

/// Parse and check a request body.
///
/// # Errors
/// Returns every problem found, keyed by field path.
pub fn parse_flow(
    body: &Value,
    ctx: &AcceptContext<'_>,
) -> Result<FlowDefinition, ValidationErrors> {
    let mut checker = Checker::default();
    let (steps, callback) = match body.as_object() {
        Some(map) => {
            let root = JsonObject::new(map, "");
            (checker.steps(&root, ctx), checker.callback(&root))
        }
        None => {
            checker.r.report(
                "flow",
                "is required: the body must be a JSON object with a flow array",
            );
            (Vec::new(), None)
        }
    };
    checker.r.finish()?;
    Ok(FlowDefinition {
        tracking_id: ctx.tracking_id,
        account_id: ctx.account_id.to_owned(),
        application_id: ctx.application_id.to_owned(),
        created_at: ctx.now,
        steps,
        callback,
    })
}

// ---- limits shared by several channels ----

const MAX_STEPS: usize = 10;
const ORDER_RULE: &str = "must be a positive integer";
const LABEL_MAX: usize = 350;

/// The flow's own rules on top of the shared [`FieldReader`], which holds every problem
/// found so far. Each channel's rules live in their own module as more methods of this
/// type.
#[derive(Debug, Default)]
struct Checker {
    r: FieldReader,
}

// ---- the flow ----

impl Checker {
    fn steps(&mut self, root: &JsonObject<'_>, ctx: &AcceptContext<'_>) -> Vec<Step> {
        let Some(items) = self
            .r
            .array(root, "flow", Required, "must be an array of steps")
        else {
            return Vec::new();
        };
        if !(1..=MAX_STEPS).contains(&items.len()) {
            self.r
                .report("flow", format!("must have 1 to {MAX_STEPS} steps"));
        }
        let mut orders: HashMap<u32, usize> = HashMap::new();
        let mut steps = Vec::new();
        for (index, item) in items.iter().enumerate() {
            if let Some(obj) = self.r.object(item, format!("flow[{index}]")) {
                steps.extend(self.step(&obj, index, &mut orders, ctx));
            }
        }
        steps.sort_by_key(|s| s.order);
        steps
    }

    fn step(
        &mut self,
        obj: &JsonObject<'_>,
        index: usize,
        orders: &mut HashMap<u32, usize>,
        ctx: &AcceptContext<'_>,
    ) -> Option<Step> {
        let channels = Channel::ALL.map(|c| (c.name(), c));
        let channel = self.r.choice(obj, "type", Required, &channels);
        let order: Option<u32> =
            self.r
                .integer(obj, "order", Required, 1..=i64::from(u32::MAX), ORDER_RULE);
        if let Some(order) = order {
            if let Some(first) = orders.get(&order) {
                self.r.report(
                    obj.at("order"),
                    format!("must be unique: flow[{first}] has the same order"),
                );
            } else {
                orders.insert(order, index);
            }
        }
        let channel = channel?;
        let failover_on = self.failover_statuses(obj, channel);
        let kind = match channel {
            Channel::Sms => self.sms(obj),
            Channel::Viber => self.viber(obj, ctx),
            Channel::Voice => self.voice(obj),
        };
        let kind = kind?;
        let Quote {
            unit_price,
            country,
            operator,
            ttl_ms,
        } = quote(&kind, ctx);
        Some(Step {
            order: order?,
            failover_on,
            unit_price,
            country,
            operator,
            ttl_ms,
            kind,
        })
    }

    /// `failoverOnStatuses`: an array of names or one comma-separated string, matched
    /// case-insensitively against the channel's allowed statuses, duplicates dropped (first
    /// occurrence kept).
    ///
    /// An explicitly empty list (`[]`, `""`, `" , "`) means the channel's default, exactly
    /// like an absent field: clients send it for "not set", and a step that fails over on
    /// nothing is already expressed by making it the last step.
    fn failover_statuses(&mut self, obj: &JsonObject<'_>, channel: Channel) -> Vec<StatusKind> {
        const KEY: &str = "failoverOnStatuses";
        let allowed = channel.failover_statuses();
        let defaults = channel.default_failover_statuses().to_vec();
        let names: Vec<&str> = match obj.get(KEY) {
            None => Vec::new(),
            Some(Value::String(text)) => text.split(',').collect(),
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
                items.iter().filter_map(Value::as_str).collect()
            }
            Some(_) => {
                self.r.report(
                    obj.at(KEY),
                    "must be an array of status names or a comma-separated string",
                );
                return defaults;
            }
        };
        let mut statuses: Vec<StatusKind> = Vec::new();
        let mut unknown: Vec<&str> = Vec::new();
        for name in names.iter().map(|n| n.trim()).filter(|n| !n.is_empty()) {
            match allowed
                .iter()
                .find(|s| s.pascal_name().eq_ignore_ascii_case(name))
            {
                Some(status) if !statuses.contains(status) => statuses.push(*status),
                Some(_) => {}
                None => unknown.push(name),
            }
        }
        if !unknown.is_empty() {
            let allowed: Vec<&str> = allowed.iter().map(|s| s.pascal_name()).collect();
            self.r.report(
                obj.at(KEY),
                format!(
                    "must be one of {} (not allowed: {})",
                    allowed.join(", "),
                    unknown.join(", ")
                ),
            );
        }
        if statuses.is_empty() {
            defaults
        } else {
            statuses
        }
    }
}

// ---- quoting ----

/// What a step will cost and how long it may run, worked out from the step as parsed.
#[derive(Debug)]
struct Quote {
    /// Price per unit (SMS part, Viber message, voice minute) in the recipient's country.
    unit_price: Micros,
    /// ISO 3166-1 alpha-2 of the recipient's number, when it has one.
    country: Option<String>,
    /// The recipient's operator by number prefix; empty when unknown or not a number.
    operator: String,
    /// The TTL in milliseconds of the context's [`TtlClock`] ([`crate::ttl::step_ttl_ms`]).
    ttl_ms: Option<i64>,
}

/// Prices, locates and times a step whose fields were all checked. Cannot fail: a
/// recipient without a country (a SIP-only voice step) takes the price list's default.
fn quote(kind: &StepKind, ctx: &AcceptContext<'_>) -> Quote {
    let number = match kind {
        StepKind::Sms(s) => Some(&s.to),
        StepKind::Viber(v) => Some(&v.to),
        StepKind::Voice(v) => v.to.number(),
    };
    let country = number.and_then(Msisdn::country);
    let operator = number.map(|n| ctx.operators.lookup(n)).unwrap_or_default();
    let prices = match kind {
        StepKind::Sms(_) => &ctx.prices.sms,
        StepKind::Viber(v) if v.content.is_rich() => &ctx.prices.viber_rich,
        StepKind::Viber(_) => &ctx.prices.viber_text,
        StepKind::Voice(_) => &ctx.prices.voice_minute,
    };
    let ttl_ms = Some(crate::ttl::step_ttl_ms(kind, ctx.ttl_clock));
    Quote {
        unit_price: prices.for_country(country.as_deref()),
        country,
        operator,
        ttl_ms,
    }
}
