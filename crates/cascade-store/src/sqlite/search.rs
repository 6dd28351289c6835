//! [`SearchStore`] for SQLite.
//!
//! A search runs in one read transaction, so the page and the total see the same
//! snapshot: at most one estimate per `to` filter (see below), the page, and the count.
//! All SQL is built with [`QueryBuilder`]; every value from the request is a bound
//! parameter, and the only text spliced in is table aliases, column names and
//! directions chosen from enums.
//!
//! How each filter is answered, and the index it relies on (migrations 0002, 0004 and
//! 0006):
//!
//! | filter | condition on `flows f` | index |
//! | --- | --- | --- |
//! | (always) account, `createdAt` range, order | `f.account_id = ?`, `f.created_at >= ? AND < ?`, `ORDER BY k, id` | `flows_account_created` / `_updated` (covering) |
//! | `status` | `f.status = ?` / `<> ?` | `flows_account_status` |
//! | `terminationChannel` | `f.termination_channel = ?` / `IS NOT ?` (NULL: nothing attempted) | `flows_account_termination` |
//! | `trackingId` | `f.id = ?` / `<> ?` | the unique index on `flows.id` |
//! | `type` | `(f.channels & ?) <> 0` / `= 0`: the flow's channel set, written at acceptance | on the entries of `flows_account_created` / `_updated` / `_status`, which carry it |
//! | `to is` / `starts_with` / `ends_with` | `f.id IN` (the steps in an index range) or `EXISTS` per flow | `flow_steps_recipient` / `_recipient_rev`, ranges `>= prefix AND < successor`, never `LIKE` |
//! | `to contains` | as above, the steps of the account's recipients that the trigram index proposes and `instr(recipient, ?) > 0` confirms | `recipients_trigram` (FTS5 over the distinct recipients), `recipients`, `flow_steps_recipient`; a scan of `flow_steps_account_flow` for terms under 3 characters or found everywhere |
//! | (`to`, per flow) | `EXISTS` a step of the flow that matches | `flow_steps_account_flow` (covering) |
//! | `to is_not` | `f.id NOT IN` (the steps to that recipient) | `flow_steps_recipient` |
//!
//! Where to start: with no statistics, SQLite walks the account's flows in the
//! requested order and checks each one. That is right when many flows match (the page
//! fills early) and wrong when few do (a recipient's 3 flows among a million). So each
//! positive `to` filter is first *estimated*: its matching steps are counted on the
//! index, stopping at [`drive_limit`], which grows with the square root of the account's
//! flows (from `flow_counts`) times the end of the page: about where reading each
//! match's flow starts to cost more than walking until the page is full. The filter
//! estimated to match fewest, under that limit, drives: the query starts from its steps
//! (`f.id IN (…)`, with the account's indexes switched off by a unary `+`) and sorts the
//! few flows found. A `contains` term of 3 characters or more is estimated on the
//! trigram index of the distinct recipients instead (its candidates, in every account,
//! up to [`trigram_limit`]; when they are few, the steps of those that match, from their
//! counts in `recipients`) and, below that limit, its steps are read through them too;
//! a commoner term's steps are read by scanning the account's steps, like a shorter
//! term's. The estimate also chooses how the total reads the steps ([`Steps`]).
//!
//! Paging: the page's rowids are found from index entries alone (`LIMIT`/`OFFSET` skip
//! entries, not rows) and only then are the page's rows and definitions read. A driven
//! search sorted by `createdAt` whose filters are all on `to` goes further: its page is
//! found on the steps' own entries (each carries its flow's creation time), without
//! reading the row of every match to sort them ([`Plan::page_from_steps`]).
//!
//! Counting (`totalElements` is exact):
//! - Filters on `status` and `type` only (or none): the sum of the account's
//!   `flow_counts` rows (one per UTC day, status and channel set, kept by triggers in the
//!   writer's transaction) over the whole days of the date range, plus a `COUNT(*)` of
//!   the flows in the partial days at either end.
//! - One positive `to` filter alone, `is`, `starts_with` or `contains`, and no date
//!   range: from the account's matching recipients (migration 0012: one row per
//!   recipient, found by the same range, trigram candidates or scan as the steps would
//!   be, but five times fewer in the search bench's 10 M flows), `SUM(flows)` of their
//!   one-recipient flows plus `COUNT(DISTINCT flow_id)` of the steps in flows with
//!   several recipients, read from the partial index `flow_steps_multi` for the
//!   recipients that have any.
//! - One positive `to` filter alone otherwise: over its steps (with the date range on
//!   the step's copy of the flow's `created_at`; a flow's steps carry its account and
//!   creation time, so `flows` is not touched), `SUM(weight)` plus `COUNT(DISTINCT flow_id)` of
//!   the steps whose weight is NULL, in one pass. A flow whose steps all go to one
//!   recipient has its first step weigh 1 and the others 0 (migration 0010), so it
//!   counts once from index entries alone; only flows with several recipients are told
//!   apart in a temporary b-tree (~4 µs each). Steps read by a scan come in flow order,
//!   where `COUNT(DISTINCT flow_id)` is a comparison with the previous one.
//! - Otherwise `COUNT(*)` under the page's conditions, which costs one index entry per
//!   flow the conditions cannot exclude by index (all the account's flows when nothing
//!   narrows them).

use async_trait::async_trait;

use cascade_core::search::{Equality, Filter, SearchQuery, SearchText, SortField, TextOperator};
use sqlx::{QueryBuilder, Sqlite, SqliteConnection};

use super::SqliteStore;
use crate::search::SearchPage;
use crate::{Result, SearchStore, StoredFlow};

/// Where a `to` filter starts driving the query. Walking the account's flows in order
/// checks about `page_end × flows / matches` of them before the page is full (a covering
/// seek each); driving reads every match's flow (a row read each) and sorts them. The two
/// cost about the same per flow (measured at 100 000 flows: a 1 % prefix, 1 000 matches,
/// took 26 ms driven and 16 ms walked for page 0), so driving is cheaper while
/// `matches² < page_end × flows`: 1 000 matches for page 0 of 100 000 flows, 10 000 of
/// 10 M. Never under [`DRIVE_FLOOR`], where either way is quick.
fn drive_limit(flows: i64, page_end: i64) -> i64 {
    flows
        .saturating_mul(page_end.max(1))
        .max(0)
        .isqrt()
        .max(DRIVE_FLOOR)
}

/// The least [`drive_limit`], whatever the account's size.
const DRIVE_FLOOR: i64 = 100;

/// Candidates of a `contains` term on the trigram index beyond which it is read by a
/// scan instead (of the account's recipients for its total, of its steps otherwise).
/// A candidate is a recipient that costs two random reads (its `recipients_id` entry,
/// to check the account and the term, and its row, for the counts); a scan costs an
/// entry per recipient of the account, about a twentieth of a random read (measured at
/// 1 M flows when the index held steps). An account has at most as many recipients as
/// flows, and the search bench's fill has 3.6 flows per recipient: one candidate per 80
/// flows is about where the two meet for that mix (at 10 M flows a term proposing 277 000
/// recipients took over a second through the candidates). Never under
/// [`TRIGRAM_FLOOR`].
fn trigram_limit(flows: i64) -> i64 {
    (flows / 80).max(TRIGRAM_FLOOR)
}

/// The least [`trigram_limit`].
const TRIGRAM_FLOOR: i64 = 10_000;

/// `flow_counts.day` is `created_at` in whole UTC days (floored).
const DAY_MS: i64 = 86_400_000;

pub(super) use crate::model::{channel_bit, channel_set};

#[async_trait]
impl SearchStore for SqliteStore {
    #[tracing::instrument(name = "search", skip_all)]
    async fn search(&self, account_id: &str, query: &SearchQuery) -> Result<SearchPage> {
        // One read transaction: the page and the total see the same snapshot.
        let mut tx = self.readers().begin().await?;
        let plan = Plan::choose(&mut tx, account_id, query).await?;
        let rows = plan.page_query().build().fetch_all(&mut *tx).await?;
        let total: i64 = plan
            .count_query()
            .build_query_scalar()
            .fetch_one(&mut *tx)
            .await?;
        tx.commit().await?;

        let mut flows = Vec::with_capacity(rows.len());
        for row in rows {
            match decode(&row) {
                Ok(flow) => flows.push(flow),
                // One unreadable row must not hide the rest of the page.
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

/// A flow from its `definition, state` columns.
pub(super) fn decode(row: &sqlx::sqlite::SqliteRow) -> Result<StoredFlow> {
    Ok(StoredFlow {
        definition: serde_json::from_str(&super::packed::json_at(row, 0)?)?,
        state: serde_json::from_str(&super::packed::json_at(row, 1)?)?,
    })
}

/// `(op, term)` of a `to` filter that a flow matches when one of its steps does (every
/// operator but `is_not`).
fn positive_recipient(filter: &Filter) -> Option<(TextOperator, &SearchText)> {
    match filter {
        Filter::To { op, term } if *op != TextOperator::IsNot => Some((*op, term)),
        _ => None,
    }
}

/// How the account's steps that match a positive `to` filter are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Steps {
    /// `is`, `starts_with`, `ends_with`: a range of the recipient index.
    Range,
    /// Every step of the account, in flow order, each checked (`flow_steps_account_flow`).
    Scan,
    /// `contains`: the candidates of the trigram index, each checked; the mask says
    /// which of the term's trigrams are looked up ([`trigram_query`]).
    Trigrams(u64),
}

/// The statements of one search.
struct Plan<'a> {
    account_id: &'a str,
    query: &'a SearchQuery,
    /// The filter the query starts from (see the module docs), if any.
    driver: Option<usize>,
    /// Per filter, how its steps are read (only positive `to` filters read steps).
    steps: Vec<Steps>,
}

impl<'a> Plan<'a> {
    /// Estimate each positive `to` filter and choose how to read its steps and which
    /// one, if any, drives the query: the one estimated to match fewest steps, when
    /// that is under [`drive_limit`] for the account's size and the page.
    async fn choose(
        conn: &mut SqliteConnection,
        account_id: &'a str,
        query: &'a SearchQuery,
    ) -> Result<Plan<'a>> {
        let mut steps = vec![Steps::Range; query.filters.len()];
        let mut best: Option<(usize, i64)> = None;
        // The limits need the account's size: read only for a search that estimates.
        let limits = if query
            .filters
            .iter()
            .any(|f| positive_recipient(f).is_some())
        {
            Some(Limits::of(conn, account_id, query).await?)
        } else {
            None
        };
        for (i, filter) in query.filters.iter().enumerate() {
            let (Some((op, term)), Some(limits)) = (positive_recipient(filter), limits) else {
                continue;
            };
            let (n, how) = estimate(conn, account_id, op, term, limits).await?;
            steps[i] = how;
            if n < limits.drive && best.is_none_or(|(_, m)| n < m) {
                best = Some((i, n));
            }
        }
        Ok(Plan {
            account_id,
            query,
            driver: best.map(|(i, _)| i),
            steps,
        })
    }

    /// `definition, state` of the page's flows, in order: from the driving filter's
    /// steps alone when they can say it ([`Plan::page_from_steps`]), otherwise from the
    /// flows' indexes ([`Plan::page_from_flows`]).
    fn page_query(&self) -> QueryBuilder<'static, Sqlite> {
        self.page_from_steps()
            .unwrap_or_else(|| self.page_from_flows())
    }

