//! §1: `POST /oauth/token` (client credentials), its OAuth-shaped errors, scopes and
//! permissions, token lifetimes and secret verification.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::CACHE_CONTROL;
use serde_json::{Value, json};

use crate::helpers::*;

const ALL_PERMISSIONS: [&str; 5] = [
    "MT_ROLE_FAILOVER",
    "MT_ROLE_SMS",
    "MT_ROLE_VIBER",
    "MT_ROLE_VOICE",
    "MT_ROLE_ACCOUNT_FINANCE",
];

/// `POST /oauth/token` with optional Basic credentials and the given form.
async fn token_request(
    app: &TestApp,
    basic: Option<(&str, &str)>,
    form: &[(&str, &str)],
) -> reqwest::Response {
    let mut req = app.client.post(app.url("/oauth/token")).form(form);
    if let Some((id, secret)) = basic {
        req = req.basic_auth(id, Some(secret));
    }
    req.send().await.expect("request sent")
}

async fn json_of(r: reqwest::Response) -> (StatusCode, Value) {
    let status = r.status();
    let text = r.text().await.expect("a body");
    let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
    (status, body)
}

/// An OAuth error (`{"error", "error_description"}`), not the API's error shape.
fn assert_oauth_error(
    context: &str,
    status: StatusCode,
    body: &Value,
    want: StatusCode,
    error: &str,
) {
    assert_eq!(status, want, "{context}: {body}");
    assert_eq!(body["error"], error, "{context}: {body}");
    assert!(
        body["error_description"]
            .as_str()
            .is_some_and(|d| !d.is_empty()),
        "{context}: an error_description: {body}"
    );
    assert!(
        body.get("code").is_none() && body.get("developerMessage").is_none(),
        "{context}: the OAuth shape, not the API shape: {body}"
    );
}

fn permissions_of(body: &Value) -> Vec<&str> {
    body["permissions"]
        .as_array()
        .unwrap_or_else(|| panic!("permissions is an array: {body}"))
        .iter()
        .map(|p| p.as_str().expect("a permission name"))
        .collect()
}

#[tokio::test]
async fn a_token_response_has_the_contract_shape_and_is_not_cached() {
    let app = spawn_app().await;
    let r = app.request_token(&app.app_id, &app.app_secret, None).await;
    let cache_control = r.headers().get(CACHE_CONTROL).cloned();
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(
        cache_control.as_ref().and_then(|v| v.to_str().ok()),
        Some("no-store"),
        "tokens are not cached"
    );
    let token = body["access_token"].as_str().expect("an access_token");
    assert!(token.len() >= 20, "an unguessable token: {token:?}");
    assert_ne!(token, app.app_secret, "the token is not the secret");
    assert_eq!(body["token_type"], "bearer");
    assert_eq!(body["expires_in"], 3600);
    assert_eq!(body["scope"], "failover sms viber voice account");
    let mut permissions = permissions_of(&body);
    permissions.sort_unstable();
    let mut all = ALL_PERMISSIONS;
    all.sort_unstable();
    assert_eq!(permissions, all);

    // Two requests, two different tokens, both usable.
    let again = app.token_for(&app.app_id, &app.app_secret, None).await;
    assert_ne!(again, token);
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    for t in [token, again.as_str()] {
        assert_eq!(app.get_tracking_with(t, &id).await.status(), StatusCode::OK);
    }
}

#[tokio::test]
async fn bad_credentials_grants_and_scopes_are_oauth_errors() {
    let app = spawn_app().await;
    let grant = [("grant_type", "client_credentials")];

    let mut wrong_secret = app.app_secret.clone();
    wrong_secret.push('x');
    let cases: Vec<(&str, Option<(&str, &str)>)> = vec![
        ("bad secret", Some((&app.app_id, &wrong_secret))),
        ("empty secret", Some((&app.app_id, ""))),
        (
            "unknown application",
            Some(("no-such-app", &app.app_secret)),
        ),
        ("no credentials", None),
    ];
    for (context, basic) in cases {
        let (status, body) = json_of(token_request(&app, basic, &grant).await).await;
        assert_oauth_error(
            context,
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        );
    }
    // A Basic header that is not base64 of id:secret.
    let r = app
        .client
        .post(app.url("/oauth/token"))
        .header("Authorization", "Basic not-base64!")
        .form(&grant)
        .send()
        .await
        .unwrap();
    let (status, body) = json_of(r).await;
    assert_oauth_error(
        "garbled Basic",
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );

    let creds = Some((app.app_id.as_str(), app.app_secret.as_str()));
    let (status, body) =
        json_of(token_request(&app, creds, &[("grant_type", "password")]).await).await;
    assert_oauth_error(
        "password grant",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    );

    let form = [
        ("grant_type", "client_credentials"),
        ("scope", "failover email"),
    ];
    let (status, body) = json_of(token_request(&app, creds, &form).await).await;
    assert_oauth_error(
        "unknown scope",
        status,
        &body,
        StatusCode::BAD_REQUEST,
        "invalid_scope",
    );
}

