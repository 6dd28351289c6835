//! What Vonage's APIs (Messages, Voice) share: the application's RS256 request token,
//! the HS256 token that signs their webhooks, and their RFC 7807 error bodies.

use std::collections::HashSet;

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use cascade_core::Timestamp;
use cascade_core::ports::{SubmitError, WebhookError, WebhookRequest};

use super::sha256_hex;

/// How long an RS256 request token is valid (Vonage's SDKs use 15 minutes).
const JWT_LIFETIME_S: i64 = 900;

#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
pub(super) struct RequestClaims {
    pub application_id: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

impl RequestClaims {
    /// Claims for a token issued at `now`, with a fresh `jti`.
    pub(super) fn new(application_id: &str, now: Timestamp) -> Self {
        let iat = now.as_millis() / 1000;
        RequestClaims {
            application_id: application_id.to_owned(),
            iat,
            exp: iat + JWT_LIFETIME_S,
            jti: uuid::Uuid::new_v4().to_string(),
        }
    }
}

/// The `Authorization: Bearer` token of one request for `application_id`, signed (RS256)
/// with the application's private key.
///
/// # Errors
/// When the key cannot sign (a configuration error).
pub(super) fn request_token(
    provider: &str,
    application_id: &str,
    key: &EncodingKey,
    now: Timestamp,
) -> Result<String, SubmitError> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::RS256),
        &RequestClaims::new(application_id, now),
        key,
    )
    .map_err(|e| SubmitError::Misconfigured {
        reason: format!("{provider}: signing the request token: {e}"),
    })
}

#[derive(Deserialize)]
struct WebhookClaims {
    iat: Option<i64>,
    payload_hash: Option<String>,
}

/// Check a webhook's `Authorization: Bearer` HS256 JWT (keyed by the signature secret)
/// and that its `payload_hash` is the body's SHA-256.
///
/// # Errors
/// [`WebhookError::Unauthorized`], saying what is wrong.
pub(super) fn verify_signature(
    request: &WebhookRequest,
    key: &DecodingKey,
) -> Result<(), WebhookError> {
    let token = request
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "))
        .ok_or_else(|| WebhookError::Unauthorized("no Bearer token".into()))?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims = HashSet::new();
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<WebhookClaims>(token.trim(), key, &validation)
        .map_err(|e| WebhookError::Unauthorized(format!("bad signature: {e}")))?
        .claims;
    if claims.iat.is_none() {
        return Err(WebhookError::Unauthorized("the token has no iat".into()));
    }
    match claims.payload_hash {
        Some(hash) if hash.eq_ignore_ascii_case(&sha256_hex(&request.body)) => Ok(()),
        Some(_) => Err(WebhookError::Unauthorized(
            "payload_hash does not match the body".into(),
        )),
        None => Err(WebhookError::Unauthorized(
            "the token has no payload_hash".into(),
        )),
    }
}

/// The key that checks webhooks signed with `secret`.
///
/// # Errors
/// When the secret cannot be a key.
pub(super) fn signature_key(provider: &str, secret: &str) -> Result<DecodingKey, String> {
    DecodingKey::from_secret(secret.as_bytes())
        .map_err(|e| format!("{provider}: signature_secret: {e}"))
}

/// The text of a Vonage error body (RFC 7807: `title`, `detail`, `invalid_parameters`).
pub(super) fn error_text(body: &str) -> Option<String> {
    let v: Value = serde_json::from_str(body).ok()?;
    let title = v.get("title").and_then(Value::as_str);
    let detail = v.get("detail").and_then(Value::as_str);
    let mut text = match (title, detail) {
        (Some(t), Some(d)) => format!("{t}: {d}"),
        (Some(t), None) => t.to_owned(),
        (None, Some(d)) => d.to_owned(),
        (None, None) => return None,
    };
    if let Some(params) = v.get("invalid_parameters").and_then(Value::as_array) {
        for p in params {
            if let (Some(n), Some(r)) = (
                p.get("name").and_then(Value::as_str),
                p.get("reason").and_then(Value::as_str),
            ) {
                text.push_str(&format!(" ({n}: {r})"));
            }
        }
    }
    Some(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn signed(secret: &str, body: &[u8], hash: Option<String>) -> WebhookRequest {
        let mut claims = json!({"iat": 1_700_000_000, "jti": "j", "iss": "Vonage", "api_key": "k"});
        if let Some(h) = hash {
            claims["payload_hash"] = json!(h);
        }
        let token = jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap();
        WebhookRequest {
            public_url: "https://c.example/webhooks/v".into(),
            path_token: None,
            headers: vec![("authorization".into(), format!("Bearer {token}"))],
            content_type: Some("application/json".into()),
            body: body.to_vec(),
        }
    }

    #[test]
    fn signatures_are_checked_with_the_secret_and_the_body_hash() {
        let key = signature_key("v", "secret").unwrap();
        let body = br#"{"status":"delivered","message_uuid":"u"}"#;
        assert!(verify_signature(&signed("secret", body, Some(sha256_hex(body))), &key).is_ok());
        for (request, why) in [
            (
                signed("other", body, Some(sha256_hex(body))),
                "another secret",
            ),
            (
                signed("secret", body, Some(sha256_hex(b"{}"))),
                "another body",
            ),
            (signed("secret", body, None), "no payload_hash"),
            (
                WebhookRequest {
                    headers: Vec::new(),
                    ..signed("secret", body, None)
                },
                "no token",
            ),
        ] {
            assert!(
                matches!(
                    verify_signature(&request, &key),
                    Err(WebhookError::Unauthorized(_))
                ),
                "{why}"
            );
        }
    }

    /// The request token, checked with the fixture key pair's public half.
    #[test]
    fn request_tokens_carry_the_application_and_a_fifteen_minute_lifetime() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../cascade/tests/fixtures");
        let private = std::fs::read(format!("{dir}/vonage-test-private.pem")).unwrap();
        let public = std::fs::read(format!("{dir}/vonage-test-public.pem")).unwrap();
        let now = Timestamp::parse("2026-11-26T10:15:00Z").unwrap();
        let token = request_token(
            "vv",
            "app-1",
            &EncodingKey::from_rsa_pem(&private).unwrap(),
            now,
        )
        .unwrap();
        let mut validation = Validation::new(Algorithm::RS256);
        validation.validate_exp = false;
        let data = jsonwebtoken::decode::<RequestClaims>(
            &token,
            &DecodingKey::from_rsa_pem(&public).unwrap(),
            &validation,
        )
        .unwrap();
        assert_eq!(data.header.alg, Algorithm::RS256);
        let claims = data.claims;
        assert_eq!(claims.application_id, "app-1");
        assert_eq!(claims.iat, 1_795_688_100);
        assert_eq!(claims.exp, 1_795_688_100 + 900);
        assert!(uuid::Uuid::parse_str(&claims.jti).is_ok(), "{}", claims.jti);
        let other = request_token(
            "vv",
            "app-1",
            &EncodingKey::from_rsa_pem(&private).unwrap(),
            now,
        )
        .unwrap();
        assert_ne!(token, other, "a fresh jti per request");
    }

    #[test]
    fn error_bodies_read_title_detail_and_parameters() {
        assert_eq!(
            error_text(r#"{"type":"x","title":"Invalid params","detail":"Bad.","invalid_parameters":[{"name":"to","reason":"7-15 digits"}]}"#).as_deref(),
            Some("Invalid params: Bad. (to: 7-15 digits)")
        );
        assert_eq!(error_text("<html>"), None);
    }
}
