//! The web console (`/console`) in headless Chromium: `tests/web/console.py` drives it
//! with Playwright (from `.venv-web`) against a server started here, and this test checks
//! what happened on the server's side. Screenshots land in
//! `target/tmp/console-screenshots/`.
//!
//! What the browser does: it is sent to the sign-in page, a wrong secret is refused
//! (401), the application signs in, finds its failover flow in the search form, opens
//! its timeline (two step bars, one failover arrow), sees a hostile SMS body shown as
//! text only, is refused another account's flow (404) and the operators' page (403), has
//! forged and cross-site forms refused (403), signs out; the operator signs in with the
//! admin token, sees every account, and redelivers a dead callback with its button.
//! Pages without a session, forms without their token and the escaping are also checked
//! here over plain HTTP.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::callbacks::admin_callbacks;
use crate::helpers::*;
use crate::web_tools::{chromium, web_bin};

const HOSTILE: &str = "<script>window.__pwned=1</script><img src=x onerror=\"window.__pwned=2\">";

/// A client that does not follow redirects (the tests look at them).
fn no_redirects() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// `name=value` of the first `Set-Cookie` of `response` for `name`.
fn set_cookie(response: &reqwest::Response, name: &str) -> Option<String> {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|c| c.starts_with(&format!("{name}=")))
        .map(|c| c.split(';').next().unwrap().to_owned())
}

/// The sign-in page's double-submit token (its cookie's value).
async fn login_token(client: &reqwest::Client, app: &TestApp) -> String {
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let cookie = set_cookie(&page, "cascade_console_login").expect("a login cookie");
    cookie.split_once('=').unwrap().1.to_owned()
}

