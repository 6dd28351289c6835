//! A throwaway PostgreSQL cluster for tests (issue 11): `initdb` and `pg_ctl` from the
//! installed binaries, in a temporary directory, on a free port of 127.0.0.1, as a
//! non-root user when the tests run as root. One cluster per test process, shared by
//! its tests, each of which gets a database of its own ([`fresh_database`]). A watcher
//! process stops the cluster once the test process is gone, so nothing outlives the run.
//!
//! `CASCADE_TEST_DATABASE_URL` (a server the tests may create databases on) replaces
//! the throwaway cluster. Without either, the tests fail with a message saying how to
//! get one: never a silent skip.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::OnceLock;

/// A server tests may create databases on: `postgres://user@host:port`.
#[derive(Debug, Clone)]
pub struct TestServer {
    /// Without a database name.
    pub base_url: String,
}

/// Where PostgreSQL's server programs are: `pg_config --bindir`, else the newest of
/// `/usr/lib/postgresql/*/bin`.
fn bin_dir() -> Option<PathBuf> {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return Some(dir);
        }
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").exists().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, p)| p)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
}

/// Run `program` (as `user` when given, through `runuser`).
fn run_as(
    user: Option<&str>,
    program: &Path,
    args: &[&str],
) -> std::io::Result<std::process::Output> {
    let mut cmd = match user {
        Some(u) => {
            let mut c = Command::new("runuser");
            c.args(["-u", u, "--"]).arg(program);
            c
        }
        None => Command::new(program),
    };
    cmd.args(args).stdin(Stdio::null()).output()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or(55_432)
}

fn start_cluster() -> Result<TestServer, String> {
    let dir = std::env::temp_dir().join(format!("cascade-pg-{}", std::process::id()));
    // Test applications are not always shut down (their runtimes just end), and their
    // pools' connections would stay open: the server closes any idle for 15 s (the pool
    // tests a connection before handing it out, so a live one is reopened).
    let cluster = Cluster::create(
        &dir,
        "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c idle_session_timeout=15s",
        true,
    )?;
    Ok(TestServer {
        base_url: cluster.base_url.clone(),
    })
}

/// A PostgreSQL cluster of one test's own, which it may stop and start again (a
/// database restarted under load). A commit is on its way to disk before it returns
/// (`synchronous_commit` on; `fsync` off, since the machine itself does not crash), so
/// an immediate stop loses nothing committed. Stopped when the test process ends.
#[derive(Debug)]
pub struct Cluster {
    /// `postgres://cascade@127.0.0.1:port` (no database name).
    pub base_url: String,
    user: Option<&'static str>,
    pg_ctl: PathBuf,
    data: String,
    options: String,
    log: String,
    /// A private cluster's directory, removed when it is dropped.
    own_dir: Option<PathBuf>,
}

