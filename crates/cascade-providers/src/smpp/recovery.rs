//! After a crash: submissions that may have reached the SMSC before it.
//!
//! A node that dies between an SMSC's `submit_sm_resp` and recording it (or with
//! `submit_sm`s on the wire) sends those messages again when it restarts: the SMSC has
//! them twice. Two things make that rarer:
//!
//! - [`IntentLog`]: before a step's `submit_sm`s leave, its message id is appended to a
//!   small file beside the store. No fsync: a process that dies keeps what it wrote in the
//!   page cache, and only a power loss can drop the last lines (then a message is at worst
//!   sent twice, as without the log). A restarted node reads what the run before it left:
//!   those steps may be at the SMSC already.
//! - [`Unmatched`]: receipts for message ids this node does not know (held by the store
//!   until an id matches) are also remembered here, by recipient and the text the receipt
//!   quotes (`text:`, the first 20 characters).
//!
//! A submission of a step in the log first waits — until [`Recovery::wait`] after the
//! node started, no longer — for receipts that match each of its parts; if they all come,
//! their ids are the submission's answer and nothing is sent again. The held receipts then
//! apply as soon as the ids are recorded. A step that was not at the SMSC after all is sent
//! at the end of the wait: a restart delays it by that much at most.

use std::collections::{HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::time::Instant;

/// Lines after which the log starts a new file (the previous one is kept as `<file>.1`).
const ROTATE_AFTER: u64 = 200_000;
/// Receipts remembered at most.
const UNMATCHED_CAP: usize = 20_000;

/// The steps whose `submit_sm`s were about to leave, in this run and the one before.
#[derive(Debug)]
pub struct IntentLog {
    path: PathBuf,
    file: Mutex<(File, u64)>,
    /// Message ids the previous runs logged.
    previous: HashSet<String>,
}

impl IntentLog {
    /// Read what the runs before left at `path` (and `<path>.1`), then start a new file.
    ///
    /// # Errors
    /// When the file cannot be created.
    pub fn open(path: &Path) -> std::io::Result<IntentLog> {
        let mut previous = HashSet::new();
        let older = rotated(path);
        for p in [&older, path] {
            if let Ok(f) = File::open(p) {
                previous.extend(
                    BufReader::new(f)
                        .lines()
                        .map_while(Result::ok)
                        .filter(|l| !l.is_empty()),
                );
            }
        }
        // What the last run wrote is kept one run longer: a crash during this run's
        // recovery must not forget it.
        if path.exists() {
            std::fs::rename(path, &older)?;
        }
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        Ok(IntentLog {
            path: path.to_owned(),
            file: Mutex::new((file, 0)),
            previous,
        })
    }

    /// Note that `message_id`'s `submit_sm`s are about to leave. A failure to write is
    /// logged and otherwise ignored: the log only narrows duplicates after a crash.
    pub fn record(&self, message_id: &str) {
        let mut guard = self.file.lock().unwrap_or_else(|e| e.into_inner());
        if guard.1 >= ROTATE_AFTER {
            match std::fs::rename(&self.path, rotated(&self.path)).and_then(|()| {
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&self.path)
            }) {
                Ok(f) => *guard = (f, 0),
                Err(e) => {
                    tracing::warn!(path = %self.path.display(), error = %e, "the SMPP intent log could not start a new file")
                }
            }
        }
        if let Err(e) = writeln!(guard.0, "{message_id}") {
            tracing::warn!(path = %self.path.display(), error = %e, "the SMPP intent log could not be written");
        }
        guard.1 += 1;
    }

    /// Whether a run before this one was about to send `message_id`.
    pub fn was_in_flight(&self, message_id: &str) -> bool {
        self.previous.contains(message_id)
    }

    /// How many steps the runs before left in flight (or sent: the log does not say which).
    pub fn previous_len(&self) -> usize {
        self.previous.len()
    }
}

fn rotated(path: &Path) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(".1");
    PathBuf::from(p)
}

/// A receipt whose message id no submission of this node has.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    /// The forms the id may take, as the store was asked to match them.
    ids: Vec<String>,
    /// The recipient, digits only (the receipt's `source_addr`).
    from: String,
    /// The receipt's `text:` field.
    text: String,
}

/// Receipts for unknown ids, remembered while a restarted node may still need them.
#[derive(Debug)]
pub struct Unmatched {
    entries: Mutex<VecDeque<Entry>>,
}