    /// The page of a driven search sorted by `createdAt` whose filters are all on `to`:
    /// a step carries its flow's account and creation time, so the matching flows are
    /// found, de-duplicated, sorted and paged on the recipient index's entries, and only
    /// the page's rows are read. Driving from `flows` instead reads the row of every
    /// match to sort them: at 10 M flows, where the store no longer fits in memory,
    /// ~1 000 matches cost ~40 ms of random reads. `None` for other searches.
    fn page_from_steps(&self) -> Option<QueryBuilder<'static, Sqlite>> {
        let driver = self.driver?;
        let (op, term) = positive_recipient(&self.query.filters[driver])?;
        let only_to = self
            .query
            .filters
            .iter()
            .all(|f| matches!(f, Filter::To { .. }));
        if self.query.sort.field != SortField::CreatedAt || !only_to {
            return None;
        }
        let mut q = QueryBuilder::new(
            "SELECT d.definition, f.state FROM \
             (SELECT DISTINCT m.flow_id AS id, m.created_at AS k FROM \
             (SELECT s.flow_id, s.created_at, s.account_id ",
        );
        push_matching_steps(&mut q, self.account_id, op, term, self.steps[driver]);
        self.push_date_range(&mut q, "s");
        q.push(") m WHERE 1");
        for (i, filter) in self.query.filters.iter().enumerate() {
            if let Filter::To { op, term } = filter
                && i != driver
            {
                q.push(" AND ");
                push_step_filter(
                    &mut q,
                    self.account_id,
                    *op,
                    term,
                    "m.account_id",
                    "m.flow_id",
                );
            }
        }
        self.push_page_end(&mut q, "f.id = p.id");
        Some(q)
    }

    /// The page from `flows`: the inner query finds the page's rowids from index entries
    /// only (skipping `offset` entries reads no rows); only the page's rows are then read.
    fn page_from_flows(&self) -> QueryBuilder<'static, Sqlite> {
        let (column, _) = self.order();
        let mut q = QueryBuilder::new(format!(
            "SELECT d.definition, f.state FROM \
             (SELECT f.rowid AS rid, f.{column} AS k, f.id AS id FROM flows f WHERE "
        ));
        self.push_where(&mut q);
        self.push_page_end(&mut q, "f.rowid = p.rid");
        q
    }

    /// The end of a page query whose inner query `p` lists the matching flows as `k`
    /// (the sort key) and `id`: its order, limit and offset, then the page's rows, found
    /// by `join`.
    fn push_page_end(&self, q: &mut QueryBuilder<'static, Sqlite>, join: &str) {
        let (_, direction) = self.order();
        q.push(format!(" ORDER BY k {direction}, id {direction} LIMIT "));
        q.push_bind(i64::from(self.query.size.get()));
        q.push(" OFFSET ");
        q.push_bind(i64::try_from(self.query.offset()).unwrap_or(i64::MAX));
        q.push(format!(
            ") p JOIN flows f ON {join} JOIN flow_definitions d ON d.id = f.id \
             ORDER BY p.k {direction}, p.id {direction}"
        ));
    }

    /// How many flows match in all.
    fn count_query(&self) -> QueryBuilder<'static, Sqlite> {
        if let Some(q) = self.counts_query() {
            return q;
        }
        if let [filter] = self.query.filters.as_slice()
            && let Some((op, term)) = positive_recipient(filter)
        {
            let how = self.steps[0];
            if op != TextOperator::EndsWith
                && self.query.date_start.is_none()
                && self.query.date_end.is_none()
            {
                // From the account's recipients (migration 0012): the one-recipient flows
                // of each matching recipient, plus the flows with several recipients told
                // apart by id, from their steps to the matching recipients.
                let mut q = QueryBuilder::new("SELECT ");
                for (sum, steps) in [
                    ("(SELECT COALESCE(SUM(r.flows), 0) ", RecipientSteps::None),
                    (
                        " + (SELECT COUNT(DISTINCT s.flow_id) ",
                        RecipientSteps::Multi,
                    ),
                ] {
                    q.push(sum);
                    push_matching_recipients(&mut q, self.account_id, op, term, how, steps);
                    q.push(")");
                }
                return q;
            }
            // The flows it selects are exactly those of the steps it selects.
            if how == Steps::Scan {
                // In flow order: telling the flows apart is a comparison with the last.
                let mut q = QueryBuilder::new("SELECT COUNT(DISTINCT s.flow_id) ");
                push_matching_steps(&mut q, self.account_id, op, term, how);
                self.push_date_range(&mut q, "s");
                return q;
            }
            // Each one-recipient flow by the weights of its steps (one step weighs 1),
            // the few with several recipients by id (migration 0010), in one pass
            // (at 10 M flows, 21 ms for a 1 % prefix against 30 ms in two).
            let mut q = QueryBuilder::new(
                "SELECT COALESCE(SUM(s.weight), 0) \
                 + COUNT(DISTINCT CASE WHEN s.weight IS NULL THEN s.flow_id END) ",
            );
            push_matching_steps(&mut q, self.account_id, op, term, how);
            self.push_date_range(&mut q, "s");
            return q;
        }
        let mut q = QueryBuilder::new("SELECT COUNT(*) FROM flows f WHERE ");
        self.push_where(&mut q);
        q
    }

    /// The count from `flow_counts` when every filter is on `status` or `type` and the
    /// date range, if any, holds a whole UTC day: the counters of the whole days plus the
    /// flows of the partial days at either end. `None` otherwise.
    fn counts_query(&self) -> Option<QueryBuilder<'static, Sqlite>> {
        let counted = |f: &Filter| matches!(f, Filter::Status { .. } | Filter::Type { .. });
        if !self.query.filters.iter().all(counted) {
            return None;
        }
        let start = self.query.date_start.map(|t| t.as_millis());
        let end = self.query.date_end.map(|t| t.as_millis());
        // The whole days: from the first midnight at or after `start` to the last at or
        // before `end` (exclusive).
        let first_day = start.map(|s| s.div_euclid(DAY_MS) + i64::from(s.rem_euclid(DAY_MS) != 0));
        let end_day = end.map(|e| e.div_euclid(DAY_MS));
        if let (Some(a), Some(b)) = (first_day, end_day)
            && a >= b
        {
            return None;
        }
        let midnight = |day: i64| day.saturating_mul(DAY_MS);
        let mut q = QueryBuilder::new(
            "SELECT (SELECT COALESCE(SUM(c.n), 0) FROM flow_counts c WHERE c.account_id = ",
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
        let mut partial = |from: i64, to: i64| {
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
            partial(s, midnight(day));
        }
        if let (Some(e), Some(day)) = (end, end_day)
            && midnight(day) < e
        {
            partial(midnight(day), e);
        }
        Some(q)
    }

    /// The sort column and direction; both come from enums, never from the request text.
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

    /// The conditions on `flows f`, ANDed.
    fn push_where(&self, q: &mut QueryBuilder<'static, Sqlite>) {
        // A unary `+` keeps SQLite from walking the account's indexes, so it starts from
        // the driving filter's `f.id IN (…)` instead.
        q.push(if self.driver.is_some() {
            "+f.account_id = "
        } else {
            "f.account_id = "
        });
        q.push_bind(self.account_id.to_owned());
        self.push_date_range(q, "f");
        for (i, filter) in self.query.filters.iter().enumerate() {
            q.push(" AND ");
            self.push_filter(q, i, filter);
        }
    }

    fn push_date_range(&self, q: &mut QueryBuilder<'static, Sqlite>, table: &str) {
        if let Some(start) = self.query.date_start {
            q.push(format!(" AND {table}.created_at >= "));
            q.push_bind(start.as_millis());
        }
        if let Some(end) = self.query.date_end {
            q.push(format!(" AND {table}.created_at < "));
            q.push_bind(end.as_millis());
        }
    }

    /// Filter `i` of the query, on `flows f`.
    fn push_filter(&self, q: &mut QueryBuilder<'static, Sqlite>, i: usize, filter: &Filter) {
        match filter {
            Filter::To { op, term } if self.driver == Some(i) => {
                q.push("f.id IN (SELECT s.flow_id ");
                push_matching_steps(q, self.account_id, *op, term, self.steps[i]);
                q.push(")");
            }
            Filter::To { op, term } => {
                push_step_filter(q, self.account_id, *op, term, "f.account_id", "f.id");
            }
            _ => push_flow_filter(q, "f", filter),
        }
    }
}

/// A `to` filter that does not drive the query, on the flow whose account and id are the
/// columns `account` and `id` of the outer query (`flows f`, or the driver's steps).
fn push_step_filter(
    q: &mut QueryBuilder<'static, Sqlite>,
    account_id: &str,
    op: TextOperator,
    term: &SearchText,
    account: &str,
    id: &str,
) {
    if op == TextOperator::IsNot {
        // The few flows that do have a step to the recipient, set aside once.
        q.push(format!("{id} NOT IN (SELECT s.flow_id "));
        push_matching_steps(q, account_id, TextOperator::Is, term, Steps::Range);
        q.push(")");
    } else {
        // One covering seek per flow. Named: SQLite could otherwise take the account's
        // whole recipient range for each flow.
        q.push(format!(
            "EXISTS (SELECT 1 FROM flow_steps s INDEXED BY flow_steps_account_flow \
             WHERE s.account_id = {account} AND s.flow_id = {id} AND "
        ));
        push_recipient_match(q, op, term);
        q.push(")");
    }
}

