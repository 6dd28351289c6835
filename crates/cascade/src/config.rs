//! Configuration: a TOML file (`--config` or `CASCADE_CONFIG`) and environment variables
//! (`CASCADE_*`), the environment winning. Everything has a default, so a fresh machine
//! runs with nothing set.

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use cascade_core::pricing::{CountryPrices, OperatorTable, PriceList};
use cascade_core::ttl::TtlClock;
use cascade_core::{Channel, Micros};
use cascade_providers::http::failover::FailoverPolicy;
use cascade_providers::http::{ProviderSection, ProviderSettings};
use cascade_providers::smpp::SmscSettings;
use cascade_store::sqlite::Durability;
use secrecy::SecretString;
use serde::Deserialize;

/// Where the default SQLite store lives.
pub const DEFAULT_DATABASE_URL: &str = "sqlite://cascade-data/cascade.db";
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8080";
pub const DEFAULT_SANDBOX_SMPP_LISTEN: &str = "127.0.0.1:2775";

/// The whole configuration, every value checked.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    /// `sqlite://…` or `postgres://…` (never logged: it may hold a password).
    pub database_url: String,
    /// This node's id (`CASCADE_NODE_ID`, default host name + process id).
    pub node_id: String,
    /// How long a node's leases on shared work last (`CASCADE_LEASE_MS`).
    pub lease_ms: i64,
    pub admin_token: Option<SecretString>,
    /// `(applicationId, secret)` from `CASCADE_BOOTSTRAP_APPLICATION`.
    pub bootstrap_application: Option<(String, SecretString)>,
    pub allow_private_callbacks: bool,
    /// How long one TTL minute lasts for sandboxed channels.
    pub sandbox_minute_ms: i64,
    /// Channels served by sandbox providers (all three by default). A channel with no
    /// provider fails its steps with an internal error (`statusCode` `"0"`).
    pub sandbox_channels: Vec<Channel>,
    pub rate_limit_per_second: u32,
    pub rate_limit_burst: u32,
    /// A callback attempt that gets no answer within this fails.
    pub callback_timeout_ms: u64,
    /// Retry points counted from a callback's first attempt.
    pub callback_retry_schedule: Vec<std::time::Duration>,
    pub body_limit_bytes: usize,
    pub durability: Durability,
    /// Read connections of the SQLite store (`CASCADE_SQLITE_READERS`, 1–64, default
    /// [`crate::startup::SQLITE_READERS`]); the writer has its own.
    pub sqlite_readers: u32,
    /// How `cascade serve` writes its log lines (`CASCADE_LOG_FORMAT`).
    pub log_format: crate::telemetry::LogFormat,
    /// Balance of accounts created by start-up (demo, bootstrap).
    pub default_balance: Micros,
    pub prices: PriceList,
    pub operators: OperatorTable,
    /// Real SMSCs (`[[smsc]]`): when there is one, SMS steps go to them and the SMS sandbox
    /// (the in-process SMSC simulator) is off.
    pub smsc: Vec<SmscSettings>,
    /// Where the sandbox SMSC listens (`CASCADE_SANDBOX_SMPP_LISTEN`).
    pub sandbox_smpp_listen: SocketAddr,
    /// Viber and Voice providers (`[[provider]]`), checked.
    pub providers: Vec<ProviderSettings>,
    /// Where providers reach Cascade (`CASCADE_PUBLIC_URL`); required with providers.
    pub public_url: Option<String>,
    /// When to move a message to the channel's next provider.
    pub failover: FailoverPolicy,
    /// How long after its step started a call may still be placed
    /// (`CASCADE_VOICE_SUBMIT_WINDOW`, default 5 minutes).
    pub voice_submit_window: std::time::Duration,
}

impl Config {
    /// Whether `channel` has provider sections (and so is not served by the sandbox).
    pub fn has_providers(&self, channel: Channel) -> bool {
        self.providers.iter().any(|p| p.channel() == channel)
    }

    /// TTL clock for accepted flows: the sandbox minute applies to sandboxed channels; SMS
    /// over real SMSCs keeps real minutes.
    pub fn ttl_clock(&self) -> TtlClock {
        TtlClock {
            sms_minute_ms: if self.smsc.is_empty() {
                self.sandbox_minute_ms
            } else {
                60_000
            },
            viber_minute_ms: if self.has_providers(Channel::Viber) {
                60_000
            } else {
                self.sandbox_minute_ms
            },
            voice_minute_ms: if self.has_providers(Channel::Voice) {
                60_000
            } else {
                self.sandbox_minute_ms
            },
        }
    }

