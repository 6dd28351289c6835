//! Reading the rows both stores share (same columns, same order) into model values, once
//! for SQLite and PostgreSQL alike: [`StoreRow`] is the little each backend's row type
//! must answer.

use cascade_core::idempotency::{KeyRecord, KeyState};
use cascade_core::sandbox::Scenario;
use cascade_core::{Channel, FlowId, Micros, Timestamp};
use sqlx::Row;

use crate::model::{
    Account, Application, Callback, CallbackRecord, InboundMatch, InboundRecord, RateLimit,
};
use crate::{Result, StoreError};

/// A row's columns by position, as the model needs them.
pub(crate) trait StoreRow {
    fn text(&self, i: usize) -> Result<String>;
    /// A JSON column's text (SQLite packs them; `crate::sqlite::packed`).
    fn json(&self, i: usize) -> Result<String>;
    fn opt_text(&self, i: usize) -> Result<Option<String>>;
    fn int(&self, i: usize) -> Result<i64>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>>;
    fn flag(&self, i: usize) -> Result<bool>;
}

macro_rules! store_row {
    ($row:ty, $get:ident, $json:path) => {
        impl StoreRow for $row {
            fn text(&self, i: usize) -> Result<String> {
                Ok(self.$get(i)?)
            }
            fn json(&self, i: usize) -> Result<String> {
                $json(self, i)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>> {
                Ok(self.$get(i)?)
            }
            fn int(&self, i: usize) -> Result<i64> {
                Ok(self.$get(i)?)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>> {
                Ok(self.$get(i)?)
            }
            fn flag(&self, i: usize) -> Result<bool> {
                Ok(self.$get(i)?)
            }
        }
    };
}

store_row!(
    sqlx::sqlite::SqliteRow,
    try_get,
    crate::sqlite::packed::json_at
);
store_row!(sqlx::postgres::PgRow, try_get, pg_json);
// The SQLite writer's rows.
store_row!(
    rusqlite::Row<'_>,
    get,
    crate::sqlite::packed::json_at_writer
);

/// PostgreSQL keeps JSON columns as text.
fn pg_json(row: &sqlx::postgres::PgRow, i: usize) -> Result<String> {
    Ok(row.try_get(i)?)
}

pub(crate) fn to_u32(v: i64) -> Result<u32> {
    u32::try_from(v).map_err(|_| StoreError::Corrupt(format!("{v} is out of range")))
}

pub(crate) fn flow_id(text: &str) -> Result<FlowId> {
    FlowId::parse(text).map_err(|e| StoreError::Corrupt(format!("flow id {text}: {e}")))
}

pub(crate) fn channel(text: &str) -> Result<Channel> {
    Channel::parse(text).ok_or_else(|| StoreError::Corrupt(format!("channel {text}")))
}

fn split_scopes(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// `id, name, balance_micros, currency, created_at`.
pub(crate) fn account(r: &impl StoreRow) -> Result<Account> {
    Ok(Account {
        id: r.text(0)?,
        name: r.text(1)?,
        balance: Micros::new(r.int(2)?),
        currency: r.text(3)?,
        created_at: Timestamp::from_millis(r.int(4)?),
    })
}

/// `id, account_id, name, secret_hash, scopes, token_lifetime_s, webhook_secret,
/// rate_per_second, rate_burst, created_at`.
pub(crate) fn application(r: &impl StoreRow) -> Result<Application> {
    let rate_limit = match (r.opt_int(7)?, r.opt_int(8)?) {
        (Some(p), Some(b)) => Some(RateLimit {
            per_second: to_u32(p)?,
            burst: to_u32(b)?,
        }),
        _ => None,
    };
    Ok(Application {
        id: r.text(0)?,
        account_id: r.text(1)?,
        name: r.text(2)?,
        secret_hash: r.text(3)?,
        scopes: split_scopes(&r.text(4)?),
        token_lifetime_s: to_u32(r.int(5)?)?,
        webhook_secret: r.text(6)?,
        rate_limit,
        created_at: Timestamp::from_millis(r.int(9)?),
    })
}

/// `scopes` as stored.
pub(crate) fn scopes(r: &impl StoreRow, i: usize) -> Result<Vec<String>> {
    Ok(split_scopes(&r.text(i)?))
}

/// `id, event_id, flow_id, seq, application_id, url, body, attempts, first_attempt_at`.
pub(crate) fn callback(r: &impl StoreRow) -> Result<Callback> {
    Ok(Callback {
        id: r.int(0)?,
        event_id: r.text(1)?,
        flow_id: flow_id(&r.text(2)?)?,
        seq: r.int(3)?,
        application_id: r.text(4)?,
        url: r.text(5)?,
        body: r.text(6)?,
        attempts: to_u32(r.int(7)?)?,
        first_attempt_at: r.opt_int(8)?.map(Timestamp::from_millis),
    })
}

/// `id, event_id, flow_id, seq, application_id, url, state, attempts, next_at,
/// last_error, created_at`.
pub(crate) fn callback_record(r: &impl StoreRow) -> Result<CallbackRecord> {
    let state = r.text(6)?;
    Ok(CallbackRecord {
        id: r.int(0)?,
        event_id: r.text(1)?,
        flow_id: flow_id(&r.text(2)?)?,
        seq: r.int(3)?,
        application_id: r.text(4)?,
        url: r.text(5)?,
        state: cascade_core::callbacks::CallbackState::parse(&state)
            .ok_or_else(|| StoreError::Corrupt(format!("callback state {state}")))?,
        attempts: to_u32(r.int(7)?)?,
        next_at: Timestamp::from_millis(r.int(8)?),
        last_error: r.opt_text(9)?,
        created_at: Timestamp::from_millis(r.int(10)?),
    })
}

/// `id, received_at, channel, sender, recipient, body, provider, provider_message_id,
/// flow_id, step_order, message_id, forwarded`.
pub(crate) fn inbound(r: &impl StoreRow) -> Result<InboundRecord> {
    let matched = match r.opt_text(8)? {
        Some(flow) => Some(InboundMatch {
            flow: flow_id(&flow)?,
            order: u32::try_from(r.opt_int(9)?.unwrap_or(0)).unwrap_or(0),
            message_id: r.opt_text(10)?.unwrap_or_default(),
        }),
        None => None,
    };
    Ok(InboundRecord {
        id: r.int(0)?,
        message: cascade_core::inbound::InboundMessage {
            channel: channel(&r.text(2)?)?,
            from: r.text(3)?,
            to: r.text(4)?,
            text: r.text(5)?,
            received_at: Timestamp::from_millis(r.int(1)?),
            provider: r.text(6)?,
            provider_message_id: r.opt_text(7)?,
        },
        matched,
        forwarded: r.flag(11)?,
    })
}

/// The columns of [`scenario`].
pub(crate) const SCENARIO_COLUMNS: &str = "id, channel, recipient, rule, times_left, created_at";

/// [`SCENARIO_COLUMNS`].
pub(crate) fn scenario(r: &impl StoreRow) -> Result<Scenario> {
    Ok(Scenario {
        id: r.int(0)?,
        channel: channel(&r.text(1)?)?,
        to: r.text(2)?,
        rule: serde_json::from_str(&r.text(3)?)?,
        times_left: r.opt_int(4)?.map(to_u32).transpose()?,
        created_at: Timestamp::from_millis(r.int(5)?),
    })
}

/// `definition, state, event_seq, callback_seq` of a stored flow, for update.
pub(crate) fn loaded_flow(r: &impl StoreRow) -> Result<crate::engine_tx::LoadedFlow> {
    let def_json = r.json(0)?;
    Ok(crate::engine_tx::LoadedFlow {
        def: std::sync::Arc::new(serde_json::from_str(&def_json)?),
        def_json: def_json.into(),
        def_packed: None,
        state: serde_json::from_str(&r.json(1)?)?,
        event_seq: r.int(2)?,
        is_new: false,
        callback_seq: r.int(3)?,
    })
}

/// `request_hash, created_at, state, response, claim_token, lease_until` into a key's
/// record.
pub(crate) fn key_record(r: &impl StoreRow) -> Result<KeyRecord> {
    let state = match r.text(2)?.as_str() {
        "done" => KeyState::Done {
            response: r.text(3)?,
        },
        "in_flight" => KeyState::InFlight {
            token: r.text(4)?,
            until: Timestamp::from_millis(r.int(5)?),
        },
        other => {
            return Err(StoreError::Corrupt(format!(
                "idempotency key state {other}"
            )));
        }
    };
    Ok(KeyRecord {
        request_hash: r.text(0)?,
        created_at: Timestamp::from_millis(r.int(1)?),
        state,
    })
}

/// A key's state as stored: (`state`, `response`, `claim_token`, `lease_until`).
pub(crate) fn key_state_columns(state: &KeyState) -> (&'static str, &str, &str, i64) {
    match state {
        KeyState::Done { response } => ("done", response.as_str(), "", 0),
        KeyState::InFlight { token, until } => ("in_flight", "", token.as_str(), until.as_millis()),
    }
}

/// The callback outbox in one row, for either backend: callbacks waiting, the oldest
/// one's creation, dead letters (`callbacks_due` covers the `state` filter).
pub(crate) const OUTBOX_STATS_SQL: &str =
    "SELECT COALESCE(SUM(CASE WHEN state = 'pending' THEN 1 ELSE 0 END), 0),
                    MIN(CASE WHEN state = 'pending' THEN created_at END),
                    COALESCE(SUM(CASE WHEN state = 'dead' THEN 1 ELSE 0 END), 0)
             FROM callbacks WHERE state IN ('pending', 'dead')";

/// [`OUTBOX_STATS_SQL`]'s row.
pub(crate) fn outbox_stats((pending, oldest, dead): (i64, Option<i64>, i64)) -> crate::OutboxStats {
    crate::OutboxStats {
        pending: u64::try_from(pending).unwrap_or(0),
        oldest_pending: oldest.map(cascade_core::Timestamp::from_millis),
        dead: u64::try_from(dead).unwrap_or(0),
    }
}
