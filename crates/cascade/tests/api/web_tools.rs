//! The web tools the OpenAPI and console tests drive: Schemathesis and Playwright from the
//! venv `.venv-web` (made from `tests/web/requirements.txt`), and Debian's `chromium`.
//!
//! `.ci/run` installs them; the first test that needs the venv makes it when it is missing
//! (PyPI must be reachable then). A machine that has neither fails the test with a message
//! that says what to install.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .expect("the repository root")
}

/// The venv's `bin/` directory (python, schemathesis), made on first use.
pub(crate) fn web_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let root = repo_root();
        let venv = root.join(".venv-web");
        let bin = venv.join("bin");
        let ready = |bin: &Path| {
            std::process::Command::new(bin.join("python"))
                .args(["-c", "import schemathesis, playwright"])
                .status()
                .is_ok_and(|s| s.success())
        };
        if !ready(&bin) {
            let run = |cmd: &mut std::process::Command| {
                let status = cmd.status().unwrap_or_else(|e| {
                    panic!("{cmd:?} cannot start ({e}): install python3 and python3-venv, or run .ci/run")
                });
                assert!(
                    status.success(),
                    "{cmd:?} failed: install python3-venv and reach PyPI, or run .ci/run"
                );
            };
            run(std::process::Command::new("python3")
                .args(["-m", "venv"])
                .arg(&venv));
            run(std::process::Command::new(bin.join("pip"))
                .args(["install", "--quiet", "--disable-pip-version-check", "-r"])
                .arg(root.join("tests/web/requirements.txt")));
            assert!(
                ready(&bin),
                ".venv-web does not import schemathesis and playwright: run .ci/run"
            );
        }
        bin
    })
    .clone()
}

/// Debian's chromium (Playwright drives it instead of downloading its own browser).
#[allow(dead_code)] // for the console's tests
pub(crate) fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("chromium is not installed: apt-get install chromium (or run .ci/run)")
}
