//! Delivering callbacks from the outbox.
//!
//! The worker claims due callbacks (never two of one flow at once, always the lowest
//! pending sequence of a flow, so each flow's callbacks arrive in order), POSTs each with
//! its `X-Cascade-*` headers, and records the attempt: delivered, retry at the next
//! point of the schedule (counted from the first attempt), or dead letter.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cascade_core::Timestamp;
use cascade_core::callback_policy::{is_public_ip, private_host};
use cascade_core::callbacks::{Attempt, CallbackOutcome};
use cascade_store::Callback;
use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use sha2::Sha256;
use tokio::sync::Semaphore;

use super::Runtime;

const TARGET: &str = "cascade::callbacks";

/// How callbacks are delivered.
#[derive(Debug, Clone)]
pub struct CallbackSettings {
    /// An attempt that gets no answer within this fails.
    pub timeout: Duration,
    /// When to retry, counted from the first attempt; after the last, dead letter.
    pub schedule: Vec<Duration>,
    /// Allow URLs that resolve to loopback, private, link-local or multicast addresses.
    pub allow_private: bool,
    /// Deliveries in flight at once.
    pub concurrency: usize,
    pub poll: Duration,
    pub lease: Duration,
}

/// 30 s, 1 m, 2 m, 5 m, 10 m, 15 m, 30 m, 1 h, 2 h, 4 h, 8 h, 24 h.
pub fn default_schedule() -> Vec<Duration> {
    [
        30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14_400, 28_800, 86_400,
    ]
    .into_iter()
    .map(Duration::from_secs)
    .collect()
}

impl Default for CallbackSettings {
    fn default() -> Self {
        Self {
            timeout: Duration::from_secs(2),
            schedule: default_schedule(),
            allow_private: false,
            concurrency: 64,
            poll: Duration::from_secs(1),
            lease: Duration::from_secs(60),
        }
    }
}

/// Parse `500ms,2s,1m,1h` (units ms, s, m, h; a bare number is seconds).
///
/// # Errors
/// Names the first item that is not a duration.
pub fn parse_schedule(text: &str) -> Result<Vec<Duration>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|item| {
            let (number, unit) = item
                .find(|c: char| !c.is_ascii_digit())
                .map_or((item, "s"), |i| (&item[..i], &item[i..]));
            let n: u64 = number
                .parse()
                .map_err(|_| format!("{item:?} is not a duration like 500ms, 2s, 1m, 1h"))?;
            match unit {
                "ms" => Ok(Duration::from_millis(n)),
                "s" => Ok(Duration::from_secs(n)),
                "m" => Ok(Duration::from_secs(n * 60)),
                "h" => Ok(Duration::from_secs(n * 3600)),
                _ => Err(format!("{item:?} has an unknown unit (ms, s, m, h)")),
            }
        })
        .collect()
}

