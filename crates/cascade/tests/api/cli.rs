//! `cascade admin ...` against the store of a running server: what the command line
//! creates, the API sees at once.

use std::process::Output;

use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

fn admin(app: &TestApp, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_cascade"))
        .arg("admin")
        .args(args)
        .env("CASCADE_DATABASE_URL", app.database_url.clone())
        .env("CASCADE_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("CASCADE_CONFIG")
        .output()
        .expect("the cascade binary runs")
}

fn json_of(out: &Output) -> Value {
    assert!(
        out.status.success(),
        "failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("the command prints JSON")
}

#[tokio::test]
async fn accounts_and_applications_made_on_the_command_line_work_over_http() {
    let app = spawn_app().await;

    let account = json_of(&admin(
        &app,
        &[
            "accounts",
            "create",
            "--name",
            "Acme",
            "--balance",
            "12.5",
            "--currency",
            "gbp",
        ],
    ));
    let account_id = account["accountId"].as_str().unwrap().to_owned();
    assert_eq!(account["currency"], "GBP");
    let created = json_of(&admin(
        &app,
        &[
            "applications",
            "create",
            "--account",
            &account_id,
            "--name",
            "backend",
            "--scopes",
            "failover,sms,account",
        ],
    ));
    let (id, secret) = (
        created["applicationId"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    assert_eq!(
        created["scopes"],
        serde_json::json!(["failover", "sms", "account"])
    );

    // The running server authenticates the new application at once.
    let token = app.token_for(id, secret, None).await;
    let balance = app
        .client
        .get(app.url("/accounts/me/balance"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(balance["balance"], 12.5);
    assert_eq!(balance["currency"]["code"], "GBP");

    json_of(&admin(&app, &["balance", "set", &account_id, "40"]));
    let shown = json_of(&admin(&app, &["accounts", "show", &account_id]));
    assert_eq!(shown["balance"], 40);

    // A reset secret replaces the old one.
    let reset = json_of(&admin(&app, &["applications", "reset-secret", id]));
    let new_secret = reset["secret"].as_str().unwrap();
    assert_eq!(
        app.request_token(id, secret, None).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.request_token(id, new_secret, None).await.status(),
        StatusCode::OK
    );

    let sender = json_of(&admin(
        &app,
        &[
            "viber-senders",
            "add",
            "--account",
            &account_id,
            "--name",
            "AcmeBrand",
        ],
    ));
    assert_eq!(sender["name"], "AcmeBrand");
    assert!(
        sender["senderInfoTrackingId"]
            .as_str()
            .is_some_and(|s| !s.is_empty())
    );
}

#[tokio::test]
async fn bad_command_line_input_is_refused_and_changes_nothing() {
    let app = spawn_app().await;
    let cases: &[(&[&str], &str)] = &[
        (
            &["accounts", "create", "--name", "X", "--balance", "-1"],
            "balance",
        ),
        (
            &["accounts", "create", "--name", "X", "--currency", "XYZ"],
            "currency",
        ),
        (&["accounts", "create", "--name", ""], "name"),
        (
            &[
                "applications",
                "create",
                "--account",
                "no-such-account",
                "--name",
                "n",
            ],
            "not found",
        ),
        (
            &[
                "applications",
                "create",
                "--account",
                &app.account_id,
                "--name",
                "n",
                "--scopes",
                "email",
            ],
            "scope",
        ),
        (&["balance", "set", "no-such-account", "10"], "not found"),
        (&["accounts", "show", "no-such-account"], "not found"),
        (
            &["applications", "reset-secret", "no-such-app"],
            "not found",
        ),
        (&["admin-token", "rotate"], "CASCADE_ADMIN_TOKEN"),
    ];
    for (args, expected) in cases {
        let out = admin(&app, args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?} should fail");
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
    }
    // The account's balance is untouched by all of that.
    assert_eq!(app.account_balance(&app.account_id).await, 100.0);
}

#[tokio::test]
async fn a_second_server_is_refused_by_sqlite_joins_postgres_and_admin_commands_still_work() {
    let app = spawn_app().await;
    // A second server (here: built in the same process, as tests do) on the same store.
    let config = cascade::Config::load(
        None,
        &std::collections::HashMap::from([
            ("CASCADE_LISTEN".to_owned(), "127.0.0.1:0".to_owned()),
            (
                "CASCADE_SANDBOX_SMPP_LISTEN".to_owned(),
                "127.0.0.1:0".to_owned(),
            ),
            ("CASCADE_DATABASE_URL".to_owned(), app.database_url.clone()),
            ("CASCADE_ADMIN_TOKEN".to_owned(), ADMIN_TOKEN.to_owned()),
        ]),
    )
    .unwrap();
    match crate::BACKEND {
        // One server per SQLite store: the second is refused, naming the first.
        Backend::Sqlite => {
            let err = cascade::Application::build(config)
                .await
                .expect_err("the store is taken");
            let text = format!("{err:#}");
            assert!(
                text.contains("is in use by another server")
                    && text.contains(&format!("pid {} ", std::process::id())),
                "{text}"
            );
        }
        // PostgreSQL takes any number of nodes: the second one starts.
        Backend::Postgres => {
            let second = cascade::Application::build(config)
                .await
                .expect("a second node starts on a shared PostgreSQL store");
            assert!(second.port() > 0);
        }
    }
    // Tools are not servers: they work beside the running one.
    let listed = json_of(&admin(&app, &["callbacks", "list"]));
    assert_eq!(listed, serde_json::json!({"callbacks": []}));
}
