//! [`SearchStore`] for PostgreSQL: the same answers as the SQLite search, flow for flow
//! and count for count, from PostgreSQL's own planner.
//!
//! # One snapshot
//!
//! The page and the total are read in one `REPEATABLE READ, READ ONLY` transaction,
//! whose single snapshot both statements see (under the default `READ COMMITTED` each
//! statement would take its own, and a flow accepted in between would be counted but
//! not listed, or the other way round).
//!
//! # The SQL
//!
//! Built with [`QueryBuilder`]: every value taken from the request is a bound parameter.
//! The only text spliced into the SQL is aliases, column names, comparison operators
//! and sort directions, all picked from enums.
//!
//! | filter | condition on `flows f` | index |
//! | --- | --- | --- |
//! | (always) account, `createdAt` range, order | `f.account_id = $`, `f.created_at >= $ AND < $`, `ORDER BY k, id` | `flows_account_created` / `_updated` |
//! | `status` | `f.status = $` / `<> $` | `flows_account_status` |
//! | `terminationChannel` | `= $` / `IS DISTINCT FROM $` (NULL, nothing attempted, is "not" every channel) | `flows_account_termination` |
//! | `trackingId` | `f.id = $` / `<> $` | the primary key |
//! | `type` | `(f.channels & $bit) <> 0` / `= 0` | carried by the `flows_account_*` entries |
//! | `to is` | `EXISTS` a step with `recipient = $` | `flow_steps_recipient` |
//! | `to starts_with` | `EXISTS` a step with `recipient LIKE 'term%'` | `flow_steps_recipient` (`text_pattern_ops`: a prefix range) |
//! | `to ends_with` | `EXISTS` a step with `recipient_rev LIKE 'mret%'` | `flow_steps_recipient_rev` |
//! | `to contains` | `EXISTS` a step with `recipient LIKE '%term%'` | `flow_steps_trigram` (pg_trgm GIN), for terms of 3 characters or more |
//! | `to is_not` | `NOT EXISTS` a step with `recipient = $` | `flow_steps_recipient` |
//!
//! Every `to` condition is a correlated `EXISTS` on the flow's own steps
//! (`s.account_id = f.account_id AND s.flow_id = f.id`). PostgreSQL turns it into a
//! semi-join (an anti-join for `is_not`) and picks the side to start from with its
//! statistics: walking the account's flows in the requested order and probing
//! `flow_steps_account_flow` per flow when many flows match (the page fills early), or
//! reading the few matching steps from the recipient or trigram index, de-duplicating
//! their flows and sorting those when few do. Through the equality with `f.account_id`
//! the planner also knows `s.account_id = $account`, which is what lets it enter the
//! recipient indexes at the account.
//!
//! Statements are sent unnamed (`persistent(false)`), so each is planned with its
//! actual values: `LIKE $pattern` only becomes an index range, and a short `contains`
//! term is only seen to be useless to the trigram index, when the planner knows the
//! pattern. (A named statement could switch to a generic plan after a few runs and lose
//! both; search SQL varies with every combination of filters anyway, so caching it would
//! mostly evict statements worth keeping.)
//!
//! `LIKE` patterns are the term with `\`, `%` and `_` escaped by a backslash
//! (`ESCAPE E'\\'`, spelled so it means one backslash whatever
//! `standard_conforming_strings` says), so every character of the term matches itself.
//! Terms are lower case (`SearchText`) as are the stored recipients, which makes
//! matching case-insensitive without `lower()` or `ILIKE` on the server. A term holding
//! a NUL character can match no recipient (PostgreSQL text cannot hold NUL, nor can it
//! be bound), so it is answered without sending it: no flow for a positive `to`, every
//! flow for `is_not`.
//!
//! # The total
//!
//! `totalElements` is exact:
//! - with filters on `status` and `type` only (or none), the sum of the account's
//!   `flow_counts` rows (per UTC day, status and channel set, kept by triggers in the
//!   writing transaction) over the whole days of the date range, plus a `COUNT(*)` of
//!   the flows in the partial days at either end: the same split as SQLite's;
//! - otherwise `COUNT(*)` of the flows under the page's conditions, which PostgreSQL
//!   plans as it plans the page (a single `to` filter is counted by the same semi-join,
//!   so there is no separate step-counting query as in SQLite).

use async_trait::async_trait;
use cascade_core::search::{Equality, Filter, SearchQuery, SearchText, SortField, TextOperator};
use sqlx::postgres::PgRow;
use sqlx::{Postgres, QueryBuilder, Row};

use super::PgStore;
use crate::model::channel_bit;
use crate::search::SearchPage;
use crate::{Result, SearchStore, StoredFlow};

/// `flow_counts.day` is `created_at` in whole UTC days, floored (see the trigger in
/// `0001_schema.sql`).
const DAY_MS: i64 = 86_400_000;

/// The transaction a search runs in: one snapshot for the page and the total, and
/// nothing written.
const BEGIN_SNAPSHOT: &str = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";

