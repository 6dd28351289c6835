//! The SQLite store's JSON columns as written: flow states (`flows.state`), definitions
//! (`flow_definitions.definition`) and timeline entries (`flow_events.entry`) are packed
//! with zstd and a dictionary of typical rows, which makes them about a third of their
//! JSON size (BENCHMARKS.md, issue 14). The PostgreSQL store keeps them as JSON text.
//!
//! A packed value is a BLOB: one byte naming the dictionary, then a zstd frame. Rows
//! written before packing hold JSON text and are read as they are, so a store needs no
//! migration; JSON text never starts with that byte (JSON allows no control character
//! outside a string). The dictionary behind a number never changes, since rows packed
//! with it stay in stores for years: a better dictionary would come as number 2, beside
//! this one (a test pins it).

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::OnceLock;

use zstd::bulk::{Compressor, Decompressor};
use zstd::dict::{DecoderDictionary, EncoderDictionary};

use crate::{Result, StoreError};

/// Dictionary 1: the definitions, states and timeline entries of three flows taken from
/// a running server (a Viber → SMS → Voice failover with a callback, a long SMS with a
/// Viber fallback, a one-step Greek SMS), ids and numbers replaced by neutral ones. zstd
/// uses it as text that every value may refer back to ("raw content").
const DICTIONARY_1: &[u8] = include_bytes!("packed/dictionary-1.txt");
/// The first byte of a value packed with dictionary 1.
const PACKED_1: u8 = 1;
/// zstd's level: its fast levels cost about a third less time than level 1 on rows this
/// small, for a few bytes more each.
const LEVEL: i32 = -1;
/// The most a packed value may unpack to: far above any flow (the API caps a request at
/// a few hundred KiB), so a damaged frame header cannot make a reader allocate gigabytes.
const LARGEST: usize = 16 << 20;

fn encoder() -> &'static EncoderDictionary<'static> {
    static DICTIONARY: OnceLock<EncoderDictionary<'static>> = OnceLock::new();
    DICTIONARY.get_or_init(|| EncoderDictionary::copy(DICTIONARY_1, LEVEL))
}

fn decoder() -> &'static DecoderDictionary<'static> {
    static DICTIONARY: OnceLock<DecoderDictionary<'static>> = OnceLock::new();
    DICTIONARY.get_or_init(|| DecoderDictionary::copy(DICTIONARY_1))
}

thread_local! {
    // One context per thread, made on first use: a context costs more to make than a
    // small row costs to pack.
    static PACKER: RefCell<Option<Compressor<'static>>> = const { RefCell::new(None) };
    static UNPACKER: RefCell<Option<Decompressor<'static>>> = const { RefCell::new(None) };
}

fn codec_error(what: &str, e: &std::io::Error) -> StoreError {
    StoreError::Corrupt(format!("{what} a JSON column: {e}"))
}

/// `json` packed for its column.
///
/// # Errors
/// [`StoreError::Corrupt`] for a value over [`LARGEST`], which no reader would take back
/// (the API's body limit keeps flows far below it), or if zstd fails.
pub(crate) fn pack(json: &str) -> Result<Vec<u8>> {
    if json.len() > LARGEST {
        return Err(StoreError::Corrupt(format!(
            "a JSON value of {} bytes is over the {LARGEST} bytes a stored one may hold",
            json.len()
        )));
    }
    PACKER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let packer = match cell.as_mut() {
            Some(packer) => packer,
            None => {
                let mut packer = Compressor::with_prepared_dictionary(encoder())
                    .map_err(|e| codec_error("preparing to pack", &e))?;
                // The frame says its size (the reader sizes its buffer by it); the
                // dictionary's number is in our first byte, SQLite checks the pages.
                packer
                    .include_contentsize(true)
                    .and_then(|()| packer.include_checksum(false))
                    .and_then(|()| packer.include_dictid(false))
                    .map_err(|e| codec_error("preparing to pack", &e))?;
                cell.insert(packer)
            }
        };
        let mut out = Vec::with_capacity(json.len() / 2 + 16);
        out.push(PACKED_1);
        let frame = packer
            .compress(json.as_bytes())
            .map_err(|e| codec_error("packing", &e))?;
        out.extend_from_slice(&frame);
        Ok(out)
    })
}

