//! The mechanism with a record kind of the tests' own: a failed write
//! leaves no trace while the rest of its batch commits, concurrent writes
//! share commits, indexes follow every change, cascades run in the
//! deleting transaction, secrets stay off the feed, and a closed state
//! reopens at once.

use std::sync::Arc;

use imbl::HashMap;
use serde::{Deserialize, Serialize};

use super::record;
use super::*;
use crate::types::secret::Secret;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Item {
    name: String,
    tag: u32,
    #[serde(default)]
    token: Secret,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Note {
    id: u64,
    item: String,
}

/// Item by tag.
#[derive(Clone, Default)]
struct ByTag(HashMap<u32, String>);

impl Index<Item> for ByTag {
    fn inserted(&mut self, old: Option<&Item>, new: &Item) {
        if let Some(old) = old {
            self.0.remove(&old.tag);
        }
        self.0.insert(new.tag, new.name.clone());
    }
    fn removed(&mut self, old: &Item) {
        self.0.remove(&old.tag);
    }
}

record!(Item, kind = "item", table = "items", key = name: String, index = ByTag);

record!(Note, kind = "note", table = "notes", key = id: u64, index = NoIndex);

#[derive(Debug, thiserror::Error)]
enum TestError {
    #[error("tag {0} is taken")]
    Taken(u32),
    #[error(transparent)]
    State(#[from] StateError),
}

fn schema() -> Schema {
    let mut s = Schema::new(1);
    s.register::<Item>().register::<Note>();
    s.on_delete::<Item>(|txn, item| {
        let notes: Vec<u64> =
            txn.world().table::<Note>().iter().filter(|n| n.item == item.name).map(|n| n.id).collect();
        for id in notes {
            txn.delete::<Note, _>(&id)?;
        }
        Ok(())
    });
    s.on_rekey::<Item>(|txn, old, new| {
        let notes: Vec<Note> =
            txn.world().table::<Note>().iter().filter(|n| n.item == old.name).map(|n| (**n).clone()).collect();
        for n in notes {
            txn.put(Note { item: new.name.clone(), ..n })?;
        }
        Ok(())
    });
    s
}

fn item(name: &str, tag: u32) -> Item {
    Item { name: name.into(), tag, token: Secret::default() }
}

/// Puts an item unless its tag is taken by another.
fn put_unique(txn: &mut Txn<'_>, it: Item) -> Result<Arc<Item>, TestError> {
    if txn.world().table::<Item>().index().0.get(&it.tag).is_some_and(|n| *n != it.name) {
        return Err(TestError::Taken(it.tag));
    }
    Ok(txn.put(it)?)
}

#[tokio::test]
async fn failed_write_leaves_no_trace_and_good_ones_persist() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let mut feed = state.subscribe();
    state.write(|t| put_unique(t, item("a", 1))).await.unwrap();
    // Creates an item, then fails on a taken tag: neither half stays.
    let err = state
        .write(|t| {
            put_unique(t, item("b", 2))?;
            put_unique(t, item("c", 1))
        })
        .await
        .unwrap_err();
    assert!(matches!(err, TestError::Taken(1)), "{err}");
    let w = state.snapshot();
    assert!(w.table::<Item>().get("b").is_none());
    assert_eq!(w.table::<Item>().index().0.get(&1).map(String::as_str), Some("a"));
    assert_eq!(feed.recv().await.unwrap().event_name(), "item.created");
    assert!(feed.try_recv().is_err(), "the failed write announced something");
    let gid = w.global_id();
    state.close().await;
    // Closed means closed: no retry loop is needed to reopen at once.
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let w = state.snapshot();
    assert_eq!(w.global_id(), gid);
    assert!(w.table::<Item>().get("a").is_some());
    assert!(w.table::<Item>().get("b").is_none());
    assert_eq!(w.table::<Item>().index().0.get(&1).map(String::as_str), Some("a"), "indexes are rebuilt at load");
    assert!(state.is_writing());
    state.close().await;
    assert!(!state.is_writing());
    let e = state.write(|t| t.put(item("late", 9))).await.unwrap_err();
    assert!(matches!(e, StateError::Closed), "{e}");
}

#[tokio::test]
async fn concurrent_writes_are_batched_and_all_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let mut tasks = Vec::new();
    for i in 0..200u64 {
        let s = state.clone();
        tasks.push(tokio::spawn(
            async move { s.write(move |t| t.put(Note { id: i, item: "x".into() })).await.map(|_| ()) },
        ));
    }
    for t in tasks {
        let r: Result<(), StateError> = t.await.unwrap();
        r.unwrap();
    }
    let w = state.snapshot();
    assert_eq!(w.table::<Note>().len(), 200);
    assert!(w.version() <= 200);
    state.close().await;
}