    /// True when SMS goes to the sandbox SMSC.
    pub fn sms_sandboxed(&self) -> bool {
        self.smsc.is_empty() && self.sandbox_channels.contains(&Channel::Sms)
    }
}

/// A setting that cannot be used, named so the operator can fix it.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the config file {path} is not valid: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{name}: {message}")]
    Invalid { name: &'static str, message: String },
}

fn invalid(name: &'static str, message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        name,
        message: message.into(),
    }
}

/// The file's shape. Keys mirror the environment variables in lower case.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    listen: Option<String>,
    database_url: Option<String>,
    node_id: Option<String>,
    lease_ms: Option<i64>,
    admin_token: Option<String>,
    bootstrap_application: Option<String>,
    allow_private_callbacks: Option<bool>,
    sandbox_minute_ms: Option<i64>,
    sandbox_channels: Option<Vec<String>>,
    rate_limit_per_second: Option<u32>,
    rate_limit_burst: Option<u32>,
    callback_timeout_ms: Option<u64>,
    callback_retry_schedule: Option<String>,
    body_limit_bytes: Option<usize>,
    durability: Option<String>,
    sqlite_readers: Option<u32>,
    log_format: Option<String>,
    default_balance: Option<f64>,
    #[serde(default)]
    prices: FilePrices,
    #[serde(default)]
    operators: BTreeMap<String, String>,
    sandbox_smpp_listen: Option<String>,
    #[serde(default)]
    smsc: Vec<SmscSettings>,
    #[serde(default)]
    provider: Vec<ProviderSection>,
    public_url: Option<String>,
    provider_failover_after_ms: Option<u64>,
    provider_cooldown_ms: Option<u64>,
    voice_submit_window: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FilePrices {
    sms: Option<CountryPrices>,
    viber_text: Option<CountryPrices>,
    viber_rich: Option<CountryPrices>,
    voice_minute: Option<CountryPrices>,
}

