//! The embedded backend: one redb file, one table per record kind (keys
//! and JSON values as strings), every batch one write transaction with
//! `Durability::Immediate`, so a commit is on disk when it returns. redb
//! gives readers MVCC snapshots that never block the writer; only the
//! state writer thread writes.
//!
//! After an I/O failure (a full disk, say) redb refuses every later write
//! ("previous I/O error") until the file is opened again. So a commit that
//! fails for I/O closes the database and opens it again at once; if that
//! fails too, the next commit tries again. Reopening recovers the last
//! commit whose header reached the disk. A failure while allocating or
//! writing pages (what a full disk gives) leaves the previous commit; a
//! failure of the final fsync after the header was written can leave the
//! failed batch on disk though it was reported as failed: it was never
//! acknowledged, and it is in the world from the next start. A full disk
//! is told apart from other failures: [`StoreError::Full`].

use std::path::{Path, PathBuf};
use std::sync::{PoisonError, RwLock};

use redb::{Database, Durability, ReadableDatabase, ReadableTable, TableDefinition, TableError};

use super::{Batch, RowFn, Store, StoreError};

/// redb's page cache. Reads are served from the in-memory world, so the
/// cache only needs to help writes; redb's 1 GiB default would be memory
/// spent twice.
const CACHE_BYTES: usize = 32 << 20;

/// The file's name inside the data directory.
pub(crate) const FILE: &str = "fulcrum.redb";

fn table(name: &str) -> TableDefinition<'_, &'static str, &'static [u8]> {
    TableDefinition::new(name)
}

fn backend(e: impl Into<redb::Error>) -> StoreError {
    StoreError::backend(e.into())
}

/// A failed commit: the error to report, and whether redb needs the file
/// opened again before it will write.
fn commit_failed(path: &Path, e: redb::Error) -> (StoreError, bool) {
    match e {
        redb::Error::Io(io) if io.kind() == std::io::ErrorKind::StorageFull => {
            (StoreError::Full { location: path.to_path_buf(), source: io }, true)
        }
        e @ (redb::Error::Io(_) | redb::Error::PreviousIo) => (StoreError::backend(e), true),
        other => (StoreError::backend(other), false),
    }
}

fn open_db(path: &Path) -> Result<Database, StoreError> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| StoreError::Open { location: path.to_path_buf(), source: Box::new(redb::Error::from(e)) })
}

/// A redb database file.
pub(crate) struct RedbStore {
    /// `None` between a failed reopening and the next try.
    db: RwLock<Option<Database>>,
    path: PathBuf,
}

impl RedbStore {
    /// Opens (or creates) the database at `path`. Fails while another
    /// process has it open.
    pub(crate) fn open(path: &Path) -> Result<RedbStore, StoreError> {
        Ok(RedbStore { db: RwLock::new(Some(open_db(path)?)), path: path.to_path_buf() })
    }

    /// Runs `f` on the open database, opening it first if an earlier
    /// reopening failed.
    fn with_db<T>(&self, f: impl FnOnce(&Database) -> Result<T, StoreError>) -> Result<T, StoreError> {
        {
            let db = self.db.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(db) = db.as_ref() {
                return f(db);
            }
        }
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        if db.is_none() {
            *db = Some(open_db(&self.path)?);
        }
        match db.as_ref() {
            Some(db) => f(db),
            None => Err(StoreError::Open { location: self.path.clone(), source: "the database is not open".into() }),
        }
    }

    /// Closes the database and opens it again (after an I/O failure).
    fn reopen(&self) {
        let mut db = self.db.write().unwrap_or_else(PoisonError::into_inner);
        // The old handle holds the file's lock: drop it first.
        *db = None;
        match open_db(&self.path) {
            Ok(fresh) => *db = Some(fresh),
            Err(e) => {
                tracing::error!(error = %crate::types::report::Report(&e), "cannot reopen the store; the next write tries again")
            }
        }
    }

    fn commit_to(&self, db: &Database, batch: &Batch) -> Result<(), (StoreError, bool)> {
        let failed = |e: redb::Error| commit_failed(&self.path, e);
        let mut tx = db.begin_write().map_err(|e| failed(e.into()))?;
        tx.set_durability(Durability::Immediate).map_err(|e| (StoreError::backend(e), false))?;
        {
            let mut open: Vec<(&str, redb::Table<&'static str, &'static [u8]>)> = Vec::new();
            for (name, key, value) in batch.rows() {
                let i = match open.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        open.push((name, tx.open_table(table(name)).map_err(|e| failed(e.into()))?));
                        open.len() - 1
                    }
                };
                let t = &mut open[i].1;
                match value {
                    Some(v) => {
                        t.insert(key, v.as_bytes()).map_err(|e| failed(e.into()))?;
                    }
                    None => {
                        t.remove(key).map_err(|e| failed(e.into()))?;
                    }
                }
            }
        }
        tx.commit().map_err(|e| failed(e.into()))
    }

    /// Makes every later commit that touches table `name` fail (a table of
    /// another type takes the name), for the conformance suite.
    #[cfg(test)]
    pub(crate) fn sabotage(&self, name: &str) {
        self.with_db(|db| {
            let tx = db.begin_write().expect("begin");
            tx.open_table(TableDefinition::<u64, u64>::new(name)).expect("create a mismatched table");
            tx.commit().expect("commit");
            Ok(())
        })
        .expect("sabotage");
    }
}

impl Store for RedbStore {
    fn scan(&self, name: &str, row: &mut RowFn<'_>) -> Result<(), StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(backend)?;
            let t = match tx.open_table(table(name)) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(()),
                Err(e) => return Err(backend(e)),
            };
            for entry in t.iter().map_err(backend)? {
                let (k, v) = entry.map_err(backend)?;
                row(k.value(), v.value())?;
            }
            Ok(())
        })
    }

    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.with_db(|db| {
            let tx = db.begin_read().map_err(backend)?;
            let t = match tx.open_table(table(name)) {
                Ok(t) => t,
                Err(TableError::TableDoesNotExist(_)) => return Ok(None),
                Err(e) => return Err(backend(e)),
            };
            Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
        })
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut reopen = false;
        let result = self.with_db(|db| {
            self.commit_to(db, batch).map_err(|(e, again)| {
                reopen = again;
                e
            })
        });
        if reopen {
            self.reopen();
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::super::conformance;
    use super::*;

    fn open(dir: &Path) -> RedbStore {
        RedbStore::open(&dir.join(FILE)).expect("open redb store")
    }

    #[test]
    fn failed_batch_leaves_nothing() {
        conformance::failed_batch_leaves_nothing(open, |s, t| s.sabotage(t));
    }

    #[test]
    fn batches_round_trip_large_and_small() {
        conformance::batches_round_trip_large_and_small(open);
    }

    #[test]
    fn readers_see_whole_batches_during_commits() {
        conformance::readers_see_whole_batches_during_commits(open);
    }

    #[test]
    fn schema_versions_are_checked_and_migrated() {
        conformance::schema_versions_are_checked_and_migrated(open);
    }

    #[test]
    fn acknowledged_batches_survive_kill_9() {
        conformance::acknowledged_batches_survive_kill_9(
            "state::store::redb::tests::acknowledged_batches_survive_kill_9",
            open,
        );
    }
}