/// The HTTP client callbacks use: no redirects (a redirect could lead anywhere), and a
/// resolver that drops private addresses unless they are allowed.
pub(super) fn http_client(settings: &CallbackSettings) -> reqwest::Client {
    // reqwest is built without a TLS crypto provider of its own; aws-lc-rs serves all.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    reqwest::Client::builder()
        .timeout(settings.timeout)
        .connect_timeout(settings.timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Cascade/", env!("CARGO_PKG_VERSION")))
        .dns_resolver(Arc::new(GuardedResolver {
            allow_private: settings.allow_private,
        }))
        .build()
        .expect("a client with these settings always builds")
}

/// Resolves names and keeps only the addresses callbacks may reach.
#[derive(Debug)]
struct GuardedResolver {
    allow_private: bool,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let allow_private = self.allow_private;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let all: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let allowed: Vec<SocketAddr> = all
                .iter()
                .copied()
                .filter(|a| allow_private || is_public_ip(a.ip()))
                .collect();
            if allowed.is_empty() && !all.is_empty() {
                return Err(format!("refused: {host} resolves to private addresses").into());
            }
            let addrs: reqwest::dns::Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

/// `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`.
pub fn signature(secret: &str, unix_seconds: i64, body: &str) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(unix_seconds.to_string().as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    format!(
        "t={unix_seconds},v1={}",
        hex::encode(mac.finalize().into_bytes())
    )
}

/// Webhook secrets by application, read again after a short while (rotation). Held as
/// secrets: never printed, wiped from memory when dropped.
#[derive(Debug, Default)]
pub(super) struct SecretCache {
    entries: Mutex<HashMap<String, (SecretString, Instant)>>,
}

const SECRET_TTL: Duration = Duration::from_secs(5);

impl SecretCache {
    async fn get(&self, runtime: &Runtime, application_id: &str) -> Option<SecretString> {
        let cached = self
            .entries
            .lock()
            .expect("no panics under this lock")
            .get(application_id)
            .cloned();
        if let Some((secret, at)) = cached
            && at.elapsed() < SECRET_TTL
        {
            return Some(secret);
        }
        let app = runtime.store.application(application_id).await.ok()??;
        let secret = SecretString::from(app.webhook_secret);
        self.entries
            .lock()
            .expect("no panics under this lock")
            .insert(application_id.to_owned(), (secret.clone(), Instant::now()));
        Some(secret)
    }

    /// Drop an application's cached secret (it was just rotated).
    pub(super) fn forget(&self, application_id: &str) {
        self.entries
            .lock()
            .expect("no panics under this lock")
            .remove(application_id);
    }
}

pub(super) async fn run_callback_worker_until_stopped(runtime: Arc<Runtime>) {
    let settings = runtime.config.callbacks.clone();
    let permits = Arc::new(Semaphore::new(settings.concurrency.max(1)));
    let lease_ms = i64::try_from(settings.lease.as_millis()).unwrap_or(i64::MAX);
    let poll_ms = i64::try_from(settings.poll.as_millis()).unwrap_or(i64::MAX);
    loop {
        // The next look is one poll after this one, however long this one takes.
        let now = runtime.clock.now();
        let free = u32::try_from(permits.available_permits()).unwrap_or(u32::MAX);
        let claimed = if free == 0 {
            Vec::new()
        } else {
            match runtime.store.claim_callbacks(now, lease_ms, free).await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!(target: TARGET, error = %e, "could not claim callbacks");
                    Vec::new()
                }
            }
        };
        for callback in claimed {
            let permit = Arc::clone(&permits)
                .acquire_owned()
                .await
                .expect("the semaphore is never closed");
            let rt = Arc::clone(&runtime);
            runtime.tasks.spawn(async move {
                let next = deliver(&rt, callback).await;
                drop(permit);
                // The flow's next callback may go now, or this one again at its retry.
                rt.callback_alarm.schedule(next);
            });
        }
        let wake_at = runtime
            .callback_alarm
            .next_wake(now, now.plus_millis(poll_ms));
        tokio::select! {
            () = runtime.stop.cancelled() => return,
            () = runtime.callback_alarm.rung() => {}
            () = runtime.clock.sleep_until(wake_at) => {}
        }
    }
}

#[tracing::instrument(name = "callback", skip_all, fields(flow_id = %callback.flow_id, seq = callback.seq))]
/// One attempt, recorded; returns when the worker should look again for this flow (now,
/// or at the retry).
async fn deliver(runtime: &Runtime, mut callback: Callback) -> Timestamp {
    let settings = &runtime.config.callbacks;
    let started = runtime.clock.now();
    // The schedule counts from the start of the first attempt, however long it took.
    let first_attempt = *callback.first_attempt_at.get_or_insert(started);
    let result = attempt(runtime, &callback, started).await;
    let ended = runtime.clock.now();
    let outcome = CallbackOutcome::of(
        result,
        callback.attempts,
        first_attempt,
        &settings.schedule,
        ended,
    );
    match &outcome {
        CallbackOutcome::Delivered { status } => {
            tracing::debug!(target: TARGET, status, "delivered")
        }
        CallbackOutcome::Retry { next_at, error } => {
            tracing::info!(target: TARGET, %error, %next_at, "callback failed; will retry");
        }
        CallbackOutcome::Dead { error } => {
            tracing::warn!(target: TARGET, %error, "callback dead-lettered")
        }
    }
    let next = outcome.next_at(ended);
    if let Err(e) = runtime
        .store
        .callback_attempted(&callback, outcome, ended)
        .await
    {
        // The lease runs out and the callback is attempted again: at least once.
        tracing::error!(target: TARGET, error = %e, "could not record a callback attempt");
    }
    next
}