impl Config {
    /// Read the file (when given) and the environment.
    ///
    /// # Errors
    /// [`ConfigError`] naming the first unusable setting.
    pub fn load(file: Option<&Path>, env: &HashMap<String, String>) -> Result<Config, ConfigError> {
        let file_path = file
            .map(Path::to_path_buf)
            .or_else(|| env.get("CASCADE_CONFIG").map(PathBuf::from));
        let fc = match &file_path {
            Some(path) => {
                let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                    path: path.clone(),
                    source,
                })?;
                toml::from_str::<FileConfig>(&text).map_err(|e| ConfigError::Parse {
                    path: path.clone(),
                    message: e.to_string(),
                })?
            }
            None => FileConfig::default(),
        };
        let var = |name: &str| env.get(name).filter(|v| !v.is_empty()).cloned();

        let listen = var("CASCADE_LISTEN")
            .or(fc.listen)
            .unwrap_or_else(|| DEFAULT_LISTEN.into());
        if listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(invalid(
                "CASCADE_LISTEN",
                format!("{listen:?} is not host:port (e.g. 127.0.0.1:8080)"),
            ));
        }
        let database_url = var("CASCADE_DATABASE_URL")
            .or(fc.database_url)
            .unwrap_or_else(|| DEFAULT_DATABASE_URL.into());
        let postgres = cascade_store::postgres::is_postgres_url(&database_url);
        if !database_url.starts_with("sqlite:") && !postgres {
            return Err(invalid(
                "CASCADE_DATABASE_URL",
                "must start with sqlite://, postgres:// or postgresql://",
            ));
        }
        if postgres && let Err(problem) = cascade_store::postgres::check_url(&database_url) {
            return Err(invalid("CASCADE_DATABASE_URL", problem));
        }
        let node_id = var("CASCADE_NODE_ID")
            .or(fc.node_id)
            .unwrap_or_else(default_node_id);
        if node_id.is_empty() || node_id.len() > 100 {
            return Err(invalid("CASCADE_NODE_ID", "must be 1–100 characters"));
        }
        let lease_ms = match var("CASCADE_LEASE_MS").or(fc.lease_ms.map(|v| v.to_string())) {
            None => 15_000,
            Some(text) => match text.parse::<i64>() {
                Ok(v) if (1_000..=600_000).contains(&v) => v,
                _ => {
                    return Err(invalid(
                        "CASCADE_LEASE_MS",
                        format!("{text:?} is not a number of milliseconds from 1000 to 600000"),
                    ));
                }
            },
        };
        let admin_token = var("CASCADE_ADMIN_TOKEN").or(fc.admin_token);
        if admin_token.as_ref().is_some_and(|t| t.len() < 16) {
            return Err(invalid(
                "CASCADE_ADMIN_TOKEN",
                "must be at least 16 characters",
            ));
        }
        let bootstrap_application =
            match var("CASCADE_BOOTSTRAP_APPLICATION").or(fc.bootstrap_application) {
                None => None,
                Some(text) => {
                    let (id, secret) = text.split_once(':').ok_or_else(|| {
                        invalid(
                            "CASCADE_BOOTSTRAP_APPLICATION",
                            "must be <applicationId>:<secret>",
                        )
                    })?;
                    if !cascade_service::tenancy::valid_application_id(id) {
                        return Err(invalid(
                            "CASCADE_BOOTSTRAP_APPLICATION",
                            "the id must be 3-64 of A-Z a-z 0-9 . _ -",
                        ));
                    }
                    if secret.len() < 8 {
                        return Err(invalid(
                            "CASCADE_BOOTSTRAP_APPLICATION",
                            "the secret must be at least 8 characters",
                        ));
                    }
                    Some((id.to_owned(), SecretString::from(secret)))
                }
            };
        let allow_private_callbacks = match var("CASCADE_ALLOW_PRIVATE_CALLBACKS") {
            Some(v) => parse_bool("CASCADE_ALLOW_PRIVATE_CALLBACKS", &v)?,
            None => fc.allow_private_callbacks.unwrap_or(false),
        };
        let sandbox_minute_ms = match var("CASCADE_SANDBOX_MINUTE_MS") {
            Some(v) => parse_num::<i64>("CASCADE_SANDBOX_MINUTE_MS", &v)?,
            None => fc.sandbox_minute_ms.unwrap_or(60_000),
        };
        if !(1..=3_600_000).contains(&sandbox_minute_ms) {
            return Err(invalid(
                "CASCADE_SANDBOX_MINUTE_MS",
                "must be from 1 to 3600000",
            ));
        }
        let channel_names: Vec<String> = match var("CASCADE_SANDBOX_CHANNELS") {
            Some(v) => v
                .split(',')
                .map(|c| c.trim().to_owned())
                .filter(|c| !c.is_empty() && c != "none")
                .collect(),
            None => fc
                .sandbox_channels
                .unwrap_or_else(|| Channel::ALL.iter().map(|c| c.name().to_owned()).collect()),
        };
        let mut sandbox_channels = Vec::new();
        for name in channel_names {
            let channel = Channel::parse(&name).ok_or_else(|| {
                invalid(
                    "CASCADE_SANDBOX_CHANNELS",
                    format!("{name:?} is not Sms, Viber or Voice"),
                )
            })?;
            if !sandbox_channels.contains(&channel) {
                sandbox_channels.push(channel);
            }
        }
        let rate_limit_per_second = match var("CASCADE_RATE_LIMIT_PER_SECOND") {
            Some(v) => parse_num("CASCADE_RATE_LIMIT_PER_SECOND", &v)?,
            None => fc.rate_limit_per_second.unwrap_or(1000),
        };
        let rate_limit_burst = match var("CASCADE_RATE_LIMIT_BURST") {
            Some(v) => parse_num("CASCADE_RATE_LIMIT_BURST", &v)?,
            None => fc.rate_limit_burst.unwrap_or(2000),
        };
        let callback_timeout_ms = match var("CASCADE_CALLBACK_TIMEOUT_MS") {
            Some(v) => parse_num("CASCADE_CALLBACK_TIMEOUT_MS", &v)?,
            None => fc.callback_timeout_ms.unwrap_or(2000),
        };
        if !(1..=600_000).contains(&callback_timeout_ms) {
            return Err(invalid(
                "CASCADE_CALLBACK_TIMEOUT_MS",
                "must be from 1 to 600000",
            ));
        }
        let callback_retry_schedule =
            match var("CASCADE_CALLBACK_RETRY_SCHEDULE").or(fc.callback_retry_schedule) {
                Some(text) => cascade_service::runtime::parse_schedule(&text)
                    .map_err(|m| invalid("CASCADE_CALLBACK_RETRY_SCHEDULE", m))?,
                None => cascade_service::runtime::default_schedule(),
            };
        let body_limit_bytes = match var("CASCADE_BODY_LIMIT_BYTES") {
            Some(v) => parse_num("CASCADE_BODY_LIMIT_BYTES", &v)?,
            None => fc.body_limit_bytes.unwrap_or(1024 * 1024),
        };
        if body_limit_bytes < 1024 {
            return Err(invalid("CASCADE_BODY_LIMIT_BYTES", "must be at least 1024"));
        }
        let durability = match var("CASCADE_DURABILITY").or(fc.durability).as_deref() {
            None | Some("full") => Durability::Full,
            Some("normal") => Durability::Normal,
            Some(other) => {
                return Err(invalid(
                    "CASCADE_DURABILITY",
                    format!("{other:?} is not full or normal"),
                ));
            }
        };
        let sqlite_readers =
            sqlite_readers(var("CASCADE_SQLITE_READERS").as_deref(), fc.sqlite_readers)?;
        let log_format = match var("CASCADE_LOG_FORMAT").or(fc.log_format).as_deref() {
            None | Some("text") => crate::telemetry::LogFormat::Text,
            Some("json") => crate::telemetry::LogFormat::Json,
            Some(other) => {
                return Err(invalid(
                    "CASCADE_LOG_FORMAT",
                    format!("{other:?} is not text or json"),
                ));
            }
        };
        let default_balance = match var("CASCADE_DEFAULT_BALANCE") {
            Some(v) => parse_num::<f64>("CASCADE_DEFAULT_BALANCE", &v)?,
            None => fc.default_balance.unwrap_or(100.0),
        };
        let default_balance = Micros::from_decimal(default_balance)
            .ok()
            .filter(|m| !m.is_negative())
            .ok_or_else(|| invalid("CASCADE_DEFAULT_BALANCE", "must be a non-negative amount"))?;
        let base = PriceList::default();
        let prices = PriceList {
            sms: fc.prices.sms.unwrap_or(base.sms),
            viber_text: fc.prices.viber_text.unwrap_or(base.viber_text),
            viber_rich: fc.prices.viber_rich.unwrap_or(base.viber_rich),
            voice_minute: fc.prices.voice_minute.unwrap_or(base.voice_minute),
        };
        for (name, p) in [
            ("sms", &prices.sms),
            ("viber_text", &prices.viber_text),
            ("viber_rich", &prices.viber_rich),
            ("voice_minute", &prices.voice_minute),
        ] {
            if p.default.is_negative() || p.countries.values().any(|m| m.is_negative()) {
                return Err(invalid("prices", format!("{name} has a negative price")));
            }
            if p.countries
                .keys()
                .any(|c| c.len() != 2 || !c.bytes().all(|b| b.is_ascii_uppercase()))
            {
                return Err(invalid(
                    "prices",
                    format!("{name}: countries are ISO 3166-1 alpha-2 codes in capitals"),
                ));
            }
        }
        let operators =
            OperatorTable::new(fc.operators.iter()).map_err(|m| invalid("operators", m))?;
        let sandbox_smpp_listen = var("CASCADE_SANDBOX_SMPP_LISTEN")
            .or(fc.sandbox_smpp_listen)
            .unwrap_or_else(|| DEFAULT_SANDBOX_SMPP_LISTEN.into());
        let sandbox_smpp_listen = sandbox_smpp_listen.parse::<SocketAddr>().map_err(|_| {
            invalid(
                "CASCADE_SANDBOX_SMPP_LISTEN",
                format!("{sandbox_smpp_listen:?} is not an address like 127.0.0.1:2775"),
            )
        })?;
        let smsc = fc.smsc;
        for s in &smsc {
            s.validate().map_err(|m| invalid("smsc", m))?;
        }
        for (i, s) in smsc.iter().enumerate() {
            if smsc[..i].iter().any(|o| o.name == s.name) {
                return Err(invalid("smsc", format!("two SMSCs are named {:?}", s.name)));
            }
        }
        if !smsc.is_empty() && !smsc.iter().any(|s| s.routes.iter().any(|r| r == "*")) {
            tracing::warn!(
                "no [[smsc]] has the default route \"*\": SMS to other destinations fail with \"No route\""
            );
        }
        let mut providers = Vec::with_capacity(fc.provider.len());
        for (i, section) in fc.provider.iter().enumerate() {
            let settings = section
                .parse(i + 1)
                .map_err(|e| invalid("provider", e.to_string()))?;
            if providers
                .iter()
                .any(|p: &ProviderSettings| p.common().name == settings.common().name)
                || smsc.iter().any(|s| s.name == settings.common().name)
            {
                return Err(invalid(
                    "provider",
                    format!(
                        "[[provider]] {}: name: another [[provider]] or [[smsc]] has this name",
                        settings.common().name
                    ),
                ));
            }
            providers.push(settings);
        }
        let public_url = var("CASCADE_PUBLIC_URL").or(fc.public_url);
        if let Some(u) = &public_url {
            match url::Url::parse(u) {
                Ok(parsed)
                    if matches!(parsed.scheme(), "http" | "https") && parsed.host().is_some() => {}
                _ => {
                    return Err(invalid(
                        "CASCADE_PUBLIC_URL",
                        format!("{u:?} is not an http(s) URL like https://cascade.example.com"),
                    ));
                }
            }
        } else if providers
            .iter()
            .any(|p| !matches!(p, ProviderSettings::Sip { .. }))
        {
            // A SIP trunk sends no webhooks; every other kind of provider does.
            return Err(invalid(
                "CASCADE_PUBLIC_URL",
                "required with [[provider]] sections other than kind = \"sip\": the base URL at which providers reach Cascade's webhooks (e.g. https://cascade.example.com)",
            ));
        }
        let public_url = public_url.map(|u| u.trim_end_matches('/').to_owned());
        let failover_after_ms = match var("CASCADE_PROVIDER_FAILOVER_AFTER_MS") {
            Some(v) => parse_num("CASCADE_PROVIDER_FAILOVER_AFTER_MS", &v)?,
            None => fc.provider_failover_after_ms.unwrap_or(10_000),
        };
        let cooldown_ms = match var("CASCADE_PROVIDER_COOLDOWN_MS") {
            Some(v) => parse_num("CASCADE_PROVIDER_COOLDOWN_MS", &v)?,
            None => fc.provider_cooldown_ms.unwrap_or(30_000),
        };
        if cooldown_ms == 0 {
            return Err(invalid(
                "CASCADE_PROVIDER_COOLDOWN_MS",
                "must be at least 1",
            ));
        }
        let failover = FailoverPolicy {
            budget: std::time::Duration::from_millis(failover_after_ms),
            circuit: cascade_pace::CircuitPolicy {
                failures_to_open: cascade_providers::http::failover::FAILURES_TO_OPEN,
                cooldown: std::time::Duration::from_millis(cooldown_ms),
            },
            ..FailoverPolicy::default()
        };
        let voice_submit_window =
            match var("CASCADE_VOICE_SUBMIT_WINDOW").or(fc.voice_submit_window) {
                Some(v) => parse_window("CASCADE_VOICE_SUBMIT_WINDOW", &v)?,
                None => cascade_providers::http::twilio_voice::DEFAULT_SUBMIT_WINDOW,
            };
        Ok(Config {
            providers,
            public_url,
            failover,
            voice_submit_window,
            listen,
            database_url,
            node_id,
            lease_ms,
            admin_token: admin_token.map(SecretString::from),
            bootstrap_application,
            allow_private_callbacks,
            sandbox_minute_ms,
            sandbox_channels,
            rate_limit_per_second,
            rate_limit_burst,
            callback_timeout_ms,
            callback_retry_schedule,
            body_limit_bytes,
            durability,
            sqlite_readers,
            log_format,
            default_balance,
            prices,
            operators,
            smsc,
            sandbox_smpp_listen,
        })
    }
}