/// Sign in with `fields` (the mode and its credentials); the session cookie.
async fn sign_in(client: &reqwest::Client, app: &TestApp, fields: &[(&str, &str)]) -> String {
    let token = login_token(client, app).await;
    let mut form = vec![("csrf", token.as_str())];
    form.extend_from_slice(fields);
    let ok = client
        .post(app.url("/console/login"))
        .header("cookie", format!("cascade_console_login={token}"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    set_cookie(&ok, "cascade_console").expect("a session cookie")
}

#[tokio::test]
async fn the_console_in_chromium_signs_in_finds_a_flow_draws_it_and_redelivers() {
    let bin = web_bin();
    let chromium = chromium();
    let app = spawn_app_with(&[
        ("CASCADE_ALLOW_PRIVATE_CALLBACKS", "1"),
        ("CASCADE_CALLBACK_RETRY_SCHEDULE", "100ms"),
        ("CASCADE_CALLBACK_TIMEOUT_MS", "300"),
    ])
    .await;
    // Nobody listens here yet: the flow's callback dies after its one retry.
    let receiver_port = free_port();
    let callback_url = format!("http://127.0.0.1:{receiver_port}/cascade");

    app.scenario(
        json!({"channel": "Viber", "to": PHONE, "events": [{"afterMs": 10, "status": "EXPIRED"}]}),
    )
    .await;
    let mut failover = flow(vec![viber_step(1, &app.sender_id), sms_step(2, "Hello")]);
    failover["callback"] = json!({"strategy": "OnCompletion", "url": callback_url});
    let failover_id = app.send_flow(&failover).await;
    let hostile_id = app.send_flow(&flow(vec![sms_step(1, HOSTILE)])).await;

    let other_account = app.create_account(10.0).await;
    let (other_app, other_secret) = app
        .create_application(&other_account, json!({"name": "other"}))
        .await;
    let other_token = app.token_for(&other_app, &other_secret, None).await;
    let r = app
        .post_flow_with(&other_token, &flow(vec![sms_step(1, "Someone else's")]))
        .await;
    assert_eq!(r.status(), StatusCode::OK);
    let other_id = r.json::<Value>().await.unwrap()["trackingId"]
        .as_str()
        .unwrap()
        .to_owned();

    for id in [&failover_id, &hostile_id] {
        app.wait_final(id).await;
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    let dead = loop {
        let cbs = admin_callbacks(&app, &format!("trackingId={failover_id}")).await;
        if let Some(d) = cbs.iter().find(|c| c["state"] == "dead") {
            break d["callbackId"].to_string();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the callback never died: {cbs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The receiver is up before the operator presses the button.
    let received =
        crate::chaos::Receiver::start_at(&format!("127.0.0.1:{receiver_port}"), Duration::ZERO)
            .await;

    let shots = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let input = json!({
        "base": app.base,
        "chromium": chromium,
        "shots": shots,
        "app_id": app.app_id,
        "app_secret": app.app_secret,
        "admin_token": ADMIN_TOKEN,
        "failover_flow": failover_id,
        "hostile_flow": hostile_id,
        "other_account_flow": other_id,
        "dead_callback": dead,
        "phone_prefix": &PHONE[..6],
    });
    let mut child = tokio::process::Command::new(bin.join("python"))
        .arg(repo_root().join("tests/web/console.py"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("the console script starts");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input.to_string().as_bytes()).await.unwrap();
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("the browser run ends within 3 minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed:\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    let seen: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default())
        .unwrap_or_else(|e| panic!("no summary ({e}):\n{stdout}\n{stderr}"));
    assert_eq!(seen["timeline"]["step"], 2, "{seen}");
    assert_eq!(seen["timeline"]["failover"], 1, "{seen}");
    assert!(seen["timeline"]["report"].as_u64().unwrap() >= 1, "{seen}");
    assert_eq!(seen["dead_before"], "1", "{seen}");

    // The button delivered the callback.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let cbs = admin_callbacks(&app, &format!("trackingId={failover_id}")).await;
        if cbs.iter().any(|c| c["state"] == "delivered") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the redelivered callback never arrived: {cbs:#?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(!received.got.lock().unwrap().is_empty());
    for shot in [
        "trackings.png",
        "flow.png",
        "operators.png",
        "redelivered.png",
    ] {
        let len = std::fs::metadata(shots.join(shot)).map_or(0, |m| m.len());
        assert!(len > 10_000, "{shot}: {len} bytes");
    }
}

#[tokio::test]
async fn console_pages_need_a_session_and_forms_need_their_token() {
    let app = spawn_app().await;
    let client = no_redirects();
    // No session: every page sends the visitor to sign in; forms are refused.
    for path in [
        "/console/trackings",
        "/console/operators",
        "/console/flows/x",
    ] {
        let r = client.get(app.url(path)).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "{path}");
        assert_eq!(r.headers()["location"], "/console/login", "{path}");
        assert!(
            r.headers()["content-security-policy"]
                .to_str()
                .unwrap()
                .contains("default-src 'none'")
        );
    }
    let r = client
        .post(app.url("/console/callbacks/1/redeliver"))
        .form(&[("csrf", "x")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "no session: sign in first"
    );

    // The sign-in form needs the cookie its page set (double submit).
    let page = client.get(app.url("/console/login")).send().await.unwrap();
    let cookie = page.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let login_token = login_token(&client, &app).await;
    let login = |csrf: &str, cookie: Option<String>, token: &str| {
        let mut req = client.post(app.url("/console/login")).form(&[
            ("csrf", csrf),
            ("mode", "operator"),
            ("admin_token", token),
        ]);
        if let Some(c) = cookie {
            req = req.header("cookie", c);
        }
        req.send()
    };
    let with_cookie = Some(format!("cascade_console_login={login_token}"));
    assert_eq!(
        login(&login_token, None, ADMIN_TOKEN)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "no login cookie"
    );
    assert_eq!(
        login("other", with_cookie.clone(), ADMIN_TOKEN)
            .await
            .unwrap()
            .status(),
        StatusCode::FORBIDDEN,
        "a token that is not the cookie's"
    );
    assert_eq!(
        login(&login_token, with_cookie.clone(), "wrong")
            .await
            .unwrap()
            .status(),
        StatusCode::UNAUTHORIZED
    );
    let ok = login(&login_token, with_cookie, ADMIN_TOKEN).await.unwrap();
    assert_eq!(ok.status(), StatusCode::SEE_OTHER);
    let session = set_cookie(&ok, "cascade_console").expect("a session cookie");

    // Signed in: the pages answer; a tampered cookie does not.
    let r = client
        .get(app.url("/console/operators"))
        .header("cookie", &session)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let tampered = format!("{}x", session);
    let r = client
        .get(app.url("/console/operators"))
        .header("cookie", tampered)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);

    // A state-changing form without the session's CSRF token is refused, and nothing
    // was redelivered (there was nothing to, and the answer is not a 404).
    let r = client
        .post(app.url("/console/callbacks/1/redeliver"))
        .header("cookie", &session)
        .form(&[("csrf", "0".repeat(32))])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn console_pages_show_flow_text_escaped() {
    let app = spawn_app().await;
    let id = app.send_flow(&flow(vec![sms_step(1, HOSTILE)])).await;
    app.wait_final(&id).await;
    let client = no_redirects();
    let session = sign_in(
        &client,
        &app,
        &[
            ("mode", "app"),
            ("application_id", &app.app_id),
            ("secret", &app.app_secret),
        ],
    )
    .await;
    let page = |path: String| {
        let request = client.get(app.url(&path)).header("cookie", &session);
        async move { request.send().await.unwrap().text().await.unwrap() }
    };
    let html = page(format!("/console/flows/{id}")).await;
    assert!(!html.contains("<script>window.__pwned"), "unescaped body");
    assert!(!html.contains("<img src=x"), "unescaped body");
    assert!(html.contains("&lt;script&gt;window.__pwned=1&lt;/script&gt;"));
    // The search form's own echo of what was typed is escaped too.
    let html = page("/console/trackings?to=%22%3E%3Cscript%3Ex%3C%2Fscript%3E".into()).await;
    assert!(
        !html.contains("\"><script>x</script>"),
        "unescaped form value"
    );
    assert!(html.contains("&quot;&gt;&lt;script&gt;x&lt;/script&gt;"));
}