#[async_trait]
impl SearchStore for PgStore {
    #[tracing::instrument(name = "search", skip_all)]
    async fn search(&self, account_id: &str, query: &SearchQuery) -> Result<SearchPage> {
        let plan = Plan { account_id, query };
        let mut tx = self.pool.begin_with(BEGIN_SNAPSHOT).await?;
        let rows = plan
            .page_query()
            .build()
            .persistent(false)
            .fetch_all(&mut *tx)
            .await?;
        let total: i64 = plan
            .count_query()
            .build_query_scalar()
            .persistent(false)
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut flows = Vec::with_capacity(rows.len());
        for row in &rows {
            match decode(row) {
                Ok(flow) => flows.push(flow),
                // A flow that does not parse is logged and left out; the rest of the
                // page is still worth answering (as SQLite does).
                Err(e) => tracing::error!(
                    error.cause_chain = ?e, error.message = %e,
                    "skipping a flow that does not parse"
                ),
            }
        }
        Ok(SearchPage {
            flows,
            total: u64::try_from(total).unwrap_or(0),
        })
    }
}

/// `(definition, state)`, both JSON text, into a flow.
fn decode(row: &PgRow) -> Result<StoredFlow> {
    Ok(StoredFlow {
        definition: serde_json::from_str(row.try_get::<&str, _>(0)?)?,
        state: serde_json::from_str(row.try_get::<&str, _>(1)?)?,
    })
}

/// The statements of one search.
struct Plan<'a> {
    account_id: &'a str,
    query: &'a SearchQuery,
}

impl Plan<'_> {
    /// `definition, state` of the page's flows, in order. The inner query settles which
    /// flows make the page (it needs only index columns and the steps, so skipping
    /// `offset` flows reads no state or definition); only the page's rows are then
    /// joined to their state and definition.
    fn page_query(&self) -> QueryBuilder<'static, Postgres> {
        let (column, direction) = self.order();
        let mut q = QueryBuilder::new(format!(
            "SELECT d.definition, f.state FROM \
             (SELECT f.id, f.{column} AS k FROM flows f WHERE "
        ));
        self.push_where(&mut q);
        q.push(format!(
            " ORDER BY f.{column} {direction}, f.id {direction} LIMIT "
        ));
        q.push_bind(i64::from(self.query.size.get()));
        q.push(" OFFSET ");
        q.push_bind(i64::try_from(self.query.offset()).unwrap_or(i64::MAX));
        // Ids are canonical lower-case UUIDs, all with their hyphens in the same places:
        // any collation orders them as their bytes, as SQLite does.
        q.push(format!(
            ") p JOIN flows f ON f.id = p.id JOIN flow_definitions d ON d.id = p.id \
             ORDER BY p.k {direction}, p.id {direction}"
        ));
        q
    }

    /// How many flows match in all, as one `BIGINT`.
    fn count_query(&self) -> QueryBuilder<'static, Postgres> {
        if let Some(q) = self.counts_query() {
            return q;
        }
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM flows f WHERE ");
        self.push_where(&mut q);
        q
    }

    /// The total from `flow_counts`, when every filter is on `status` or `type` and the
    /// date range holds at least one whole UTC day (or is open): the counters of the
    /// whole days, plus a `COUNT(*)` of the flows in the partial day at either end.
    /// `None` otherwise.
    fn counts_query(&self) -> Option<QueryBuilder<'static, Postgres>> {
        let counted = |f: &Filter| matches!(f, Filter::Status { .. } | Filter::Type { .. });
        if !self.query.filters.iter().all(counted) {
            return None;
        }
        let start = self.query.date_start.map(|t| t.as_millis());
        let end = self.query.date_end.map(|t| t.as_millis());
        // First whole day: the one starting at the first midnight at or after `start`;
        // `end_day`: the day starting at the last midnight at or before `end`, which is
        // excluded (whole days run up to it).
        let first_day = start.map(|s| s.div_euclid(DAY_MS) + i64::from(s.rem_euclid(DAY_MS) != 0));
        let end_day = end.map(|e| e.div_euclid(DAY_MS));
        if let (Some(a), Some(b)) = (first_day, end_day)
            && a >= b
        {
            return None;
        }
        let midnight = |day: i64| day.saturating_mul(DAY_MS);

        // SUM over BIGINT is NUMERIC in PostgreSQL: cast back so the total is a BIGINT.
        let mut q = QueryBuilder::new(
            "SELECT (SELECT COALESCE(SUM(c.n), 0)::bigint FROM flow_counts c WHERE c.account_id = ",
        );
        q.push_bind(self.account_id.to_owned());
        if let Some(day) = first_day {
            q.push(" AND c.day >= ");
            q.push_bind(day);
        }
        if let Some(day) = end_day {
            q.push(" AND c.day < ");
            q.push_bind(day);
        }
        for filter in &self.query.filters {
            q.push(" AND ");
            push_flow_filter(&mut q, "c", filter);
        }
        q.push(")");
        let mut partial_day = |from: i64, to: i64| {
            q.push(" + (SELECT COUNT(*) FROM flows f WHERE f.account_id = ");
            q.push_bind(self.account_id.to_owned());
            q.push(" AND f.created_at >= ");
            q.push_bind(from);
            q.push(" AND f.created_at < ");
            q.push_bind(to);
            for filter in &self.query.filters {
                q.push(" AND ");
                push_flow_filter(&mut q, "f", filter);
            }
            q.push(")");
        };
        if let (Some(s), Some(day)) = (start, first_day)
            && s < midnight(day)
        {
            partial_day(s, midnight(day));
        }
        if let (Some(e), Some(day)) = (end, end_day)
            && midnight(day) < e
        {
            partial_day(midnight(day), e);
        }
        Some(q)
    }

    /// The sort column and direction, from enums.
    fn order(&self) -> (&'static str, &'static str) {
        let column = match self.query.sort.field {
            SortField::CreatedAt => "created_at",
            SortField::UpdatedAt => "updated_at",
        };
        let direction = if self.query.sort.descending {
            "DESC"
        } else {
            "ASC"
        };
        (column, direction)
    }

    /// Every condition on `flows f`, ANDed: the account, the date range, the filters.
    fn push_where(&self, q: &mut QueryBuilder<'static, Postgres>) {
        q.push("f.account_id = ");
        q.push_bind(self.account_id.to_owned());
        if let Some(start) = self.query.date_start {
            q.push(" AND f.created_at >= ");
            q.push_bind(start.as_millis());
        }
        if let Some(end) = self.query.date_end {
            q.push(" AND f.created_at < ");
            q.push_bind(end.as_millis());
        }
        for filter in &self.query.filters {
            q.push(" AND ");
            match filter {
                Filter::To { op, term } => push_recipient_filter(q, *op, term),
                _ => push_flow_filter(q, "f", filter),
            }
        }
    }
}

