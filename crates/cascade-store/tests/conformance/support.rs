//! Fresh stores and the flows the cases use.

use std::collections::HashMap;
use std::sync::Arc;

use cascade_core::flow::{AcceptContext, FlowDefinition, parse_flow};
use cascade_core::pricing::{OperatorTable, PriceList};
use cascade_core::ttl::TtlClock;
use cascade_core::{FlowId, Micros, Timestamp};
use cascade_store::sqlite::{SqliteConfig, SqliteStore};
use cascade_store::{Account, Application, Store, StoredFlow};
use serde_json::{Value, json};

/// 2026-01-01T00:00:00Z: every case runs at this time and after.
pub const T0: i64 = 1_767_225_600_000;

pub fn at(offset_ms: i64) -> Timestamp {
    Timestamp::from_millis(T0 + offset_ms)
}

/// A store and whatever keeps it alive (a temporary directory).
pub struct Opened {
    pub store: Arc<dyn Store>,
    pub keep: Box<dyn std::any::Any + Send>,
}

/// SQLite in a temporary directory, opened as its server.
pub async fn sqlite() -> Opened {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let url = format!("sqlite://{}", dir.path().join("cascade.db").display());
    let store = SqliteStore::open(&SqliteConfig::new(url).as_owner())
        .await
        .expect("the store opens");
    Opened {
        store: Arc::new(store),
        keep: Box::new(dir),
    }
}

/// PostgreSQL: a fresh database on the test server (a throwaway cluster, or
/// `CASCADE_TEST_DATABASE_URL`).
pub async fn postgres() -> Opened {
    use cascade_store::postgres::{PgConfig, PgStore, cluster};
    let url = cluster::fresh_database().await;
    let store = PgStore::open(&PgConfig::new(url, "conformance"))
        .await
        .expect("the store opens");
    Opened {
        store: Arc::new(store),
        keep: Box::new(()),
    }
}

/// A store with one account (100 EUR) and an application in it.
pub struct Fixture {
    pub store: Arc<dyn Store>,
    pub account: String,
    pub application: String,
    _keep: Box<dyn std::any::Any + Send>,
}

impl Fixture {
    pub async fn new(opened: Opened) -> Fixture {
        let store = opened.store;
        let account = new_account(&*store, "acc-1").await;
        let application = new_application(&*store, &account, "app-1").await;
        Fixture {
            store,
            account,
            application,
            _keep: opened.keep,
        }
    }

    /// A flow of this fixture's account, parsed as the API parses it, created at `now`.
    pub fn flow(&self, body: Value, now: Timestamp) -> FlowDefinition {
        self.flow_of(&self.account, body, now)
    }

    pub fn flow_of(&self, account: &str, body: Value, now: Timestamp) -> FlowDefinition {
        let ctx = AcceptContext {
            tracking_id: FlowId::new_v7(now.as_millis()),
            now,
            account_id: account,
            application_id: &self.application,
            viber_senders: &HashMap::new(),
            prices: &PriceList::default(),
            operators: &OperatorTable::default(),
            ttl_clock: TtlClock::default(),
        };
        parse_flow(&body, &ctx).expect("a valid flow")
    }

    pub async fn stored(&self, id: FlowId) -> StoredFlow {
        self.store
            .flow(&self.account, id)
            .await
            .expect("the store answers")
            .expect("the flow exists")
    }
}

pub async fn new_account(store: &dyn Store, id: &str) -> String {
    store
        .create_account(&Account {
            id: id.to_owned(),
            name: format!("Account {id}"),
            balance: Micros::from_decimal(100.0).expect("a balance"),
            currency: "EUR".into(),
            created_at: at(0),
        })
        .await
        .expect("the account is created");
    id.to_owned()
}

pub async fn new_application(store: &dyn Store, account: &str, id: &str) -> String {
    store
        .create_application(&Application {
            id: id.to_owned(),
            account_id: account.to_owned(),
            name: "tests".into(),
            secret_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
            scopes: vec!["failover".into(), "sms".into()],
            token_lifetime_s: 3600,
            webhook_secret: "whsec".into(),
            rate_limit: None,
            created_at: at(0),
        })
        .await
        .expect("the application is created");
    id.to_owned()
}

/// A one-step SMS flow (TTL in minutes) to `to`.
pub fn sms_to(to: &str, ttl_minutes: u32) -> Value {
    json!({"flow": [{"type": "Sms", "order": 1, "from": "Cascade", "to": to,
        "ttl": ttl_minutes, "message": {"body": "Hello"}}]})
}

pub fn sms(ttl_minutes: u32) -> Value {
    sms_to("+306912345678", ttl_minutes)
}

/// SMS then Voice.
pub fn sms_then_voice() -> Value {
    json!({"flow": [
        {"type": "Sms", "order": 1, "from": "Cascade", "to": "+306912345678", "ttl": 1,
         "message": {"body": "Hello"}},
        {"type": "Voice", "order": 2, "from": "+306900000000", "to": "+306912345678",
         "dialPlan": {"verbs": [{"type": "SAY", "message": {"text": "Hello"}}]}}]})
}

pub fn with_callback(mut body: Value, strategy: &str) -> Value {
    body["callback"] = json!({"strategy": strategy, "url": "https://hooks.example.com/c"});
    body
}