/// The JSON a column holds: packed (a BLOB from [`pack`]) or text as written before
/// packing.
///
/// # Errors
/// [`StoreError::Corrupt`] for a value that is neither.
pub(crate) fn unpack(value: &[u8]) -> Result<Cow<'_, str>> {
    match value.first() {
        Some(&PACKED_1) => unpack_frame(&value[1..]).map(Cow::Owned),
        Some(&first) if first < b' ' && !matches!(first, b'\t' | b'\n' | b'\r') => Err(
            StoreError::Corrupt(format!("a JSON column packed in an unknown way ({first})")),
        ),
        _ => std::str::from_utf8(value)
            .map(Cow::Borrowed)
            .map_err(|e| StoreError::Corrupt(format!("a JSON column is not UTF-8: {e}"))),
    }
}

fn unpack_frame(frame: &[u8]) -> Result<String> {
    let size = zstd::zstd_safe::get_frame_content_size(frame)
        .ok()
        .flatten()
        .ok_or_else(|| StoreError::Corrupt("a packed JSON column has no size".into()))?;
    let size = usize::try_from(size)
        .ok()
        .filter(|&n| n <= LARGEST)
        .ok_or_else(|| StoreError::Corrupt(format!("a packed JSON column claims {size} bytes")))?;
    let bytes = UNPACKER.with(|cell| {
        let mut cell = cell.borrow_mut();
        let unpacker = match cell.as_mut() {
            Some(unpacker) => unpacker,
            None => cell.insert(
                Decompressor::with_prepared_dictionary(decoder())
                    .map_err(|e| codec_error("preparing to unpack", &e))?,
            ),
        };
        unpacker
            .decompress(frame, size)
            .map_err(|e| codec_error("unpacking", &e))
    })?;
    if bytes.len() != size {
        return Err(StoreError::Corrupt(format!(
            "a packed JSON column unpacked to {} bytes, not the {size} its frame says",
            bytes.len()
        )));
    }
    String::from_utf8(bytes)
        .map_err(|e| StoreError::Corrupt(format!("a packed JSON column is not UTF-8: {e}")))
}

/// Column `i` of a reader's row, unpacked (see [`unpack`]).
pub(crate) fn json_at(row: &sqlx::sqlite::SqliteRow, i: usize) -> Result<String> {
    use sqlx::Row;
    // Unchecked: the column is declared TEXT and may hold a BLOB; SQLite hands both
    // out as bytes.
    let bytes: &[u8] = row.try_get_unchecked(i)?;
    unpack(bytes).map(Cow::into_owned)
}