impl Default for Unmatched {
    fn default() -> Self {
        Unmatched {
            entries: Mutex::new(VecDeque::new()),
        }
    }
}

impl Unmatched {
    /// Remember a receipt the store held (its id matched no message).
    pub fn note(&self, ids: Vec<String>, from: &str, text: Option<&str>) {
        let Some(text) = text.filter(|t| !t.is_empty()) else {
            return; // nothing to match it by
        };
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= UNMATCHED_CAP {
            entries.pop_front();
        }
        entries.push_back(Entry {
            ids,
            from: digits(from),
            text: text.to_owned(),
        });
    }

    /// The ids of receipts matching every one of `parts` (a step's texts, in order) sent
    /// to `to`: one receipt per part, each quoting the start of its part. All or nothing:
    /// a step with a part unaccounted for is sent again whole (its parts share a
    /// concatenation reference).
    pub fn take(&self, to: &str, parts: &[String]) -> Option<Vec<String>> {
        let to = digits(to);
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        let mut chosen: Vec<usize> = Vec::with_capacity(parts.len());
        for part in parts {
            let i = entries
                .iter()
                .enumerate()
                .position(|(i, e)| !chosen.contains(&i) && e.from == to && quotes(part, &e.text))?;
            chosen.push(i);
        }
        let ids = chosen
            .iter()
            .map(|&i| entries[i].ids.first().cloned().unwrap_or_default())
            .collect();
        chosen.sort_unstable_by(|a, b| b.cmp(a));
        for i in chosen {
            entries.remove(i);
        }
        Some(ids)
    }
}

/// Whether a receipt's `text:` is the start of `part`. SMSCs quote up to 20 characters,
/// some only printable ASCII (others become `?` or are dropped), so a quote is compared
/// character by character where it is ASCII and must be at least 8 characters or the
/// whole part.
fn quotes(part: &str, quote: &str) -> bool {
    let quote = quote.trim_end();
    let n = quote.chars().count();
    if n == 0 || (n < 8 && part.chars().count() != n) {
        return false;
    }
    part.chars()
        .zip(quote.chars())
        .take(n)
        .all(|(p, q)| p == q || (!p.is_ascii() && (q == '?' || q == ' ')))
        && part.chars().count() >= n
}

fn digits(address: &str) -> String {
    address.chars().filter(char::is_ascii_digit).collect()
}

/// The intent log and the unmatched receipts of one SMSC connection.
#[derive(Debug)]
pub struct Recovery {
    pub log: IntentLog,
    pub unmatched: Unmatched,
    started: Instant,
    /// How long after the start a submission of a logged step waits for its receipts.
    pub wait: Duration,
}

impl Recovery {
    pub fn new(log: IntentLog, wait: Duration) -> Recovery {
        Recovery {
            log,
            unmatched: Unmatched::default(),
            started: Instant::now(),
            wait,
        }
    }

