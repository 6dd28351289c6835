//! `SearchStore` on PostgreSQL, on rows written straight into `flows`,
//! `flow_definitions` and `flow_steps` (as the PostgreSQL writer will write them: the
//! columns derived from the definition and state the way SQLite's writer derives them).
//!
//! Two kinds of checks: expected answers for each filter, operator, order, page and
//! date range (mirroring the API's search tests), and the same flows loaded into a
//! SQLite store, whose answers PostgreSQL must reproduce exactly, query for query.

use std::collections::{BTreeSet, HashMap};

use cascade_core::flow::{AcceptContext, FlowDefinition, TtlClock, parse_flow};
use cascade_core::machines::{FlowState, FlowStatus, StepPhase, StepState};
use cascade_core::pricing::{OperatorTable, PriceList};
use cascade_core::search::{
    Equality, Filter, PageSize, SearchQuery, SearchText, Sort, SortField, TextOperator,
    parse_search,
};
use cascade_core::{Channel, FlowId, Micros, Timestamp};
use cascade_store::postgres::{PgConfig, PgStore, cluster};
use cascade_store::sqlite::{SqliteConfig, SqliteStore};
use cascade_store::{Account, FlowStore, SearchStore, StoredFlow, TenancyStore};
use serde_json::{Value, json};
use sqlx::{PgPool, Postgres, QueryBuilder};

/// 2026-01-01T00:00:00Z, a UTC midnight.
const T0: i64 = 1_767_225_600_000;
const HOUR: i64 = 3_600_000;
const DAY: i64 = 86_400_000;

// --- flows -------------------------------------------------------------------------------

/// What a test flow is: its account, times (offsets from `T0`), steps, status, and the
/// index of the last step attempted (its channel is the flow's terminationChannel).
#[derive(Debug, Clone)]
struct Spec {
    account: &'static str,
    created: i64,
    updated: i64,
    steps: Vec<(Channel, String)>,
    status: FlowStatus,
    attempted: Option<usize>,
}

/// A `Queued` flow of `account` created (and last updated) at `T0 + created` with these
/// steps. A Voice recipient not starting with `+` is a SIP address.
fn spec(account: &'static str, created: i64, steps: &[(Channel, &str)]) -> Spec {
    Spec {
        account,
        created,
        updated: created,
        steps: steps.iter().map(|(c, to)| (*c, (*to).to_owned())).collect(),
        status: FlowStatus::Queued,
        attempted: None,
    }
}

impl Spec {
    fn ended(mut self, status: FlowStatus, attempted: usize) -> Spec {
        self.status = status;
        self.attempted = Some(attempted);
        self
    }

    fn updated(mut self, updated: i64) -> Spec {
        self.updated = updated;
        self
    }

    /// The definition (parsed from a request body, as the API does) and the state.
    fn build(&self) -> StoredFlow {
        let now = Timestamp::from_millis(T0 + self.created);
        let steps: Vec<Value> = self
            .steps
            .iter()
            .enumerate()
            .map(|(i, (channel, to))| match channel {
                Channel::Sms => json!({"type": "Sms", "order": i + 1, "from": "Cascade",
                    "to": to, "message": {"body": "Hi"}}),
                Channel::Viber => json!({"type": "Viber", "order": i + 1,
                    "senderInfoTrackingId": "snd-1", "to": to, "message": {"text": "Hi"}}),
                Channel::Voice => {
                    let to = if to.starts_with('+') {
                        json!({"phone": to})
                    } else {
                        json!({"sip": to})
                    };
                    json!({"type": "Voice", "order": i + 1, "from": "+306900000000", "to": to,
                        "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hi"}}]}})
                }
            })
            .collect();
        let senders = HashMap::from([("snd-1".to_owned(), "Brand".to_owned())]);
        let (prices, operators) = (PriceList::default(), OperatorTable::default());
        let ctx = AcceptContext {
            tracking_id: FlowId::new_v7(now.as_millis()),
            now,
            account_id: self.account,
            application_id: "app",
            viber_senders: &senders,
            prices: &prices,
            operators: &operators,
            ttl_clock: TtlClock::default(),
        };
        let definition = parse_flow(&json!({ "flow": steps }), &ctx)
            .unwrap_or_else(|e| panic!("{self:?} is not a valid flow: {e:?}"));
        let mut state = FlowState::new(now);
        state.status = self.status;
        state.updated_at = Timestamp::from_millis(T0 + self.updated);
        if let Some(i) = self.attempted {
            state.steps.push(StepState {
                order: definition.steps[i].order,
                phase: StepPhase::Sent,
                outcome: None,
                started_at: now,
                sent_at: Some(now),
                message_id: format!("msg-{}", definition.tracking_id),
                reserved: Micros::new(0),
                messages: Vec::new(),
            });
        }
        StoredFlow { definition, state }
    }
}

/// `flows.channels`: one bit per channel used by the steps.
fn channel_set(def: &FlowDefinition) -> i64 {
    def.steps
        .iter()
        .map(|s| match s.channel() {
            Channel::Sms => 1,
            Channel::Viber => 2,
            Channel::Voice => 4,
        })
        .fold(0, |set, bit| set | bit)
}

// --- stores ------------------------------------------------------------------------------

/// A PostgreSQL store on a new database, and a pool of its own for writing rows.
struct Pg {
    store: PgStore,
    pool: PgPool,
}