/// Column `i` of the writer's row, unpacked (see [`unpack`]).
pub(crate) fn json_at_writer(row: &rusqlite::Row<'_>, i: usize) -> Result<String> {
    use rusqlite::types::ValueRef;
    match row.get_ref(i)? {
        ValueRef::Text(bytes) | ValueRef::Blob(bytes) => unpack(bytes).map(Cow::into_owned),
        other => Err(StoreError::Corrupt(format!(
            "a JSON column holds {:?}",
            other.data_type()
        ))),
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use sha2::Digest;

    use super::*;

    #[test]
    fn dictionary_1_never_changes() {
        // Rows packed with it are in stores: a different dictionary is number 2.
        let digest = sha2::Sha256::digest(DICTIONARY_1);
        assert_eq!(
            hex::encode(digest),
            "a9edf435c2247537fa776cf7bb5d0c0e0ed5f95e89c1e04d9b6e896d77678451"
        );
    }

    #[test]
    fn a_state_packs_to_a_third_or_less_and_back() {
        let state = r#"{"status":"Succeeded","steps":[{"order":1,"phase":"Sent","outcome":"Delivered","started_at":"2027-03-01T10:11:12.345Z","sent_at":"2027-03-01T10:11:12.351Z","message_id":"0195e6a0-1d2c-7c3e-9a4b-5f6e7d8c9b0a","reserved":0.05,"messages":[{"id":"0195e6a0-1d2c-7c3e-9a4b-5f6e7d8c9b0b","part":1,"provider_id":"2B41F0C9A7","status":"Delivered","updated_at":"2027-03-01T10:11:14.001Z","created_at":"2027-03-01T10:11:12.345Z","price":0.05,"latency_ms":1656,"final_source":"Provider"}]}],"updated_at":"2027-03-01T10:11:14.001Z"}"#;
        let packed = pack(state).unwrap();
        assert_eq!(packed[0], PACKED_1);
        assert!(
            packed.len() * 3 <= state.len(),
            "{} of {} bytes",
            packed.len(),
            state.len()
        );
        assert_eq!(unpack(&packed).unwrap(), state);
    }

    #[test]
    fn json_text_written_before_packing_reads_as_it_is() {
        for text in [r#"{"a":1}"#, " [1]", "\n{}", "\"x\""] {
            assert!(matches!(unpack(text.as_bytes()).unwrap(), Cow::Borrowed(t) if t == text));
        }
    }

    #[test]
    fn damaged_values_are_refused_as_corrupt() {
        let packed = pack(r#"{"status":"Queued","steps":[]}"#).unwrap();
        let cases: Vec<(&str, Vec<u8>)> = vec![
            (
                "an unknown dictionary",
                [&[2_u8][..], &packed[1..]].concat(),
            ),
            ("a cut frame", packed[..packed.len() - 2].to_vec()),
            ("the tag alone", vec![PACKED_1]),
            (
                "a frame of noise",
                vec![PACKED_1, 0x28, 0xb5, 0x2f, 0xfd, 0xff, 0xff],
            ),
            ("text that is not UTF-8", vec![b'{', 0xff, b'}']),
        ];
        for (what, value) in cases {
            assert!(
                matches!(unpack(&value), Err(StoreError::Corrupt(_))),
                "{what}: {:?}",
                unpack(&value)
            );
        }
    }

    #[test]
    fn a_value_over_the_largest_is_neither_packed_nor_unpacked() {
        let big = "x".repeat(LARGEST + 1);
        assert!(matches!(pack(&big), Err(StoreError::Corrupt(m)) if m.contains("over the")));
        // A frame made elsewhere (or damaged) that claims more is refused before the
        // reader allocates for it.
        let frame = zstd::bulk::compress(big.as_bytes(), 1).unwrap();
        let packed = [&[PACKED_1][..], &frame].concat();
        assert!(matches!(unpack(&packed), Err(StoreError::Corrupt(m)) if m.contains("claims")));
        let at_most = "x".repeat(LARGEST);
        assert_eq!(unpack(&pack(&at_most).unwrap()).unwrap(), at_most);
    }

    /// The SQLite types of the packed columns' values: (`flows.state`,
    /// `flow_definitions.definition`, `flow_events.entry` in order), comma-separated.
    async fn column_types(store: &crate::sqlite::SqliteStore) -> (String, String, String) {
        store
            .write(|conn| {
                let one = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, String>(0));
                Ok((
                    one("SELECT group_concat(typeof(state)) FROM flows")?,
                    one("SELECT group_concat(typeof(definition)) FROM flow_definitions")?,
                    one("SELECT group_concat(typeof(entry), ',' ORDER BY seq) FROM flow_events")?,
                ))
            })
            .await
            .expect("the column types")
    }

    /// A store written before packing holds JSON text. A new server reads those rows
    /// (tracking, timeline, search), advances the flow from them and packs what it
    /// writes; the timeline then mixes both kinds and reads in order.
    #[tokio::test]
    async fn a_store_written_before_packing_reads_and_advances() {
        use cascade_core::machines::{Event, FlowStatus};
        use cascade_core::{Channel, Micros, Timestamp};

        use crate::model::Account;
        use crate::search::SearchStore;
        use crate::sqlite::{SqliteConfig, SqliteStore};
        use crate::{FlowStore, TenancyStore};

        let dir = tempfile::tempdir().expect("a scratch directory");
        let config = SqliteConfig::new(format!("sqlite://{}", dir.path().join("c.db").display()));
        let now = Timestamp::from_millis(1_780_000_000_000);
        let store = SqliteStore::open(&config).await.expect("opens");
        store
            .create_account(&Account {
                id: "acc".into(),
                name: "Account".into(),
                balance: Micros::new(100_000_000),
                currency: "EUR".into(),
                created_at: now,
            })
            .await
            .expect("an account");
        let def =
            super::super::test_flows::definition("acc", now, &[(Channel::Sms, "+306900000009")]);
        let id = def.tracking_id;
        store.accept_flow(def, now).await.expect("accepted");
        let (state, definition, entries) = column_types(&store).await;
        assert_eq!((state.as_str(), definition.as_str()), ("blob", "blob"));
        assert!(entries.split(',').all(|t| t == "blob"), "{entries}");
        let before = (
            serde_json::to_value(store.flow("acc", id).await.unwrap().unwrap().state).unwrap(),
            serde_json::to_value(store.timeline("acc", id).await.unwrap().unwrap()).unwrap(),
        );

        // What an older server would have written: the same rows as JSON text.
        store
            .write(|conn| {
                for (table, column, key) in [
                    ("flows", "state", "rowid"),
                    ("flow_definitions", "definition", "rowid"),
                    ("flow_events", "entry", "seq"),
                ] {
                    let rows: Vec<(i64, Vec<u8>)> = conn
                        .prepare(&format!("SELECT {key}, {column} FROM {table}"))?
                        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
                        .collect::<rusqlite::Result<_>>()?;
                    for (k, packed) in rows {
                        let text = unpack(&packed)?.into_owned();
                        conn.execute(
                            &format!("UPDATE {table} SET {column} = ? WHERE {key} = ?"),
                            rusqlite::params![text, k],
                        )?;
                    }
                }
                Ok(())
            })
            .await
            .expect("rewritten as text");
        store.shutdown().await;
        let store = SqliteStore::open(&config).await.expect("opens again");
        let (state, definition, entries) = column_types(&store).await;
        assert_eq!((state.as_str(), definition.as_str()), ("text", "text"));
        assert!(entries.split(',').all(|t| t == "text"), "{entries}");
        let read = store.flow("acc", id).await.unwrap().expect("the flow");
        assert_eq!(serde_json::to_value(read.state).unwrap(), before.0);
        assert_eq!(
            serde_json::to_value(store.timeline("acc", id).await.unwrap().unwrap()).unwrap(),
            before.1
        );
        let page = store
            .search("acc", &cascade_core::search::SearchQuery::default())
            .await
            .expect("a search");
        assert_eq!(page.flows.len(), 1);
        assert_eq!(page.flows[0].definition.tracking_id, id);

        // The writer loads the text rows and writes packed ones.
        let later = Timestamp::from_millis(now.as_millis() + 1_000);
        store
            .apply(
                id,
                Event::InternalError {
                    order: 1,
                    detail: "no route".into(),
                },
                later,
            )
            .await
            .expect("applied");
        let (state, definition, entries) = column_types(&store).await;
        // The definition is never written again; the state is rewritten, packed.
        assert_eq!((state.as_str(), definition.as_str()), ("blob", "text"));
        assert!(
            entries.starts_with("text,") && entries.ends_with(",blob"),
            "{entries}"
        );
        let read = store.flow("acc", id).await.unwrap().expect("the flow");
        assert_eq!(read.state.status, FlowStatus::Failed);
        let timeline = store.timeline("acc", id).await.unwrap().unwrap();
        let old = before.1.as_array().expect("entries").len();
        assert!(timeline.len() > old, "{timeline:?}");
        assert_eq!(serde_json::to_value(&timeline[..old]).unwrap(), before.1);
        store.shutdown().await;
    }

    proptest! {
        #[test]
        fn any_text_packs_and_unpacks_to_itself(text in ".{0,2000}") {
            let packed = pack(&text).unwrap();
            prop_assert_eq!(unpack(&packed).unwrap(), text);
        }

        #[test]
        fn unpacking_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = unpack(&bytes);
        }
    }
}
