//! Filling the store with copies of the templates, through [`FlowStore::import_flows`].
//!
//! A copy is a typed [`StoredFlow`]: the template's definition and state, cloned, with
//! what makes a flow itself replaced (trackingId, message ids, owner, recipient) and every
//! instant moved with its creation time. Texts, prices, statuses and reasons stay the
//! template's, so the trackings rendered from copies are as large as real ones.

use cascade_core::flow::{FlowDefinition, Step, StepKind, VoiceTo};
use cascade_core::ids::new_message_id;
use cascade_core::machines::{FlowState, StepState};
use cascade_core::{FlowId, Msisdn, Timestamp};
use cascade_store::{FlowStore, StoredFlow};

use super::templates::Template;
use super::{DAY_MS, Rng};

/// Flows per [`FlowStore::import_flows`] call (one transaction each).
const BATCH: usize = 5_000;

/// A recipient of generated flows, with the country its steps show.
pub(super) struct Recipient {
    pub(super) number: Msisdn,
    /// What the API accepting a flow to `number` would have put in each step's
    /// `country`; computed once per numbering plan, not per number.
    pub(super) country: Option<String>,
}

/// What the fill stored, as far as the measurement needs it.
pub(super) struct Filled {
    /// Recipients the generated flows use: 90 % Greek mobiles, 10 % UK mobiles, about
    /// four flows per number.
    pub(super) numbers: Vec<Recipient>,
    /// Indexes in `numbers` of the recipients of at least one of the account's flows.
    pub(super) used: Vec<usize>,
    /// Tracking ids of every 100th flow of the account.
    pub(super) ids: Vec<FlowId>,
    /// The account's generated flows per template.
    pub(super) counts: Vec<u64>,
}

