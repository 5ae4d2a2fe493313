//! Saving the service's state as checkpoints: a whole one, then a chain of checkpoints of the
//! changes since each one before (see `attrib_clickhouse::latest_checkpoint_chain`).

use super::State;
use attrib_clickhouse::{CheckpointInfo, FrontierRow};
use attrib_ledger::{Engine, IncrementalLedger};
use std::time::Instant;
use tokio::sync::watch;

/// A chain of checkpoints of changes ends when its changes add up to the whole checkpoint it
/// starts from (a restart reads at most twice the state) or it has this many links.
const MAX_CHAIN: usize = 64;

/// The newest checkpoint saved or restored.
pub(super) struct Saved {
    /// The highest row version written when it was saved, and the input it covers.
    version: u64,
    covered: Vec<FrontierRow>,
    /// The chain the next checkpoint of changes extends, its whole checkpoint first; empty
    /// when the engine's changes since the newest checkpoint are not known (the next one is whole).
    chain: Vec<u64>,
    whole_bytes: u64,
    changes_bytes: u64,
}

fn size(parts: &[Vec<u8>]) -> u64 {
    parts.iter().map(|p| p.len() as u64).sum()
}

impl Saved {
    /// The restored `chain` (base first), if any. When the state is the chain's own (nothing
    /// replayed, its fingerprints restored), `engine` starts tracking its changes so the next
    /// checkpoint extends the chain; otherwise the next one is whole.
    pub(super) fn restored(
        chain: &[CheckpointInfo],
        fingerprints_restored: bool,
        engine: &mut Engine,
        inc: &mut IncrementalLedger,
    ) -> Option<Saved> {
        let (base, newest) = (chain.first()?, chain.last()?);
        let numbers = if fingerprints_restored {
            engine.track_changes(inc);
            chain.iter().map(|c| c.checkpoint).collect()
        } else {
            Vec::new()
        };
        Some(Saved {
            version: newest.checkpoint,
            covered: newest.frontier.clone(),
            chain: numbers,
            whole_bytes: base.bytes,
            changes_bytes: chain[1..].iter().map(|c| c.bytes).sum(),
        })
    }

    /// Whether the next checkpoint may hold only the changes since this one.
    fn can_extend(&self) -> bool {
        !self.chain.is_empty() && self.chain.len() < MAX_CHAIN
    }

    /// Whether changes of `bytes` keep the chain's changes within its whole checkpoint's size.
    fn extends_with(&self, bytes: u64) -> bool {
        self.changes_bytes + bytes <= self.whole_bytes
    }
}

impl State {
    /// Saves the state as a checkpoint (unless this state was saved already) covering `covered`:
    /// per partition, the offset below which every message is in the state. Call it only
    /// between batches: everything consumed is written. While the engine's changes since the
    /// last checkpoint are known, only they are saved, as the next link of its chain.
    pub(super) async fn checkpoint(
        &mut self,
        covered: Vec<FrontierRow>,
        shutdown: &watch::Receiver<bool>,
    ) -> Result<(), attrib_clickhouse::Error> {
        // The fingerprints saved must describe rows that are written.
        self.written().await?;
        // An unchanged state, saved already with the same coverage, is not saved again; after
        // a refit it always is.
        let version = self.position.highest().max(self.position.version());
        let same = self.saved.as_ref().is_some_and(|s| s.version == version && s.covered == covered);
        if same && !self.checkpoint_due {
            return Ok(());
        }
        let started = Instant::now();
        // Numbered by the highest row version written, and after every checkpoint before it.
        let number = self.last_number.map_or(version, |n| version.max(n + 1));
        self.last_number = Some(number);
        // A refit rewrote everyone: a whole checkpoint, as big as its changes would be.
        let link = self.saved.take().filter(|s| !self.checkpoint_due && s.can_extend()).and_then(|s| {
            let changes = self.engine.checkpoint_changes(&self.inc);
            let bytes = size(&changes);
            s.extends_with(bytes).then_some((changes, bytes, s))
        });
        let (parts, bytes, chain, whole_bytes, changes_bytes) = match link {
            Some((changes, bytes, s)) => (changes, bytes, s.chain, s.whole_bytes, s.changes_bytes + bytes),
            None => {
                let whole = self.engine.checkpoint(&self.inc);
                let bytes = size(&whole);
                (whole, bytes, Vec::new(), bytes, 0)
            }
        };
        // From here the next checkpoint holds the changes since this one. Should this save
        // fail, `saved` stays empty and the next one is whole.
        self.engine.track_changes(&mut self.inc);
        let (base, previous) = match (chain.first(), chain.last()) {
            (Some(base), Some(last)) => (*base, *last),
            _ => (number, number),
        };
        let info = CheckpointInfo {
            checkpoint: number,
            tag: self.engine.checkpoint_tag(),
            parts: parts.len() as u32,
            bytes,
            highest_revision: self.position.highest(),
            frontier: covered.clone(),
            base,
            previous,
        };
        self.checkpoint_due = false;
        self.writer.save_checkpoint(&info, parts, &chain, self.metrics.as_ref(), shutdown).await?;
        let mut chain = chain;
        chain.push(number);
        self.metrics.checkpoints.inc();
        self.metrics.checkpoint_bytes.set(bytes as i64);
        self.metrics.checkpoint_chain.set(chain.len() as i64);
        tracing::info!(
            checkpoint = number,
            whole = info.is_whole(),
            chain = chain.len(),
            bytes,
            secs = started.elapsed().as_secs_f64(),
            "state checkpointed"
        );
        self.saved = Some(Saved { version, covered, chain, whole_bytes, changes_bytes });
        // The checkpoint's parts and the batches since the last one are freed by now.
        attrib_allocator::release_free_memory();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(links: usize, whole_bytes: u64, changes_bytes: u64) -> Saved {
        Saved { version: 1, covered: Vec::new(), chain: (1..=links as u64).collect(), whole_bytes, changes_bytes }
    }

    #[test]
    fn a_chain_grows_until_its_changes_reach_the_whole_checkpoint_or_it_has_64_links() {
        // After a whole checkpoint of 1,000 bytes, changes up to 1,000 bytes in all.
        assert!(saved(1, 1_000, 0).can_extend());
        assert!(saved(1, 1_000, 0).extends_with(1_000));
        assert!(saved(3, 1_000, 600).extends_with(400));
        assert!(!saved(3, 1_000, 600).extends_with(401));
        // 64 links (the whole one and 63 of changes): the next one is whole.
        assert!(saved(MAX_CHAIN - 1, 1_000, 10).can_extend());
        assert!(!saved(MAX_CHAIN, 1_000, 10).can_extend());
        // The changes since the last checkpoint are not known: whole.
        assert!(!saved(0, 1_000, 0).can_extend());
    }
}
