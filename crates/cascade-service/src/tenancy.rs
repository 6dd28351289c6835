//! Accounts, applications and Viber senders: the operations behind the admin API and the
//! `cascade admin` commands, with their rules in one place.

use std::sync::Arc;

use cascade_core::flow::ValidationErrors;
use cascade_core::{Micros, Timestamp};
use cascade_store::{Account, Application, RateLimit, Store, StoreError, ViberSender};
use secrecy::{ExposeSecret, SecretString};

use crate::credentials::{hash_secret, random_secret, token_digest};

/// Every scope an application can hold, with the permission each grants.
pub const SCOPES: [(&str, &str); 5] = [
    ("failover", "MT_ROLE_FAILOVER"),
    ("sms", "MT_ROLE_SMS"),
    ("viber", "MT_ROLE_VIBER"),
    ("voice", "MT_ROLE_VOICE"),
    ("account", "MT_ROLE_ACCOUNT_FINANCE"),
];

/// The permission name a scope grants.
pub fn permission(scope: &str) -> Option<&'static str> {
    SCOPES.iter().find(|(s, _)| *s == scope).map(|(_, p)| *p)
}

pub const DEFAULT_TOKEN_LIFETIME_S: u32 = 3600;
const MAX_TOKEN_LIFETIME_S: u32 = 7 * 24 * 3600;
const MIN_TOKEN_LIFETIME_S: u32 = 1;

/// ISO 4217 currencies Cascade knows the name and sign of.
const CURRENCIES: &[(&str, &str, &str)] = &[
    ("EUR", "Euro", "€"),
    ("USD", "US Dollar", "$"),
    ("GBP", "Pound Sterling", "£"),
    ("CHF", "Swiss Franc", "CHF"),
    ("SEK", "Swedish Krona", "kr"),
    ("NOK", "Norwegian Krone", "kr"),
    ("DKK", "Danish Krone", "kr"),
    ("PLN", "Zloty", "zł"),
    ("HUF", "Forint", "Ft"),
    ("CZK", "Czech Koruna", "Kč"),
    ("RON", "Romanian Leu", "lei"),
    ("BGN", "Bulgarian Lev", "лв"),
    ("TRY", "Turkish Lira", "₺"),
    ("JPY", "Yen", "¥"),
    ("CAD", "Canadian Dollar", "$"),
    ("AUD", "Australian Dollar", "$"),
    ("INR", "Indian Rupee", "₹"),
    ("BRL", "Brazilian Real", "R$"),
    ("AED", "UAE Dirham", "د.إ"),
    ("ZAR", "Rand", "R"),
];

/// `(name, sign)` of a known currency code.
pub fn currency(code: &str) -> Option<(&'static str, &'static str)> {
    CURRENCIES
        .iter()
        .find(|(c, _, _)| *c == code)
        .map(|(_, n, s)| (*n, *s))
}

/// Why a tenancy operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TenancyError {
    #[error("invalid request")]
    Invalid(ValidationErrors),
    #[error("{0} not found")]
    NotFound(String),
    #[error("{0} already exists")]
    Conflict(String),
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for TenancyError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => TenancyError::Conflict(what),
            other => TenancyError::Store(other),
        }
    }
}

fn invalid(path: &str, message: &str) -> TenancyError {
    let mut e = ValidationErrors::new();
    e.add(path, message);
    TenancyError::Invalid(e)
}

/// A name without the whitespace around it: what the OpenAPI schema's `[^\s\x85]`
/// calls whitespace (ECMAScript's `\s`, which has U+FEFF, and U+0085, which Unicode's
/// `White_Space` has), so a name the schema allows is never refused as empty.
fn trim_name(name: &str) -> &str {
    name.trim_matches(|c: char| c.is_whitespace() || c == '\u{feff}')
}

fn check_name(name: &str, errors: &mut ValidationErrors) {
    let n = trim_name(name).chars().count();
    if n == 0 || n > 100 {
        errors.add("name", "must be 1 to 100 characters");
    }
}

