//! The embedded backend: one redb file, one table per record kind (keys
//! and JSON values as strings), every batch one write transaction with
//! `Durability::Immediate`, so a commit is on disk when it returns. redb
//! gives readers MVCC snapshots that never block the writer; only the
//! state writer thread writes.

use std::path::Path;

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

/// A redb database file.
pub(crate) struct RedbStore {
    db: Database,
}

impl RedbStore {
    /// Opens (or creates) the database at `path`. Fails while another
    /// process has it open.
    pub(crate) fn open(path: &Path) -> Result<RedbStore, StoreError> {
        let db = redb::Builder::new()
            .set_cache_size(CACHE_BYTES)
            .create(path)
            .map_err(|e| StoreError::Open { location: path.to_path_buf(), source: Box::new(redb::Error::from(e)) })?;
        Ok(RedbStore { db })
    }

    /// Makes every later commit that touches table `name` fail (a table of
    /// another type takes the name), for the conformance suite.
    #[cfg(test)]
    pub(crate) fn sabotage(&self, name: &str) {
        let tx = self.db.begin_write().expect("begin");
        tx.open_table(TableDefinition::<u64, u64>::new(name)).expect("create a mismatched table");
        tx.commit().expect("commit");
    }
}

impl Store for RedbStore {
    fn scan(&self, name: &str, row: &mut RowFn<'_>) -> Result<(), StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
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
    }

    fn get(&self, name: &str, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        let tx = self.db.begin_read().map_err(backend)?;
        let t = match tx.open_table(table(name)) {
            Ok(t) => t,
            Err(TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(backend(e)),
        };
        Ok(t.get(key).map_err(backend)?.map(|v| v.value().to_vec()))
    }

    fn commit(&self, batch: &Batch) -> Result<(), StoreError> {
        let mut tx = self.db.begin_write().map_err(backend)?;
        tx.set_durability(Durability::Immediate).map_err(StoreError::backend)?;
        {
            let mut open: Vec<(&str, redb::Table<&'static str, &'static [u8]>)> = Vec::new();
            for (name, key, value) in batch.rows() {
                let i = match open.iter().position(|(n, _)| *n == name) {
                    Some(i) => i,
                    None => {
                        open.push((name, tx.open_table(table(name)).map_err(backend)?));
                        open.len() - 1
                    }
                };
                let t = &mut open[i].1;
                match value {
                    Some(v) => {
                        t.insert(key, v.as_bytes()).map_err(backend)?;
                    }
                    None => {
                        t.remove(key).map_err(backend)?;
                    }
                }
            }
        }
        tx.commit().map_err(backend)
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