#[tokio::test]
async fn an_acknowledged_write_is_already_announced_and_a_late_subscriber_hears_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let mut early = state.subscribe();
    // Large writes, so that announcing them takes the writer long enough for
    // a caller woken early to subscribe in the middle of it.
    const N: u32 = 10_000;
    for round in 0..3u32 {
        state
            .write(move |t| (0..N).try_for_each(|i| t.put(item(&format!("r{round}-{i}"), i)).map(|_| ())))
            .await
            .unwrap();
        let mut late = state.subscribe();
        let mut heard = 0;
        // Already queued when the write returned: no waiting.
        while let Ok(change) = early.try_recv() {
            assert_eq!(change.event_name(), "item.created");
            heard += 1;
        }
        assert_eq!(heard, N, "round {round}: announced after the write returned");
        assert!(late.try_recv().is_err(), "a subscriber that joined after round {round} heard of it");
    }
    state.close().await;
}

#[tokio::test]
async fn deletes_cascade_in_the_same_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    // Subscribed first, so that the creations below are announced on it.
    let mut feed = state.subscribe();
    state
        .write(|t| {
            t.put(item("a", 1))?;
            t.put(item("b", 2))?;
            for (id, of) in [(1, "a"), (2, "a"), (3, "b")] {
                t.put(Note { id, item: of.into() })?;
            }
            Ok::<_, StateError>(())
        })
        .await
        .unwrap();
    for _ in 0..5 {
        let change = tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv()).await;
        assert!(change.expect("five creations announced").unwrap().event_name().ends_with(".created"));
    }
    let gone = state.write(|t| t.delete::<Item, _>("a")).await.unwrap();
    assert_eq!(gone.map(|i| i.name.clone()).as_deref(), Some("a"));
    // The feed is told before the caller is answered.
    let mut names = Vec::new();
    for _ in 0..3 {
        let change = tokio::time::timeout(std::time::Duration::from_secs(5), feed.recv()).await;
        names.push(change.expect("three changes announced").unwrap().event_name());
    }
    assert_eq!(names, ["item.deleted", "note.deleted", "note.deleted"]);
    assert!(state.write(|t| t.delete::<Item, _>("a")).await.unwrap().is_none());
    assert!(feed.try_recv().is_err(), "deleting nothing announced something");
    state.close().await;
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let notes: Vec<u64> = state.snapshot().table::<Note>().iter().map(|n| n.id).collect();
    assert_eq!(notes, [3]);
    state.close().await;
}

#[tokio::test]
async fn a_rekey_moves_what_refers_to_the_record_and_deletes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    state
        .write(|t| {
            t.put(item("a", 1))?;
            t.put(Note { id: 1, item: "a".into() })?;
            t.put(Note { id: 2, item: "b".into() })?;
            Ok::<_, StateError>(())
        })
        .await
        .unwrap();
    let moved = state.write(|t| t.rekey::<Item, _>("a", item("z", 1))).await.unwrap();
    assert_eq!(moved.map(|i| i.name.clone()).as_deref(), Some("z"));
    assert!(state.write(|t| t.rekey::<Item, _>("nothing", item("y", 9))).await.unwrap().is_none());
    let check = |state: &State| {
        let w = state.snapshot();
        let items: Vec<String> = w.table::<Item>().iter().map(|i| i.name.clone()).collect();
        assert_eq!(items, ["z"], "the old key is gone, nothing made at the missing one");
        assert_eq!(w.table::<Item>().index().0.get(&1).map(String::as_str), Some("z"), "the index follows");
        let notes: Vec<(u64, String)> = w.table::<Note>().iter().map(|n| (n.id, n.item.clone())).collect();
        assert_eq!(notes, [(1, "z".to_string()), (2, "b".to_string())], "the note moved, none deleted");
    };
    check(&state);
    state.close().await;
    let state = State::open_dir(dir.path(), schema()).unwrap();
    check(&state);
    state.close().await;
}

#[tokio::test]
async fn secrets_are_stored_but_never_on_the_feed() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let mut feed = state.subscribe();
    let secret = "0123456789abcdef-secret";
    state.write(move |t| t.put(Item { name: "s".into(), tag: 5, token: Secret::new(secret) })).await.unwrap();
    let change = feed.recv().await.unwrap();
    let json = change.to_json();
    assert!(!json.contains(secret), "the feed carried a secret: {json}");
    assert!(json.contains(crate::types::secret::REDACTED), "{json}");
    state.close().await;
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let w = state.snapshot();
    assert!(w.table::<Item>().get("s").unwrap().token.matches(secret), "the store must keep the value");
    state.close().await;
}

#[tokio::test]
async fn a_panicking_write_fails_alone() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), schema()).unwrap();
    let (a, b) = (state.clone(), state.clone());
    let good = tokio::spawn(async move { a.write(|t| t.put(item("good", 1))).await.map(|_| ()) });
    let bad = tokio::spawn(async move {
        b.write(|t| -> Result<(), StateError> {
            t.put(item("half", 2))?;
            panic!("a bug in an operation");
        })
        .await
    });
    assert!(matches!(bad.await.unwrap(), Err(StateError::Aborted)));
    good.await.unwrap().unwrap();
    state.write(|t| t.put(item("after", 3))).await.expect("the writer goes on");
    let w = state.snapshot();
    assert!(w.table::<Item>().get("half").is_none(), "a panicked operation left a trace");
    assert!(w.table::<Item>().get("good").is_some() && w.table::<Item>().get("after").is_some());
    assert!(state.is_writing());
    state.close().await;
}

