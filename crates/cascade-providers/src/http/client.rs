//! One HTTP provider's connection: a client with the section's timeout, its throughput
//! cap, and what each kind of answer means for the message.

use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use cascade_core::ports::SubmitError;
use cascade_core::reasons;
use cascade_pace::{NodeShare, Rate, TokenBucket};

use super::settings::Common;

/// Wait this long after a 429 that does not say how long.
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// An answer with a status Cascade reads (2xx), or the failure it stands for.
#[derive(Debug, Clone)]
pub struct HttpAnswer {
    pub status: u16,
    pub body: String,
}

/// A provider's HTTP client. Cheap to share.
#[derive(Debug)]
pub struct HttpClient {
    name: String,
    client: reqwest::Client,
    /// The cap's bucket, and the node count its rate was set for.
    pace: Option<(NonZeroU32, Mutex<(TokenBucket, u32)>)>,
    nodes: NodeShare,
}

impl HttpClient {
    /// # Errors
    /// When the TLS stack cannot be set up.
    pub fn new(common: &Common) -> Result<HttpClient, String> {
        // The process-wide TLS provider (the one Cascade uses throughout); a no-op when
        // something installed it first.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(common.timeout)
            .connect_timeout(common.timeout.min(Duration::from_secs(5)))
            .pool_max_idle_per_host(32)
            .build()
            .map_err(|e| format!("{}: HTTP client: {e}", common.name))?;
        let nodes = common.nodes.clone();
        let pace = NonZeroU32::new(common.throughput).map(|cap| {
            let bucket = TokenBucket::new(Rate::per_second(nodes.of(cap)), Instant::now());
            (cap, Mutex::new((bucket, nodes.nodes())))
        });
        Ok(HttpClient {
            name: common.name.clone(),
            client,
            pace,
            nodes,
        })
    }

    pub fn reqwest(&self) -> &reqwest::Client {
        &self.client
    }

    /// Wait for the section's throughput cap to allow one more request.
    async fn paced(&self) {
        let Some((cap, pace)) = &self.pace else {
            return;
        };
        loop {
            let wait = {
                let mut guard = pace
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                let (bucket, paced_for) = &mut *guard;
                let now = Instant::now();
                let nodes = self.nodes.nodes();
                if nodes != *paced_for {
                    // Nodes came or went: this node's share of the cap changes.
                    bucket.set_rate(Rate::per_second(self.nodes.of(*cap)), now);
                    *paced_for = nodes;
                }
                bucket.try_take(now)
            };
            match wait {
                Ok(()) => return,
                Err(delay) => tokio::time::sleep(delay).await,
            }
        }
    }

    /// Send a request (paced) and sort the answer: 2xx comes back; a connection error,
    /// timeout, 408 or 5xx is [`SubmitError::Retryable`]; 429 is
    /// [`SubmitError::RateLimited`] for its `Retry-After`; 401/403
    /// [`SubmitError::Misconfigured`]; any other 4xx a verdict on the message, with the
    /// text `error_text` finds in the body.
    ///
    /// # Errors
    /// As above.
    pub async fn send(
        &self,
        request: reqwest::RequestBuilder,
        error_text: fn(&str) -> Option<String>,
    ) -> Result<HttpAnswer, SubmitError> {
        self.paced().await;
        let response = request.send().await.map_err(|e| {
            let reason = format!("{}: {}", self.name, describe(&e));
            // A connection that never opened sent nothing: an outage like any other.
            if e.is_timeout() && !e.is_connect() {
                // Written, maybe taken: the answer is what was lost.
                SubmitError::Ambiguous { reason }
            } else {
                SubmitError::Retryable { reason }
            }
        })?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok())
            .map(Duration::from_secs);
        let body = response.text().await.map_err(|e| SubmitError::Ambiguous {
            reason: format!("{}: reading the answer: {}", self.name, describe(&e)),
        })?;
        classify(&self.name, status, retry_after, body, error_text)
    }
}