    /// For a step a run before this one was about to send: wait (up to the end of the
    /// recovery window) for receipts matching all its parts, and return their ids.
    pub async fn receipts_for(
        &self,
        message_id: &str,
        to: &str,
        parts: &[String],
    ) -> Option<Vec<String>> {
        if !self.log.was_in_flight(message_id) {
            return None;
        }
        loop {
            if let Some(ids) = self.unmatched.take(to, parts) {
                return Some(ids);
            }
            let left = self
                .wait
                .checked_sub(self.started.elapsed())
                .filter(|left| !left.is_zero())?;
            tokio::time::sleep(left.min(Duration::from_millis(50))).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts(texts: &[&str]) -> Vec<String> {
        texts.iter().map(|t| (*t).to_owned()).collect()
    }

    #[test]
    fn the_log_remembers_the_runs_before_and_starts_afresh() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smsc.intents");
        let first = IntentLog::open(&path).unwrap();
        assert_eq!(first.previous_len(), 0);
        first.record("m-1");
        first.record("m-2");
        drop(first); // a crash: nothing is flushed or closed on purpose
        let second = IntentLog::open(&path).unwrap();
        assert!(second.was_in_flight("m-1") && second.was_in_flight("m-2"));
        assert!(!second.was_in_flight("m-3"));
        second.record("m-3");
        drop(second);
        // Two runs are remembered: a crash during the second run's recovery keeps the
        // first run's steps.
        let third = IntentLog::open(&path).unwrap();
        assert!(third.was_in_flight("m-1") && third.was_in_flight("m-3"));
        drop(third);
        let fourth = IntentLog::open(&path).unwrap();
        assert!(!fourth.was_in_flight("m-1"), "older runs are forgotten");
        assert!(fourth.was_in_flight("m-3"));
    }

    #[test]
    fn receipts_match_by_recipient_and_quoted_text_all_parts_or_none() {
        let u = Unmatched::default();
        u.note(
            vec!["101".into()],
            "306912345678",
            Some("Your code is 1234"),
        );
        u.note(
            vec!["102".into()],
            "306900000000",
            Some("Your code is 1234"),
        );
        // Another recipient's receipt does not match.
        assert_eq!(
            u.take("+306911111111", &parts(&["Your code is 1234"])),
            None
        );
        assert_eq!(
            u.take("+306912345678", &parts(&["Your code is 1234"])),
            Some(vec!["101".into()])
        );
        assert_eq!(
            u.take("+306912345678", &parts(&["Your code is 1234"])),
            None,
            "a receipt is used once"
        );
        // A two-part step needs both receipts.
        u.note(
            vec!["201".into(), "c9".into()],
            "447900000001",
            Some("First part of a lo"),
        );
        assert_eq!(
            u.take(
                "+447900000001",
                &parts(&["First part of a long text", "second part"])
            ),
            None
        );
        u.note(vec!["202".into()], "447900000001", Some("second part"));
        assert_eq!(
            u.take(
                "+447900000001",
                &parts(&["First part of a long text", "second part"])
            ),
            Some(vec!["201".into(), "202".into()])
        );
    }

    #[test]
    fn quotes_are_compared_with_what_smscs_do_to_them() {
        assert!(quotes("Hello there, your parcel", "Hello there, your pa"));
        assert!(quotes("Hi", "Hi"), "a short text quoted whole");
        assert!(!quotes("Hi there", "Hi"), "too short a quote to trust");
        assert!(!quotes("Hello there", "Hello where"));
        assert!(
            quotes("Γειά σου κόσμε, τι κάνεις", "???? ??? ?????, ?? ?"),
            "non-ASCII as ?"
        );
        assert!(!quotes("Hello", ""), "no quote");
        assert!(
            !quotes("Hello th", "Hello there"),
            "a quote longer than the text"
        );
    }

    #[test]
    fn the_memory_is_bounded() {
        let u = Unmatched::default();
        for i in 0..UNMATCHED_CAP + 10 {
            u.note(vec![i.to_string()], "1", Some(&format!("text number {i}")));
        }
        assert_eq!(u.entries.lock().unwrap().len(), UNMATCHED_CAP);
        assert_eq!(
            u.take("1", &parts(&["text number 0"])),
            None,
            "the oldest went first"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_logged_step_waits_for_its_receipts_and_no_longer_than_the_window() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("smsc.intents");
        IntentLog::open(&path).unwrap().record("m-1");
        let r = std::sync::Arc::new(Recovery::new(
            IntentLog::open(&path).unwrap(),
            Duration::from_millis(300),
        ));
        // Not logged: no wait at all.
        assert_eq!(
            r.receipts_for("m-2", "+1", &parts(&["whatever text"]))
                .await,
            None
        );
        let later = std::sync::Arc::clone(&r);
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            later
                .unmatched
                .note(vec!["7".into()], "1", Some("the text of m-1"));
        });
        assert_eq!(
            r.receipts_for("m-1", "+1", &parts(&["the text of m-1"]))
                .await,
            Some(vec!["7".into()])
        );
        // Without its receipts, a logged step waits for the end of the window (virtual
        // time), then goes.
        assert_eq!(
            r.receipts_for("m-1", "+1", &parts(&["the text of m-1"]))
                .await,
            None
        );
        assert!(Instant::now() >= r.started + Duration::from_millis(300));
        assert!(Instant::now() < r.started + Duration::from_millis(400));
        // Past the window it does not wait at all.
        let at = Instant::now();
        assert_eq!(
            r.receipts_for("m-1", "+1", &parts(&["the text of m-1"]))
                .await,
            None
        );
        assert_eq!(Instant::now(), at);
    }
}