/// A kind stored under a row key of its own (its revision, then its name),
/// as DHCPv6 leases are: rewrites move its row.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
struct Entry {
    name: String,
    rev: u64,
}

impl Record for Entry {
    const KIND: &'static str = "entry";
    const TABLE: &'static str = "entries";
    type Key = String;
    type Index = NoIndex;
    fn key(&self) -> String {
        self.name.clone()
    }
    fn row_key(&self) -> String {
        format!("{:020}/{}", self.rev, self.name)
    }
}

fn entry_schema(version: u32) -> Schema {
    let mut s = Schema::new(version);
    s.register::<Entry>();
    s
}

fn entry(name: &str, rev: u64) -> Entry {
    Entry { name: name.into(), rev }
}

/// The rows of `table` as stored: key and value.
fn stored_rows(dir: &std::path::Path, table: &str) -> Vec<(String, String)> {
    let store = store::redb::RedbStore::open(&dir.join(store::redb::FILE)).unwrap();
    let mut rows = Vec::new();
    store
        .scan(table, &mut |k, v| {
            rows.push((k.to_string(), String::from_utf8_lossy(v).into_owned()));
            Ok(())
        })
        .unwrap();
    rows
}

#[tokio::test]
async fn a_row_keyed_by_more_than_its_key_moves_when_rewritten_and_leaves_no_stale_row() {
    let dir = tempfile::tempdir().unwrap();
    let state = State::open_dir(dir.path(), entry_schema(1)).unwrap();
    let mut feed = state.subscribe();
    state.write(|t| t.put(entry("a", 1)).map(drop)).await.unwrap();
    state.write(|t| t.put(entry("b", 2)).map(drop)).await.unwrap();
    // Rewritten in its own write, and twice within one write.
    state.write(|t| t.put(entry("a", 3)).map(drop)).await.unwrap();
    state
        .write(|t| {
            t.put(entry("b", 4))?;
            t.put(entry("b", 5)).map(drop)
        })
        .await
        .unwrap();
    // The feed names records by their key, not their row.
    let keys: Vec<String> = std::iter::from_fn(|| feed.try_recv().ok()).map(|c| c.key).collect();
    assert_eq!(keys, ["a", "b", "a", "b", "b"]);
    state.close().await;
    let rows: Vec<String> = stored_rows(dir.path(), "entries").into_iter().map(|(k, _)| k).collect();
    assert_eq!(rows, [format!("{:020}/a", 3), format!("{:020}/b", 5)], "one row per record, each at its row key");

    let state = State::open_dir(dir.path(), entry_schema(1)).unwrap();
    let w = state.snapshot();
    assert_eq!(w.table::<Entry>().len(), 2);
    assert_eq!(w.table::<Entry>().get("b").map(|e| e.rev), Some(5));
    state.write(|t| t.delete::<Entry, _>("a").map(drop)).await.unwrap();
    state.close().await;
    let rows: Vec<String> = stored_rows(dir.path(), "entries").into_iter().map(|(k, _)| k).collect();
    assert_eq!(rows, [format!("{:020}/b", 5)], "a delete removes the row at its row key");
}

#[tokio::test]
async fn rows_stored_under_their_keys_are_moved_to_their_row_keys_by_the_migration() {
    let dir = tempfile::tempdir().unwrap();
    // Version 1 stored entries under their names.
    {
        let store = store::redb::RedbStore::open(&dir.path().join(store::redb::FILE)).unwrap();
        let mut b = store::Batch::default();
        b.put(store::META, "global_id".into(), Arc::from("7"));
        b.put(store::META, "schema_version".into(), Arc::from("1"));
        for (name, rev) in [("a", 1), ("b", 2)] {
            b.put("entries", name.into(), Arc::from(serde_json::to_string(&entry(name, rev)).unwrap()));
        }
        store.commit(&b).unwrap();
    }
    let mut schema = entry_schema(2);
    schema.migration(1, schema::rows_rekeyed::<Entry>);
    let state = State::open_dir(dir.path(), schema).unwrap();
    assert_eq!(state.snapshot().table::<Entry>().len(), 2);
    state.write(|t| t.put(entry("a", 9)).map(drop)).await.unwrap();
    state.close().await;
    let rows = stored_rows(dir.path(), "entries");
    let keys: Vec<&str> = rows.iter().map(|(k, _)| k.as_str()).collect();
    let (b_row, a_row) = (format!("{:020}/b", 2), format!("{:020}/a", 9));
    assert_eq!(keys, [b_row.as_str(), a_row.as_str()], "moved, then rewritten: no row left under a bare name");
    assert_eq!(rows[0].1, serde_json::to_string(&entry("b", 2)).unwrap(), "the value moves unchanged");
}
