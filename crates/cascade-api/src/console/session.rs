//! Who is signed in to the console: a session cookie signed with a key every node
//! derives from the admin token ([`AdminAuth::derive_key`]), so any node of a deployment
//! reads any other's sessions and nothing is stored per session.
//!
//! - An application's session names the application and a fingerprint of its secret's
//!   hash: resetting the secret signs its sessions out. An operator's session carries a
//!   fingerprint of the signing key itself: a new admin token signs everyone out.
//! - The cookie is `HttpOnly`, `SameSite=Strict`, limited to `/console`, and `Secure`
//!   when the page came over HTTPS.
//! - Every form that changes something carries a CSRF token derived from the session's
//!   nonce; the sign-in form, before any session, a token that must equal a cookie
//!   (double submit). Cross-site `Origin` or `Sec-Fetch-Site` headers are refused too.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use cascade_core::Timestamp;
use cascade_service::credentials::constant_time_eq;
use cascade_service::tenancy::AdminAuth;
use hmac::Mac;
use serde::{Deserialize, Serialize};
use sha2::Digest;

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "cascade_console";
/// The sign-in form's double-submit cookie.
pub const LOGIN_COOKIE: &str = "cascade_console_login";
/// How long a session lasts.
pub const SESSION_MS: i64 = 8 * 3600 * 1000;

/// Who a session is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "k", rename_all = "lowercase")]
pub enum Who {
    /// An application: the trackings of its account.
    App {
        application: String,
        account: String,
        /// Fingerprint of the application's secret hash when signed in.
        secret: String,
    },
    /// The operator: every account, and the operators' pages.
    Operator,
}

/// A signed-in session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    #[serde(flatten)]
    pub who: Who,
    /// Expiry, in milliseconds since the epoch.
    pub exp: i64,
    /// Random, per session: what its CSRF token is derived from.
    pub nonce: String,
    /// Fingerprint of the key that signed it.
    pub key: String,
}

impl Session {
    pub fn is_operator(&self) -> bool {
        matches!(self.who, Who::Operator)
    }
}

/// Signs and checks sessions and CSRF tokens.
#[derive(Clone)]
pub struct Keys {
    key: [u8; 32],
}

impl std::fmt::Debug for Keys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keys(..)")
    }
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

impl Keys {
    pub fn new(admin: &AdminAuth) -> Keys {
        Keys {
            key: admin.derive_key("cascade console sessions v1"),
        }
    }