/// # Errors
/// [`TenancyError::Invalid`] for a bad name, negative balance or unknown currency.
pub async fn create_account(
    store: &dyn Store,
    name: &str,
    balance: Micros,
    currency_code: &str,
    now: Timestamp,
) -> Result<Account, TenancyError> {
    let mut errors = ValidationErrors::new();
    check_name(name, &mut errors);
    if balance.is_negative() {
        errors.add("balance", "must not be negative");
    }
    if currency(currency_code).is_none() {
        let known: Vec<&str> = CURRENCIES.iter().map(|c| c.0).collect();
        errors.add("currency", format!("must be one of {}", known.join(", ")));
    }
    if !errors.is_empty() {
        return Err(TenancyError::Invalid(errors));
    }
    let account = Account {
        id: uuid::Uuid::now_v7().to_string(),
        name: trim_name(name).to_owned(),
        balance,
        currency: currency_code.to_owned(),
        created_at: now,
    };
    store.create_account(&account).await?;
    Ok(account)
}

/// # Errors
/// [`TenancyError::NotFound`] for an unknown account; [`TenancyError::Invalid`] for a
/// negative balance.
pub async fn set_balance(
    store: &dyn Store,
    account_id: &str,
    balance: Micros,
) -> Result<Account, TenancyError> {
    if balance.is_negative() {
        return Err(invalid("balance", "must not be negative"));
    }
    store
        .set_balance(account_id, balance)
        .await?
        .ok_or_else(|| TenancyError::NotFound(format!("account {account_id}")))
}

/// What `POST /admin/accounts/{id}/applications` asks for.
#[derive(Debug, Clone, Default)]
pub struct NewApplication {
    /// A chosen id (scripts, bootstrap); a random one when `None`.
    pub id: Option<String>,
    pub name: String,
    /// All five when `None`.
    pub scopes: Option<Vec<String>>,
    pub token_lifetime_s: Option<u32>,
    pub rate_limit: Option<RateLimit>,
    /// A chosen secret (bootstrap); a random one when `None`.
    pub secret: Option<String>,
}

/// A created application with the secrets shown this once.
#[derive(Debug, Clone)]
pub struct CreatedApplication {
    pub application: Application,
    pub secret: String,
    pub webhook_secret: String,
}