fn parse_bool(name: &'static str, v: &str) -> Result<bool, ConfigError> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(invalid(
            name,
            format!("{v:?} is not a boolean (1/0, true/false)"),
        )),
    }
}

/// A duration written as seconds (`300`) or with a unit: `300s`, `5m`, `1500ms`; at least
/// one second.
fn parse_window(name: &'static str, v: &str) -> Result<std::time::Duration, ConfigError> {
    let t = v.trim();
    let (digits, unit_ms) = if let Some(d) = t.strip_suffix("ms") {
        (d, 1)
    } else if let Some(d) = t.strip_suffix('s') {
        (d, 1_000)
    } else if let Some(d) = t.strip_suffix('m') {
        (d, 60_000)
    } else {
        (t, 1_000)
    };
    let n: u64 = digits.trim().parse().map_err(|_| {
        invalid(
            name,
            format!("{v:?} is not a duration like 300, 300s, 5m or 1500ms"),
        )
    })?;
    let ms = n.saturating_mul(unit_ms);
    if ms < 1_000 {
        return Err(invalid(name, "must be at least one second"));
    }
    Ok(std::time::Duration::from_millis(ms))
}

/// The SQLite store's read connections: `CASCADE_SQLITE_READERS` (`env`), else the
/// file's `sqlite_readers`, else [`crate::startup::SQLITE_READERS`]; 1 to 64.
///
/// # Errors
/// A value that is not a number from 1 to 64, naming `CASCADE_SQLITE_READERS`.
pub fn sqlite_readers(env: Option<&str>, file: Option<u32>) -> Result<u32, ConfigError> {
    let readers = match env {
        Some(v) => parse_num("CASCADE_SQLITE_READERS", v)?,
        None => file.unwrap_or(crate::startup::SQLITE_READERS),
    };
    if !(1..=64).contains(&readers) {
        return Err(invalid("CASCADE_SQLITE_READERS", "must be from 1 to 64"));
    }
    Ok(readers)
}