impl Limits {
    /// The limits for `query` over the account's flows.
    async fn of(
        conn: &mut SqliteConnection,
        account_id: &str,
        query: &SearchQuery,
    ) -> Result<Self> {
        let flows = account_flows(conn, account_id, query).await?;
        let page_end = i64::try_from(query.offset())
            .unwrap_or(i64::MAX)
            .saturating_add(i64::from(query.size.get()));
        Ok(Limits {
            drive: drive_limit(flows, page_end),
            trigrams: trigram_limit(flows),
        })
    }
}

/// The account's flows a search's walk may pass: those of the days its date range
/// touches (all of them without one), from the `flow_counts` rows.
async fn account_flows(
    conn: &mut SqliteConnection,
    account_id: &str,
    query: &SearchQuery,
) -> Result<i64> {
    let mut q = QueryBuilder::<Sqlite>::new(
        "SELECT COALESCE(SUM(c.n), 0) FROM flow_counts c WHERE c.account_id = ",
    );
    q.push_bind(account_id.to_owned());
    if let Some(start) = query.date_start {
        q.push(" AND c.day >= ");
        q.push_bind(start.as_millis().div_euclid(DAY_MS));
    }
    if let Some(end) = query.date_end {
        q.push(" AND c.day <= ");
        q.push_bind(end.as_millis().div_euclid(DAY_MS));
    }
    Ok(q.build_query_scalar().fetch_one(&mut *conn).await?)
}

/// The limits a search's estimates stop at, for the account's size and the page.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// [`drive_limit`].
    drive: i64,
    /// [`trigram_limit`].
    trigrams: i64,
}

/// How the account's steps that match a positive `to` filter are best read, and about how
/// many there are: exactly when under `limits.drive`, which is what the choice of a
/// driver needs. A `contains` term of 3 characters or more is counted on the trigram
/// index (its candidates in every account, up to `limits.trigrams`), which then reads
/// its steps unless it has that many; other `contains` terms are counted by a scan,
/// which stops at `limits.drive`; a range, on the recipient index, up to `limits.drive`.
async fn estimate(
    conn: &mut SqliteConnection,
    account_id: &str,
    op: TextOperator,
    term: &SearchText,
    limits: Limits,
) -> Result<(i64, Steps)> {
    if op == TextOperator::Contains && trigram_query(term.as_ref(), ALL_TRIGRAMS).is_some() {
        let mask = selective_trigrams(conn, term.as_ref(), COMMON_TRIGRAM).await?;
        let expr = trigram_query(term.as_ref(), mask).expect("a trigram at least");
        let mut q = QueryBuilder::<Sqlite>::new(
            "SELECT COUNT(*) FROM (SELECT 1 FROM recipients_trigram \
             WHERE recipients_trigram MATCH ",
        );
        q.push_bind(expr);
        q.push(" LIMIT ");
        q.push_bind(limits.trigrams);
        q.push(")");
        let candidates: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;
        if candidates < limits.drive {
            // Few candidates: the account's steps to those that match, from their counts
            // (a flow with several recipients counts once per matching step of it).
            let mut q = QueryBuilder::<Sqlite>::new("SELECT COALESCE(SUM(r.flows + r.multi), 0) ");
            push_matching_recipients(
                &mut q,
                account_id,
                op,
                term,
                Steps::Trigrams(mask),
                RecipientSteps::None,
            );
            let n: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;
            return Ok((n, Steps::Trigrams(mask)));
        }
        if candidates < limits.trigrams {
            // Too many to drive whatever they hold: not worth reading them now.
            return Ok((candidates, Steps::Trigrams(mask)));
        }
    }
    let how = if op == TextOperator::Contains {
        Steps::Scan
    } else {
        Steps::Range
    };
    let mut q = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1 ");
    push_matching_steps(&mut q, account_id, op, term, how);
    q.push(" LIMIT ");
    q.push_bind(limits.drive);
    q.push(")");
    let n: i64 = q.build_query_scalar().fetch_one(&mut *conn).await?;
    Ok((n, how))
}

/// A filter on a column of the flow itself (`status`, `terminationChannel`,
/// `trackingId`, `type`), on `table` (`flows` or, for `status` and `type`,
/// `flow_counts`). Nothing for `to`, which is on the flow's steps.
fn push_flow_filter(q: &mut QueryBuilder<'static, Sqlite>, table: &str, filter: &Filter) {
    let is = |op: &Equality| matches!(op, Equality::Is);
    match filter {
        Filter::Status { op, status } => {
            let cmp = if is(op) { "=" } else { "<>" };
            q.push(format!("{table}.status {cmp} "));
            q.push_bind(status.name());
        }
        Filter::TerminationChannel { op, channel } => {
            // IS NOT: a flow with nothing attempted (NULL) is "not Sms" too.
            let cmp = if is(op) { "=" } else { "IS NOT" };
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

/// `FROM … WHERE …` selecting `flow_steps s`: the account's steps matching a positive
/// `to` filter (`is`, `starts_with`, `ends_with`, `contains`), read as `how` says.
/// Every way reads index entries only, but for [`Steps::Trigrams`], which reads the
/// step row of each candidate to check it (the index only proposes).
fn push_matching_steps(
    q: &mut QueryBuilder<'_, Sqlite>,
    account_id: &str,
    op: TextOperator,
    term: &SearchText,
    how: Steps,
) {
    let trigrams = matches!(how, Steps::Trigrams(_)) && op == TextOperator::Contains;
    if trigrams {
        // CROSS JOIN: SQLite keeps this order, starting from the index's candidates, the
        // account's recipients among them that hold the term, then their steps (left
        // alone, it may prefer to walk the account's steps and look each up).
        push_matching_recipients(q, account_id, op, term, how, RecipientSteps::All);
        q.push(" AND s.account_id = ");
    } else if how == Steps::Range && op == TextOperator::EndsWith {
        q.push("FROM flow_steps s INDEXED BY flow_steps_recipient_rev WHERE s.account_id = ");
    } else if how == Steps::Range && op != TextOperator::Contains {
        // Named: without statistics SQLite may prefer scanning the account's steps in
        // flow order for a COUNT(DISTINCT flow_id), whatever the range.
        q.push("FROM flow_steps s INDEXED BY flow_steps_recipient WHERE s.account_id = ");
    } else {
        q.push("FROM flow_steps s INDEXED BY flow_steps_account_flow WHERE s.account_id = ");
    }
    q.push_bind(account_id.to_owned());
    q.push(" AND ");
    push_recipient_match(q, op, term);
}

/// The distinct trigrams (3 characters) of `term`, in order of first appearance.
fn trigrams(term: &str) -> Vec<String> {
    let chars: Vec<char> = term.chars().collect();
    let mut trigrams: Vec<String> = Vec::new();
    for window in chars.windows(3) {
        let trigram: String = window.iter().collect();
        if !trigrams.contains(&trigram) {
            trigrams.push(trigram);
        }
    }
    trigrams
}

/// The FTS5 query that finds the recipients containing `term` on the trigram index:
/// the distinct trigrams of the term that `mask` names (bit `i` for the `i`-th; those
/// past the 64th always), each as a quoted string, ANDed. With `detail=none` the index
/// knows which trigrams a recipient has, not where, so this proposes a superset that
/// `instr` then narrows, and leaving a trigram out only widens the superset. `None`
/// under 3 characters (no trigram to look up) or when the mask names none.
fn trigram_query(term: &str, mask: u64) -> Option<String> {
    let quoted: Vec<String> = trigrams(term)
        .iter()
        .enumerate()
        .filter(|(i, _)| *i >= 64 || mask >> i & 1 == 1)
        .map(|(_, t)| quoted_trigram(t))
        .collect();
    if quoted.is_empty() {
        return None;
    }
    Some(quoted.join(" AND "))
}

/// A trigram as an FTS5 string, its double quotes doubled.
fn quoted_trigram(trigram: &str) -> String {
    format!("\"{}\"", trigram.replace('"', "\"\""))
}

/// Every trigram of a term in its `MATCH` ([`trigram_query`]).
const ALL_TRIGRAMS: u64 = u64::MAX;

/// Recipients a trigram must be found in to be left out of a `MATCH` that has rarer
/// ones. Intersecting a trigram found in nearly every recipient (`069` in every
/// `+3069…` number) reads its whole list, ~30 ms at 2.9 M recipients, and a search
/// runs the `MATCH` up to four times; checking that a trigram reaches this many costs
/// at most ~2 ms.
const COMMON_TRIGRAM: i64 = 50_000;

/// The mask for [`trigram_query`] that leaves out the term's common trigrams (found in
/// `common` recipients or more: [`COMMON_TRIGRAM`]), unless all of them are.
async fn selective_trigrams(conn: &mut SqliteConnection, term: &str, common: i64) -> Result<u64> {
    let all = trigrams(term);
    if all.len() < 2 {
        return Ok(ALL_TRIGRAMS);
    }
    let mut mask = 0_u64;
    for (i, trigram) in all.iter().enumerate().take(64) {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM (SELECT 1 FROM recipients_trigram \
             WHERE recipients_trigram MATCH ? LIMIT ?)",
        )
        .bind(quoted_trigram(trigram))
        .bind(common)
        .fetch_one(&mut *conn)
        .await?;
        if n < common {
            mask |= 1 << i;
        }
    }
    Ok(if mask == 0 { ALL_TRIGRAMS } else { mask })
}

/// The condition on `flow_steps s` for a positive `to` match (`is`, `starts_with`,
/// `ends_with`, `contains`; `is_not` is the negation of `is`, applied by the caller).
/// Prefixes are index ranges (`>= prefix AND < successor`), suffixes the same on the
/// reversed recipient, and `contains` is `instr`, so no pattern syntax is involved and
/// nothing needs escaping.
fn push_recipient_match(q: &mut QueryBuilder<'_, Sqlite>, op: TextOperator, term: &SearchText) {
    push_text_match(q, "s", op, term);
}

/// [`push_recipient_match`] on the `recipient` (and `recipient_rev`) columns of the
/// table aliased `table`: `s` (`flow_steps`) or `r` (`recipients`, which has no reversed
/// column, so never `ends_with` there).
fn push_text_match(
    q: &mut QueryBuilder<'_, Sqlite>,
    table: &str,
    op: TextOperator,
    term: &SearchText,
) {
    let term = term.as_ref();
    let range = |q: &mut QueryBuilder<'_, Sqlite>, column: &str, prefix: String| {
        let upper = prefix_successor(&prefix);
        q.push(format!("{table}.{column} >= "));
        q.push_bind(prefix);
        if let Some(upper) = upper {
            q.push(format!(" AND {table}.{column} < "));
            q.push_bind(upper);
        }
    };
    match op {
        TextOperator::Is | TextOperator::IsNot => {
            q.push(format!("{table}.recipient = "));
            q.push_bind(term.to_owned());
        }
        TextOperator::StartsWith => range(q, "recipient", term.to_owned()),
        TextOperator::EndsWith => range(q, "recipient_rev", term.chars().rev().collect()),
        TextOperator::Contains => {
            q.push(format!("instr({table}.recipient, "));
            q.push_bind(term.to_owned());
            q.push(") > 0");
        }
    }
}

/// `FROM … WHERE …` selecting `recipients r`: the account's recipients matching a positive
/// `to` filter other than `ends_with` (migration 0012), found on the trigram index for
/// [`Steps::Trigrams`], else on the account's rows (a range, or all of them checked for
/// `contains`), joined to their steps as `steps` says.
fn push_matching_recipients(
    q: &mut QueryBuilder<'_, Sqlite>,
    account_id: &str,
    op: TextOperator,
    term: &SearchText,
    how: Steps,
    steps: RecipientSteps,
) {
    let trigrams = match how {
        Steps::Trigrams(mask) if op == TextOperator::Contains => trigram_query(term.as_ref(), mask),
        _ => None,
    };
    let join = match steps {
        RecipientSteps::None => "",
        RecipientSteps::All => {
            " CROSS JOIN flow_steps s INDEXED BY flow_steps_recipient \
             ON s.account_id = r.account_id AND s.recipient = r.recipient"
        }
        RecipientSteps::Multi => {
            " CROSS JOIN flow_steps s INDEXED BY flow_steps_multi \
             ON s.account_id = r.account_id AND s.recipient = r.recipient AND s.weight IS NULL"
        }
    };
    if let Some(expr) = trigrams {
        q.push(format!(
            "FROM recipients_trigram t \
             CROSS JOIN recipients r INDEXED BY recipients_id ON r.id = t.rowid{join} \
             WHERE t.recipients_trigram MATCH "
        ));
        q.push_bind(expr);
        q.push(" AND r.account_id = ");
    } else {
        q.push(format!("FROM recipients r{join} WHERE r.account_id = "));
    }
    q.push_bind(account_id.to_owned());
    q.push(" AND ");
    push_text_match(q, "r", op, term);
    if steps == RecipientSteps::Multi {
        q.push(" AND r.multi > 0");
    }
}

/// Which steps [`push_matching_recipients`] joins to the recipients it selects, as `s`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum RecipientSteps {
    /// None: the recipients alone (`r`).
    None,
    /// All their steps (`flow_steps_recipient`).
    All,
    /// Only their steps in flows with several recipients (`flow_steps_multi`), and only
    /// for the recipients that have such steps.
    Multi,
}