/// One POST of the callback, signed at `now`.
async fn attempt(runtime: &Runtime, callback: &Callback, now: Timestamp) -> Attempt {
    let settings = &runtime.config.callbacks;
    let url = match reqwest::Url::parse(&callback.url) {
        Ok(url) => url,
        Err(e) => {
            return Attempt::Refused {
                error: format!("bad URL: {e}"),
            };
        }
    };
    if !settings.allow_private
        && let Some(host) = private_host(&url)
    {
        return Attempt::Refused {
            error: format!("refused: {host} is a private address"),
        };
    }
    let Some(secret) = runtime
        .callback_secrets
        .get(runtime, &callback.application_id)
        .await
    else {
        return Attempt::Failed {
            error: "the application could not be read".into(),
        };
    };
    let unix = now.as_millis().div_euclid(1000);
    let sent = runtime
        .callback_client
        .post(url)
        .header(reqwest::header::CONTENT_TYPE, "application/json")
        .header("X-Cascade-Event-Id", &callback.event_id)
        .header("X-Cascade-Sequence", callback.seq.to_string())
        .header(
            "X-Cascade-Signature",
            signature(secret.expose_secret(), unix, &callback.body),
        )
        .body(callback.body.clone())
        .send()
        .await;
    match sent {
        Ok(response) if response.status().is_success() => Attempt::Answered {
            status: response.status().as_u16(),
        },
        Ok(response) => Attempt::Failed {
            error: format!("HTTP {}", response.status().as_u16()),
        },
        Err(e) => {
            let text = cascade_core::error_chain(&e);
            // The resolver's refusal, without the layers of client errors around it.
            match text.find("refused: ") {
                Some(at) => Attempt::Refused {
                    error: text[at..].to_owned(),
                },
                None => Attempt::Failed { error: text },
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules_parse() {
        assert_eq!(
            parse_schedule("500ms, 2s,1m,1h,3").unwrap(),
            [
                Duration::from_millis(500),
                Duration::from_secs(2),
                Duration::from_secs(60),
                Duration::from_secs(3600),
                Duration::from_secs(3)
            ]
        );
        assert!(parse_schedule("5 minutes").is_err());
        assert!(parse_schedule("1d").is_err());
        assert!(parse_schedule("ms").is_err());
        assert_eq!(default_schedule().len(), 12);
        assert_eq!(default_schedule()[11], Duration::from_secs(24 * 3600));
    }

    #[tokio::test]
    async fn the_resolver_refuses_names_of_private_addresses() {
        use reqwest::dns::Resolve;
        let name = || -> reqwest::dns::Name { "localhost".parse().expect("a valid name") };
        let guarded = GuardedResolver {
            allow_private: false,
        };
        let err = guarded
            .resolve(name())
            .await
            .err()
            .expect("localhost is refused");
        assert!(err.to_string().starts_with("refused: localhost"), "{err}");
        let allowed = GuardedResolver {
            allow_private: true,
        };
        let addrs: Vec<SocketAddr> = allowed.resolve(name()).await.expect("allowed").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()) && !addrs.is_empty());
    }

    #[test]
    fn signature_is_hmac_sha256_of_t_dot_body() {
        // Computed independently: printf '1700000000.{"a":1}' | openssl dgst -sha256 -hmac secret
        assert_eq!(
            signature("secret", 1_700_000_000, r#"{"a":1}"#),
            "t=1700000000,v1=49f24e537407743fa4a0242bb63b94b9a47ee99cbbe071ccd8a22550ae411686"
        );
    }
}
