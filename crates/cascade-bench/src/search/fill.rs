//! Filling the store with copies of the templates.

use serde_json::Value;
use sqlx::{Connection, QueryBuilder, Sqlite, SqliteConnection};

use super::templates::Template;
use super::{DAY_MS, ROWS_PER_INSERT, Rng, TX_FLOWS, format_time, parse_time, uuid_v7};

/// What the fill wrote, as far as the measurement needs it.
pub(super) struct Filled {
    /// Recipients the generated flows use: 90 % Greek mobiles, 10 % UK mobiles, about
    /// four flows per number.
    pub(super) numbers: Vec<String>,
    /// Indexes in `numbers` of the recipients of at least one of the account's flows.
    pub(super) used: Vec<usize>,
    /// Tracking ids of every 100th flow of the account.
    pub(super) ids: Vec<String>,
    /// The account's generated flows per template.
    pub(super) counts: Vec<u64>,
}

/// Write `n` flows of `account` (and ~5 % more of three other accounts), created over
/// the 30 days before now in time order, in transactions of [`TX_FLOWS`].
pub(super) async fn fill(
    conn: &mut SqliteConnection,
    account: &str,
    templates: &[Template],
    n: usize,
) -> anyhow::Result<Filled> {
    // A bulk load: no fsync per commit, and a page cache (1 GiB) that holds the
    // indexes being filled in random order (recipients) instead of rewriting pages.
    sqlx::query("PRAGMA synchronous = OFF")
        .execute(&mut *conn)
        .await?;
    sqlx::query("PRAGMA cache_size = -1048576")
        .execute(&mut *conn)
        .await?;
    let mut rng = Rng(42);
    let numbers: Vec<String> = (0..(n / 4).max(1))
        .map(|_| {
            if rng.below(10) == 0 {
                format!("+4479{:08}", rng.below(100_000_000))
            } else {
                format!("+3069{:08}", rng.below(100_000_000))
            }
        })
        .collect();
    let mut used = vec![false; numbers.len()];
    let mut ids = Vec::new();
    let mut counts = vec![0; templates.len()];
    let mut mine: u64 = 0;
    let total = n + n / 20;
    let end = templates[0].created_ms - 60_000;
    let start = end - 30 * DAY_MS;
    let others = ["bench-other-1", "bench-other-2", "bench-other-3"];
    let mut done = 0;
    while done < total {
        let batch = TX_FLOWS.min(total - done);
        let mut rows = Vec::with_capacity(batch);
        for i in done..done + batch {
            let created = start + (i as i64) * (30 * DAY_MS) / (total as i64);
            // Every 21st flow belongs to another account: n of the account's, n/20 others'.
            let owner = if i % 21 == 20 {
                others[rng.below(3) as usize]
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
            let flow = generate(&templates[t], owner, &numbers[number], created, &mut rng);
            if owner == account {
                used[number] = true;
                counts[t] += 1;
                mine += 1;
                if mine % 100 == 1 {
                    ids.push(flow.id.clone());
                }
            }
            rows.push(flow);
        }
        insert(conn, &rows).await?;
        done += batch;
        if done % 100_000 < TX_FLOWS {
            eprintln!("filled {done} / {total} flows");
        }
    }
    sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
        .execute(&mut *conn)
        .await?;
    Ok(Filled {
        numbers,
        used: (0..used.len()).filter(|&i| used[i]).collect(),
        ids,
        counts,
    })
}

/// One generated flow's rows.
pub(super) struct FlowRows<'a> {
    pub(super) id: String,
    pub(super) account: &'a str,
    pub(super) template: &'a Template,
    pub(super) recipient: String,
    pub(super) created: i64,
    pub(super) definition: String,
    pub(super) state: String,
}

pub(super) fn generate<'a>(
    template: &'a Template,
    account: &'a str,
    to: &str,
    created: i64,
    rng: &mut Rng,
) -> FlowRows<'a> {
    let id = uuid_v7(created, rng);
    let shift = created - template.created_ms;
    let rewrite = |value: &Value| {
        let mut value = value.clone();
        replace_strings(&mut value, &|s: &str| {
            if s == template.id {
                Some(id.clone())
            } else if s == template.recipient {
                Some(to.to_owned())
            } else if s == template.definition["account_id"] {
                Some(account.to_owned())
            } else {
                parse_time(s).map(|t| format_time(t + shift))
            }
        });
        value.to_string()
    };
    FlowRows {
        definition: rewrite(&template.definition),
        state: rewrite(&template.state),
        id,
        account,
        template,
        recipient: to.to_lowercase(),
        created,
    }
}

pub(super) fn replace_strings(value: &mut Value, f: &dyn Fn(&str) -> Option<String>) {
    match value {
        Value::String(s) => {
            if let Some(new) = f(s) {
                *s = new;
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|v| replace_strings(v, f)),
        Value::Object(map) => map.values_mut().for_each(|v| replace_strings(v, f)),
        _ => {}
    }
}

/// The rows the store writes for a new flow: `flow_definitions`, `flows` (with the
/// template's channel set) and one `flow_steps` row per step, in one transaction.
/// The store's triggers (migration 0006) add the flow to `flow_counts` and its
/// recipients to the trigram index, as they do for the writer's own inserts.
pub(super) async fn insert(
    conn: &mut SqliteConnection,
    rows: &[FlowRows<'_>],
) -> anyhow::Result<()> {
    let mut tx = conn.begin().await?;
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let mut q = QueryBuilder::<Sqlite>::new("INSERT INTO flow_definitions (id, definition) ");
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.id).push_bind(&r.definition);
        });
        q.build().execute(&mut *tx).await?;

        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO flows (id, account_id, application_id, status, termination_channel, \
             created_at, updated_at, state, event_seq, channels) ",
        );
        q.push_values(chunk, |mut b, r| {
            b.push_bind(&r.id)
                .push_bind(r.account)
                .push_bind(&r.template.application_id)
                .push_bind(&r.template.status)
                .push_bind(r.template.termination.as_deref())
                .push_bind(r.created)
                .push_bind(r.created + r.template.updated_after_ms)
                .push_bind(&r.state)
                .push_bind(r.template.event_seq)
                .push_bind(r.template.channel_set);
        });
        q.build().execute(&mut *tx).await?;

        let steps: Vec<(&FlowRows, &String)> = chunk
            .iter()
            .flat_map(|r| r.template.channels.iter().map(move |c| (r, c)))
            .collect();
        let reversed: Vec<String> = steps
            .iter()
            .map(|(r, _)| r.recipient.chars().rev().collect())
            .collect();
        let mut q = QueryBuilder::<Sqlite>::new(
            "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, created_at) ",
        );
        q.push_values(steps.iter().zip(&reversed), |mut b, ((r, channel), rev)| {
            b.push_bind(&r.id)
                .push_bind(r.account)
                .push_bind(*channel)
                .push_bind(&r.recipient)
                .push_bind(rev)
                .push_bind(r.created);
        });
        q.build().execute(&mut *tx).await?;
    }
    tx.commit().await?;
    Ok(())
}