/// The smallest string greater than every string that starts with `prefix`, in SQLite's
/// BINARY order (UTF-8 bytes, which is code point order): the prefix with its last
/// character replaced by the next code point. `None` when there is none (every
/// character is `char::MAX`): then only the lower bound applies.
fn prefix_successor(prefix: &str) -> Option<String> {
    let mut chars: Vec<char> = prefix.chars().collect();
    while let Some(last) = chars.pop() {
        let next = match u32::from(last) + 1 {
            // Skip the surrogates, which are not characters.
            0xD800 => Some('\u{E000}'),
            n => char::from_u32(n),
        };
        if let Some(next) = next {
            chars.push(next);
            return Some(chars.into_iter().collect());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use cascade_core::machines::FlowStatus;
    use cascade_core::search::{PageSize, Sort};
    use cascade_core::{FlowId, Micros, Timestamp};
    use sqlx::Row;

    use super::*;
    use crate::sqlite::SqliteConfig;
    use crate::{Account, FlowStore, TenancyStore};
    use cascade_core::Channel;

    const T0: i64 = 1_772_356_502_000;

    async fn store() -> (SqliteStore, tempfile::TempDir) {
        let dir = tempfile::tempdir().expect("a temporary directory");
        let url = format!("sqlite://{}", dir.path().join("search.db").display());
        let store = SqliteStore::open(&SqliteConfig::new(url))
            .await
            .expect("the store opens");
        for id in ["acc", "other"] {
            store
                .create_account(&Account {
                    id: id.to_owned(),
                    name: id.to_owned(),
                    balance: Micros::new(1_000_000_000),
                    currency: "EUR".to_owned(),
                    created_at: Timestamp::from_millis(T0),
                })
                .await
                .expect("an account");
        }
        (store, dir)
    }

    /// Store a flow of `account` created at `T0 + at_ms` with one SMS step per recipient.
    async fn add(store: &SqliteStore, account: &str, at_ms: i64, to: &[&str]) -> FlowId {
        let steps: Vec<(Channel, &str)> = to.iter().map(|to| (Channel::Sms, *to)).collect();
        add_steps(store, account, at_ms, &steps).await
    }

    /// Store a flow of `account` created at `T0 + at_ms` with these steps, in order.
    async fn add_steps(
        store: &SqliteStore,
        account: &str,
        at_ms: i64,
        steps: &[(Channel, &str)],
    ) -> FlowId {
        let now = Timestamp::from_millis(T0 + at_ms);
        let def = super::super::test_flows::definition(account, now, steps);
        let id = def.tracking_id;
        store.accept_flow(def, now).await.expect("accepted");
        id
    }

    /// Set a flow's status in the row (as the writer's upsert does when it changes).
    async fn set_status(store: &SqliteStore, id: FlowId, status: FlowStatus) {
        store
            .write(move |conn| {
                conn.execute(
                    "UPDATE flows SET status = ? WHERE id = ?",
                    [status.name(), &id.to_string()],
                )?;
                Ok(())
            })
            .await
            .expect("a status");
    }

    fn to(op: TextOperator, term: &str) -> Filter {
        Filter::To {
            op,
            term: SearchText::parse(term).expect("a term"),
        }
    }

    fn query(filters: Vec<Filter>) -> SearchQuery {
        SearchQuery {
            size: PageSize::new(1000).expect("in range"),
            filters,
            ..SearchQuery::default()
        }
    }

    /// Page ids and total, with the plan the store would choose and with every other
    /// choice of driver and of how `contains` steps are read, and the total also counted
    /// row by row: they must all agree.
    async fn run(store: &SqliteStore, query: &SearchQuery) -> (Vec<FlowId>, u64) {
        let page = store.search("acc", query).await.expect("a search");
        let ids: Vec<FlowId> = page
            .flows
            .iter()
            .map(|f| f.definition.tracking_id)
            .collect();
        let drivable: Vec<usize> = (0..query.filters.len())
            .filter(|&i| positive_recipient(&query.filters[i]).is_some())
            .collect();
        // Every way each `to` filter's steps can be read.
        let ways: Vec<Vec<Steps>> = drivable
            .iter()
            .map(|&i| match &query.filters[i] {
                Filter::To {
                    op: TextOperator::Contains,
                    term,
                } if trigram_query(term.as_ref(), ALL_TRIGRAMS).is_some() => vec![
                    Steps::Scan,
                    Steps::Trigrams(ALL_TRIGRAMS),
                    Steps::Trigrams(1),
                ],
                Filter::To {
                    op: TextOperator::Contains,
                    ..
                } => vec![Steps::Scan],
                _ => vec![Steps::Range, Steps::Scan],
            })
            .collect();
        let combinations: usize = ways.iter().map(Vec::len).product();
        let mut conn = store.readers().acquire().await.expect("a connection");
        for driver in drivable.iter().map(|&i| Some(i)).chain([None]) {
            for mut choice in 0..combinations {
                let mut steps = vec![Steps::Range; query.filters.len()];
                for (&i, options) in drivable.iter().zip(&ways) {
                    steps[i] = options[choice % options.len()];
                    choice /= options.len();
                }
                let plan = Plan {
                    account_id: "acc",
                    query,
                    driver,
                    steps,
                };
                let what = format!("driver {driver:?}, steps {:?}", plan.steps);
                let ways = [Some(plan.page_from_flows()), plan.page_from_steps()];
                for mut page_query in ways.into_iter().flatten() {
                    let rows = page_query.build().fetch_all(&mut *conn).await.unwrap();
                    let other: Vec<FlowId> = rows
                        .iter()
                        .map(|r| decode(r).expect("a flow").definition.tracking_id)
                        .collect();
                    assert_eq!(other, ids, "{what} gives another page");
                }
                let total: i64 = plan
                    .count_query()
                    .build_query_scalar()
                    .fetch_one(&mut *conn)
                    .await
                    .unwrap();
                assert_eq!(total as u64, page.total, "{what} counts otherwise");
                let mut q = QueryBuilder::new("SELECT COUNT(*) FROM flows f WHERE ");
                plan.push_where(&mut q);
                let rows: i64 = q.build_query_scalar().fetch_one(&mut *conn).await.unwrap();
                assert_eq!(rows as u64, page.total, "{what}: the rows say otherwise");
            }
        }
        (ids, page.total)
    }

    #[tokio::test]
    async fn recipient_filters_match_any_step_case_insensitively() {
        let (store, _dir) = store().await;
        let a = add(&store, "acc", 0, &["+306912345678"]).await;
        let b = add(&store, "acc", 1, &["+306900000001", "+306912345678"]).await;
        let c = add(&store, "acc", 2, &["+441234567890"]).await;
        // Three steps to one recipient: one flow, whichever step matches.
        let d = add(&store, "acc", 3, &["+447700900123"; 3]).await;
        add(&store, "other", 4, &["+306912345678"]).await;
        let newest_first = |ids: &[FlowId]| ids.iter().rev().copied().collect::<Vec<_>>();

        let cases: Vec<(Filter, Vec<FlowId>)> = vec![
            (to(TextOperator::Is, "+306912345678"), newest_first(&[a, b])),
            (
                to(TextOperator::IsNot, "+306912345678"),
                newest_first(&[c, d]),
            ),
            (to(TextOperator::Is, "+447700900123"), vec![d]),
            (to(TextOperator::StartsWith, "+44"), newest_first(&[c, d])),
            (to(TextOperator::EndsWith, "0123"), vec![d]),
            (to(TextOperator::Contains, "7700900"), vec![d]),
            (to(TextOperator::StartsWith, "+3069"), newest_first(&[a, b])),
            (to(TextOperator::StartsWith, "+30690"), vec![b]),
            (to(TextOperator::EndsWith, "7890"), vec![c]),
            (to(TextOperator::EndsWith, "5678"), newest_first(&[a, b])),
            (to(TextOperator::Contains, "1234"), newest_first(&[a, b, c])),
            (to(TextOperator::Contains, "0000"), vec![b]),
            (to(TextOperator::Is, "+3069"), vec![]),
            (to(TextOperator::Contains, "234"), newest_first(&[a, b, c])),
            (to(TextOperator::Contains, "12\"3"), vec![]),
            (to(TextOperator::Contains, "near(1234"), vec![]),
            (to(TextOperator::Contains, "00 and 0"), vec![]),
        ];
        for (filter, expected) in cases {
            let (ids, total) = run(&store, &query(vec![filter.clone()])).await;
            assert_eq!(ids, expected, "{filter:?}");
            assert_eq!(total, expected.len() as u64, "{filter:?}");
        }
        // ANDed: a step to +30690… and (maybe another) step ending in 5678.
        let (ids, total) = run(
            &store,
            &query(vec![
                to(TextOperator::StartsWith, "+30690"),
                to(TextOperator::EndsWith, "5678"),
            ]),
        )
        .await;
        assert_eq!((ids, total), (vec![b], 1));
    }

    #[tokio::test]
    async fn type_filters_count_flows_not_steps() {
        let (store, _dir) = store().await;
        let a = add(&store, "acc", 0, &["+306912345678", "+306912345679"]).await;
        let b = add(&store, "acc", 1, &["+306912345678"]).await;
        add(&store, "other", 2, &["+306912345678"]).await;
        let sms = Filter::Type {
            op: Equality::Is,
            channel: Channel::Sms,
        };
        let (ids, total) = run(&store, &query(vec![sms])).await;
        assert_eq!((ids, total), (vec![b, a], 2), "two Sms steps are one flow");
        let voice = Filter::Type {
            op: Equality::IsNot,
            channel: Channel::Voice,
        };
        let (_, total) = run(&store, &query(vec![voice])).await;
        assert_eq!(total, 2);
    }

    #[tokio::test]
    async fn the_date_range_and_order_hold_for_both_counts() {
        let (store, _dir) = store().await;
        let mut ids = Vec::new();
        for i in 0..6 {
            ids.push(add(&store, "acc", i * 1000, &["+306912345678"]).await);
        }
        let mut q = query(vec![to(TextOperator::Is, "+306912345678")]);
        q.date_start = Some(Timestamp::from_millis(T0 + 1000));
        q.date_end = Some(Timestamp::from_millis(T0 + 4000));
        q.sort = Sort {
            field: cascade_core::search::SortField::CreatedAt,
            descending: false,
        };
        let (found, total) = run(&store, &q).await;
        assert_eq!(found, ids[1..4].to_vec(), "start inclusive, end exclusive");
        assert_eq!(total, 3);
        q.filters.clear();
        q.size = PageSize::new(2).expect("in range");
        q.page = 1;
        let (found, total) = run(&store, &q).await;
        assert_eq!((found, total), (vec![ids[3]], 3));
    }

    /// Pages of a search driven by a `to` filter, read from the steps alone or from
    /// `flows`, in both orders, with a date range and other `to` filters beside it: the
    /// same flows, each once, whatever steps it has (`run` compares every way).
    #[tokio::test]
    async fn pages_of_driven_searches_hold_from_the_steps_alone() {
        use Channel::{Sms, Viber};
        let (store, _dir) = store().await;
        let mut mine = Vec::new();
        for i in 0..12_i64 {
            let number = format!("+3069123400{i:02}");
            let steps: Vec<(Channel, &str)> = match i % 3 {
                // Two steps to one recipient: one flow, found once.
                0 => vec![(Viber, number.as_str()), (Sms, number.as_str())],
                // Two recipients, both under the prefix: found once too.
                1 => vec![(Viber, number.as_str()), (Sms, "+306912340099")],
                _ => vec![(Sms, number.as_str())],
            };
            // Some flows share a creation time: the id breaks the tie.
            mine.push(add_steps(&store, "acc", (i / 2) * 1000, &steps).await);
        }
        add(&store, "acc", 500, &["+441234567890"]).await;
        add(&store, "other", 500, &["+306912340001"]).await;
        let prefix = to(TextOperator::StartsWith, "+30691234");
        for descending in [true, false] {
            for page in 0..4 {
                for filters in [
                    vec![prefix.clone()],
                    vec![prefix.clone(), to(TextOperator::IsNot, "+306912340099")],
                    vec![prefix.clone(), to(TextOperator::EndsWith, "0004")],
                ] {
                    let mut q = query(filters.clone());
                    q.size = PageSize::new(3).expect("in range");
                    q.page = page;
                    q.sort = Sort {
                        field: SortField::CreatedAt,
                        descending,
                    };
                    q.date_start = Some(Timestamp::from_millis(T0 + 1000));
                    let (found, total) = run(&store, &q).await;
                    assert!(found.len() <= 3, "{filters:?}");
                    let mut unique = found.clone();
                    unique.dedup();
                    assert_eq!(unique, found, "each flow once: {filters:?}");
                    if filters.len() == 1 {
                        // Created from T0 + 1000 on: all but the first two.
                        assert_eq!(total, 10, "{filters:?}");
                        let mut expected: Vec<FlowId> = mine[2..].to_vec();
                        expected.sort_by_key(|id| {
                            let pos = mine.iter().position(|m| m == id).expect("mine");
                            (pos / 2, id.to_string())
                        });
                        if descending {
                            expected.reverse();
                        }
                        let start = (page as usize * 3).min(expected.len());
                        let end = (start + 3).min(expected.len());
                        assert_eq!(found, expected[start..end].to_vec(), "page {page}");
                    }
                }
            }
        }
    }

    /// The account's recipients (migration 0012) as the steps say they should be: per
    /// account and recipient, its one-recipient flows and its steps in flows with
    /// several recipients.
    async fn recipients_and_steps(conn: &mut SqliteConnection) -> (Vec<String>, Vec<String>) {
        let kept: Vec<String> = sqlx::query_scalar(
            "SELECT account_id || ' ' || recipient || ' ' || flows || ' ' || multi \
             FROM recipients WHERE flows > 0 OR multi > 0 ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("the recipients");
        let counted: Vec<String> = sqlx::query_scalar(
            "SELECT account_id || ' ' || recipient || ' ' || SUM(weight IS 1) || ' ' \
             || SUM(weight IS NULL) FROM flow_steps WHERE weight IS NOT 0 \
             GROUP BY account_id, recipient ORDER BY 1",
        )
        .fetch_all(&mut *conn)
        .await
        .expect("the steps");
        (kept, counted)
    }

    /// Totals of `to` filters without a date range come from `recipients`; flows with
    /// several recipients, repeated recipients and other accounts all count
    /// as the rows say (`run` checks every way of reading against `COUNT(*)` of flows).
    /// The triggers keep the counts right when a step is inserted, changed or deleted,
    /// and each recipient is in the trigram index once, from its first step.
    #[tokio::test]
    async fn recipients_count_flows_as_their_steps_do() {
        use Channel::{Sms, Viber, Voice};
        use sqlx::Connection;
        let (store, dir) = store().await;
        let pool = [
            "+306912345678",
            "+306912345679",
            "+306900000001",
            "+447700900123",
            "+4477009001",
            "+35799123456",
        ];
        let mut seed = 7_u64;
        let mut next = |n: usize| {
            seed = seed.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1);
            (seed >> 33) as usize % n
        };
        for i in 0..120_i64 {
            let account = if i % 10 == 9 { "other" } else { "acc" };
            let steps: Vec<(Channel, &str)> = (0..=next(3))
                .map(|_| ([Viber, Sms, Voice][next(3)], pool[next(pool.len())]))
                .collect();
            add_steps(&store, account, i * 1000, &steps).await;
        }
        // A flow whose third step goes back to the first step's recipient: counted once.
        add_steps(
            &store,
            "acc",
            200_000,
            &[
                (Viber, "+35799123456"),
                (Sms, "+306912345678"),
                (Voice, "+35799123456"),
            ],
        )
        .await;

        let mut conn = store.readers().acquire().await.expect("a connection");
        let (kept, counted) = recipients_and_steps(&mut conn).await;
        assert_eq!(kept, counted);
        let multi: i64 = sqlx::query_scalar("SELECT SUM(multi) FROM recipients")
            .fetch_one(&mut *conn)
            .await
            .expect("a sum");
        assert!(multi > 0, "some flows have several recipients");
        for recipient in pool {
            let term = recipient.to_lowercase();
            let ids: Vec<i64> = sqlx::query_scalar(
                "SELECT rowid FROM recipients_trigram WHERE recipients_trigram MATCH ?",
            )
            .bind(trigram_query(&term, ALL_TRIGRAMS).expect("long enough"))
            .fetch_all(&mut *conn)
            .await
            .expect("candidates");
            let own: Vec<i64> = sqlx::query_scalar(
                "SELECT id FROM recipients WHERE recipient = ? ORDER BY account_id",
            )
            .bind(&term)
            .fetch_all(&mut *conn)
            .await
            .expect("ids");
            assert!(!own.is_empty(), "{recipient}");
            for id in &own {
                assert_eq!(ids.iter().filter(|c| *c == id).count(), 1, "{recipient}");
            }
        }
        drop(conn);
        for (op, term) in [
            (TextOperator::Is, "+306912345678"),
            (TextOperator::Is, "+35799123456"),
            (TextOperator::StartsWith, "+3069"),
            (TextOperator::StartsWith, "+44770090012"),
            (TextOperator::StartsWith, "+357"),
            (TextOperator::Contains, "6912"),
            (TextOperator::Contains, "0090"),
            (TextOperator::Contains, "9912"),
            (TextOperator::Contains, "69"),
            (TextOperator::Contains, "55555"),
        ] {
            let (_, total) = run(&store, &query(vec![to(op, term)])).await;
            assert_eq!(total == 0, term == "55555", "{op:?} {term}");
        }

        // Nothing in Cascade changes or deletes a step; if anything ever does, the
        // counts follow.
        let mut writer = SqliteConnection::connect(&format!(
            "sqlite://{}",
            dir.path().join("search.db").display()
        ))
        .await
        .expect("a second connection");
        sqlx::raw_sql(
            "UPDATE flow_steps SET recipient = '+10000000000' \
             WHERE id = (SELECT MIN(id) FROM flow_steps WHERE weight IS NULL);
             UPDATE flow_steps SET recipient = '+306912345679' \
             WHERE id = (SELECT MIN(id) FROM flow_steps WHERE weight = 1);
             DELETE FROM flow_steps WHERE id = (SELECT MAX(id) FROM flow_steps WHERE weight IS NULL);
             DELETE FROM flow_steps WHERE id = (SELECT MAX(id) FROM flow_steps WHERE weight = 1);",
        )
        .execute(&mut writer)
        .await
        .expect("steps changed behind Cascade's back");
        let (kept, counted) = recipients_and_steps(&mut writer).await;
        assert_eq!(kept, counted);
        let new: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM recipients_trigram WHERE recipients_trigram MATCH '\"100\" AND \"000\"'",
        )
        .fetch_one(&mut writer)
        .await
        .expect("a count");
        assert_eq!(new, 1, "a recipient first seen by an update is indexed");
    }

    #[test]
    fn prefix_successors_bound_exactly_the_strings_with_the_prefix() {
        assert_eq!(prefix_successor("+3069").as_deref(), Some("+306:"));
        assert_eq!(
            prefix_successor("ab\u{D7FF}").as_deref(),
            Some("ab\u{E000}")
        );
        assert_eq!(prefix_successor("a\u{10FFFF}").as_deref(), Some("b"));
        assert_eq!(prefix_successor("\u{10FFFF}"), None);
        let upper = prefix_successor("ab").unwrap();
        for inside in ["ab", "ab\u{10FFFF}", "abzzz"] {
            assert!(inside >= "ab" && inside < upper.as_str(), "{inside:?}");
        }
        for outside in ["aa", "ac", "b", "a"] {
            assert!(
                !(outside >= "ab" && outside < upper.as_str()),
                "{outside:?}"
            );
        }
    }

    /// The plan SQLite chooses for `q` (parameters unbound: without statistics the plan
    /// does not depend on their values).
    async fn explain(store: &SqliteStore, q: &QueryBuilder<'static, Sqlite>) -> Vec<String> {
        let mut conn = store.readers().acquire().await.expect("a connection");
        // EXPLAIN does not check the schema version: read something first so a connection
        // opened before the fixture's CREATE INDEX sees it.
        sqlx::query("SELECT COUNT(*) FROM sqlite_master")
            .execute(&mut *conn)
            .await
            .expect("the schema");
        let sql = format!("EXPLAIN QUERY PLAN {}", q.sql());
        sqlx::query(&sql)
            .fetch_all(&mut *conn)
            .await
            .expect("a plan")
            .iter()
            .map(|r| r.get::<String, _>(3))
            .collect()
    }

    /// Every common search is answered from indexes: no table is scanned, and each
    /// statement starts from the index this module's docs name.
    #[tokio::test]
    async fn common_searches_use_their_indexes() {
        let (store, _dir) = store().await;
        let with = |filters: Vec<Filter>, edit: &dyn Fn(&mut SearchQuery)| {
            let mut q = query(filters);
            edit(&mut q);
            q
        };
        let day = |q: &mut SearchQuery| {
            q.date_start = Some(Timestamp::from_millis(T0));
            q.date_end = Some(Timestamp::from_millis(T0 + 86_400_000));
        };
        let updated = |q: &mut SearchQuery| q.sort.field = SortField::UpdatedAt;
        let deep = |q: &mut SearchQuery| q.page = 100;
        let same = |_: &mut SearchQuery| {};
        let sms = |op| Filter::Type {
            op,
            channel: Channel::Sms,
        };
        let failed = Filter::Status {
            op: Equality::Is,
            status: FlowStatus::Failed,
        };
        let whole_days = |q: &mut SearchQuery| {
            // Midnight-aligned start, end mid-day: whole days from the counters, the end's
            // partial day counted.
            let midnight = T0 - T0.rem_euclid(DAY_MS);
            q.date_start = Some(Timestamp::from_millis(midnight - 3 * DAY_MS));
            q.date_end = Some(Timestamp::from_millis(T0));
        };
        const CREATED: &str = "COVERING INDEX flows_account_created (account_id=?)";
        const BY_ID: &str = "INDEX sqlite_autoindex_flows_1 (id=?)";
        const COUNTERS: &str = "SEARCH c USING PRIMARY KEY (account_id=?)";
        const RECIPIENT: &str =
            "COVERING INDEX flow_steps_recipient (account_id=? AND recipient=?)";
        const PREFIX: &str =
            "COVERING INDEX flow_steps_recipient (account_id=? AND recipient>? AND recipient<?)";
        const PER_FLOW: &str =
            "COVERING INDEX flow_steps_account_flow (account_id=? AND flow_id=?)";
        const ACCOUNT_STEPS: &str = "COVERING INDEX flow_steps_account_flow (account_id=?)";
        const TRIGRAMS: &str = "SCAN t VIRTUAL TABLE INDEX 0:M";
        const RECIPIENT_BY_ID: &str = "INDEX recipients_id (id=?";
        const RECIPIENTS_IS: &str = "SEARCH r USING PRIMARY KEY (account_id=? AND recipient=?)";
        const RECIPIENTS_PREFIX: &str =
            "SEARCH r USING PRIMARY KEY (account_id=? AND recipient>? AND recipient<?)";
        const RECIPIENTS: &str = "SEARCH r USING PRIMARY KEY (account_id=?)";
        const MULTI: &str = "COVERING INDEX flow_steps_multi (account_id=? AND recipient=?)";
        const CREATED_IN_DAY: &str = "COVERING INDEX flows_account_created \
            (account_id=? AND created_at>? AND created_at<?)";
        const RECIPIENT_IN_DAY: &str = "COVERING INDEX flow_steps_recipient \
            (account_id=? AND recipient=? AND created_at>? AND created_at<?)";
        use Steps::{Range, Scan, Trigrams};
        // (case, query, driving filter, how `to` steps are read, in the page's plan, in
        // the count's plan)
        type Case<'a> = (
            &'a str,
            SearchQuery,
            Option<usize>,
            Steps,
            Vec<&'a str>,
            Vec<&'a str>,
        );
        #[rustfmt::skip]
        let cases: Vec<Case> = vec![
            ("no filter", query(vec![]), None, Range, vec![CREATED], vec![COUNTERS]),
            ("deep page", with(vec![], &deep), None, Range, vec![CREATED], vec![COUNTERS]),
            ("updatedAt order", with(vec![], &updated), None, Range,
                vec!["COVERING INDEX flows_account_updated (account_id=?)"], vec![COUNTERS]),
            ("one day", with(vec![], &day), None, Range,
                vec!["COVERING INDEX flows_account_created (account_id=? AND created_at>? AND created_at<?)"],
                vec!["COVERING INDEX flows_account_created (account_id=? AND created_at>? AND created_at<?)"]),
            ("whole days", with(vec![failed.clone()], &whole_days), None, Range,
                vec!["COVERING INDEX flows_account_status (account_id=? AND status=? AND created_at>? AND created_at<?)"],
                vec!["SEARCH c USING PRIMARY KEY (account_id=? AND day>? AND day<?)",
                     "COVERING INDEX flows_account_status (account_id=? AND status=? AND created_at>? AND created_at<?)"]),
            ("status", query(vec![failed.clone()]), None, Range,
                vec!["COVERING INDEX flows_account_status (account_id=? AND status=?)"], vec![COUNTERS]),
            ("status by updatedAt", with(vec![failed.clone()], &updated), None, Range,
                vec!["INDEX flows_account_updated (account_id=?)"], vec![COUNTERS]),
            ("terminationChannel", query(vec![Filter::TerminationChannel { op: Equality::Is, channel: Channel::Sms }]), None, Range,
                vec!["COVERING INDEX flows_account_termination (account_id=? AND termination_channel=?)"],
                vec!["COVERING INDEX flows_account_termination (account_id=? AND termination_channel=?)"]),
            ("trackingId", query(vec![Filter::TrackingId { op: Equality::Is, id: FlowId::new_v7(T0) }]), None, Range,
                vec![BY_ID], vec![BY_ID]),
            ("type is", query(vec![sms(Equality::Is)]), None, Range, vec![CREATED], vec![COUNTERS]),
            ("type is_not", query(vec![sms(Equality::IsNot)]), None, Range, vec![CREATED], vec![COUNTERS]),
            ("type and status", query(vec![sms(Equality::Is), failed.clone()]), None, Range,
                vec!["COVERING INDEX flows_account_status (account_id=? AND status=?)"], vec![COUNTERS]),
            ("type in one day", with(vec![sms(Equality::Is)], &day), None, Range,
                vec!["COVERING INDEX flows_account_created (account_id=? AND created_at>? AND created_at<?)"],
                vec!["COVERING INDEX flows_account_created (account_id=? AND created_at>? AND created_at<?)"]),
            ("to is, few", query(vec![to(TextOperator::Is, "+306912345678")]), Some(0), Range,
                vec![BY_ID, RECIPIENT], vec![RECIPIENTS_IS, MULTI]),
            ("to is, many", query(vec![to(TextOperator::Is, "+306912345678")]), None, Range,
                vec![CREATED, PER_FLOW], vec![RECIPIENTS_IS, MULTI]),
            ("to is in one day", with(vec![to(TextOperator::Is, "+306912345678")], &day), Some(0), Range,
                vec![BY_ID, RECIPIENT_IN_DAY], vec![RECIPIENT_IN_DAY]),
            ("to starts_with", query(vec![to(TextOperator::StartsWith, "+3069")]), Some(0), Range,
                vec![BY_ID, PREFIX], vec![RECIPIENTS_PREFIX, MULTI]),
            ("to starts_with, broad", query(vec![to(TextOperator::StartsWith, "+3069")]), None, Range,
                vec![CREATED, PER_FLOW], vec![RECIPIENTS_PREFIX, MULTI]),
            ("to starts_with in one day", with(vec![to(TextOperator::StartsWith, "+3069")], &day), None, Range,
                vec![CREATED_IN_DAY, PER_FLOW],
                vec!["COVERING INDEX flow_steps_recipient (account_id=? AND recipient>? AND recipient<?)",
                     "USE TEMP B-TREE FOR count(DISTINCT)"]),
            ("to ends_with", query(vec![to(TextOperator::EndsWith, "5678")]), Some(0), Range,
                vec![BY_ID, "COVERING INDEX flow_steps_recipient_rev (account_id=? AND recipient_rev>? AND recipient_rev<?)"],
                vec!["COVERING INDEX flow_steps_recipient_rev (account_id=? AND recipient_rev>? AND recipient_rev<?)"]),
            ("to contains, few, by trigrams", query(vec![to(TextOperator::Contains, "5678")]), Some(0), Trigrams(ALL_TRIGRAMS),
                vec![BY_ID, TRIGRAMS, RECIPIENT_BY_ID, RECIPIENT], vec![TRIGRAMS, RECIPIENT_BY_ID, MULTI]),
            ("to contains, many, by trigrams", query(vec![to(TextOperator::Contains, "5678")]), None, Trigrams(ALL_TRIGRAMS),
                vec![CREATED, PER_FLOW], vec![TRIGRAMS, RECIPIENT_BY_ID, MULTI]),
            ("to contains by trigrams in one day", with(vec![to(TextOperator::Contains, "5678")], &day), Some(0), Trigrams(ALL_TRIGRAMS),
                vec![BY_ID, TRIGRAMS, RECIPIENT_BY_ID, RECIPIENT_IN_DAY], vec![TRIGRAMS, RECIPIENT_BY_ID, RECIPIENT_IN_DAY]),
            ("to contains, short", query(vec![to(TextOperator::Contains, "56")]), Some(0), Scan,
                vec![BY_ID, ACCOUNT_STEPS], vec![RECIPIENTS, MULTI]),
            ("to contains, common", query(vec![to(TextOperator::Contains, "5678")]), None, Scan,
                vec![CREATED, PER_FLOW], vec![RECIPIENTS, MULTI]),
            ("to contains, common, in one day", with(vec![to(TextOperator::Contains, "5678")], &day), None, Scan,
                vec![CREATED_IN_DAY, PER_FLOW], vec![ACCOUNT_STEPS]),
            ("to is_not", query(vec![to(TextOperator::IsNot, "+306912345678")]), None, Range,
                vec![CREATED, RECIPIENT], vec![RECIPIENT]),
            ("to is and status", with(vec![failed, to(TextOperator::Is, "+306912345678")], &same), Some(1), Range,
                vec![BY_ID, RECIPIENT], vec![BY_ID, RECIPIENT]),
        ];
        for (name, q, driver, steps, in_page, in_count) in &cases {
            let plan = Plan {
                account_id: "acc",
                query: q,
                driver: *driver,
                steps: vec![*steps; q.filters.len()],
            };
            for (what, sql, expected) in [
                ("page", plan.page_query(), in_page),
                ("count", plan.count_query(), in_count),
            ] {
                let lines = explain(&store, &sql).await;
                let scans: Vec<&String> = lines
                    .iter()
                    .filter(|l| {
                        l.starts_with("SCAN ")
                            && !["SCAN p", "SCAN CONSTANT ROW"].contains(&l.as_str())
                            && !l.contains("VIRTUAL TABLE")
                    })
                    .collect();
                assert!(scans.is_empty(), "{name} {what} scans a table: {lines:#?}");
                for needle in expected {
                    assert!(
                        lines.iter().any(|l| l.contains(needle)),
                        "{name} {what}: no {needle:?} in {lines:#?}"
                    );
                }
                // Read in flow order, the flow ids need no b-tree to be told apart.
                if what == "count" && *steps == Scan && q.date_start.is_some() {
                    assert!(
                        !lines
                            .iter()
                            .any(|l| l.contains("TEMP B-TREE FOR count(DISTINCT)")),
                        "{name}: {lines:#?}"
                    );
                }
                // The page reads only its own rows: by rowid from the flows' indexes, by id
                // from the steps' (no row of `flows` before the page is known).
                if what == "page" {
                    let from_steps = plan.page_from_steps().is_some();
                    let read = if from_steps {
                        "SEARCH f USING INDEX sqlite_autoindex_flows_1 (id=?)"
                    } else {
                        "SEARCH f USING INTEGER PRIMARY KEY (rowid=?)"
                    };
                    let before = "SCAN p";
                    let at = |l: &str| lines.iter().position(|x| x == l);
                    assert!(
                        at(read).is_some() && at(before) < at(read),
                        "{name}: {lines:#?}"
                    );
                    // From the steps, no row of `flows` is read before the page is known.
                    if from_steps {
                        let inner = &lines[..at(before).unwrap_or(0)];
                        assert!(
                            inner.iter().all(|l| !l.starts_with("SEARCH f ")),
                            "{name}: {lines:#?}"
                        );
                    }
                }
            }
        }
    }

    /// The channel set a flow's row carries, as the writer writes it and as migration
    /// 0006 derives it from the steps, for every combination; and `type` filters on it.
    #[tokio::test]
    async fn type_filters_see_every_channel_combination() {
        use Channel::{Sms, Viber, Voice};
        let (store, _dir) = store().await;
        let combos: [&[Channel]; 8] = [
            &[Sms],
            &[Viber],
            &[Voice],
            &[Viber, Sms],
            &[Sms, Voice],
            &[Viber, Voice],
            &[Viber, Sms, Voice],
            &[Sms, Sms],
        ];
        let mut flows: Vec<(FlowId, &[Channel])> = Vec::new();
        for (i, combo) in combos.iter().enumerate() {
            let steps: Vec<(Channel, &str)> = combo.iter().map(|c| (*c, "+306912345678")).collect();
            flows.push((
                add_steps(&store, "acc", i as i64 * 1000, &steps).await,
                combo,
            ));
        }
        add_steps(&store, "other", 0, &[(Viber, "+306912345678")]).await;
        let mut conn = store.readers().acquire().await.expect("a connection");
        for (id, combo) in &flows {
            let (written, derived): (i64, i64) = sqlx::query_as(
                "SELECT f.channels, (SELECT MAX(channel = 'Sms') | (MAX(channel = 'Viber') << 1) \
                 | (MAX(channel = 'Voice') << 2) FROM flow_steps WHERE flow_id = f.id) \
                 FROM flows f WHERE f.id = ?",
            )
            .bind(id.to_string())
            .fetch_one(&mut *conn)
            .await
            .expect("a flow");
            let expected = channel_set(combo.iter().copied());
            assert_eq!((written, derived), (expected, expected), "{combo:?}");
        }
        drop(conn);
        let newest_first = |keep: &dyn Fn(&[Channel]) -> bool| -> Vec<FlowId> {
            flows
                .iter()
                .rev()
                .filter(|(_, combo)| keep(combo))
                .map(|(id, _)| *id)
                .collect()
        };
        for channel in Channel::ALL {
            for op in [Equality::Is, Equality::IsNot] {
                let filter = Filter::Type { op, channel };
                let expected = newest_first(&|c| c.contains(&channel) == (op == Equality::Is));
                let (ids, total) = run(&store, &query(vec![filter.clone()])).await;
                assert_eq!(
                    (ids, total),
                    (expected.clone(), expected.len() as u64),
                    "{filter:?}"
                );
            }
        }
        let viber_not_sms = vec![
            Filter::Type {
                op: Equality::Is,
                channel: Viber,
            },
            Filter::Type {
                op: Equality::IsNot,
                channel: Sms,
            },
        ];
        let expected = newest_first(&|c| c.contains(&Viber) && !c.contains(&Sms));
        assert_eq!(run(&store, &query(viber_not_sms)).await, (expected, 2));
        let contradiction = vec![
            Filter::Type {
                op: Equality::Is,
                channel: Voice,
            },
            Filter::Type {
                op: Equality::IsNot,
                channel: Voice,
            },
        ];
        assert_eq!(run(&store, &query(contradiction)).await, (vec![], 0));
    }

    /// `totalElements` from the per-day counters equals the flows counted one by one,
    /// for date ranges on, next to and between midnights, after status changes.
    #[tokio::test]
    async fn counted_totals_hold_for_every_date_range() {
        use Channel::{Sms, Viber, Voice};
        let (store, _dir) = store().await;
        let midnight = T0 - T0.rem_euclid(DAY_MS);
        let hour = 3_600_000;
        let offsets = [
            -DAY_MS - 1,
            -DAY_MS,
            -hour,
            -1,
            0,
            1,
            5 * hour,
            DAY_MS - 1,
            DAY_MS,
            DAY_MS + 7 * hour,
            2 * DAY_MS + 1,
            3 * DAY_MS - 1,
        ];
        let combos: [&[Channel]; 3] = [&[Sms], &[Viber, Sms], &[Voice]];
        let statuses = [
            None,
            Some(FlowStatus::InProgress),
            Some(FlowStatus::Succeeded),
            Some(FlowStatus::Failed),
        ];
        for (i, offset) in offsets.iter().enumerate() {
            let steps: Vec<(Channel, &str)> = combos[i % 3]
                .iter()
                .map(|c| (*c, "+306912345678"))
                .collect();
            let id = add_steps(&store, "acc", midnight + offset - T0, &steps).await;
            if let Some(status) = statuses[i % 4] {
                set_status(&store, id, FlowStatus::InProgress).await;
                set_status(&store, id, status).await;
            }
            add_steps(&store, "other", midnight + offset - T0, &steps).await;
        }
        let bounds = [
            None,
            Some(midnight - 2 * DAY_MS),
            Some(midnight - DAY_MS),
            Some(midnight - 1),
            Some(midnight),
            Some(midnight + 1),
            Some(midnight + 3 * hour),
            Some(midnight + DAY_MS),
            Some(midnight + 2 * DAY_MS + 1),
            Some(midnight + 3 * DAY_MS),
        ];
        let filters = [
            vec![],
            vec![Filter::Status {
                op: Equality::Is,
                status: FlowStatus::Failed,
            }],
            vec![Filter::Type {
                op: Equality::Is,
                channel: Viber,
            }],
            vec![
                Filter::Type {
                    op: Equality::IsNot,
                    channel: Sms,
                },
                Filter::Status {
                    op: Equality::IsNot,
                    status: FlowStatus::Succeeded,
                },
            ],
        ];
        let mut counted = 0;
        for start in bounds {
            for end in bounds {
                if let (Some(s), Some(e)) = (start, end)
                    && s > e
                {
                    continue;
                }
                for filters in &filters {
                    let mut q = query(filters.clone());
                    q.date_start = start.map(Timestamp::from_millis);
                    q.date_end = end.map(Timestamp::from_millis);
                    let plan = Plan {
                        account_id: "acc",
                        query: &q,
                        driver: None,
                        steps: vec![Steps::Range; q.filters.len()],
                    };
                    counted += usize::from(plan.counts_query().is_some());
                    // run() checks the total against the rows.
                    run(&store, &q).await;
                }
            }
        }
        assert!(counted > 100, "the counters answered {counted} of them");
    }

    /// A store written before migration 0006 (its schema up to 0005, the same rows the
    /// writer wrote then) migrates to what the writer writes now: the channel sets, the
    /// counters and the trigram index (0006), the steps' weights (0010), and so the same
    /// search answers.
    #[tokio::test]
    async fn migrations_from_0006_bring_an_older_store_up_to_date() {
        use Channel::{Sms, Viber, Voice};
        use sqlx::Connection;
        use sqlx::sqlite::SqliteConnectOptions;

        let (store, dir) = store().await;
        let combos: [&[Channel]; 6] = [
            &[Sms],
            &[Viber, Sms],
            &[Viber, Sms, Voice],
            &[Voice],
            &[Sms, Sms],
            &[Viber],
        ];
        let numbers = ["+306912345678", "+306900000001", "+441234567890"];
        for i in 0..30_usize {
            // Every fifth flow's steps go to different recipients.
            let spread = usize::from(i % 5 == 4);
            let steps: Vec<(Channel, &str)> = combos[i % combos.len()]
                .iter()
                .enumerate()
                .map(|(k, c)| (*c, numbers[(i + k * spread) % numbers.len()]))
                .collect();
            let account = if i % 7 == 6 { "other" } else { "acc" };
            let id = add_steps(&store, account, (i as i64 - 10) * 9 * 3_600_000, &steps).await;
            match i % 4 {
                1 => set_status(&store, id, FlowStatus::InProgress).await,
                2 => set_status(&store, id, FlowStatus::Failed).await,
                3 => set_status(&store, id, FlowStatus::Succeeded).await,
                _ => {}
            }
        }

        let old = dir.path().join("old.db");
        let mut conn = SqliteConnection::connect_with(
            &SqliteConnectOptions::new()
                .filename(&old)
                .create_if_missing(true),
        )
        .await
        .expect("a new file");
        super::super::migrate::run_until(&mut conn, 5)
            .await
            .expect("0001–0005");
        let now = dir.path().join("search.db");
        sqlx::raw_sql(&format!(
            "ATTACH DATABASE '{}' AS a;
             INSERT INTO flows (id, account_id, application_id, status, termination_channel,
                 created_at, updated_at, state, event_seq, callback_seq)
             SELECT id, account_id, application_id, status, termination_channel,
                 created_at, updated_at, state, event_seq, callback_seq FROM a.flows ORDER BY rowid;
             INSERT INTO flow_definitions (id, definition) SELECT id, definition FROM a.flow_definitions;
             INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, created_at)
             SELECT flow_id, account_id, channel, recipient, recipient_rev, created_at
             FROM a.flow_steps ORDER BY id;
             DETACH DATABASE a;",
            now.display()
        ))
        .execute(&mut conn)
        .await
        .expect("the rows, as 0005 held them");
        super::super::migrate::run(&mut conn)
            .await
            .expect("0006 applies");
        conn.close().await.expect("closed");

        let migrated = SqliteStore::open(&SqliteConfig::new(format!("sqlite://{}", old.display())))
            .await
            .expect("the migrated store opens");
        let facts = [
            "SELECT id || ' ' || channels FROM flows ORDER BY id",
            "SELECT account_id || ' ' || day || ' ' || status || ' ' || channels || ' ' || n \
             FROM flow_counts WHERE n <> 0 ORDER BY account_id, day, status, channels",
            "SELECT r.account_id || ' ' || r.recipient FROM recipients_trigram t \
             CROSS JOIN recipients r ON r.id = t.rowid \
             WHERE t.recipients_trigram MATCH '\"000\" AND \"001\"' ORDER BY 1",
            "SELECT account_id || ' ' || recipient || ' ' || flows || ' ' || multi \
             FROM recipients ORDER BY 1",
            "SELECT name FROM sqlite_master WHERE type IN ('index', 'trigger') \
             AND name NOT LIKE 'sqlite_%' ORDER BY name",
            "SELECT sql FROM sqlite_master WHERE name LIKE 'flow_steps_recipient%' ORDER BY name",
            "SELECT id || ' ' || flow_id || ' ' || IFNULL(weight, 'several') FROM flow_steps \
             ORDER BY id",
        ];
        for sql in facts {
            let mut rows = Vec::new();
            for s in [&store, &migrated] {
                let mut conn = s.readers().acquire().await.expect("a connection");
                let got: Vec<String> = sqlx::query_scalar(sql)
                    .fetch_all(&mut *conn)
                    .await
                    .expect("rows");
                rows.push(got);
            }
            assert!(!rows[0].is_empty(), "{sql}");
            assert_eq!(rows[0], rows[1], "{sql}");
        }
        let searches = [
            vec![Filter::Type {
                op: Equality::Is,
                channel: Viber,
            }],
            vec![
                Filter::Type {
                    op: Equality::IsNot,
                    channel: Sms,
                },
                Filter::Status {
                    op: Equality::Is,
                    status: FlowStatus::Failed,
                },
            ],
            vec![to(TextOperator::Contains, "0000")],
            vec![to(TextOperator::StartsWith, "+3069")],
            vec![to(TextOperator::StartsWith, "+44")],
            vec![to(TextOperator::Is, "+306900000001")],
        ];
        for filters in searches {
            let q = query(filters);
            let before = run(&store, &q).await;
            assert_eq!(run(&migrated, &q).await, before, "{:?}", q.filters);
        }
        migrated.shutdown().await;
    }

    /// A trigram found in `common` recipients or more is left out of the `MATCH` when
    /// the term has rarer ones; the answers stay the same (`run` checks every mask).
    #[tokio::test]
    async fn common_trigrams_are_left_out_when_rarer_ones_remain() {
        let (store, _dir) = store().await;
        for i in 0..6 {
            add(&store, "acc", i, &[&format!("+30690000{i:03}")]).await;
        }
        add(&store, "acc", 10, &["+306912345678"]).await;
        let mut conn = store.readers().acquire().await.expect("a connection");
        // "069" is in all seven, "691" and "912" in one.
        let mask = selective_trigrams(&mut conn, "06912", 5)
            .await
            .expect("a mask");
        assert_eq!(mask, 0b110);
        assert_eq!(
            trigram_query("06912", mask).as_deref(),
            Some("\"691\" AND \"912\"")
        );
        // All common: all stay.
        let mask = selective_trigrams(&mut conn, "30690", 5)
            .await
            .expect("a mask");
        assert_eq!(mask, ALL_TRIGRAMS);
        // A trigram found nowhere is the rarest of all.
        let mask = selective_trigrams(&mut conn, "06977", 5)
            .await
            .expect("a mask");
        assert_eq!(mask, 0b110);
        // Nothing is left out under the threshold.
        let mask = selective_trigrams(&mut conn, "06912", 8)
            .await
            .expect("a mask");
        assert_eq!(mask, 0b111);
        drop(conn);
        for (term, expected) in [("06912", 1), ("0690000", 6), ("06977", 0)] {
            let (_, total) = run(&store, &query(vec![to(TextOperator::Contains, term)])).await;
            assert_eq!(total, expected, "{term}");
        }
    }

    #[test]
    fn trigram_queries_quote_every_trigram_once() {
        assert_eq!(trigram_query("12", ALL_TRIGRAMS), None);
        assert_eq!(
            trigram_query("123", ALL_TRIGRAMS).as_deref(),
            Some("\"123\"")
        );
        assert_eq!(
            trigram_query("12121", ALL_TRIGRAMS).as_deref(),
            Some("\"121\" AND \"212\"")
        );
        assert_eq!(
            trigram_query("a\"b*c", ALL_TRIGRAMS).as_deref(),
            Some("\"a\"\"b\" AND \"\"\"b*\" AND \"b*c\"")
        );
        // A mask picks among the distinct trigrams, in order.
        assert_eq!(trigram_query("12121", 0b10).as_deref(), Some("\"212\""));
        assert_eq!(
            trigram_query("123456", 0b1010).as_deref(),
            Some("\"234\" AND \"456\"")
        );
        assert_eq!(trigram_query("12345", 0), None);
        // Past the 64th, every trigram stays.
        let long: String = (0..70)
            .map(|i| char::from_u32(0x4E00 + i).expect("a character"))
            .collect();
        let kept = trigram_query(&long, 1).expect("some");
        assert_eq!(kept.matches(" AND ").count(), trigrams(&long).len() - 64);
    }
}