    fn mac(&self, parts: &[&[u8]]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        for part in parts {
            mac.update(part);
            mac.update(b"\0");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    fn fingerprint(&self) -> String {
        self.mac(&[b"fingerprint"])[..16].to_owned()
    }

    /// A new session for `who`, valid for [`SESSION_MS`] from `now`.
    pub fn open(&self, who: Who, now: Timestamp) -> Session {
        Session {
            who,
            exp: now.as_millis() + SESSION_MS,
            nonce: random_token(),
            key: self.fingerprint(),
        }
    }

    /// The cookie value of `session`: its JSON, base64url, a dot and its MAC.
    pub fn seal(&self, session: &Session) -> String {
        let json = serde_json::to_vec(session).expect("a session serializes");
        let body = URL_SAFE_NO_PAD.encode(json);
        let mac = self.mac(&[b"session", body.as_bytes()]);
        format!("{body}.{mac}")
    }

    /// The session a cookie value stands for: signed by this key, not expired.
    pub fn unseal(&self, value: &str, now: Timestamp) -> Option<Session> {
        let (body, mac) = value.split_once('.')?;
        if !constant_time_eq(&self.mac(&[b"session", body.as_bytes()]), mac) {
            return None;
        }
        let session: Session = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(body).ok()?).ok()?;
        (session.exp > now.as_millis() && session.key == self.fingerprint()).then_some(session)
    }

    /// The CSRF token forms of `session` carry.
    pub fn csrf(&self, session: &Session) -> String {
        self.mac(&[b"csrf", session.nonce.as_bytes()])[..32].to_owned()
    }

    pub fn csrf_ok(&self, session: &Session, presented: &str) -> bool {
        constant_time_eq(&self.csrf(session), presented)
    }
}

/// Fingerprint of an application's secret hash (a reset changes it).
pub fn secret_fingerprint(secret_hash: &str) -> String {
    hex::encode(&sha2::Sha256::digest(secret_hash.as_bytes())[..8])
}

/// 128 random bits, hex.
pub fn random_token() -> String {
    use rand::RngCore;
    let mut bytes = [0u8; 16];
    rand::thread_rng().fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A cookie's value from the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a axum::http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, v)| v)
}

/// A `Set-Cookie` value for `/console`, gone after `max_age_s` (0: delete it now).
pub fn set_cookie(name: &str, value: &str, max_age_s: i64, secure: bool) -> String {
    format!(
        "{name}={value}; Path=/console; Max-Age={max_age_s}; HttpOnly; SameSite=Strict{}",
        if secure { "; Secure" } else { "" }
    )
}

/// Whether a state-changing request comes from the console's own pages: no cross-site
/// `Sec-Fetch-Site`, and an `Origin`, when sent, on the same host.
pub fn same_origin(headers: &axum::http::HeaderMap) -> bool {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = header("sec-fetch-site")
        && !matches!(site, "same-origin" | "none")
    {
        return false;
    }
    match (header("origin"), header("host")) {
        (None, _) => true,
        (Some(origin), Some(host)) => origin
            .split_once("://")
            .is_some_and(|(_, rest)| rest.eq_ignore_ascii_case(host)),
        (Some(_), None) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, HeaderValue};
    use secrecy::SecretString;

    fn keys(token: &str) -> Keys {
        Keys::new(&AdminAuth::Configured(SecretString::from(token.to_owned())))
    }

    fn app() -> Who {
        Who::App {
            application: "app-1".into(),
            account: "acc-1".into(),
            secret: secret_fingerprint("$argon2id$hash"),
        }
    }

    #[test]
    fn a_sealed_session_reads_back_until_it_expires() {
        let k = keys("admin");
        let now = Timestamp::from_millis(1_000_000);
        let s = k.open(app(), now);
        let cookie = k.seal(&s);
        assert_eq!(k.unseal(&cookie, now), Some(s.clone()));
        assert_eq!(k.unseal(&cookie, now.plus_millis(SESSION_MS - 1)), Some(s));
        assert_eq!(k.unseal(&cookie, now.plus_millis(SESSION_MS)), None);
    }

    #[test]
    fn a_tampered_or_foreign_cookie_is_refused() {
        let k = keys("admin");
        let now = Timestamp::from_millis(0);
        let cookie = k.seal(&k.open(app(), now));
        let (body, mac) = cookie.split_once('.').unwrap();
        // Another body under the same MAC: an operator's session forged from an app's.
        let forged = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Session {
                who: Who::Operator,
                exp: i64::MAX,
                nonce: "n".into(),
                key: k.fingerprint(),
            })
            .unwrap(),
        );
        for bad in [
            format!("{forged}.{mac}"),
            format!("{body}.{}", "0".repeat(mac.len())),
            body.to_owned(),
            String::new(),
            "..".into(),
        ] {
            assert_eq!(k.unseal(&bad, now), None, "{bad}");
        }
        // Another admin token signs everyone out.
        assert_eq!(keys("rotated").unseal(&cookie, now), None);
    }

    #[test]
    fn csrf_tokens_belong_to_their_session() {
        let k = keys("admin");
        let now = Timestamp::from_millis(0);
        let a = k.open(Who::Operator, now);
        let b = k.open(Who::Operator, now);
        assert!(k.csrf_ok(&a, &k.csrf(&a)));
        assert!(!k.csrf_ok(&a, &k.csrf(&b)));
        assert!(!k.csrf_ok(&a, ""));
    }

    #[test]
    fn cross_site_requests_are_told_apart() {
        let h = |pairs: &[(&'static str, &'static str)]| {
            let mut m = HeaderMap::new();
            for (n, v) in pairs {
                m.insert(*n, HeaderValue::from_static(v));
            }
            m
        };
        assert!(same_origin(&h(&[("host", "127.0.0.1:8080")])));
        assert!(same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://127.0.0.1:8080"),
            ("sec-fetch-site", "same-origin"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("origin", "http://evil.example"),
        ])));
        assert!(!same_origin(&h(&[
            ("host", "127.0.0.1:8080"),
            ("sec-fetch-site", "cross-site"),
        ])));
        assert!(!same_origin(&h(&[("origin", "null")])));
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut m = HeaderMap::new();
        m.insert(
            axum::http::header::COOKIE,
            HeaderValue::from_static("a=1; cascade_console=xyz.abc; b=2"),
        );
        assert_eq!(cookie(&m, SESSION_COOKIE), Some("xyz.abc"));
        assert_eq!(cookie(&m, "missing"), None);
    }
}
