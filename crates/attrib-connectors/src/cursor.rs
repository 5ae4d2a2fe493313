//! Cursor state per connector: a small JSON file, replaced atomically after each page is
//! durably published, so a restart resumes where the last published page ended.

use serde::{de::DeserializeOwned, Serialize};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
#[error("cursor file {path}: {problem}")]
pub struct CursorError {
    pub path: String,
    pub problem: String,
}

/// The cursor file of one connector.
#[derive(Debug, Clone)]
pub struct CursorStore {
    path: PathBuf,
}

impl CursorStore {
    pub fn new(dir: &Path, connector: &str) -> CursorStore {
        CursorStore { path: dir.join(format!("{connector}.cursor.json")) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, problem: impl ToString) -> CursorError {
        CursorError { path: self.path.display().to_string(), problem: problem.to_string() }
    }

    /// The saved cursor, or the default (a first run).
    pub fn load<C: DeserializeOwned + Default>(&self) -> Result<C, CursorError> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| self.error(e)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(C::default()),
            Err(e) => Err(self.error(e)),
        }
    }

    /// Writes the cursor to a temporary file, syncs it, then renames it over the old one.
    pub fn save<C: Serialize>(&self, cursor: &C) -> Result<(), CursorError> {
        if let Some(dir) = self.path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| self.error(e))?;
        }
        let tmp = self.path.with_extension("json.tmp");
        let bytes = serde_json::to_vec_pretty(cursor).map_err(|e| self.error(e))?;
        let write = || -> std::io::Result<()> {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &self.path)
        };
        write().map_err(|e| self.error(e))
    }
}

/// Where one object's pull by last-modified time stands (HubSpot, Salesforce): queries ask for
/// records modified at or after `modified_ms`, so the ids already published at exactly that
/// instant are kept to leave them out, neither skipping nor repeating a record.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
#[serde(default)]
pub struct ObjectCursor {
    /// The newest last-modified time published, in epoch milliseconds.
    pub modified_ms: i64,
    /// Ids published at exactly `modified_ms` (skipped when a query starts there again).
    pub ids_at_modified: Vec<String>,
    /// The `after` token of the query in progress (HubSpot).
    pub after: Option<String>,
    /// The lower bound of the query in progress (HubSpot).
    pub query_from_ms: i64,
    /// Set while the records modified at exactly `modified_ms` are paged by id, after this id
    /// (HubSpot: more records share one instant than a page holds).
    pub tie_after_id: Option<String>,
}

/// A vendor row with its id and last-modified time.
pub struct Stamped<'a> {
    pub row: &'a serde_json::Value,
    pub id: String,
    pub modified_ms: i64,
}

impl ObjectCursor {
    /// The rows not published yet: modified after the cursor, or at its instant under a new id.
    pub fn unpublished<'a>(
        &self,
        rows: &'a [serde_json::Value],
        stamp: impl Fn(&serde_json::Value) -> (String, i64),
    ) -> Vec<Stamped<'a>> {
        rows.iter()
            .map(|row| {
                let (id, modified_ms) = stamp(row);
                Stamped { row, id, modified_ms }
            })
            .filter(|s| {
                s.modified_ms > self.modified_ms
                    || s.modified_ms == self.modified_ms && !self.ids_at_modified.contains(&s.id)
            })
            .collect()
    }

    /// Drops the query in progress: the next one starts again from the newest instant published
    /// (its ids there skipped). Nothing is lost, at worst an instant is fetched again.
    pub fn restart_from_published(&mut self) {
        self.after = None;
        self.tie_after_id = None;
        self.query_from_ms = self.modified_ms.max(0);
    }

    /// Moves the cursor past rows just published.
    pub fn advance(&mut self, published: &[Stamped<'_>]) {
        for s in published {
            if s.modified_ms > self.modified_ms {
                self.modified_ms = s.modified_ms;
                self.ids_at_modified = vec![s.id.clone()];
            } else if s.modified_ms == self.modified_ms && !self.ids_at_modified.contains(&s.id) {
                self.ids_at_modified.push(s.id.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_saved_cursor_loads_back_and_a_missing_one_is_the_default() {
        let dir = std::env::temp_dir().join(format!("attrib-cursor-{}", std::process::id()));
        let store = CursorStore::new(&dir, "x");
        let none: Vec<String> = store.load().expect("default");
        assert!(none.is_empty());
        store.save(&vec!["a".to_string()]).expect("save");
        let back: Vec<String> = store.load().expect("load");
        assert_eq!(back, vec!["a".to_string()]);
        std::fs::remove_dir_all(dir).ok();
    }
}