fn parse_num<T: std::str::FromStr>(name: &'static str, v: &str) -> Result<T, ConfigError> {
    v.trim()
        .parse()
        .map_err(|_| invalid(name, format!("{v:?} is not a number")))
}

/// The host name and this process's id: unique among live nodes.
fn default_node_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".into());
    format!("{host}-{}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_need_nothing() {
        let c = Config::load(None, &HashMap::new()).unwrap();
        assert_eq!(c.listen, DEFAULT_LISTEN);
        assert_eq!(c.database_url, DEFAULT_DATABASE_URL);
        assert_eq!(c.sandbox_minute_ms, 60_000);
        assert_eq!((c.rate_limit_per_second, c.rate_limit_burst), (1000, 2000));
        assert_eq!(c.prices, PriceList::default());
        assert!(!c.allow_private_callbacks);
        assert_eq!(c.sandbox_channels, Channel::ALL);
        let none = Config::load(None, &env(&[("CASCADE_SANDBOX_CHANNELS", "none")])).unwrap();
        assert!(none.sandbox_channels.is_empty());
        let two = Config::load(None, &env(&[("CASCADE_SANDBOX_CHANNELS", "sms, VIBER")])).unwrap();
        assert_eq!(two.sandbox_channels, [Channel::Sms, Channel::Viber]);
    }

    #[test]
    fn environment_overrides_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            r#"
