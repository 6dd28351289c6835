//! The web tools the OpenAPI and console tests drive: Schemathesis and Playwright from the
//! venv `.venv-web` (made from `tests/web/requirements.txt`), and Debian's `chromium`.
//!
//! `.ci/run` installs them; the first test that needs the venv makes it when it is missing
//! (PyPI must be reachable then). A machine that has neither fails the test with a message
//! that says what to install.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::helpers::venv_bin;

/// The venv's `bin/` directory (python, schemathesis), made on first use.
pub(crate) fn web_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        venv_bin(
            ".venv-web",
            "tests/web/requirements.txt",
            "schemathesis, playwright",
        )
    })
    .clone()
}

/// Debian's chromium (Playwright drives it instead of downloading its own browser).
pub(crate) fn chromium() -> PathBuf {
    for candidate in ["/usr/bin/chromium", "/usr/bin/chromium-browser"] {
        if Path::new(candidate).exists() {
            return PathBuf::from(candidate);
        }
    }
    panic!("chromium is not installed: apt-get install chromium (or run .ci/run)")
}
