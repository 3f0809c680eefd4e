//! WAL checkpoints off the writer's path. SQLite's own (`wal_autocheckpoint`) runs
//! inside the commit that fills the WAL past its threshold, so that one write, a dial's
//! as often as not, pays for copying the WAL into the database and for its fsyncs
//! (several milliseconds here, where a write takes tens of microseconds). A task
//! of the store's checkpoints instead, on its own connection, a `PASSIVE` one every
//! [`EVERY`]: it never blocks the writer nor the readers, and the writer keeps
//! appending to the WAL meanwhile. The writer's own checkpoint stays, at
//! [`BACKSTOP_PAGES`], for writes that never pause (see there).

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// How often the task checkpoints (one with nothing to copy costs a look at the
/// WAL's index).
pub(crate) const EVERY: Duration = Duration::from_millis(50);
/// The writer's own checkpoint threshold, in WAL pages (4 KiB each: 16 MiB). The WAL
/// is written again from its start only once a checkpoint copied all of it, which
/// this task cannot while a writer keeps appending (dials back to back): then the
/// WAL grows to this size, and the writer's checkpoint, with little left to copy,
/// lets it start over. Without writes for a moment, this task's does.
pub(crate) const BACKSTOP_PAGES: u32 = 4_096;

/// Keeps the task going: it stops once every clone of its store is gone.
#[derive(Debug, Clone)]
pub(crate) struct Checkpoints {
    _alive: Arc<()>,
}

/// Starts the task on a connection of its own to the database of `options`.
pub(crate) async fn start(options: &SqliteConnectOptions) -> Result<Checkpoints, sqlx::Error> {
    let mut conn = options.connect().await?;
    let alive = Arc::new(());
    let token: Weak<()> = Arc::downgrade(&alive);
    tokio::spawn(async move {
        let mut every = tokio::time::interval(EVERY);
        every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            every.tick().await;
            if token.strong_count() == 0 {
                break;
            }
            if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(&mut conn)
                .await
            {
                tracing::debug!("WAL checkpoint: {e}");
            }
        }
        let _ = sqlx::Connection::close(conn).await;
    });
    Ok(Checkpoints { _alive: alive })
}