async fn pg() -> Pg {
    let url = cluster::fresh_database().await;
    let store = PgStore::open(&PgConfig::new(url.clone(), "search-tests"))
        .await
        .expect("the store opens");
    let pool = PgPool::connect(&url).await.expect("a pool");
    Pg { store, pool }
}

impl Pg {
    async fn insert(&self, flows: &[StoredFlow]) {
        insert(&self.pool, flows).await;
    }

    async fn add(&self, specs: &[Spec]) -> Vec<FlowId> {
        let flows: Vec<StoredFlow> = specs.iter().map(Spec::build).collect();
        self.insert(&flows).await;
        flows.iter().map(|f| f.definition.tracking_id).collect()
    }
}

/// Write the flows' rows in one transaction: the definition, the flow with the columns
/// search reads, and one `flow_steps` row per step (recipient lower case, also
/// reversed).
async fn insert(pool: &PgPool, flows: &[StoredFlow]) {
    let mut tx = pool.begin().await.expect("a transaction");
    for chunk in flows.chunks(500) {
        let mut q = QueryBuilder::<Postgres>::new("INSERT INTO flow_definitions (id, definition) ");
        q.push_values(chunk, |mut b, f| {
            b.push_bind(f.definition.tracking_id.to_string())
                .push_bind(serde_json::to_string(&f.definition).expect("JSON"));
        });
        q.build().execute(&mut *tx).await.expect("definitions");

        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO flows (id, account_id, application_id, status, termination_channel, \
                 created_at, updated_at, state, channels) ",
        );
        q.push_values(chunk, |mut b, f| {
            let (def, state) = (&f.definition, &f.state);
            b.push_bind(def.tracking_id.to_string())
                .push_bind(def.account_id.clone())
                .push_bind(def.application_id.clone())
                .push_bind(state.status.name())
                .push_bind(state.termination_channel(def).map(|c| c.name()))
                .push_bind(def.created_at.as_millis())
                .push_bind(state.updated_at.as_millis())
                .push_bind(serde_json::to_string(state).expect("JSON"))
                .push_bind(channel_set(def));
        });
        q.build().execute(&mut *tx).await.expect("flows");

        let steps: Vec<(&FlowDefinition, &cascade_core::flow::Step)> = chunk
            .iter()
            .flat_map(|f| f.definition.steps.iter().map(move |s| (&f.definition, s)))
            .collect();
        let mut q = QueryBuilder::<Postgres>::new(
            "INSERT INTO flow_steps (flow_id, account_id, channel, recipient, recipient_rev, \
                 created_at) ",
        );
        q.push_values(steps, |mut b, (def, step)| {
            let recipient = step.recipient().to_lowercase();
            let reversed: String = recipient.chars().rev().collect();
            b.push_bind(def.tracking_id.to_string())
                .push_bind(def.account_id.clone())
                .push_bind(step.channel().name())
                .push_bind(recipient)
                .push_bind(reversed)
                .push_bind(def.created_at.as_millis());
        });
        q.build().execute(&mut *tx).await.expect("steps");
    }
    tx.commit().await.expect("committed");
}

/// A SQLite store in a temporary directory, with the accounts the tests use.
async fn sqlite() -> (SqliteStore, tempfile::TempDir) {
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

// --- searching ---------------------------------------------------------------------------

/// The page's trackingIds and the total, after checking that the total agrees with the
/// page where the page shows it (a first page that is not full holds every match).
async fn run(store: &dyn SearchStore, account: &str, q: &SearchQuery) -> (Vec<FlowId>, u64) {
    let page = store
        .search(account, q)
        .await
        .unwrap_or_else(|e| panic!("{q:?}: {e}"));
    let ids: Vec<FlowId> = page
        .flows
        .iter()
        .map(|f| f.definition.tracking_id)
        .collect();
    assert!(ids.len() <= q.size.get() as usize, "{q:?}");
    for f in &page.flows {
        assert_eq!(
            f.definition.account_id, account,
            "{q:?}: another account's flow"
        );
    }
    if q.page == 0 && ids.len() < q.size.get() as usize {
        assert_eq!(
            page.total,
            ids.len() as u64,
            "{q:?}: the total and the rows"
        );
    }
    (ids, page.total)
}

fn query(filters: Vec<Filter>) -> SearchQuery {
    SearchQuery {
        size: PageSize::new(1000).expect("in range"),
        filters,
        ..SearchQuery::default()
    }
}

fn to(op: TextOperator, term: &str) -> Filter {
    Filter::To {
        op,
        term: SearchText::parse(term).expect("a term"),
    }
}

/// A query parsed from a request's parameters and body, as the API parses it.
fn parsed(params: &[(&str, &str)], body: Value) -> SearchQuery {
    let params: HashMap<String, String> = params
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    parse_search(&params, &body).unwrap_or_else(|e| panic!("{body}: {e:?}"))
}

fn filter(field: &str, op: &str, term: &str) -> Value {
    json!({"fieldName": field, "searchOperator": op, "searchTerm": term})
}

// --- expected answers --------------------------------------------------------------------

/// The flows of the API's search tests, plus one nothing was attempted for, and flows
/// of another account to the same recipients.
async fn seeded(db: &Pg) -> HashMap<&'static str, FlowId> {
    use Channel::{Sms, Viber, Voice};
    use FlowStatus::{Failed, InProgress, Succeeded};
    let named: Vec<(&'static str, Spec)> = vec![
        (
            "sms",
            spec("acc", 0, &[(Sms, "+306900000001")]).ended(Succeeded, 0),
        ),
        (
            "viber_sms",
            spec(
                "acc",
                1_000,
                &[(Viber, "+306900000002"), (Sms, "+306900000002")],
            )
            .ended(Succeeded, 1),
        ),
        (
            "voice",
            spec("acc", 2_000, &[(Voice, "+441234567890")]).ended(Succeeded, 0),
        ),
        (
            "failed",
            spec("acc", 3_000, &[(Sms, "+306900000004")]).ended(Failed, 0),
        ),
        (
            "sip",
            spec("acc", 4_000, &[(Voice, "Alice@Example.COM")]).ended(Succeeded, 0),
        ),
        (
            "pending",
            spec("acc", 5_000, &[(Sms, "+306900000006")]).ended(InProgress, 0),
        ),
        ("queued", spec("acc", 6_000, &[(Sms, "+306900000007")])),
        (
            "theirs",
            spec("other", 500, &[(Sms, "+306900000001")]).ended(Succeeded, 0),
        ),
        (
            "their_sip",
            spec("other", 4_500, &[(Voice, "alice@example.com")]).ended(Failed, 0),
        ),
    ];
    let specs: Vec<Spec> = named.iter().map(|(_, s)| s.clone()).collect();
    let ids = db.add(&specs).await;
    named.iter().map(|(n, _)| *n).zip(ids).collect()
}

