//! WAL checkpoints off the writer's path. SQLite's own (`wal_autocheckpoint`) runs
//! inside the commit that fills the WAL past its threshold, so that one write, a dial's
//! as often as not, pays for copying the WAL into the database and for its fsyncs
//! (several milliseconds here, where a write takes tens of microseconds). A task
//! of the store's checkpoints instead, on its own connection, a `PASSIVE` one every
//! [`EVERY`]: it never blocks the writer nor the readers, and the writer keeps
//! appending to the WAL meanwhile. The writer's own checkpoint stays as a backstop
//! at [`BACKSTOP_PAGES`], should this task ever lag behind.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::ConnectOptions;
use sqlx::sqlite::SqliteConnectOptions;

/// How often the task checkpoints: often enough that the WAL stays a few MiB at a
/// few hundred dials a second (each writes some ten pages), so it is reused from its
/// start rather than grown (a longer pause had it grow past 20 MiB in `engine-bench`,
/// every new block zeroed by the file system). One with nothing to copy costs a look
/// at the WAL's index.
pub(crate) const EVERY: Duration = Duration::from_millis(50);
/// The writer's own checkpoint threshold, in WAL pages (4 KiB each).
pub(crate) const BACKSTOP_PAGES: u32 = 16_384;

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