#[tokio::test]
async fn a_token_can_be_narrowed_to_a_subset_of_the_application_scopes() {
    let app = spawn_app().await;
    let r = app
        .request_token(&app.app_id, &app.app_secret, Some("failover sms"))
        .await;
    let (status, body) = json_of(r).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "failover sms");
    assert_eq!(permissions_of(&body), ["MT_ROLE_FAILOVER", "MT_ROLE_SMS"]);

    // An application created with two scopes has only those.
    let (id, secret) = app
        .create_application(
            &app.account_id,
            json!({"name": "sms only", "scopes": ["failover", "sms"]}),
        )
        .await;
    let (status, body) = json_of(app.request_token(&id, &secret, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["scope"], "failover sms");
    assert_eq!(permissions_of(&body), ["MT_ROLE_FAILOVER", "MT_ROLE_SMS"]);
    for scope in ["viber", "failover viber", "account"] {
        let (status, body) = json_of(app.request_token(&id, &secret, Some(scope)).await).await;
        assert_oauth_error(
            scope,
            status,
            &body,
            StatusCode::BAD_REQUEST,
            "invalid_scope",
        );
    }
}

#[tokio::test]
async fn a_token_stops_working_when_its_lifetime_is_over() {
    let app = spawn_app().await;
    let id = app.send_flow(&flow(vec![sms_step(1, "Hi")])).await;
    let (short_id, short_secret) = app
        .create_application(
            &app.account_id,
            json!({"name": "short-lived", "tokenLifetimeSeconds": 1}),
        )
        .await;

    let requested = Instant::now();
    let (status, body) = json_of(app.request_token(&short_id, &short_secret, None).await).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["expires_in"], 1);
    let token = body["access_token"].as_str().expect("a token").to_owned();
    let r = app.get_tracking_with(&token, &id).await;
    assert_eq!(
        r.status(),
        StatusCode::OK,
        "the token works before it expires (used {:?} after it was requested)",
        requested.elapsed()
    );

    let deadline = requested + Duration::from_secs(10);
    let (status, body) = loop {
        let (status, body) = json_of(app.get_tracking_with(&token, &id).await).await;
        if status != StatusCode::OK {
            break (status, body);
        }
        assert!(
            Instant::now() < deadline,
            "the token still works after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let expired_after = requested.elapsed();
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    assert_eq!(body["code"], "401000000", "{body}");
    assert!(
        expired_after >= Duration::from_millis(950),
        "not before its lifetime is over: {expired_after:?}"
    );
    // A new token of the same application works again.
    let fresh = app.token_for(&short_id, &short_secret, None).await;
    assert_eq!(
        app.get_tracking_with(&fresh, &id).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_secret_is_verified_and_may_be_sent_in_the_form() {
    let app = spawn_app().await;
    let r = app
        .admin_post(
            &format!("/admin/accounts/{}/applications", app.account_id),
            json!({"name": "verified"}),
        )
        .await;
    assert_eq!(r.status(), StatusCode::CREATED);
    let created: Value = r.json().await.unwrap();
    let id = created["applicationId"].as_str().expect("an id").to_owned();
    let secret = created["secret"].as_str().expect("a secret").to_owned();

    let (status, body) = json_of(app.request_token(&id, &secret, None).await).await;
    assert_eq!(status, StatusCode::OK, "the returned secret works: {body}");

    let last = secret.chars().last().expect("a non-empty secret");
    let flipped = format!(
        "{}{}",
        &secret[..secret.len() - last.len_utf8()],
        if last == 'A' { 'B' } else { 'A' }
    );
    let shortened = secret[..secret.len() - 1].to_owned();
    let upper = secret.to_uppercase();
    for (context, bad) in [
        ("last character changed", flipped.as_str()),
        ("shortened", shortened.as_str()),
        ("upper-cased", upper.as_str()),
        ("another application's", app.app_secret.as_str()),
    ] {
        if bad == secret {
            continue;
        }
        let (status, body) = json_of(app.request_token(&id, bad, None).await).await;
        assert_oauth_error(
            context,
            status,
            &body,
            StatusCode::UNAUTHORIZED,
            "invalid_client",
        );
    }

    // client_id and client_secret in the form, no Basic header.
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", secret.as_str()),
        ("scope", "failover sms"),
    ];
    let (status, body) = json_of(token_request(&app, None, &form).await).await;
    assert_eq!(status, StatusCode::OK, "form credentials: {body}");
    assert_eq!(body["scope"], "failover sms");
    let token = body["access_token"].as_str().expect("a token");
    let r = app
        .post_flow_with(token, &flow(vec![sms_step(1, "Hi")]))
        .await;
    assert_eq!(r.status(), StatusCode::OK, "the form-issued token works");

    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", id.as_str()),
        ("client_secret", flipped.as_str()),
    ];
    let (status, body) = json_of(token_request(&app, None, &form).await).await;
    assert_oauth_error(
        "bad form secret",
        status,
        &body,
        StatusCode::UNAUTHORIZED,
        "invalid_client",
    );
}