listen = "127.0.0.1:9000"
sandbox_minute_ms = 500
sqlite_readers = 12
[prices.sms]
default = 0.04
countries = { GR = 0.03 }
[operators]
"+30694" = "Vodafone GR"
"#,
        )
        .unwrap();
        let c = Config::load(Some(&path), &env(&[("CASCADE_LISTEN", "127.0.0.1:9100")])).unwrap();
        assert_eq!(c.listen, "127.0.0.1:9100");
        assert_eq!(c.sandbox_minute_ms, 500);
        assert_eq!(c.sqlite_readers, 12);
        let readers = |vars: &[(&str, &str)], file: Option<&std::path::Path>| {
            Config::load(file, &env(vars)).unwrap().sqlite_readers
        };
        assert_eq!(
            readers(&[("CASCADE_SQLITE_READERS", "16")], Some(&path)),
            16,
            "the variable wins over the file"
        );
        assert_eq!(readers(&[], None), crate::startup::SQLITE_READERS);
        assert_eq!(c.prices.sms.for_country(Some("GR")), Micros::new(30_000));
        assert_eq!(c.prices.viber_text, PriceList::default().viber_text);
        assert_eq!(
            c.operators
                .lookup(&cascade_core::Msisdn::parse("+306941234567").unwrap()),
            "Vodafone GR"
        );
    }

    #[test]
    fn bad_settings_are_named() {
        let cases: &[(&[(&str, &str)], &str)] = &[
            (&[("CASCADE_LISTEN", "nowhere")], "CASCADE_LISTEN"),
            (
                &[("CASCADE_DATABASE_URL", "mysql://x")],
                "CASCADE_DATABASE_URL",
            ),
            (
                &[(
                    "CASCADE_DATABASE_URL",
                    "postgres://u:hunter2@db/cascade?sslmode=sometimes",
                )],
                "CASCADE_DATABASE_URL",
            ),
            (&[("CASCADE_NODE_ID", &"n".repeat(101))], "CASCADE_NODE_ID"),
            (&[("CASCADE_LEASE_MS", "10")], "CASCADE_LEASE_MS"),
            (
                &[("CASCADE_DEFAULT_BALANCE", "-0.0000001")],
                "CASCADE_DEFAULT_BALANCE",
            ),
            (&[("CASCADE_LEASE_MS", "soon")], "CASCADE_LEASE_MS"),
            (
                &[("CASCADE_BOOTSTRAP_APPLICATION", "no-colon")],
                "CASCADE_BOOTSTRAP_APPLICATION",
            ),
            (
                &[("CASCADE_BOOTSTRAP_APPLICATION", "app:short")],
                "CASCADE_BOOTSTRAP_APPLICATION",
            ),
            (
                &[("CASCADE_SANDBOX_MINUTE_MS", "0")],
                "CASCADE_SANDBOX_MINUTE_MS",
            ),
            (
                &[("CASCADE_SANDBOX_MINUTE_MS", "soon")],
                "CASCADE_SANDBOX_MINUTE_MS",
            ),
            (
                &[("CASCADE_ALLOW_PRIVATE_CALLBACKS", "maybe")],
                "CASCADE_ALLOW_PRIVATE_CALLBACKS",
            ),
            (&[("CASCADE_ADMIN_TOKEN", "short")], "CASCADE_ADMIN_TOKEN"),
            (&[("CASCADE_DURABILITY", "sometimes")], "CASCADE_DURABILITY"),
            (&[("CASCADE_SQLITE_READERS", "0")], "CASCADE_SQLITE_READERS"),
            (
                &[("CASCADE_SQLITE_READERS", "65")],
                "CASCADE_SQLITE_READERS",
            ),
            (
                &[("CASCADE_SQLITE_READERS", "many")],
                "CASCADE_SQLITE_READERS",
            ),
            (&[("CASCADE_LOG_FORMAT", "yaml")], "CASCADE_LOG_FORMAT"),
            (
                &[("CASCADE_SANDBOX_CHANNELS", "sms,fax")],
                "CASCADE_SANDBOX_CHANNELS",
            ),
        ];
        for (vars, name) in cases {
            let err = Config::load(None, &env(vars)).unwrap_err();
            assert!(err.to_string().starts_with(name), "{vars:?}: {err}");
            assert!(
                !err.to_string().contains("hunter2"),
                "a password is never echoed: {err}"
            );
        }
    }

    #[test]
    fn a_postgres_url_selects_postgres_with_a_node_id_and_a_lease() {
        let c = Config::load(
            None,
            &env(&[
                (
                    "CASCADE_DATABASE_URL",
                    "postgresql://cascade:pw@db:5432/cascade",
                ),
                ("CASCADE_NODE_ID", "node-a"),
                ("CASCADE_LEASE_MS", "5000"),
            ]),
        )
        .unwrap();
        assert_eq!((c.node_id.as_str(), c.lease_ms), ("node-a", 5000));
        let c = Config::load(None, &HashMap::new()).unwrap();
        assert!(c.node_id.ends_with(&format!("-{}", std::process::id())));
        assert_eq!(c.lease_ms, 15_000);
    }

    #[test]
    fn the_example_file_is_valid() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../cascade.example.toml");
        let c = Config::load(Some(&path), &HashMap::new()).unwrap();
        assert_eq!(c.prices.sms.for_country(Some("GR")), Micros::new(35_000));
        assert_eq!(
            c.prices.voice_minute.for_country(Some("US")),
            Micros::new(20_000)
        );
        let cosmote = cascade_core::Msisdn::parse("+306971234567").unwrap();
        assert_eq!(c.operators.lookup(&cosmote), "Cosmote");
    }

    #[test]
    fn unknown_file_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, "lisen = \"127.0.0.1:1\"\n").unwrap();
        let err = Config::load(Some(&path), &HashMap::new()).unwrap_err();
        assert!(matches!(err, ConfigError::Parse { .. }), "{err}");
    }

    fn load_file(text: &str, vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(Some(&path), &env(vars))
    }

    const VONAGE: &str = "[[provider]]\nname = \"vv\"\nkind = \"vonage-messages\"\napi_key = \"k\"\napi_secret = \"s\"\nsignature_secret = \"sig\"\n";

    #[test]
    fn a_twilio_section_takes_voice_off_the_sandbox_with_a_submit_window() {
        const TWILIO: &str = "[[provider]]\nname = \"tw\"\nkind = \"twilio-voice\"\naccount_sid = \"AC0123456789abcdef0123456789abcdef\"\nauth_token = \"t\"\n";
        let url = ("CASCADE_PUBLIC_URL", "https://cascade.example.com");
        let c = load_file(TWILIO, &[url]).unwrap();
        assert!(c.has_providers(Channel::Voice) && !c.has_providers(Channel::Viber));
        assert_eq!(c.voice_submit_window, std::time::Duration::from_secs(300));
        for (text, secs) in [("120", 120), ("90s", 90), ("2m", 120), ("1500ms", 1)] {
            let c = load_file(TWILIO, &[url, ("CASCADE_VOICE_SUBMIT_WINDOW", text)]).unwrap();
            assert_eq!(c.voice_submit_window.as_secs(), secs, "{text}");
        }
        for bad in ["soon", "0", "10ms"] {
            let err = load_file(TWILIO, &[url, ("CASCADE_VOICE_SUBMIT_WINDOW", bad)]).unwrap_err();
            assert!(
                err.to_string().starts_with("CASCADE_VOICE_SUBMIT_WINDOW"),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_provider_section_takes_viber_off_the_sandbox_and_needs_a_public_url() {
        let err = load_file(VONAGE, &[]).unwrap_err();
        assert!(
            err.to_string().starts_with("CASCADE_PUBLIC_URL: required"),
            "{err}"
        );
        let err = load_file(VONAGE, &[("CASCADE_PUBLIC_URL", "cascade.example.com")]).unwrap_err();
        assert!(err.to_string().starts_with("CASCADE_PUBLIC_URL: "), "{err}");
        let c = load_file(
            VONAGE,
            &[("CASCADE_PUBLIC_URL", "https://cascade.example.com/")],
        )
        .unwrap();
        assert_eq!(c.public_url.as_deref(), Some("https://cascade.example.com"));
        assert!(c.has_providers(Channel::Viber) && !c.has_providers(Channel::Voice));
        assert_eq!(
            c.ttl_clock().viber_minute_ms,
            60_000,
            "real minutes for a real provider"
        );
        assert_eq!(c.failover.budget, std::time::Duration::from_secs(10));
        assert_eq!(
            c.failover.circuit.cooldown,
            std::time::Duration::from_secs(30)
        );
    }

    #[test]
    fn a_bad_provider_section_stops_start_up_naming_section_and_field() {
        let url = [("CASCADE_PUBLIC_URL", "https://c.example.com")];
        let bad_kind = VONAGE.replace("vonage-messages", "carrier-pigeon");
        let err = load_file(&bad_kind, &url).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("provider: [[provider]] vv: kind: "),
            "{err}"
        );
        let no_secret = VONAGE.replace("signature_secret = \"sig\"\n", "");
        let err = load_file(&no_secret, &url).unwrap_err();
        assert_eq!(
            err.to_string(),
            "provider: [[provider]] vv: signature_secret: missing"
        );
        let twice = format!("{VONAGE}{VONAGE}");
        let err = load_file(&twice, &url).unwrap_err();
        assert!(err.to_string().contains("[[provider]] vv: name: "), "{err}");
        let err = load_file(VONAGE, &[url[0], ("CASCADE_PROVIDER_COOLDOWN_MS", "0")]).unwrap_err();
        assert!(
            err.to_string().starts_with("CASCADE_PROVIDER_COOLDOWN_MS"),
            "{err}"
        );
        let err = load_file(&VONAGE.replace("api_key", "api_kye"), &url).unwrap_err();
        assert!(
            matches!(err, ConfigError::Parse { .. }),
            "an unknown field: {err}"
        );
    }
}