/// A `to` filter on `flows f`: some step of the flow matches (`is`, `starts_with`,
/// `ends_with`, `contains`), or none of its steps is to the term (`is_not`).
fn push_recipient_filter(
    q: &mut QueryBuilder<'static, Postgres>,
    op: TextOperator,
    term: &SearchText,
) {
    let term = term.as_ref();
    if term.contains('\0') {
        // No stored recipient holds a NUL (PostgreSQL text cannot), and binding one
        // would fail the whole statement.
        q.push(if op == TextOperator::IsNot {
            "TRUE"
        } else {
            "FALSE"
        });
        return;
    }
    q.push(if op == TextOperator::IsNot {
        "NOT EXISTS"
    } else {
        "EXISTS"
    });
    q.push(
        " (SELECT 1 FROM flow_steps s WHERE s.account_id = f.account_id AND s.flow_id = f.id AND ",
    );
    match op {
        TextOperator::Is | TextOperator::IsNot => {
            q.push("s.recipient = ");
            q.push_bind(term.to_owned());
        }
        TextOperator::StartsWith => {
            q.push("s.recipient LIKE ");
            q.push_bind(format!("{}%", like_literal(term)));
            q.push(r" ESCAPE E'\\'");
        }
        TextOperator::EndsWith => {
            // The writer stores each recipient reversed character by character; a
            // suffix of the recipient is a prefix of that.
            let reversed: String = term.chars().rev().collect();
            q.push("s.recipient_rev LIKE ");
            q.push_bind(format!("{}%", like_literal(&reversed)));
            q.push(r" ESCAPE E'\\'");
        }
        TextOperator::Contains => {
            q.push("s.recipient LIKE ");
            q.push_bind(format!("%{}%", like_literal(term)));
            q.push(r" ESCAPE E'\\'");
        }
    }
    q.push(")");
}

/// `text` as a `LIKE` pattern that matches exactly itself: the escape character and the
/// two wildcards are each preceded by a backslash.
fn like_literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 2);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A filter on a column of the flow itself (`status`, `terminationChannel`,
/// `trackingId`, `type`), on `table`: `f` (`flows`) or, for `status` and `type`, `c`
/// (`flow_counts`). `to` filters are on the steps ([`push_recipient_filter`]).
fn push_flow_filter(q: &mut QueryBuilder<'static, Postgres>, table: &str, filter: &Filter) {
    let is = |op: &Equality| *op == Equality::Is;
    match filter {
        Filter::Status { op, status } => {
            let cmp = if is(op) { "=" } else { "<>" };
            q.push(format!("{table}.status {cmp} "));
            q.push_bind(status.name());
        }
        Filter::TerminationChannel { op, channel } => {
            // A flow with nothing attempted has NULL here: it is "not Sms", and not any
            // other channel either.
            let cmp = if is(op) { "=" } else { "IS DISTINCT FROM" };
            q.push(format!("{table}.termination_channel {cmp} "));
            q.push_bind(channel.name());
        }
        Filter::TrackingId { op, id } => {
            let cmp = if is(op) { "=" } else { "<>" };
            q.push(format!("{table}.id {cmp} "));
            q.push_bind(id.to_string());
        }
        Filter::Type { op, channel } => {
            q.push(format!("({table}.channels & "));
            q.push_bind(channel_bit(*channel));
            q.push(if is(op) { ") <> 0" } else { ") = 0" });
        }
        Filter::To { .. } => unreachable!("`to` filters are on the steps"),
    }
}
