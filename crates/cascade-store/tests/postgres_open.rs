//! The PostgreSQL store opens on a throwaway cluster (or `CASCADE_TEST_DATABASE_URL`),
//! and nodes opening one database at the same moment apply the schema once.

use cascade_store::postgres::{PgConfig, PgStore, cluster};

#[tokio::test(flavor = "multi_thread")]
async fn three_nodes_opening_one_database_at_once_migrate_it_once() {
    let url = cluster::fresh_database().await;
    let opens = (0..3).map(|i| {
        let config = PgConfig::new(url.clone(), format!("node-{i}"));
        tokio::spawn(async move { PgStore::open(&config).await })
    });
    for open in opens {
        open.await.unwrap().expect("every node opens the store");
    }
    let mut conn = <sqlx::PgConnection as sqlx::Connection>::connect(&url)
        .await
        .unwrap();
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM schema_migrations ORDER BY version")
            .fetch_all(&mut conn)
            .await
            .unwrap();
    assert_eq!(versions, vec![1, 2], "each applied once");
}

#[tokio::test]
async fn a_url_that_cannot_be_read_is_refused_without_echoing_the_password() {
    let e = PgStore::open(&PgConfig::new("postgres://u:hunter2@/x?sslmode=bogus", "n"))
        .await
        .expect_err("refused");
    assert!(!format!("{e} {e:?}").contains("hunter2"), "{e:?}");
}

#[tokio::test]
async fn sslmode_require_connects_over_tls() {
    use sqlx::Connection;
    let url = cluster::fresh_database().await;
    assert!(
        cluster::test_server_has_tls(),
        "the throwaway cluster is made with a certificate (openssl is needed)"
    );
    let require = format!("{url}?sslmode=require");
    PgStore::open(&PgConfig::new(require.clone(), "n"))
        .await
        .expect("the store opens over TLS");
    let mut conn = sqlx::PgConnection::connect(&require).await.unwrap();
    let encrypted: bool =
        sqlx::query_scalar("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
            .fetch_one(&mut conn)
            .await
            .unwrap();
    assert!(encrypted, "the session is encrypted");
}