/// Whether an application id is acceptable: 3–64 of `A-Z a-z 0-9 . _ -`.
pub fn valid_application_id(id: &str) -> bool {
    (3..=64).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// # Errors
/// [`TenancyError::Invalid`] for bad fields, [`TenancyError::NotFound`] for an unknown
/// account, [`TenancyError::Conflict`] when the chosen id is taken.
pub async fn create_application(
    store: &dyn Store,
    account_id: &str,
    req: NewApplication,
    now: Timestamp,
) -> Result<CreatedApplication, TenancyError> {
    let mut errors = ValidationErrors::new();
    check_name(&req.name, &mut errors);
    if let Some(id) = &req.id
        && !valid_application_id(id)
    {
        errors.add(
            "applicationId",
            "must be 3 to 64 characters of A-Z, a-z, 0-9, '.', '_' and '-'",
        );
    }
    let scopes = match req.scopes {
        None => SCOPES.iter().map(|(s, _)| (*s).to_owned()).collect(),
        Some(list) => {
            let mut out: Vec<String> = Vec::new();
            for s in list {
                let s = s.trim().to_ascii_lowercase();
                if permission(&s).is_none() {
                    errors.add(
                        "scopes",
                        format!("{s:?} is not a scope (failover, sms, viber, voice, account)"),
                    );
                } else if !out.contains(&s) {
                    out.push(s);
                }
            }
            out
        }
    };
    let lifetime = req.token_lifetime_s.unwrap_or(DEFAULT_TOKEN_LIFETIME_S);
    if !(MIN_TOKEN_LIFETIME_S..=MAX_TOKEN_LIFETIME_S).contains(&lifetime) {
        errors.add(
            "tokenLifetimeSeconds",
            format!("must be from {MIN_TOKEN_LIFETIME_S} to {MAX_TOKEN_LIFETIME_S}"),
        );
    }
    if let Some(r) = req.rate_limit
        && r.burst < r.per_second
    {
        errors.add("rateLimit.burst", "must be at least perSecond");
    }
    if let Some(secret) = &req.secret
        && secret.len() < 8
    {
        errors.add("secret", "must be at least 8 characters");
    }
    if !errors.is_empty() {
        return Err(TenancyError::Invalid(errors));
    }
    if store.account(account_id).await?.is_none() {
        return Err(TenancyError::NotFound(format!("account {account_id}")));
    }
    let secret = req.secret.unwrap_or_else(random_secret);
    let webhook_secret = random_secret();
    let secret_hash = hash_off_thread(secret.clone()).await;
    let application = Application {
        id: req.id.unwrap_or_else(|| uuid::Uuid::now_v7().to_string()),
        account_id: account_id.to_owned(),
        name: trim_name(&req.name).to_owned(),
        secret_hash,
        scopes,
        token_lifetime_s: lifetime,
        webhook_secret: webhook_secret.clone(),
        rate_limit: req.rate_limit,
        created_at: now,
    };
    store.create_application(&application).await?;
    Ok(CreatedApplication {
        application,
        secret,
        webhook_secret,
    })
}

/// Issue a new secret for an application (the old one stops working).
///
/// # Errors
/// [`TenancyError::NotFound`] for an unknown application.
pub async fn reset_secret(store: &dyn Store, application_id: &str) -> Result<String, TenancyError> {
    let secret = random_secret();
    let hash = hash_off_thread(secret.clone()).await;
    let found = store.set_application_secret(application_id, &hash).await?;
    application_found(found, application_id).map(|()| secret)
}

/// Replace an application's webhook signing secret.
///
/// # Errors
/// [`TenancyError::NotFound`] for an unknown application.
pub async fn rotate_webhook_secret(
    store: &dyn Store,
    application_id: &str,
) -> Result<String, TenancyError> {
    let secret = random_secret();
    let found = store.set_webhook_secret(application_id, &secret).await?;
    application_found(found, application_id).map(|()| secret)
}

/// An update that found no application is [`TenancyError::NotFound`].
fn application_found(found: bool, application_id: &str) -> Result<(), TenancyError> {
    if found {
        Ok(())
    } else {
        Err(TenancyError::NotFound(format!(
            "application {application_id}"
        )))
    }
}

/// # Errors
/// [`TenancyError::Invalid`] for a bad name, [`TenancyError::NotFound`] for an unknown
/// account.
pub async fn add_viber_sender(
    store: &dyn Store,
    account_id: &str,
    name: &str,
    now: Timestamp,
) -> Result<ViberSender, TenancyError> {
    let n = trim_name(name).chars().count();
    if n == 0 || n > 50 {
        return Err(invalid("name", "must be 1 to 50 characters"));
    }
    if store.account(account_id).await?.is_none() {
        return Err(TenancyError::NotFound(format!("account {account_id}")));
    }
    let sender = ViberSender {
        id: uuid::Uuid::now_v7().to_string(),
        account_id: account_id.to_owned(),
        name: trim_name(name).to_owned(),
        created_at: now,
    };
    store.add_viber_sender(&sender).await?;
    Ok(sender)
}

async fn hash_off_thread(secret: String) -> String {
    // argon2 is deliberately slow; keep it off the async workers.
    tokio::task::spawn_blocking(move || hash_secret(&secret))
        .await
        .expect("hashing does not panic")
}

const ADMIN_TOKEN_KEY: &str = "admin_token_sha256";
const DEMO_APP_KEY: &str = "demo_application";

/// How the admin API authenticates.
#[derive(Debug, Clone)]
pub enum AdminAuth {
    /// `CASCADE_ADMIN_TOKEN`, compared as given.
    Configured(SecretString),
    /// The digest of the token generated at first run.
    Digest(String),
}

impl AdminAuth {
    pub fn accepts(&self, presented: &str) -> bool {
        match self {
            AdminAuth::Configured(token) => {
                crate::credentials::constant_time_eq(token.expose_secret(), presented)
            }
            AdminAuth::Digest(digest) => {
                crate::credentials::constant_time_eq(digest, &token_digest(presented))
            }
        }
    }

    /// A key for `purpose` (signing the console's sessions) that every node of a
    /// deployment derives alike from the admin token's digest, and that changes when the
    /// admin token does.
    pub fn derive_key(&self, purpose: &str) -> [u8; 32] {
        use hmac::Mac;
        let digest = match self {
            AdminAuth::Configured(token) => token_digest(token.expose_secret()),
            AdminAuth::Digest(digest) => digest.clone(),
        };
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(digest.as_bytes())
            .expect("HMAC takes keys of any length");
        mac.update(purpose.as_bytes());
        mac.finalize().into_bytes().into()
    }
}

/// What the start-up preparation created, to show the operator once.
#[derive(Debug, Clone, Default)]
pub struct Prepared {
    /// A newly generated admin token (first run without `CASCADE_ADMIN_TOKEN`).
    pub new_admin_token: Option<SecretString>,
    /// The demo application, created on first run with its secret.
    pub demo: Option<Demo>,
    /// The demo application's id when it already existed.
    pub existing_demo: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Demo {
    pub account: Account,
    pub application: CreatedApplication,
    pub viber_sender: ViberSender,
}

/// Start-up preparation: the admin token and, on the first run, a demo account with an
/// application and a Viber sender; also makes sure `bootstrap` (`id`, `secret`) exists.
///
/// # Errors
/// Store failures, or a bootstrap application that cannot be created.
pub async fn prepare(
    store: &Arc<dyn Store>,
    configured_admin_token: Option<&SecretString>,
    bootstrap: Option<(&str, &SecretString)>,
    default_balance: Micros,
    now: Timestamp,
) -> Result<(AdminAuth, Prepared), TenancyError> {
    let mut prepared = Prepared::default();
    let auth = match configured_admin_token {
        Some(token) => AdminAuth::Configured(token.clone()),
        None => match store.setting(ADMIN_TOKEN_KEY).await? {
            Some(digest) => AdminAuth::Digest(digest),
            None => {
                let token = random_secret();
                let digest = token_digest(&token);
                store.put_setting(ADMIN_TOKEN_KEY, &digest).await?;
                prepared.new_admin_token = Some(token.into());
                AdminAuth::Digest(digest)
            }
        },
    };
    match store.setting(DEMO_APP_KEY).await? {
        Some(id) => prepared.existing_demo = Some(id),
        None => {
            let account = create_account(&**store, "Demo", default_balance, "EUR", now).await?;
            let application = create_application(
                &**store,
                &account.id,
                NewApplication {
                    name: "Demo application".into(),
                    ..NewApplication::default()
                },
                now,
            )
            .await?;
            let viber_sender = add_viber_sender(&**store, &account.id, "CascadeDemo", now).await?;
            store
                .put_setting(DEMO_APP_KEY, &application.application.id)
                .await?;
            prepared.demo = Some(Demo {
                account,
                application,
                viber_sender,
            });
        }
    }
    if let Some((id, secret)) = bootstrap {
        ensure_application(store, id, secret.expose_secret(), default_balance, now).await?;
    }
    Ok((auth, prepared))
}

/// Make sure application `id` exists with `secret` (all scopes, in an account of its
/// own named after it, holding `balance`). An existing application gets its secret reset
/// to `secret` so the configured credentials always work.
///
/// # Errors
/// [`TenancyError::Invalid`] for a bad id or a short secret.
pub async fn ensure_application(
    store: &Arc<dyn Store>,
    id: &str,
    secret: &str,
    balance: Micros,
    now: Timestamp,
) -> Result<(), TenancyError> {
    if let Some(app) = store.application(id).await? {
        if !crate::credentials::verify_secret(secret, &app.secret_hash) {
            let hash = hash_off_thread(secret.to_owned()).await;
            store.set_application_secret(id, &hash).await?;
        }
        return Ok(());
    }
    let account = create_account(&**store, &format!("Bootstrap {id}"), balance, "EUR", now).await?;
    create_application(
        &**store,
        &account.id,
        NewApplication {
            id: Some(id.to_owned()),
            name: format!("Bootstrap {id}"),
            secret: Some(secret.to_owned()),
            ..NewApplication::default()
        },
        now,
    )
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use cascade_store::sqlite::{SqliteConfig, SqliteStore};

    use super::*;
    use crate::credentials::verify_secret;

    /// Whitespace is what the schema's `[^\s\x85]` says it is: a name of U+0085 or
    /// U+FEFF alone is empty on both sides, and one the schema allows is never refused.
    #[test]
    fn names_trim_what_the_schema_calls_whitespace() {
        for blank in ["", " ", "\u{85}", "\u{feff}", "\u{a0}\u{3000}\t\n"] {
            let mut e = ValidationErrors::new();
            check_name(blank, &mut e);
            assert!(!e.is_empty(), "{blank:?} is blank");
        }
        assert_eq!(trim_name("\u{feff} My Brand\u{85} "), "My Brand");
        let mut e = ValidationErrors::new();
        check_name("\u{85}x", &mut e);
        assert!(e.is_empty(), "one character besides the whitespace");
    }

    async fn store() -> (Arc<dyn Store>, tempfile::TempDir) {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("t.db").display());
        let store = SqliteStore::open(&SqliteConfig::new(url)).await.unwrap();
        (Arc::new(store), dir)
    }

    fn now() -> Timestamp {
        Timestamp::from_millis(1_767_225_600_000)
    }

    fn eur(x: f64) -> Micros {
        Micros::from_decimal(x).unwrap()
    }

    fn invalid_fields(e: TenancyError) -> Vec<(String, String)> {
        match e {
            TenancyError::Invalid(errors) => errors
                .iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            other => panic!("expected invalid fields, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn accounts_need_a_name_a_non_negative_balance_and_a_known_currency() {
        let (s, _d) = store().await;
        let a = create_account(&*s, "  Acme  ", eur(12.5), "GBP", now())
            .await
            .unwrap();
        assert_eq!(
            (a.name.as_str(), a.balance, a.currency.as_str()),
            ("Acme", eur(12.5), "GBP")
        );
        assert_eq!(s.account(&a.id).await.unwrap(), Some(a));
        let bad = create_account(&*s, " ", eur(-1.0), "XXX", now())
            .await
            .unwrap_err();
        let fields: Vec<String> = invalid_fields(bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            fields,
            ["balance", "currency", "name"],
            "every problem at once"
        );
        assert!(matches!(
            set_balance(&*s, "nobody", eur(1.0)).await,
            Err(TenancyError::NotFound(_))
        ));
        assert!(matches!(
            set_balance(&*s, "nobody", eur(-1.0)).await,
            Err(TenancyError::Invalid(_))
        ));
    }

    #[tokio::test]
    async fn applications_get_their_scopes_lifetime_limits_and_secrets_checked() {
        let (s, _d) = store().await;
        let account = create_account(&*s, "Acme", eur(1.0), "EUR", now())
            .await
            .unwrap();
        let made = create_application(
            &*s,
            &account.id,
            NewApplication {
                name: "backend".into(),
                scopes: Some(vec![" SMS ".into(), "failover".into(), "sms".into()]),
                ..NewApplication::default()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!(
            made.application.scopes,
            ["sms", "failover"],
            "trimmed, lower case, once"
        );
        assert_eq!(made.application.token_lifetime_s, DEFAULT_TOKEN_LIFETIME_S);
        assert!(verify_secret(&made.secret, &made.application.secret_hash));
        assert_ne!(made.secret, made.webhook_secret);
        let all = create_application(
            &*s,
            &account.id,
            NewApplication {
                name: "all".into(),
                ..NewApplication::default()
            },
            now(),
        )
        .await
        .unwrap();
        assert_eq!(
            all.application.scopes.len(),
            SCOPES.len(),
            "every scope by default"
        );

        let bad = create_application(
            &*s,
            &account.id,
            NewApplication {
                id: Some("x".into()),
                name: String::new(),
                scopes: Some(vec!["admin".into()]),
                token_lifetime_s: Some(0),
                rate_limit: Some(RateLimit {
                    per_second: 10,
                    burst: 5,
                }),
                secret: Some("short".into()),
            },
            now(),
        )
        .await
        .unwrap_err();
        let fields: Vec<String> = invalid_fields(bad).into_iter().map(|(k, _)| k).collect();
        assert_eq!(
            fields,
            [
                "applicationId",
                "name",
                "rateLimit.burst",
                "scopes",
                "secret",
                "tokenLifetimeSeconds"
            ]
        );
        assert!(matches!(
            create_application(
                &*s,
                "nobody",
                NewApplication {
                    name: "x".into(),
                    ..NewApplication::default()
                },
                now()
            )
            .await,
            Err(TenancyError::NotFound(_))
        ));
        let taken = create_application(
            &*s,
            &account.id,
            NewApplication {
                id: Some(made.application.id.clone()),
                name: "again".into(),
                ..NewApplication::default()
            },
            now(),
        )
        .await;
        assert!(matches!(taken, Err(TenancyError::Conflict(_))), "{taken:?}");
    }

    #[tokio::test]
    async fn secrets_are_reset_and_rotated_and_senders_named() {
        let (s, _d) = store().await;
        let account = create_account(&*s, "Acme", eur(1.0), "EUR", now())
            .await
            .unwrap();
        let made = create_application(
            &*s,
            &account.id,
            NewApplication {
                name: "a".into(),
                ..NewApplication::default()
            },
            now(),
        )
        .await
        .unwrap();
        let id = &made.application.id;
        let secret = reset_secret(&*s, id).await.unwrap();
        let stored = s.application(id).await.unwrap().unwrap();
        assert!(verify_secret(&secret, &stored.secret_hash));
        assert!(
            !verify_secret(&made.secret, &stored.secret_hash),
            "the old one stops working"
        );
        let webhook = rotate_webhook_secret(&*s, id).await.unwrap();
        assert_eq!(
            s.application(id).await.unwrap().unwrap().webhook_secret,
            webhook
        );
        assert!(matches!(
            reset_secret(&*s, "nobody").await,
            Err(TenancyError::NotFound(_))
        ));
        assert!(matches!(
            rotate_webhook_secret(&*s, "nobody").await,
            Err(TenancyError::NotFound(_))
        ));
        let sender = add_viber_sender(&*s, &account.id, " Brand ", now())
            .await
            .unwrap();
        assert_eq!(sender.name, "Brand");
        assert!(matches!(
            add_viber_sender(&*s, &account.id, &"x".repeat(51), now()).await,
            Err(TenancyError::Invalid(_))
        ));
        assert!(matches!(
            add_viber_sender(&*s, "nobody", "Brand", now()).await,
            Err(TenancyError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn start_up_makes_an_admin_token_and_a_demo_once_and_keeps_bootstrap_credentials() {
        let (s, _d) = store().await;
        let bootstrap_secret = SecretString::from("bootstrap-secret");
        let (auth, first) = prepare(
            &s,
            None,
            Some(("boot-app", &bootstrap_secret)),
            eur(50.0),
            now(),
        )
        .await
        .unwrap();
        let token = first
            .new_admin_token
            .as_ref()
            .expect("a token on the first start");
        assert!(auth.accepts(token.expose_secret()));
        assert!(!auth.accepts("something else"));
        let demo = first.demo.as_ref().expect("a demo on the first start");
        assert_eq!(demo.account.balance, eur(50.0));
        let boot = s.application("boot-app").await.unwrap().unwrap();
        assert!(verify_secret("bootstrap-secret", &boot.secret_hash));

        // Second start: the same token works, nothing new is made, and a changed
        // bootstrap secret is what the application answers to from now on.
        let changed = SecretString::from("another-secret");
        let (auth, second) = prepare(&s, None, Some(("boot-app", &changed)), eur(50.0), now())
            .await
            .unwrap();
        assert!(second.new_admin_token.is_none() && second.demo.is_none());
        assert_eq!(
            second.existing_demo.as_deref(),
            Some(demo.application.application.id.as_str())
        );
        assert!(
            auth.accepts(token.expose_secret()),
            "the token survives restarts"
        );
        let boot = s.application("boot-app").await.unwrap().unwrap();
        assert!(verify_secret("another-secret", &boot.secret_hash));

        // A configured token wins over the stored one.
        let configured = SecretString::from("configured-admin-token-123");
        let (auth, _) = prepare(&s, Some(&configured), None, eur(1.0), now())
            .await
            .unwrap();
        assert!(auth.accepts("configured-admin-token-123"));
        assert!(!auth.accepts(token.expose_secret()));
    }
}
