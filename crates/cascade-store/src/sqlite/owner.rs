//! One server per SQLite store.
//!
//! The store's server (`cascade serve`, `cascade smsc-sim`) holds an exclusive lock on a
//! file beside the database for as long as it runs; a second one refuses to start and
//! names the holder. Two servers on one store would each take the other's leases for
//! abandoned work and send the same messages twice. Short-lived tools (`cascade admin`)
//! open the store without the lock: SQLite's own locking serialises their writes.
//!
//! The operating system releases the lock when the holder exits, however it exits
//! (`kill -9` included), so a stale lock file never blocks a restart.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use crate::{Result, StoreError};

/// The held lock; released when dropped (or when the process ends).
#[derive(Debug)]
pub(super) struct OwnerLock {
    _file: File,
    path: PathBuf,
}

impl OwnerLock {
    /// Take the lock of the database at `db`, recording who holds it.
    ///
    /// # Errors
    /// [`StoreError::InUse`] naming the holder when another process holds it;
    /// [`StoreError::Io`] when the lock file cannot be opened.
    pub(super) fn acquire(db: &Path, holder: &str) -> Result<OwnerLock> {
        let path = lock_path(db);
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| StoreError::Io(format!("opening {}: {e}", path.display())))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                // Best effort: the holder wrote who it is; an empty file says nothing.
                let _ = file.read_to_string(&mut text);
                let holder = text.trim();
                return Err(StoreError::InUse(format!(
                    "the store {} is in use by another server ({}); stop it first, or give this one another CASCADE_DATABASE_URL",
                    db.display(),
                    if holder.is_empty() {
                        "unknown process"
                    } else {
                        holder
                    }
                )));
            }
            Err(TryLockError::Error(e)) => {
                return Err(StoreError::Io(format!("locking {}: {e}", path.display())));
            }
        }
        let mut record = || -> std::io::Result<()> {
            file.set_len(0)?;
            file.rewind()?;
            file.write_all(holder.as_bytes())?;
            file.sync_all()
        };
        record().map_err(|e| StoreError::Io(format!("writing {}: {e}", path.display())))?;
        Ok(OwnerLock { _file: file, path })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }
}

/// `<database>.lock`, beside the database.
fn lock_path(db: &Path) -> PathBuf {
    let mut name = db.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// Who this process is, for the lock file: process id, host and start time.
pub(super) fn describe_this_process(now_rfc3339: &str) -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .map(|h| h.trim().to_owned())
        .unwrap_or_else(|_| "unknown host".into());
    format!("pid {} on {host}, since {now_rfc3339}", std::process::id())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_is_refused_and_told_who_holds_it_until_the_first_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("cascade.db");
        let first = OwnerLock::acquire(&db, "pid 1 on here, since then").unwrap();
        assert_eq!(first.path(), dir.path().join("cascade.db.lock"));
        let err = OwnerLock::acquire(&db, "pid 2").unwrap_err();
        let text = err.to_string();
        assert!(
            text.contains("in use by another server (pid 1 on here, since then)"),
            "{text}"
        );
        drop(first);
        let second = OwnerLock::acquire(&db, "pid 2").expect("free again");
        assert_eq!(
            std::fs::read_to_string(second.path()).unwrap(),
            "pid 2",
            "the new holder replaces the record"
        );
    }
}
