//! Owns the SQLite connections and the threads SQLite work runs on: one writer connection behind
//! a mutex and, for a database file, a small pool of read-only connections so reads run in
//! parallel with each other and with the writer (WAL mode). Knows nothing of clients or keys:
//! callers pass closures.
//!
//! Durability: a file database uses WAL with `synchronous=FULL`, so a write whose closure has
//! returned is on disk and survives `kill -9` and power loss. Handlers answer only after that.
//!
//! An in-memory database uses a single connection for reads and writes: separate connections to
//! an in-memory database would each see their own empty database, and shared-cache mode answers
//! concurrent access with `SQLITE_LOCKED`, which `busy_timeout` does not retry.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use tokio::sync::Semaphore;

use crate::config::DbLocation;
use crate::error::SandboxError;

/// Read-only connections for a file database: a few per core is plenty for SQLite point reads.
const READER_CONNECTIONS: usize = 4;
/// How long a connection waits for a lock held by another (checkpoint, writer) before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Prepared statements kept per connection; the sandbox has a dozen distinct ones.
const STATEMENT_CACHE: usize = 32;

/// Cheap to clone; every clone shares the same connections.
#[derive(Clone)]
pub(crate) struct Store {
    writer: Arc<Mutex<Connection>>,
    readers: Option<Arc<ReaderPool>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field(
                "readers",
                &self.readers.as_ref().map_or(0, |_| READER_CONNECTIONS),
            )
            .finish_non_exhaustive()
    }
}

struct ReaderPool {
    idle: Mutex<Vec<Connection>>,
    /// One permit per idle connection, so waiting for a reader is async, not a busy loop.
    available: Arc<Semaphore>,
}

/// Why a store operation failed.
#[derive(Debug)]
pub(crate) enum StoreError {
    Sqlite(rusqlite::Error),
    /// The blocking task panicked or the runtime is shutting down.
    Task(String),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        Self::Sqlite(e)
    }
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Sqlite(e) => write!(f, "sqlite: {e}"),
            Self::Task(e) => write!(f, "database task: {e}"),
        }
    }
}

impl Store {
    /// Opens (creating if needed) the database and its connections, then lets `init` migrate
    /// and bootstrap on the writer before any reader exists.
    pub fn open(
        location: &DbLocation,
        init: impl FnOnce(&mut Connection) -> Result<(), SandboxError>,
    ) -> Result<Self, SandboxError> {
        let mut writer = match location {
            DbLocation::Memory => {
                let c = Connection::open_in_memory()?;
                tune(&c)?;
                c
            }
            DbLocation::File(path) => {
                prepare_file(path)?;
                let c = Connection::open(path)?;
                // WAL lets readers run beside the writer; FULL syncs the WAL on every commit.
                c.pragma_update_and_check(None, "journal_mode", "WAL", |_| Ok(()))?;
                c.pragma_update(None, "synchronous", "FULL")?;
                tune(&c)?;
                c
            }
        };
        init(&mut writer)?;
        let readers = match location {
            DbLocation::Memory => None,
            DbLocation::File(path) => {
                let mut idle = Vec::with_capacity(READER_CONNECTIONS);
                for _ in 0..READER_CONNECTIONS {
                    let c = Connection::open_with_flags(
                        path,
                        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                    )?;
                    tune(&c)?;
                    idle.push(c);
                }
                Some(Arc::new(ReaderPool {
                    idle: Mutex::new(idle),
                    available: Arc::new(Semaphore::new(READER_CONNECTIONS)),
                }))
            }
        };
        Ok(Self {
            writer: Arc::new(Mutex::new(writer)),
            readers,
        })
    }

    /// Runs `f` on a reader connection (the writer for an in-memory database), on the calling
    /// thread. `f` must not write.
    ///
    /// Reads are point lookups or one user's list: tens of microseconds. Handing them to the
    /// blocking pool cost more than the query itself (two thread wake-ups per request, most
    /// of the sandbox's CPU time in profiles), and only writes can wait on a disk sync.
    pub async fn read<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let Some(pool) = &self.readers else {
            // In memory nothing waits on a disk: the writer is held for microseconds at most.
            return Ok(f(&lock(&self.writer))?);
        };
        let permit = Arc::clone(&pool.available)
            .acquire_owned()
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?;
        let Some(conn) = lock(&pool.idle).pop() else {
            // Permits and idle connections are kept equal by `Lease`, so this cannot happen;
            // answer an error rather than panic if it ever does.
            return Err(StoreError::Task("no idle reader connection".into()));
        };
        let lease = Lease {
            conn: Some(conn),
            pool: Arc::clone(pool),
            _permit: permit,
        };
        // The lease puts the connection back when dropped, even if `f` panics.
        match &lease.conn {
            Some(conn) => Ok(f(conn)?),
            // `conn` is only taken by `Drop`, so it is always here while the lease is alive.
            None => Err(StoreError::Task("no idle reader connection".into())),
        }
    }

    /// Runs `f` on the single writer connection off the async threads. Writes are serialised
    /// here, so a read-modify-write inside one call never races another write.
    pub async fn write<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let writer = Arc::clone(&self.writer);
        let joined = tokio::task::spawn_blocking(move || f(&mut lock(&writer))).await;
        match joined {
            Ok(result) => Ok(result?),
            Err(e) => Err(StoreError::Task(e.to_string())),
        }
    }
}

/// A reader connection on loan. Dropping it (after the work, on panic, or when the task never
/// ran) puts the connection back before the permit is released, keeping the two in step.
struct Lease {
    conn: Option<Connection>,
    pool: Arc<ReaderPool>,
    _permit: tokio::sync::OwnedSemaphorePermit,
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            lock(&self.pool.idle).push(conn);
        }
    }
}

/// A poisoned lock only means a closure panicked while holding it; SQLite rolls back any open
/// transaction when its guard unwinds, so the connection itself is still sound to reuse.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn tune(c: &Connection) -> rusqlite::Result<()> {
    c.busy_timeout(BUSY_TIMEOUT)?;
    c.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    c.pragma_update(None, "foreign_keys", "ON")
}

/// Creates the parent directory and, on Unix, the file itself readable by its owner only: the
/// database holds key hashes and whatever client data a user typed in.
fn prepare_file(path: &Path) -> Result<(), SandboxError> {
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(|source| SandboxError::CreateDir {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let created = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path);
        match created {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            Err(source) => {
                return Err(SandboxError::CreateDir {
                    path: path.to_path_buf(),
                    source,
                });
            }
        }
    }
    Ok(())
}
