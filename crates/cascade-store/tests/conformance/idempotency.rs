//! Idempotency keys: claims, completion with the flow, release, takeover, purge.

use cascade_core::idempotency::{IN_FLIGHT_LEASE_MS, KEY_WINDOW_MS};
use cascade_store::{IdempotentAccept, IdempotentRequest, KeyClaim};

use crate::support::*;

async fn claim(f: &Fixture, key: &str, hash: &str, now: i64) -> KeyClaim {
    f.store
        .claim_idempotency_key(&f.application, key, hash, at(now))
        .await
        .unwrap()
}

fn request(f: &Fixture, key: &str, hash: &str, token: &str) -> IdempotentRequest {
    IdempotentRequest {
        application_id: f.application.clone(),
        key: key.into(),
        request_hash: hash.into(),
        token: token.into(),
        response: format!("{{\"for\":\"{hash}\"}}"),
    }
}

fn token(claim: KeyClaim) -> String {
    match claim {
        KeyClaim::Claimed { token } => token,
        other => panic!("expected a claim, got {other:?}"),
    }
}

pub async fn a_claimed_key_is_in_flight_until_completed(f: &Fixture) {
    let t = token(claim(f, "k", "h1", 0).await);
    assert_eq!(claim(f, "k", "h1", 1).await, KeyClaim::InFlight);
    assert_eq!(
        claim(f, "k", "h2", 1).await,
        KeyClaim::InFlight,
        "whatever the body"
    );
    let other_app = new_application(&*f.store, &f.account, "app-2").await;
    assert!(
        matches!(
            f.store
                .claim_idempotency_key(&other_app, "k", "h1", at(1))
                .await
                .unwrap(),
            KeyClaim::Claimed { .. }
        ),
        "keys are per application"
    );
    let def = f.flow(sms(10), at(2));
    let outcome = f
        .store
        .accept_flow_idempotent(def, request(f, "k", "h1", &t), at(2))
        .await
        .unwrap();
    assert!(matches!(outcome, IdempotentAccept::Accepted(_)));
    assert_eq!(f.store.count_flows().await.unwrap(), 1);
}

pub async fn a_completed_key_replays_or_conflicts(f: &Fixture) {
    let t = token(claim(f, "k", "h1", 0).await);
    let def = f.flow(sms(10), at(1));
    f.store
        .accept_flow_idempotent(def, request(f, "k", "h1", &t), at(1))
        .await
        .unwrap();
    assert_eq!(
        claim(f, "k", "h1", 2).await,
        KeyClaim::Replay {
            response: "{\"for\":\"h1\"}".into()
        }
    );
    assert_eq!(claim(f, "k", "h2", 2).await, KeyClaim::Conflict);
    // Committing again under the done key stores no second flow.
    let again = f
        .store
        .accept_flow_idempotent(f.flow(sms(10), at(3)), request(f, "k", "h1", &t), at(3))
        .await
        .unwrap();
    assert!(matches!(again, IdempotentAccept::Replayed { .. }));
    assert_eq!(f.store.count_flows().await.unwrap(), 1);
}

pub async fn a_released_key_is_free_again(f: &Fixture) {
    let t = token(claim(f, "k", "bad", 0).await);
    f.store
        .release_idempotency_key(&f.application, "k", "not-the-token")
        .await
        .unwrap();
    assert_eq!(
        claim(f, "k", "bad", 1).await,
        KeyClaim::InFlight,
        "only the claim's own token releases it"
    );
    f.store
        .release_idempotency_key(&f.application, "k", &t)
        .await
        .unwrap();
    assert!(matches!(
        claim(f, "k", "good", 2).await,
        KeyClaim::Claimed { .. }
    ));
}

pub async fn an_abandoned_claim_is_taken_over_and_its_owner_cannot_commit(f: &Fixture) {
    let first = token(claim(f, "k", "h", 0).await);
    let second = token(claim(f, "k", "h", IN_FLIGHT_LEASE_MS + 1).await);
    assert_ne!(first, second);
    let late = f
        .store
        .accept_flow_idempotent(
            f.flow(sms(10), at(IN_FLIGHT_LEASE_MS + 2)),
            request(f, "k", "h", &first),
            at(IN_FLIGHT_LEASE_MS + 2),
        )
        .await
        .unwrap();
    assert!(matches!(late, IdempotentAccept::InFlight));
    assert_eq!(f.store.count_flows().await.unwrap(), 0);
    let owner = f
        .store
        .accept_flow_idempotent(
            f.flow(sms(10), at(IN_FLIGHT_LEASE_MS + 3)),
            request(f, "k", "h", &second),
            at(IN_FLIGHT_LEASE_MS + 3),
        )
        .await
        .unwrap();
    assert!(matches!(owner, IdempotentAccept::Accepted(_)));
}

pub async fn old_keys_are_purged(f: &Fixture) {
    let t = token(claim(f, "old", "h", 0).await);
    f.store
        .accept_flow_idempotent(f.flow(sms(10), at(1)), request(f, "old", "h", &t), at(1))
        .await
        .unwrap();
    let later = KEY_WINDOW_MS + 10;
    assert!(
        matches!(
            claim(f, "old", "other", later).await,
            KeyClaim::Claimed { .. }
        ),
        "a key older than the window is forgotten even before the purge"
    );
    assert!(f.store.purge_idempotency_keys(at(later + 1)).await.unwrap() >= 1);
}
