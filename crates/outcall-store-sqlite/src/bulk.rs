//! Loading records as they are, timestamps included, many to a transaction: for
//! benchmarks and fixtures that need data spread over past days. The API's inserts set
//! `createdAt` to now and write one record per transaction; this does neither.

use outcall_domain::Call;
use outcall_domain::event::CallEvent;
use outcall_domain::time::MillisecondTimes;
use outcall_domain::transcript::Transcript;
use outcall_store::StoreResult;

use crate::SqliteStore;
use crate::rows::db_err;

/// Records to load in one transaction.
#[derive(Debug, Default)]
pub struct Bulk {
    pub calls: Vec<Call>,
    pub transcripts: Vec<Transcript>,
    pub events: Vec<CallEvent>,
}

impl SqliteStore {
    /// Inserts every record of `bulk` in one transaction, keeping their timestamps
    /// (truncated to milliseconds, as every write is). A duplicate key fails the whole
    /// batch and writes nothing.
    pub async fn load_bulk(&self, mut bulk: Bulk) -> StoreResult<()> {
        let mut tx = crate::rows::write_tx(&self.writer).await?;
        for call in &mut bulk.calls {
            call.truncate_times();
            crate::calls::write_call(&mut tx, call, true).await?;
        }
        for t in &mut bulk.transcripts {
            t.truncate_times();
            crate::transcripts::write_transcript(&mut tx, t).await?;
        }
        for e in &mut bulk.events {
            e.truncate_times();
            crate::events::write_event(&mut tx, e).await?;
        }
        tx.commit().await.map_err(db_err)?;
        Ok(())
    }
}