/// Store `n` flows of `account`, and `n / 20` more spread over `others` (at least one),
/// created over the 30 days that end a minute before the first template was, in time
/// order, in batches of [`BATCH`]. Which template each copies is drawn by the templates'
/// per mille.
pub(super) async fn fill(
    store: &dyn FlowStore,
    account: &str,
    others: &[String],
    templates: &[Template],
    n: usize,
) -> anyhow::Result<Filled> {
    anyhow::ensure!(!others.is_empty(), "other accounts to own some flows");
    let mut rng = Rng(42);
    let greek = Msisdn::parse("+306900000000").map_err(anyhow::Error::msg)?;
    let uk = Msisdn::parse("+447900000000").map_err(anyhow::Error::msg)?;
    let (greek, uk) = (greek.country(), uk.country());
    let numbers = (0..(n / 4).max(1))
        .map(|_| {
            let (text, country) = if rng.below(10) == 0 {
                (format!("+4479{:08}", rng.below(100_000_000)), &uk)
            } else {
                (format!("+3069{:08}", rng.below(100_000_000)), &greek)
            };
            Ok(Recipient {
                number: Msisdn::parse(&text).map_err(anyhow::Error::msg)?,
                country: country.clone(),
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut used = vec![false; numbers.len()];
    let mut ids = Vec::new();
    let mut counts = vec![0; templates.len()];
    let mut mine: u64 = 0;
    let total = n + n / 20;
    let end = templates[0].flow.definition.created_at.as_millis() - 60_000;
    let start = end - 30 * DAY_MS;
    let mut done = 0;
    while done < total {
        let size = BATCH.min(total - done);
        let mut batch = Vec::with_capacity(size);
        for i in done..done + size {
            let created =
                Timestamp::from_millis(start + (i as i64) * (30 * DAY_MS) / (total as i64));
            // Every 21st flow is another account's: n of the account's, n/20 others'.
            let owner = if i % 21 == 20 {
                others[rng.below(others.len() as u64) as usize].as_str()
            } else {
                account
            };
            let mut pick = rng.below(1000) as u32;
            let t = templates
                .iter()
                .position(|t| {
                    let hit = pick < t.per_mille;
                    pick = pick.saturating_sub(t.per_mille);
                    hit
                })
                .unwrap_or(0);
            let number = rng.below(numbers.len() as u64) as usize;
            let flow = copy(&templates[t].flow, owner, &numbers[number], created);
            if owner == account {
                used[number] = true;
                counts[t] += 1;
                mine += 1;
                if mine % 100 == 1 {
                    ids.push(flow.definition.tracking_id);
                }
            }
            batch.push(flow);
        }
        store.import_flows(batch).await?;
        done += size;
        if done % 100_000 < BATCH {
            eprintln!("filled {done} / {total} flows");
        }
    }
    Ok(Filled {
        numbers,
        used: (0..used.len()).filter(|&i| used[i]).collect(),
        ids,
        counts,
    })
}

/// A copy of `template` for `account`, created at `created` and sent to `to`: a new
/// trackingId (a UUIDv7 of `created`, as Cascade makes them), new message ids, every
/// instant moved by `created - template's creation`, and each step's recipient and
/// country replaced. Everything else is the template's.
pub(super) fn copy(
    template: &StoredFlow,
    account: &str,
    to: &Recipient,
    created: Timestamp,
) -> StoredFlow {
    let mut flow = template.clone();
    shift_times(
        &mut flow,
        created.millis_since(template.definition.created_at),
    );
    let def = &mut flow.definition;
    def.tracking_id = FlowId::new_v7(created.as_millis());
    def.account_id = account.to_owned();
    for step in &mut def.steps {
        set_recipient(step, to);
    }
    renew_message_ids(&mut flow.state, created);
    flow
}

/// Move every instant in the flow's definition and state by `ms`.
///
/// The structs whose fields are all public are taken apart field by field with no `..`,
/// so a new field (perhaps a new instant) stops this from compiling until it is handled
/// here. `MessageState` keeps some fields private and cannot be taken apart that way; the
/// unit test below checks every instant its serialized form shows instead.
pub(super) fn shift_times(flow: &mut StoredFlow, ms: i64) {
    let shift = |t: &mut Timestamp| *t = t.plus_millis(ms);
    let FlowDefinition {
        tracking_id: _,
        account_id: _,
        application_id: _,
        created_at,
        steps: _,
        callback: _,
    } = &mut flow.definition;
    shift(created_at);
    let FlowState {
        status: _,
        status_code: _,
        steps,
        updated_at,
    } = &mut flow.state;
    shift(updated_at);
    for step in steps {
        let StepState {
            order: _,
            phase: _,
            outcome: _,
            started_at,
            sent_at,
            message_id: _,
            reserved: _,
            messages,
        } = step;
        shift(started_at);
        if let Some(t) = sent_at {
            shift(t);
        }
        for m in messages {
            shift(&mut m.created_at);
            shift(&mut m.updated_at);
            if let Some(t) = &mut m.expired_on_delivery_at {
                shift(t);
            }
        }
    }
}

/// Send the step to `to`. A voice step calls the number (the templates' do too).
fn set_recipient(step: &mut Step, to: &Recipient) {
    match &mut step.kind {
        StepKind::Sms(sms) => sms.to = to.number.clone(),
        StepKind::Viber(viber) => viber.to = to.number.clone(),
        StepKind::Voice(voice) => {
            voice.to = VoiceTo {
                phone: Some(to.number.clone()),
                viber: None,
                sip: None,
            }
        }
    }
    step.country.clone_from(&to.country);
}

/// Give every step and message an id of its own (UUIDv7s of the creation time), keeping
/// the template's sharing: a Viber or voice message carries its step's id, while an SMS
/// step's `messageId` differs from each part's `smsId`.
fn renew_message_ids(state: &mut FlowState, created: Timestamp) {
    let fresh = || new_message_id(created.as_millis());
    for step in &mut state.steps {
        let old = std::mem::replace(&mut step.message_id, fresh());
        for m in &mut step.messages {
            m.id = if m.id == old {
                step.message_id.clone()
            } else {
                fresh()
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use cascade_core::StatusKind;
    use cascade_core::flow::{AcceptContext, TtlClock, parse_flow};
    use cascade_core::machines::{Event, FlowStatus, Report, transition};
    use cascade_core::pricing::{OperatorTable, PriceList};
    use serde_json::{Value, json};

    use super::*;

    const CREATED_MS: i64 = 1_772_356_502_113;

    /// A real two-step flow: parsed as the API parses it, then run by the engine through
    /// a Viber message that expires and an SMS (two parts) that is delivered.
    fn template() -> StoredFlow {
        let created = Timestamp::from_millis(CREATED_MS);
        let senders = HashMap::from([("snd-1".to_owned(), "BenchBrand".to_owned())]);
        let (prices, operators) = (PriceList::default(), OperatorTable::default());
        let ctx = AcceptContext {
            tracking_id: FlowId::new_v7(CREATED_MS),
            now: created,
            account_id: "acc-1",
            application_id: "app-1",
            viber_senders: &senders,
            prices: &prices,
            operators: &operators,
            ttl_clock: TtlClock::default(),
        };
        let body = json!({"flow": [
            {"type": "Viber", "order": 1, "senderInfoTrackingId": "snd-1", "to": "+306999999005",
             "message": {"text": "Your parcel arrives today."}},
            {"type": "Sms", "order": 2, "from": "Cascade", "to": "+306999999005",
             "message": {"body": "Your parcel arrives today. ".repeat(8)}},
        ]});
        let definition = parse_flow(&body, &ctx).expect("a valid flow");
        let report = |status, at| Report::status(status, at);
        let mut state = FlowState::new(created);
        let mut at = created;
        for event in [
            Event::Start,
            Event::FundsReserved { order: 1 },
            Event::Submitted {
                order: 1,
                provider_ids: vec!["p-1".into()],
            },
            Event::Report {
                order: 1,
                part: 1,
                report: report(StatusKind::Expired, at.plus_millis(500)),
            },
            Event::FundsReserved { order: 2 },
            Event::Submitted {
                order: 2,
                provider_ids: vec!["p-2".into(), "p-3".into()],
            },
            Event::Report {
                order: 2,
                part: 1,
                report: report(StatusKind::Delivered, at.plus_millis(5_500)),
            },
            Event::Report {
                order: 2,
                part: 2,
                report: report(StatusKind::Delivered, at.plus_millis(6_500)),
            },
        ] {
            at = at.plus_millis(1_000);
            state = transition(&definition, state, event, at)
                .expect("the engine takes the event")
                .0;
        }
        assert_eq!(state.status, FlowStatus::Succeeded, "{state:?}");
        StoredFlow { definition, state }
    }

    fn recipient() -> Recipient {
        Recipient {
            number: Msisdn::parse("+447912345678").unwrap(),
            country: Some("GB".into()),
        }
    }

    /// Every string of `a` that is an instant, beside the same place in `b`.
    fn instants(a: &Value, b: &Value, out: &mut Vec<(Timestamp, Timestamp)>) {
        match (a, b) {
            (Value::String(x), Value::String(y)) => {
                if let Ok(x) = Timestamp::parse(x) {
                    out.push((x, Timestamp::parse(y).expect("an instant stays one")));
                }
            }
            (Value::Array(x), Value::Array(y)) => {
                assert_eq!(x.len(), y.len());
                x.iter().zip(y).for_each(|(x, y)| instants(x, y, out));
            }
            (Value::Object(x), Value::Object(y)) => {
                assert_eq!(x.len(), y.len());
                x.iter().for_each(|(k, x)| instants(x, &y[k], out));
            }
            _ => {}
        }
    }

    #[test]
    fn a_copy_moves_every_instant_by_the_same_amount() {
        let template = template();
        let created = Timestamp::from_millis(CREATED_MS - 12 * DAY_MS - 3_456);
        let copied = copy(&template, "acc-2", &recipient(), created);
        assert_eq!(copied.definition.created_at, created);
        for (before, after) in [
            (
                serde_json::to_value(&template.definition).unwrap(),
                serde_json::to_value(&copied.definition).unwrap(),
            ),
            (
                serde_json::to_value(&template.state).unwrap(),
                serde_json::to_value(&copied.state).unwrap(),
            ),
        ] {
            let mut pairs = Vec::new();
            instants(&before, &after, &mut pairs);
            assert!(!pairs.is_empty());
            for (was, is) in pairs {
                assert_eq!(is.millis_since(was), -12 * DAY_MS - 3_456, "{was} -> {is}");
            }
        }
    }

    #[test]
    fn ids_look_like_cascades() {
        let template = template();
        let copied = copy(
            &template,
            "acc-2",
            &recipient(),
            Timestamp::from_millis(CREATED_MS),
        );
        let id = copied.definition.tracking_id;
        assert_ne!(id, template.definition.tracking_id);
        assert_eq!(id.as_uuid().get_version_num(), 7);
        assert!(id.to_string().starts_with("019ca8"), "{id}");
        let (viber, sms) = (&copied.state.steps[0], &copied.state.steps[1]);
        assert_eq!(
            viber.messages[0].id, viber.message_id,
            "Viber shares its id"
        );
        assert_eq!(sms.messages.len(), 2);
        assert_ne!(sms.messages[0].id, sms.message_id);
        assert_ne!(sms.messages[0].id, sms.messages[1].id);
        let text = serde_json::to_string(&copied.state).unwrap();
        for step in &template.state.steps {
            assert!(!text.contains(&step.message_id), "{text}");
            for m in &step.messages {
                assert!(!text.contains(&m.id), "{text}");
            }
        }
    }

    #[test]
    fn a_copy_is_the_template_sent_by_someone_else_to_someone_else() {
        let template = template();
        let copied = copy(
            &template,
            "acc-2",
            &recipient(),
            Timestamp::from_millis(CREATED_MS + 1),
        );
        assert_eq!(copied.definition.account_id, "acc-2");
        assert_eq!(copied.definition.application_id, "app-1");
        for step in &copied.definition.steps {
            assert_eq!(step.recipient(), "+447912345678");
            assert_eq!(step.country.as_deref(), Some("GB"));
        }
        let def = serde_json::to_string(&copied.definition).unwrap();
        assert!(!def.contains("+306999999005"), "{def}");
        assert_eq!(copied.state.status, template.state.status);
        assert_eq!(copied.state.total_price(), template.state.total_price());
        for (a, b) in copied.state.steps.iter().zip(&template.state.steps) {
            for (a, b) in a.messages.iter().zip(&b.messages) {
                assert_eq!(
                    (a.status, a.detailed_status(), a.description()),
                    (b.status, b.detailed_status(), b.description())
                );
            }
        }
    }
}
