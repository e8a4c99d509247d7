//! The backend conformance suite: what every [`Store`] must do, written
//! once against the trait. Each backend's tests call these functions with
//! a way to open it (and, for the failure test, to make a commit fail).

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::super::schema::{unchanged, Schema};
use super::{load, Batch, Store, StoreError, META};

fn rows(store: &dyn Store, table: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    store
        .scan(table, &mut |k, v| {
            out.push((k.to_string(), String::from_utf8_lossy(v).into_owned()));
            Ok(())
        })
        .expect("scan");
    out
}

fn batch(rows: &[(&'static str, &str, &str)]) -> Batch {
    let mut b = Batch::default();
    for (t, k, v) in rows {
        b.put(t, k.to_string(), Arc::from(*v));
    }
    b
}

/// A batch that fails part-way leaves no row of it behind, and the store
/// keeps working.
pub(super) fn failed_batch_leaves_nothing<S: Store>(open: fn(&Path) -> S, sabotage: fn(&S, &'static str)) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    s.commit(&batch(&[("alpha", "k0", "\"kept\"")])).expect("first commit");
    sabotage(&s, "zulu");
    // Rows in "alpha" come first in the batch; the failure comes at "zulu".
    let bad = batch(&[("alpha", "k0", "\"changed\""), ("alpha", "k1", "\"new\""), ("zulu", "k", "1")]);
    assert!(s.commit(&bad).is_err(), "a commit to a sabotaged table must fail");
    assert_eq!(rows(&s, "alpha"), vec![("k0".into(), "\"kept\"".into())], "a failed batch left rows behind");
    s.commit(&batch(&[("alpha", "k2", "2")])).expect("the store works after a failed batch");
    drop(s);
    let s = open(dir.path());
    assert_eq!(rows(&s, "alpha").len(), 2);
}

/// Puts, replacements, deletions and a batch of 20,000 rows come back
/// exactly, also after reopening; an unknown table is empty.
pub(super) fn batches_round_trip_large_and_small<S: Store>(open: fn(&Path) -> S) {
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    assert!(rows(&s, "never").is_empty());
    assert_eq!(s.get("never", "k").expect("get"), None);
    let mut big = Batch::default();
    for i in 0..20_000u32 {
        big.put("big", format!("{i:08}"), Arc::from(format!("{{\"i\":{i}}}")));
    }
    s.commit(&big).expect("large batch");
    let mut b = batch(&[("small", "a", "1"), ("small", "b", "2")]);
    b.delete("big", format!("{:08}", 7));
    s.commit(&b).expect("small batch");
    let mut b = Batch::default();
    b.put("small", "a".into(), Arc::from("10"));
    b.delete("small", "b".into());
    b.delete("small", "never-there".into());
    s.commit(&b).expect("replace and delete");
    drop(s);
    let s = open(dir.path());
    let big = rows(&s, "big");
    assert_eq!(big.len(), 19_999);
    assert_eq!(big[0], ("00000000".into(), "{\"i\":0}".into()));
    assert!(!big.iter().any(|(k, _)| k == "00000007"));
    assert_eq!(rows(&s, "small"), vec![("a".into(), "10".into())]);
    assert_eq!(s.get("small", "a").expect("get").as_deref(), Some(&b"10"[..]));
}

/// A reader scanning while batches commit sees each batch whole or not at
/// all, never half of one.
pub(super) fn readers_see_whole_batches_during_commits<S: Store + Sync>(open: fn(&Path) -> S) {
    const KEYS: usize = 16;
    const BATCHES: usize = 300;
    let dir = tempfile::tempdir().expect("tempdir");
    let s = Arc::new(open(dir.path()));
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (s, done) = (s.clone(), done.clone());
        std::thread::spawn(move || {
            let mut scans = 0;
            while !done.load(Ordering::SeqCst) && scans < 100_000 {
                let seen: Vec<String> = rows(&*s, "t").into_iter().map(|(_, v)| v).collect();
                if let Some(first) = seen.first() {
                    assert_eq!(seen.len(), KEYS, "a reader saw a partial batch");
                    assert!(seen.iter().all(|v| v == first), "a reader saw two batches mixed: {seen:?}");
                }
                scans += 1;
            }
            scans
        })
    };
    for i in 0..BATCHES {
        let mut b = Batch::default();
        for k in 0..KEYS {
            b.put("t", format!("k{k:02}"), Arc::from(i.to_string()));
        }
        s.commit(&b).expect("commit");
    }
    done.store(true, Ordering::SeqCst);
    let scans = reader.join().expect("reader panicked");
    assert!(scans > 0);
}

/// Fresh data is stamped with the schema's version; data written by a
/// newer version is refused with a message that says so; older data is
/// migrated one version at a time (unversioned data counts as version 1);
/// data no migration can bring up to date is refused.
pub(super) fn schema_versions_are_checked_and_migrated<S: Store>(open: fn(&Path) -> S) {
    fn shout(store: &dyn Store) -> Result<Batch, StoreError> {
        let mut b = Batch::default();
        let mut err = None;
        store.scan("notes", &mut |k, v| {
            match std::str::from_utf8(v) {
                Ok(text) => b.put("notes", k.to_string(), Arc::from(text.to_uppercase())),
                Err(e) => err = Some(StoreError::backend(e)),
            }
            Ok(())
        })?;
        err.map_or(Ok(b), Err)
    }
    let version =
        |s: &dyn Store| s.get(META, "schema_version").expect("get").map(|v| String::from_utf8_lossy(&v).into_owned());

    // Fresh: stamped with the version and given a Global ID.
    let dir = tempfile::tempdir().expect("tempdir");
    let s = open(dir.path());
    let w = load(&s, Arc::new(Schema::new(1))).expect("fresh load");
    assert_eq!(version(&s).as_deref(), Some("1"));
    s.commit(&batch(&[("notes", "a", "\"hello\"")])).expect("commit");
    drop(s);

    // Newer than this build: refused, saying so, and left untouched.
    let s = open(dir.path());
    s.commit(&batch(&[(META, "schema_version", "7")])).expect("stamp 7");
    let e = load(&s, Arc::new(Schema::new(2))).err().expect("a newer schema must be refused");
    assert!(matches!(e, StoreError::NewerSchema { found: 7, supported: 2 }), "{e}");
    assert!(e.to_string().contains("newer Fulcrum"), "{e}");
    assert_eq!(version(&s).as_deref(), Some("7"));

    // Older: migrated through each step, each with its version.
    s.commit(&batch(&[(META, "schema_version", "1")])).expect("stamp 1");
    let mut schema = Schema::new(3);
    schema.migration(1, shout).migration(2, unchanged);
    let again = load(&s, Arc::new(schema)).expect("migrate 1 -> 3");
    assert_eq!(again.global_id(), w.global_id(), "the Global ID survives");
    assert_eq!(version(&s).as_deref(), Some("3"));
    assert_eq!(rows(&s, "notes"), vec![("a".into(), "\"HELLO\"".into())]);

    // Unversioned data (written before versions were stored) is version 1;
    // without a migration from it, it is refused.
    let mut b = Batch::default();
    b.delete(META, "schema_version".into());
    s.commit(&b).expect("unstamp");
    let e = load(&s, Arc::new(Schema::new(2))).err().expect("no migration from 1");
    assert!(matches!(e, StoreError::NoMigration { from: 1, to: 2 }), "{e}");
    let mut schema = Schema::new(2);
    schema.migration(1, unchanged);
    load(&s, Arc::new(schema)).expect("unversioned data migrates");
    assert_eq!(version(&s).as_deref(), Some("2"));
}

/// The environment variable that turns the test process into the child
/// of [`acknowledged_batches_survive_kill_9`].
const CHILD_DIR: &str = "FULCRUM_CONFORMANCE_KILL9_DIR";

/// A process commits batches and reports each one once `commit` returned;
/// after `kill -9` at an arbitrary moment, every reported batch is there,
/// whole, and no batch is there in part. `test` is the full name of the
/// calling test, which the child re-runs.
pub(super) fn acknowledged_batches_survive_kill_9<S: Store>(test: &str, open: fn(&Path) -> S) {
    const ROWS: usize = 8;
    if let Ok(dir) = std::env::var(CHILD_DIR) {
        // The child: commit until killed (bounded, should nobody kill it).
        let s = open(Path::new(&dir));
        let mut out = std::io::stdout();
        for i in 0..1_000_000u64 {
            let mut b = Batch::default();
            for r in 0..ROWS {
                b.put("acked", format!("{i:012}-{r}"), Arc::from(i.to_string()));
            }
            s.commit(&b).expect("child commit");
            // Acknowledged only now that the commit has returned.
            let _ = writeln!(out, "ack {i}");
            let _ = out.flush();
        }
        std::process::exit(0);
    }
    let dir = tempfile::tempdir().expect("tempdir");
    let exe = std::env::current_exe().expect("test executable");
    let mut child = Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_DIR, dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn child");
    let stdout = child.stdout.take().expect("child stdout");
    let mut acked: Option<u64> = None;
    let start = Instant::now();
    // Kill it at an arbitrary point after a few hundred acknowledgements.
    let target = 200 + u64::from(rand::random::<u8>());
    for line in BufReader::new(stdout).lines() {
        let Ok(line) = line else { break };
        if let Some(n) = line.strip_prefix("ack ").and_then(|n| n.trim().parse().ok()) {
            acked = Some(n);
            if n >= target {
                break;
            }
        }
        if start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    // SIGKILL (std's kill), while the child is still committing.
    let _ = child.kill();
    let _ = child.wait();
    let acked = acked.expect("the child acknowledged no batch");
    assert!(acked >= target, "the child stopped after {acked} batches, before it was killed");
    let s = open(dir.path());
    let mut by_batch = std::collections::BTreeMap::<u64, usize>::new();
    for (key, value) in rows(&s, "acked") {
        let n: u64 = value.parse().expect("row value");
        assert!(key.starts_with(&format!("{n:012}-")), "row {key} holds {value}");
        *by_batch.entry(n).or_default() += 1;
    }
    for i in 0..=acked {
        assert_eq!(by_batch.get(&i).copied(), Some(ROWS), "acknowledged batch {i} is missing or partial");
    }
    assert!(by_batch.values().all(|&n| n == ROWS), "a batch survived in part: {by_batch:?}");
}