fn names(ids: &[FlowId], named: &HashMap<&'static str, FlowId>) -> BTreeSet<&'static str> {
    ids.iter()
        .map(|id| {
            named
                .iter()
                .find(|(_, v)| *v == id)
                .map(|(n, _)| *n)
                .unwrap_or_else(|| panic!("unknown flow {id}"))
        })
        .collect()
}

fn set(names: &[&'static str]) -> BTreeSet<&'static str> {
    names.iter().copied().collect()
}

#[tokio::test]
async fn each_filter_and_operator_selects_its_flows_within_the_account() {
    let db = pg().await;
    let ids = seeded(&db).await;
    let all = set(&[
        "sms",
        "viber_sms",
        "voice",
        "failed",
        "sip",
        "pending",
        "queued",
    ]);
    let but = |excluded: &str| -> BTreeSet<&'static str> {
        all.iter().copied().filter(|n| *n != excluded).collect()
    };
    let voice = ids["voice"].to_string();
    let theirs = ids["theirs"].to_string();
    let sms_flows = set(&["sms", "viber_sms", "failed", "pending", "queued"]);
    let rows: Vec<(Value, BTreeSet<&'static str>)> = vec![
        (filter("type", "is", "Sms"), sms_flows.clone()),
        (filter("type", "is", "Viber"), set(&["viber_sms"])),
        (filter("type", "is", "Voice"), set(&["voice", "sip"])),
        (filter("type", "is_not", "Sms"), set(&["voice", "sip"])),
        (filter("type", "is_not", "Viber"), but("viber_sms")),
        (filter("type", "is_not", "Voice"), sms_flows.clone()),
        (filter("to", "is", "+306900000002"), set(&["viber_sms"])),
        (filter("to", "is_not", "+306900000002"), but("viber_sms")),
        (filter("to", "contains", "1234"), set(&["voice"])),
        (filter("to", "contains", "example"), set(&["sip"])),
        (filter("to", "starts_with", "+44"), set(&["voice"])),
        (
            filter("to", "starts_with", "+3069000000"),
            sms_flows.clone(),
        ),
        (filter("to", "ends_with", "0004"), set(&["failed"])),
        (filter("to", "ends_with", ".com"), set(&["sip"])),
        (filter("to", "is", "+3069"), set(&[])),
        (filter("to", "is_not", "+3069"), all.clone()),
        (filter("to", "contains", "+3069000000"), sms_flows.clone()),
        (filter("to", "contains", "7890"), set(&["voice"])),
        (filter("to", "ends_with", "+441234567890"), set(&["voice"])),
        (
            filter("status", "is", "Succeeded"),
            set(&["sms", "viber_sms", "voice", "sip"]),
        ),
        (filter("status", "is", "Failed"), set(&["failed"])),
        (filter("status", "is", "InProgress"), set(&["pending"])),
        (filter("status", "is", "Queued"), set(&["queued"])),
        (
            filter("status", "is_not", "Succeeded"),
            set(&["failed", "pending", "queued"]),
        ),
        (
            filter("terminationChannel", "is", "Sms"),
            set(&["sms", "viber_sms", "failed", "pending"]),
        ),
        (
            filter("terminationChannel", "is", "Voice"),
            set(&["voice", "sip"]),
        ),
        (filter("terminationChannel", "is", "Viber"), set(&[])),
        (
            filter("terminationChannel", "is_not", "Sms"),
            set(&["voice", "sip", "queued"]),
        ),
        (filter("terminationChannel", "is_not", "Viber"), all.clone()),
        (filter("trackingId", "is", &voice), set(&["voice"])),
        (filter("trackingId", "is_not", &voice), but("voice")),
        (filter("trackingId", "is", &theirs), set(&[])),
        (filter("trackingId", "is_not", &theirs), all.clone()),
        (
            json!({"fieldName": "to", "searchTerm": "+306900000004"}),
            set(&["failed"]),
        ),
        // Case-insensitive: names, operators and terms.
        (filter("TYPE", "IS", "sMs"), sms_flows.clone()),
        (filter("To", "Starts_With", "ALICE@example"), set(&["sip"])),
        (filter("to", "IS", "alice@EXAMPLE.com"), set(&["sip"])),
        (filter("to", "ENDS_WITH", "Example.Com"), set(&["sip"])),
        (filter("to", "contains", "CE@EX"), set(&["sip"])),
        (
            filter("trackingid", "is", &voice.to_uppercase()),
            set(&["voice"]),
        ),
    ];
    for (f, expected) in rows {
        let q = parsed(&[], json!([f]));
        let (found, total) = run(&db.store, "acc", &q).await;
        assert_eq!(names(&found, &ids), expected, "{f}");
        assert_eq!(total, expected.len() as u64, "{f}");
    }

    // The other account sees its own two flows only, whatever the filter.
    let (found, total) = run(&db.store, "other", &query(vec![])).await;
    assert_eq!(
        (names(&found, &ids), total),
        (set(&["theirs", "their_sip"]), 2)
    );
    let q = parsed(&[], json!([filter("to", "contains", "example")]));
    let (found, total) = run(&db.store, "other", &q).await;
    assert_eq!((names(&found, &ids), total), (set(&["their_sip"]), 1));
    let (found, total) = run(&db.store, "nobody", &query(vec![])).await;
    assert_eq!((found, total), (vec![], 0));
}

#[tokio::test]
async fn filters_are_anded_each_to_filter_on_any_step() {
    let db = pg().await;
    let ids = seeded(&db).await;
    let cases: Vec<(Value, BTreeSet<&'static str>)> = vec![
        (
            json!([
                filter("type", "is", "Sms"),
                filter("status", "is", "Succeeded")
            ]),
            set(&["sms", "viber_sms"]),
        ),
        (
            json!([
                filter("type", "is", "Sms"),
                filter("status", "is_not", "Failed"),
                filter("to", "starts_with", "+30690000000"),
                filter("to", "is_not", "+306900000006"),
            ]),
            set(&["sms", "viber_sms", "queued"]),
        ),
        // One step of viber_sms is Viber, another Sms: both hold.
        (
            json!([filter("type", "is", "Viber"), filter("type", "is", "Sms")]),
            set(&["viber_sms"]),
        ),
        (
            json!([
                filter("type", "is", "Voice"),
                filter("type", "is_not", "Voice")
            ]),
            set(&[]),
        ),
        (
            json!([
                filter("to", "starts_with", "+3069"),
                filter("to", "ends_with", "0002"),
                filter("terminationChannel", "is", "Sms"),
            ]),
            set(&["viber_sms"]),
        ),
        (
            json!([
                filter("to", "contains", "0000"),
                filter("to", "is_not", "+306900000001"),
                filter("to", "is_not", "+306900000002"),
            ]),
            set(&["failed", "pending", "queued"]),
        ),
        (
            json!([
                filter("to", "contains", "example"),
                filter("to", "contains", "1234"),
            ]),
            set(&[]),
        ),
        (
            json!([
                filter("status", "is_not", "Succeeded"),
                filter("status", "is_not", "Queued"),
                filter("trackingId", "is_not", &ids["failed"].to_string()),
            ]),
            set(&["pending"]),
        ),
    ];
    for (body, expected) in cases {
        let (found, total) = run(&db.store, "acc", &parsed(&[], body.clone())).await;
        assert_eq!(names(&found, &ids), expected, "{body}");
        assert_eq!(total, expected.len() as u64, "{body}");
    }
}

/// Recipients holding `%`, `_` and `\` (SIP users may) are matched character for
/// character: the pattern characters of `LIKE` are never wildcards here.
#[tokio::test]
async fn like_pattern_characters_in_terms_match_only_themselves() {
    use Channel::Voice;
    let db = pg().await;
    let users = ["a%b", "a_b", "axb", "ab", r"a\b", r"q\%z", "100%", "x__y"];
    let specs: Vec<Spec> = users
        .iter()
        .enumerate()
        .map(|(i, u)| spec("acc", i as i64, &[(Voice, &format!("{u}@x.com"))]))
        .collect();
    let ids = db.add(&specs).await;
    let by_user: HashMap<&str, FlowId> = users.iter().copied().zip(ids).collect();
    let cases: Vec<(Filter, Vec<&str>)> = vec![
        (
            to(TextOperator::Contains, "%"),
            vec!["a%b", r"q\%z", "100%"],
        ),
        (to(TextOperator::Contains, "_"), vec!["a_b", "x__y"]),
        (to(TextOperator::Contains, "__"), vec!["x__y"]),
        (to(TextOperator::Contains, "a_b"), vec!["a_b"]),
        (to(TextOperator::Contains, "a%b"), vec!["a%b"]),
        (to(TextOperator::Contains, r"\"), vec![r"a\b", r"q\%z"]),
        (to(TextOperator::Contains, r"\%"), vec![r"q\%z"]),
        (to(TextOperator::Contains, r"a\b"), vec![r"a\b"]),
        (to(TextOperator::Contains, "%@"), vec!["100%"]),
        (to(TextOperator::StartsWith, "a%"), vec!["a%b"]),
        (to(TextOperator::StartsWith, "a_"), vec!["a_b"]),
        (to(TextOperator::StartsWith, r"a\"), vec![r"a\b"]),
        (to(TextOperator::StartsWith, "%"), vec![]),
        (to(TextOperator::StartsWith, "_"), vec![]),
        (to(TextOperator::EndsWith, "%@x.com"), vec!["100%"]),
        (to(TextOperator::EndsWith, "_b@x.com"), vec!["a_b"]),
        (to(TextOperator::EndsWith, r"\b@x.com"), vec![r"a\b"]),
        (to(TextOperator::EndsWith, "%"), vec![]),
        (to(TextOperator::Is, "a_b@x.com"), vec!["a_b"]),
        (to(TextOperator::Is, "a%b@x.com"), vec!["a%b"]),
        (
            to(TextOperator::IsNot, "a_b@x.com"),
            users.iter().copied().filter(|u| *u != "a_b").collect(),
        ),
    ];
    for (f, expected) in cases {
        let (found, total) = run(&db.store, "acc", &query(vec![f.clone()])).await;
        let found: BTreeSet<FlowId> = found.into_iter().collect();
        let expected: BTreeSet<FlowId> = expected.iter().map(|u| by_user[u]).collect();
        assert_eq!(found, expected, "{f:?}");
        assert_eq!(total, expected.len() as u64, "{f:?}");
    }
}

/// Terms are matched case-insensitively, beyond ASCII too, and terms under 3 characters
/// (which the trigram index cannot serve) still find every match.
#[tokio::test]
async fn matching_ignores_case_and_short_terms_are_found() {
    use Channel::{Sms, Voice};
    let db = pg().await;
    let ids = db
        .add(&[
            spec("acc", 0, &[(Sms, "+306912345678")]),
            spec("acc", 1, &[(Sms, "+306900000001"), (Sms, "+306912345678")]),
            spec("acc", 2, &[(Sms, "+441234567890")]),
            spec("acc", 3, &[(Voice, "ΣΟΦΙΑ@Example.COM")]),
            spec("acc", 4, &[(Voice, "Zoë.Ünal@pbx.local")]),
            spec("other", 5, &[(Sms, "+306912345678")]),
        ])
        .await;
    let [a, b, c, sofia, zoe, _] = ids[..] else {
        unreachable!()
    };
    let cases: Vec<(Filter, Vec<FlowId>)> = vec![
        (to(TextOperator::Contains, "56"), vec![c, b, a]),
        (to(TextOperator::Contains, "90"), vec![c, b]),
        (to(TextOperator::Contains, "7"), vec![c, b, a]),
        (to(TextOperator::Contains, "+"), vec![c, b, a]),
        (to(TextOperator::Contains, "00"), vec![b]),
        (to(TextOperator::Contains, "@"), vec![zoe, sofia]),
        (to(TextOperator::Contains, "ΟΦ"), vec![sofia]),
        (to(TextOperator::Contains, "ë"), vec![zoe]),
        (to(TextOperator::Contains, "Ë.Ü"), vec![zoe]),
        (to(TextOperator::StartsWith, "Σοφ"), vec![sofia]),
        (to(TextOperator::StartsWith, "ZOË"), vec![zoe]),
        (to(TextOperator::EndsWith, "ΦΙΑ@EXAMPLE.com"), vec![sofia]),
        (to(TextOperator::EndsWith, "ünal@PBX.LOCAL"), vec![zoe]),
        (to(TextOperator::Is, "σοφια@example.com"), vec![sofia]),
        (to(TextOperator::Is, "ΣΟΦΙΑ@EXAMPLE.COM"), vec![sofia]),
        (
            to(TextOperator::IsNot, "Zoë.Ünal@PBX.local"),
            vec![sofia, c, b, a],
        ),
        (to(TextOperator::StartsWith, "+"), vec![c, b, a]),
        (to(TextOperator::EndsWith, "8"), vec![b, a]),
        (to(TextOperator::EndsWith, "01"), vec![b]),
    ];
    for (f, expected) in cases {
        let (found, total) = run(&db.store, "acc", &query(vec![f.clone()])).await;
        assert_eq!(found, expected, "{f:?}");
        assert_eq!(total, expected.len() as u64, "{f:?}");
    }
}

/// A term holding NUL (which the request parser lets through) can match no recipient;
/// PostgreSQL cannot even be sent one, so it must be answered without failing.
#[tokio::test]
async fn a_term_with_a_nul_character_matches_nothing_and_does_not_fail() {
    let db = pg().await;
    let ids = db
        .add(&[
            spec("acc", 0, &[(Channel::Sms, "+306912345678")]),
            spec("acc", 1, &[(Channel::Sms, "+306912345679")]),
        ])
        .await;
    for op in [
        TextOperator::Is,
        TextOperator::Contains,
        TextOperator::StartsWith,
        TextOperator::EndsWith,
    ] {
        let q = query(vec![to(op, "+3069\u{0}1")]);
        assert_eq!(run(&db.store, "acc", &q).await, (vec![], 0), "{op:?}");
    }
    let q = query(vec![to(TextOperator::IsNot, "+3069\u{0}1")]);
    assert_eq!(run(&db.store, "acc", &q).await, (vec![ids[1], ids[0]], 2));
}

/// Every order is by its timestamp then trackingId, in one direction; pages of it show
/// each flow once, and a page past the end is empty but counts them all.
#[tokio::test]
async fn every_order_is_total_and_pages_walk_it_once() {
    use Channel::Sms;
    let db = pg().await;
    // Equal creation times (ordered by trackingId, whose random part decides), and
    // update times in another order, with a tie too.
    let specs: Vec<Spec> = [
        (0, 50),
        (0, 10),
        (1_000, 10),
        (1_000, 70),
        (1_000, 5),
        (2_000, 2_500),
        (3_000, 3_000),
    ]
    .iter()
    .enumerate()
    .map(|(i, (created, updated))| {
        spec("acc", *created, &[(Sms, &format!("+30691234567{i}"))]).updated(*updated)
    })
    .collect();
    let flows: Vec<StoredFlow> = specs.iter().map(Spec::build).collect();
    db.insert(&flows).await;
    db.add(&[spec("other", 500, &[(Sms, "+306912345670")])])
        .await;

    for (field, descending) in [
        (SortField::CreatedAt, true),
        (SortField::CreatedAt, false),
        (SortField::UpdatedAt, true),
        (SortField::UpdatedAt, false),
    ] {
        let mut keyed: Vec<(i64, String, FlowId)> = flows
            .iter()
            .map(|f| {
                let at = match field {
                    SortField::CreatedAt => f.definition.created_at,
                    SortField::UpdatedAt => f.state.updated_at,
                };
                let id = f.definition.tracking_id;
                (at.as_millis(), id.to_string(), id)
            })
            .collect();
        keyed.sort();
        if descending {
            keyed.reverse();
        }
        let expected: Vec<FlowId> = keyed.into_iter().map(|(_, _, id)| id).collect();
        let sort = Sort { field, descending };
        let mut seen = Vec::new();
        for page in 0..4 {
            let q = SearchQuery {
                page,
                size: PageSize::new(2).expect("in range"),
                sort,
                ..SearchQuery::default()
            };
            let (ids, total) = run(&db.store, "acc", &q).await;
            assert_eq!(total, 7, "{sort:?} page {page}");
            assert_eq!(
                ids.len(),
                if page < 3 { 2 } else { 1 },
                "{sort:?} page {page}"
            );
            seen.extend(ids);
        }
        assert_eq!(seen, expected, "{sort:?}");
        let past = SearchQuery {
            page: 9,
            size: PageSize::new(2).expect("in range"),
            sort,
            ..SearchQuery::default()
        };
        assert_eq!(run(&db.store, "acc", &past).await, (vec![], 7));
        let far = SearchQuery {
            page: u32::MAX,
            size: PageSize::new(1000).expect("in range"),
            sort,
            ..SearchQuery::default()
        };
        assert_eq!(run(&db.store, "acc", &far).await, (vec![], 7));
    }
    // The default: createdAt,desc, 10 a page.
    let (ids, total) = run(&db.store, "acc", &SearchQuery::default()).await;
    assert_eq!(total, 7);
    assert_eq!(ids.first(), Some(&flows[6].definition.tracking_id));
}

/// Totals over date ranges on, next to and between midnights, with and without the
/// filters the per-day counters answer, before and after flows change status (the
/// counters follow through their triggers): each equals the flows listed.
#[tokio::test]
async fn totals_hold_for_every_date_range_and_after_status_changes() {
    use Channel::{Sms, Viber, Voice};
    use FlowStatus::{Failed, InProgress, Succeeded};
    let db = pg().await;
    let offsets = [
        -DAY - 1,
        -DAY,
        -HOUR,
        -1,
        0,
        1,
        5 * HOUR,
        DAY - 1,
        DAY,
        DAY + 7 * HOUR,
        2 * DAY + 1,
        3 * DAY - 1,
    ];
    let combos: [&[Channel]; 3] = [&[Sms], &[Viber, Sms], &[Voice]];
    let statuses = [None, Some(InProgress), Some(Succeeded), Some(Failed)];
    let mut specs = Vec::new();
    for (i, offset) in offsets.iter().enumerate() {
        let steps: Vec<(Channel, &str)> = combos[i % 3]
            .iter()
            .map(|c| (*c, "+306912345678"))
            .collect();
        let mut s = spec("acc", *offset, &steps);
        if let Some(status) = statuses[i % 4] {
            s = s.ended(status, 0);
        }
        specs.push(s.clone());
        s.account = "other";
        specs.push(s);
    }
    db.add(&specs).await;
    let bounds = [
        None,
        Some(-2 * DAY),
        Some(-DAY),
        Some(-1),
        Some(0),
        Some(1),
        Some(3 * HOUR),
        Some(DAY),
        Some(2 * DAY + 1),
        Some(3 * DAY),
    ];
    let filter_sets = [
        vec![],
        vec![Filter::Status {
            op: Equality::Is,
            status: Failed,
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
                status: Succeeded,
            },
        ],
        vec![to(TextOperator::StartsWith, "+3069")],
    ];
    let check = |label: &'static str| {
        let db = &db;
        let bounds = &bounds;
        let filter_sets = &filter_sets;
        async move {
            for start in bounds {
                for end in bounds {
                    if let (Some(s), Some(e)) = (start, end)
                        && s > e
                    {
                        continue;
                    }
                    for filters in filter_sets {
                        let mut q = query(filters.clone());
                        q.date_start = start.map(|s| Timestamp::from_millis(T0 + s));
                        q.date_end = end.map(|e| Timestamp::from_millis(T0 + e));
                        // run() checks the total against the rows listed.
                        let (ids, _) = run(&db.store, "acc", &q).await;
                        let mut q2 = q.clone();
                        q2.sort.descending = false;
                        let (mut asc, _) = run(&db.store, "acc", &q2).await;
                        asc.reverse();
                        assert_eq!(ids, asc, "{label}: {q:?}");
                    }
                }
            }
        }
    };
    check("as written").await;
    sqlx::query("UPDATE flows SET status = 'Failed' WHERE status = 'InProgress'")
        .execute(&db.pool)
        .await
        .expect("statuses");
    sqlx::query(
        "UPDATE flows SET status = 'Succeeded' WHERE status = 'Queued' AND created_at % 2 = 0",
    )
    .execute(&db.pool)
    .await
    .expect("statuses");
    check("after status changes").await;
}

/// The page and the total come from one snapshot: while flows are being written, every
/// first page that is not full still lists exactly as many flows as it counts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_page_and_the_total_see_one_snapshot() {
    let db = pg().await;
    let pool = db.pool.clone();
    let writer = tokio::spawn(async move {
        for i in 0..300 {
            let flow = spec("acc", i, &[(Channel::Sms, "+306912345678")]).build();
            insert(&pool, &[flow]).await;
        }
    });
    // Search at least once, and for as long as the writer writes.
    loop {
        let writing = !writer.is_finished();
        for q in [
            query(vec![]),
            query(vec![to(TextOperator::Contains, "2345")]),
        ] {
            // run() asserts total == listed flows for a first page that is not full.
            run(&db.store, "acc", &q).await;
        }
        if !writing {
            break;
        }
    }
    writer.await.expect("the writer");
    let (ids, total) = run(&db.store, "acc", &query(vec![])).await;
    assert_eq!((ids.len(), total), (300, 300));
}

// --- the same answers as SQLite ----------------------------------------------------------

/// A few thousand varied flows over five days in two accounts, with shared creation
/// times, every channel combination and status, phone and SIP recipients.
fn corpus() -> Vec<Spec> {
    use Channel::{Sms, Viber, Voice};
    use FlowStatus::{Failed, InProgress, Succeeded};
    let sips = [
        "Alice@Example.COM",
        "a%b@x.com",
        "a_b@x.com",
        "axb@x.com",
        r"q\%z@x.com",
        "bob@pbx.local:5060",
    ];
    let fixed = ["+306912345678", "+441234567890", "+306900000001"];
    let combos: [&[Channel]; 7] = [
        &[Sms],
        &[Viber, Sms],
        &[Voice],
        &[Sms, Voice],
        &[Viber],
        &[Viber, Sms, Voice],
        &[Sms, Sms],
    ];
    (0..2_400_i64)
        .map(|i| {
            let account = if i % 9 == 8 { "other" } else { "acc" };
            // 480 instants over five days, each shared by about five flows.
            let created = -2 * DAY + (i * 37 % 480) * (DAY / 96) + i % 3;
            let updated = created + (i * 13 % 17) * HOUR;
            let combo = combos[(i % 7) as usize];
            let steps: Vec<(Channel, String)> = combo
                .iter()
                .enumerate()
                .map(|(k, channel)| {
                    let n = i + k as i64;
                    let phone = if n % 5 == 0 {
                        fixed[(n / 5 % 3) as usize].to_owned()
                    } else {
                        format!("+30691{:07}", (n * 7_919) % 10_000_000)
                    };
                    let to = match channel {
                        Voice if n % 2 == 0 => sips[(n / 2 % 6) as usize].to_owned(),
                        _ => phone,
                    };
                    (*channel, to)
                })
                .collect();
            let steps_ref: Vec<(Channel, &str)> =
                steps.iter().map(|(c, t)| (*c, t.as_str())).collect();
            let s = spec(account, created, &steps_ref).updated(updated);
            let last = steps.len() - 1;
            match i % 4 {
                1 => s.ended(InProgress, 0),
                2 => s.ended(Succeeded, last),
                3 => s.ended(Failed, (i as usize / 4) % steps.len()),
                _ => s,
            }
        })
        .collect()
}

/// The queries compared: every filter alone, pairs of them, date ranges, orders, pages.
fn queries(mine: FlowId, theirs: FlowId) -> Vec<SearchQuery> {
    let terms = [
        "+306912345678",
        "+3069",
        "+30691",
        "5678",
        "0000",
        "56",
        "7",
        "+",
        "example",
        "alice@example.com",
        "+44",
        ".com",
        "a%b",
        "_",
        r"\%",
        "%",
        ":5060",
        "zz",
        "1234567",
    ];
    let ops = [
        TextOperator::Is,
        TextOperator::IsNot,
        TextOperator::Contains,
        TextOperator::StartsWith,
        TextOperator::EndsWith,
    ];
    let to_filters: Vec<Filter> = terms
        .iter()
        .flat_map(|t| ops.iter().map(move |op| to(*op, t)))
        .collect();
    let mut flow_filters = Vec::new();
    for op in [Equality::Is, Equality::IsNot] {
        for channel in Channel::ALL {
            flow_filters.push(Filter::Type { op, channel });
            flow_filters.push(Filter::TerminationChannel { op, channel });
        }
        for status in [
            FlowStatus::Queued,
            FlowStatus::InProgress,
            FlowStatus::Succeeded,
            FlowStatus::Failed,
        ] {
            flow_filters.push(Filter::Status { op, status });
        }
        for id in [mine, theirs] {
            flow_filters.push(Filter::TrackingId { op, id });
        }
    }
    let mut out: Vec<SearchQuery> = vec![query(vec![])];
    for f in to_filters.iter().chain(&flow_filters) {
        out.push(query(vec![f.clone()]));
    }
    // Pairs: a sample of `to` filters with every other filter, and `to` with `to`.
    for (i, a) in to_filters.iter().enumerate().filter(|(i, _)| i % 4 == 0) {
        for (j, b) in flow_filters.iter().enumerate() {
            if (i + j) % 3 == 0 {
                out.push(query(vec![a.clone(), b.clone()]));
            }
        }
        for b in to_filters.iter().skip(i % 7).step_by(9) {
            out.push(query(vec![a.clone(), b.clone()]));
        }
    }
    for (i, a) in flow_filters.iter().enumerate() {
        for b in flow_filters.iter().skip(i + 1).step_by(5) {
            out.push(query(vec![a.clone(), b.clone()]));
        }
    }
    // Date ranges, on and off midnights, with the filters the counters answer and not.
    let bounds = [
        None,
        Some(-2 * DAY),
        Some(-DAY - 1),
        Some(-7 * HOUR),
        Some(0),
        Some(1),
        Some(DAY + 5 * HOUR),
        Some(2 * DAY),
        Some(3 * DAY - 1),
    ];
    let ranged = [
        vec![],
        vec![Filter::Status {
            op: Equality::IsNot,
            status: FlowStatus::Failed,
        }],
        vec![
            Filter::Type {
                op: Equality::Is,
                channel: Channel::Viber,
            },
            Filter::Type {
                op: Equality::IsNot,
                channel: Channel::Voice,
            },
        ],
        vec![to(TextOperator::StartsWith, "+3069")],
        vec![to(TextOperator::Contains, "x.com")],
        vec![Filter::TerminationChannel {
            op: Equality::IsNot,
            channel: Channel::Sms,
        }],
    ];
    for start in bounds {
        for end in bounds {
            if let (Some(s), Some(e)) = (start, end)
                && s > e
            {
                continue;
            }
            for filters in &ranged {
                let mut q = query(filters.clone());
                q.date_start = start.map(|s| Timestamp::from_millis(T0 + s));
                q.date_end = end.map(|e| Timestamp::from_millis(T0 + e));
                out.push(q);
            }
        }
    }
    // Orders and pages.
    for field in [SortField::CreatedAt, SortField::UpdatedAt] {
        for descending in [true, false] {
            for filters in [
                vec![],
                vec![to(TextOperator::Contains, "34")],
                vec![Filter::Status {
                    op: Equality::Is,
                    status: FlowStatus::Succeeded,
                }],
            ] {
                for (page, size) in [(0, 7), (1, 7), (5, 7), (3, 100), (2, 1000), (400, 5)] {
                    let mut q = query(filters.clone());
                    q.sort = Sort { field, descending };
                    q.page = page;
                    q.size = PageSize::new(size).expect("in range");
                    out.push(q);
                }
            }
        }
    }
    out
}

/// PostgreSQL answers every query of [`queries`] as SQLite does, with statistics
/// gathered (so the planner is free to pick indexes) and for both accounts.
#[tokio::test]
async fn every_search_answers_as_sqlite_does() {
    let flows: Vec<StoredFlow> = corpus().iter().map(Spec::build).collect();
    let db = pg().await;
    db.insert(&flows).await;
    sqlx::query("ANALYZE")
        .execute(&db.pool)
        .await
        .expect("statistics");
    let (lite, _dir) = sqlite().await;
    lite.import_flows(flows.clone()).await.expect("imported");

    let mine = flows[10].definition.tracking_id;
    let theirs = flows[8].definition.tracking_id;
    assert_eq!(flows[8].definition.account_id, "other");
    let qs = queries(mine, theirs);
    let mut nonempty = 0;
    for q in &qs {
        for account in ["acc", "other"] {
            let expected = run(&lite, account, q).await;
            let got = run(&db.store, account, q).await;
            assert_eq!(got, expected, "{account}: {q:?}");
            nonempty += usize::from(!expected.0.is_empty());
        }
    }
    // The comparison is worth something only if most searches find flows.
    assert!(
        nonempty > qs.len(),
        "{nonempty} of {} searches found flows",
        2 * qs.len()
    );
    // The page's flows are read back whole: definition and state as written.
    let by_id: HashMap<FlowId, &StoredFlow> = flows
        .iter()
        .map(|f| (f.definition.tracking_id, f))
        .collect();
    let page = db
        .store
        .search("acc", &query(vec![]))
        .await
        .expect("a page");
    assert_eq!(page.flows.len(), 1000);
    for f in &page.flows {
        let written = by_id[&f.definition.tracking_id];
        assert_eq!(f.definition, written.definition);
        assert_eq!(f.state, written.state);
    }
    lite.shutdown().await;
}
