//! Audio for PLAY verbs: a WAV fetched over http(s), read, resampled to 8 kHz and kept
//! in a bounded cache by URL.

use std::sync::Arc;
use std::time::Duration;

use cascade_media::{SAMPLE_RATE, resample, wav};

/// The largest file fetched (about 10 minutes of 16-bit 22.05 kHz mono).
const MAX_BYTES: usize = 32 * 1024 * 1024;

/// Why a PLAY file could not be played.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PlayError {
    #[error("fetching {url}: {reason}")]
    Fetch { url: String, reason: String },
    #[error("{url} is not a playable WAV: {reason}")]
    Audio { url: String, reason: String },
}

/// Fetches PLAY files; see the module documentation.
#[derive(Debug)]
pub struct Player {
    client: reqwest::Client,
    cache: super::AudioCache<String>,
}

impl Player {
    /// # Errors
    /// When the HTTP client cannot be built.
    pub fn new(timeout: Duration) -> Result<Player, String> {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .build()
            .map_err(|e| format!("PLAY client: {e}"))?;
        Ok(Player {
            client,
            cache: super::AudioCache::new(),
        })
    }

    /// The file at `url` as 8 kHz mono samples.
    ///
    /// # Errors
    /// See [`PlayError`].
    pub async fn fetch(&self, url: &str) -> Result<Arc<Vec<i16>>, PlayError> {
        if let Some(hit) = self.cache.get(&url.to_owned()) {
            return Ok(hit);
        }
        let fail = |reason: String| PlayError::Fetch {
            url: url.to_owned(),
            reason,
        };
        let mut response = self
            .client
            .get(url)
            .send()
            .await
            .map_err(|e| fail(cascade_core::error_chain(&e)))?;
        if !response.status().is_success() {
            return Err(fail(format!("HTTP {}", response.status().as_u16())));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response
            .chunk()
            .await
            .map_err(|e| fail(cascade_core::error_chain(&e)))?
        {
            body.extend_from_slice(&chunk);
            if body.len() > MAX_BYTES {
                return Err(fail(format!("larger than {MAX_BYTES} bytes")));
            }
        }
        // Reading and resampling a long file is seconds of CPU: off the async workers,
        // which pace other calls' RTP.
        let read = tokio::task::spawn_blocking(move || {
            wav::read(&body).map(|a| resample::resample(&a.samples, a.rate, SAMPLE_RATE))
        })
        .await
        .map_err(|e| fail(e.to_string()))?;
        let samples = Arc::new(read.map_err(|e| PlayError::Audio {
            url: url.to_owned(),
            reason: e.to_string(),
        })?);
        self.cache.put(url.to_owned(), Arc::clone(&samples));
        Ok(samples)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A file server: `/tone.wav` (0.25 s at 16 kHz), `/text.txt`, anything else 404.
    async fn server(hits: Arc<AtomicUsize>) -> String {
        let wav_bytes = wav::write(&wav::Audio {
            rate: 16_000,
            samples: vec![1000; 4000],
        });
        let app = axum::Router::new()
            .route(
                "/tone.wav",
                axum::routing::get(move || {
                    hits.fetch_add(1, Ordering::SeqCst);
                    let body = wav_bytes.clone();
                    async move { body }
                }),
            )
            .route("/text.txt", axum::routing::get(|| async { "not audio" }));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        base
    }

    #[tokio::test]
    async fn a_wav_is_fetched_once_resampled_and_bad_files_are_errors() {
        let hits = Arc::new(AtomicUsize::new(0));
        let base = server(Arc::clone(&hits)).await;
        let player = Player::new(Duration::from_secs(5)).unwrap();
        let tone = player.fetch(&format!("{base}/tone.wav")).await.unwrap();
        assert_eq!(tone.len(), 2000, "0.25 s at 8 kHz");
        player.fetch(&format!("{base}/tone.wav")).await.unwrap();
        assert_eq!(
            hits.load(Ordering::SeqCst),
            1,
            "the second play is from the cache"
        );
        assert!(matches!(
            player.fetch(&format!("{base}/text.txt")).await,
            Err(PlayError::Audio { .. })
        ));
        assert!(matches!(
            player.fetch(&format!("{base}/missing.wav")).await,
            Err(PlayError::Fetch { .. })
        ));
    }
}