/// What an HTTP status means for the message; see [`HttpClient::send`].
///
/// # Errors
/// Every status but 2xx.
pub fn classify(
    provider: &str,
    status: u16,
    retry_after: Option<Duration>,
    body: String,
    error_text: fn(&str) -> Option<String>,
) -> Result<HttpAnswer, SubmitError> {
    let text = || error_text(&body).unwrap_or_else(|| format!("HTTP {status}"));
    match status {
        200..=299 => Ok(HttpAnswer { status, body }),
        401 | 403 => {
            let reason = format!("{provider}: HTTP {status}: {}", text());
            tracing::error!(target: "cascade::providers", provider, status, "{reason}: check the section's credentials");
            Err(SubmitError::Misconfigured { reason })
        }
        429 => Err(SubmitError::RateLimited {
            retry_after_ms: u64::try_from(retry_after.unwrap_or(DEFAULT_RETRY_AFTER).as_millis())
                .unwrap_or(u64::MAX),
        }),
        408 | 500..=599 => Err(SubmitError::Retryable {
            reason: format!("{provider}: HTTP {status}: {}", text()),
        }),
        _ => Err(SubmitError::from(reasons::rejected_by_provider(
            provider,
            text(),
        ))),
    }
}

fn describe(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timed out".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        cascade_core::error_chain(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn title(body: &str) -> Option<String> {
        Some(body.to_owned())
    }

    #[test]
    fn each_status_means_what_the_spec_says() {
        assert!(classify("p", 202, None, "{}".into(), none).is_ok());
        assert!(matches!(
            classify("p", 401, None, String::new(), none),
            Err(SubmitError::Misconfigured { .. })
        ));
        assert!(matches!(
            classify("p", 403, None, String::new(), none),
            Err(SubmitError::Misconfigured { .. })
        ));
        assert_eq!(
            classify("p", 429, Some(Duration::from_secs(3)), String::new(), none).unwrap_err(),
            SubmitError::RateLimited {
                retry_after_ms: 3000
            }
        );
        assert_eq!(
            classify("p", 429, None, String::new(), none).unwrap_err(),
            SubmitError::RateLimited {
                retry_after_ms: 1000
            }
        );
        for status in [408, 500, 502, 503, 504] {
            assert!(matches!(
                classify("p", status, None, String::new(), none),
                Err(SubmitError::Retryable { .. })
            ));
        }
        match classify("p", 422, None, "Invalid sender".into(), title) {
            Err(SubmitError::Rejected {
                status,
                detailed_status,
                description,
            }) => {
                assert_eq!(status, cascade_core::StatusKind::Failed);
                assert_eq!(detailed_status, "Message Rejected");
                assert_eq!(description, "p refused the message: Invalid sender");
            }
            other => panic!("{other:?}"),
        }
    }

    /// How long after `now` the next request may go (`None`: at once).
    fn next_after(client: &HttpClient, now: Instant) -> Option<Duration> {
        let (_, pace) = client.pace.as_ref().unwrap();
        let mut guard = pace.lock().unwrap();
        guard.0.next_available(now).map(|t| t - now)
    }

    #[tokio::test]
    async fn the_throughput_cap_is_split_between_the_live_nodes() {
        let common = Common {
            name: "p".into(),
            base_url: "https://example.com".into(),
            routes: vec!["*".into()],
            priority: 1,
            throughput: 10,
            nodes: NodeShare::default(),
            timeout: Duration::from_secs(5),
            senders: Default::default(),
        };
        let client = HttpClient::new(&common).unwrap();
        client.paced().await;
        let alone = next_after(&client, Instant::now()).unwrap();
        assert!(alone <= Duration::from_millis(100), "10/s alone: {alone:?}");
        assert!(alone > Duration::from_millis(90), "10/s alone: {alone:?}");

        // A second node joins: each paces at 5/s, so the provider still sees 10/s.
        common.nodes.set(2);
        tokio::time::sleep(alone).await;
        client.paced().await;
        let shared = next_after(&client, Instant::now()).unwrap();
        assert!(
            shared > Duration::from_millis(190),
            "5/s as one of two: {shared:?}"
        );
        assert!(
            shared <= Duration::from_millis(200),
            "5/s as one of two: {shared:?}"
        );
    }
}