impl Cluster {
    /// A fresh cluster in a temporary directory, started.
    ///
    /// # Errors
    /// Without PostgreSQL's server programs, or when it does not start.
    pub fn private() -> Result<Cluster, String> {
        static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("cascade-pg-own-{}-{n}", std::process::id()));
        let mut cluster = Cluster::create(
            &dir,
            "-c fsync=off -c synchronous_commit=on -c full_page_writes=off",
            false,
        )?;
        cluster.own_dir = Some(dir);
        Ok(cluster)
    }

    /// `initdb` in `dir`, then start on a free port with `settings`.
    fn create(dir: &Path, settings: &str, tls: bool) -> Result<Cluster, String> {
        let bin = bin_dir().ok_or_else(|| {
            "no PostgreSQL server programs (initdb, pg_ctl) found: install the Debian package \
             `postgresql` (.ci/run does), or set CASCADE_TEST_DATABASE_URL to a server the \
             tests may create databases on"
                .to_owned()
        })?;
        // root may not run a cluster: the tests use `nobody`, owning the directory.
        let user = is_root().then_some("nobody");
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
        if let Some(u) = user {
            let ok = Command::new("chown")
                .args(["-R", u])
                .arg(dir)
                .status()
                .is_ok_and(|s| s.success());
            if !ok {
                return Err(format!("chown {u} {}", dir.display()));
            }
        }
        let data = dir.join("data").to_string_lossy().into_owned();
        let out = run_as(
            user,
            &bin.join("initdb"),
            &[
                "-D",
                &data,
                "-U",
                "cascade",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        )
        .map_err(|e| format!("initdb: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "initdb failed: {}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        // TLS with a self-signed certificate when openssl is at hand, so `sslmode=require`
        // can be tested; without it the cluster speaks plain TCP only.
        let tls = (tls && make_certificate(dir, user)).then(|| {
            format!(
                " -c ssl=on -c ssl_cert_file={d}/server.crt -c ssl_key_file={d}/server.key",
                d = dir.display()
            )
        });
        let mut cluster = Cluster {
            base_url: String::new(),
            user,
            pg_ctl: bin.join("pg_ctl"),
            data,
            options: String::new(),
            log: dir.join("postgres.log").to_string_lossy().into_owned(),
            own_dir: None,
        };
        let mut last = String::new();
        for _ in 0..5 {
            let port = free_port();
            cluster.options = format!(
                "-p {port} -c listen_addresses=127.0.0.1 -k {} -c max_connections=1000 {settings}{}",
                dir.display(),
                tls.as_deref().unwrap_or("")
            );
            match cluster.start() {
                Ok(()) => {
                    watch(user, &cluster.pg_ctl, &cluster.data, dir);
                    cluster.base_url = format!("postgres://cascade@127.0.0.1:{port}");
                    return Ok(cluster);
                }
                Err(e) => last = e,
            }
        }
        Err(format!("PostgreSQL did not start: {last}"))
    }

    /// Start the (stopped) cluster again, on the same port; returns once it accepts
    /// connections.
    ///
    /// # Errors
    /// What `pg_ctl` or the server's log said.
    pub fn start(&self) -> Result<(), String> {
        let out = run_as(
            self.user,
            &self.pg_ctl,
            &[
                "-D",
                &self.data,
                "-o",
                &self.options,
                "-l",
                &self.log,
                "-w",
                "-t",
                "30",
                "start",
            ],
        )
        .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(std::fs::read_to_string(&self.log).unwrap_or_default())
        }
    }

    /// Stop at once, as a crash would (`pg_ctl stop -m immediate`): every connection is
    /// cut, and the next start recovers from the write-ahead log.
    ///
    /// # Errors
    /// What `pg_ctl` said.
    pub fn stop_immediately(&self) -> Result<(), String> {
        let out = run_as(
            self.user,
            &self.pg_ctl,
            &["-D", &self.data, "-m", "immediate", "-w", "stop"],
        )
        .map_err(|e| format!("pg_ctl: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(String::from_utf8_lossy(&out.stderr).into_owned())
        }
    }

    /// A new, empty database on this cluster; returns its URL.
    ///
    /// # Panics
    /// When the cluster cannot be reached.
    pub async fn fresh_database(&self) -> String {
        create_database(&self.base_url).await
    }
}

/// A self-signed certificate and key for the cluster in `dir`, readable by `user` only
/// (PostgreSQL refuses a key others may read). False when openssl is missing or fails.
fn make_certificate(dir: &Path, user: Option<&str>) -> bool {
    let (key, crt) = (dir.join("server.key"), dir.join("server.crt"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
        ])
        .arg(&key)
        .arg("-out")
        .arg(&crt)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !made {
        return false;
    }
    let mut ok = Command::new("chmod")
        .arg("600")
        .arg(&key)
        .status()
        .is_ok_and(|s| s.success());
    if let Some(u) = user {
        ok &= Command::new("chown")
            .arg(u)
            .arg(&key)
            .arg(&crt)
            .status()
            .is_ok_and(|s| s.success());
    }
    ok
}

/// Whether the test server speaks TLS (a throwaway cluster made with a certificate).
pub fn test_server_has_tls() -> bool {
    test_server();
    std::fs::metadata(
        std::env::temp_dir()
            .join(format!("cascade-pg-{}", std::process::id()))
            .join("server.crt"),
    )
    .is_ok()
}

/// Stop the cluster (by its postmaster's pid, through `pg_ctl`) once this process ends.
fn watch(user: Option<&str>, pg_ctl: &Path, data: &str, dir: &Path) {
    let stop = match user {
        Some(u) => format!(
            "runuser -u {u} -- {} -D {data} -m immediate stop",
            pg_ctl.display()
        ),
        None => format!("{} -D {data} -m immediate stop", pg_ctl.display()),
    };
    let script = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {stop} >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        dir = dir.display()
    );
    let _ = Command::new("setsid")
        .args(["sh", "-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
}

/// The test server: `CASCADE_TEST_DATABASE_URL`, else a throwaway cluster started once.
///
/// # Panics
/// When neither is available, saying what to install.
pub fn test_server() -> &'static TestServer {
    static SERVER: OnceLock<Result<TestServer, String>> = OnceLock::new();
    let server = SERVER.get_or_init(|| match std::env::var("CASCADE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => Ok(TestServer {
            base_url: without_database(&url),
        }),
        _ => start_cluster(),
    });
    match server {
        Ok(s) => s,
        Err(e) => panic!("PostgreSQL for the tests: {e}"),
    }
}

/// `postgres://user@host:port/db?x` without `/db?x`.
fn without_database(url: &str) -> String {
    let start = url.find("://").map_or(0, |i| i + 3);
    match url[start..].find('/') {
        Some(i) => url[..start + i].to_owned(),
        None => url.split('?').next().unwrap_or(url).to_owned(),
    }
}

/// A new, empty database on the test server; returns its URL.
///
/// # Panics
/// When the server cannot be reached.
pub async fn fresh_database() -> String {
    create_database(&test_server().base_url).await
}

impl Drop for Cluster {
    /// A private cluster stops with its test (before its directory goes).
    fn drop(&mut self) {
        if let Some(dir) = &self.own_dir {
            let _ = self.stop_immediately();
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

async fn create_database(base_url: &str) -> String {
    use sqlx::Connection;
    let admin = format!("{base_url}/postgres");
    let mut conn = sqlx::PgConnection::connect(&admin)
        .await
        .unwrap_or_else(|e| panic!("connecting to the test server: {e}"));
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut conn)
        .await
        .unwrap_or_else(|e| panic!("CREATE DATABASE: {e}"));
    let _ = conn.close().await;
    format!("{base_url}/{name}")
}
