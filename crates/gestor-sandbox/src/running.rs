//! Starting and stopping a sandbox: opening the store, binding the socket, serving, and the
//! handle the caller keeps. Owns the server task's lifetime.

use std::fmt;
use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::ServiceExt as _;
use axum::serve::ListenerExt as _;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::accounts::{self, KeyTable};
use crate::attempts::Attempts;
use crate::config::SandboxConfig;
use crate::error::SandboxError;
use crate::faults::FaultState;
use crate::router::{self, AppState};
use crate::store::Store;
use crate::{clients_repo, schema, seed};

/// How long a shutdown waits for in-flight requests before dropping them.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Opens the database, makes sure the key is accepted, seeds sample clients into an empty
/// database, binds the socket and starts serving in the background.
pub async fn start(config: SandboxConfig) -> Result<RunningSandbox, SandboxError> {
    config.validate()?;
    let api_key = config.api_key.clone().unwrap_or_else(accounts::mint_key);
    let (store, keys) = open_store(&config, api_key.clone()).await?;

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: config.listen,
            source,
        })?;
    let local_addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: config.listen,
        source,
    })?;
    // Small JSON answers: send them now rather than wait for Nagle's timer.
    let listener = listener.tap_io(|tcp| {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
    });

    let state = AppState {
        store,
        keys,
        faults: FaultState {
            faults: Arc::new(config.faults.clone()),
            attempts: Attempts::default(),
        },
    };
    let service = router::service(state, &config.limits);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        axum::serve(listener, service.into_make_service())
            .with_graceful_shutdown(async {
                // A dropped sender means the handle is gone: stop as well.
                let _ = stop_rx.await;
            })
            .await
    });
    tracing::info!(%local_addr, db = ?config.db, "gestor sandbox listening");
    Ok(RunningSandbox {
        local_addr,
        api_key,
        stop: Some(stop_tx),
        task,
    })
}

/// Store work is blocking file I/O: do it off the async threads.
async fn open_store(config: &SandboxConfig, api_key: String) -> Result<(Store, KeyTable), SandboxError> {
    let db = config.db.clone();
    let seed_count = config.seed;
    tokio::task::spawn_blocking(move || {
        let mut keys = KeyTable::default();
        let store = Store::open(&db, |conn| {
            schema::migrate(conn)?;
            let (owner, table) = accounts::bootstrap(conn, &api_key)?;
            keys = table;
            if seed_count > 0 && clients_repo::count(conn)? == 0 {
                let tx = conn.transaction()?;
                for client in seed::sample_clients(seed_count, &owner) {
                    clients_repo::insert(&tx, client)?;
                }
                tx.commit()?;
            }
            Ok(())
        })?;
        Ok((store, keys))
    })
    .await
    .map_err(|e| SandboxError::Task(e.to_string()))?
}

/// A sandbox serving in the background. Dropping it stops the server too (without waiting).
pub struct RunningSandbox {
    local_addr: SocketAddr,
    api_key: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<std::io::Result<()>>,
}

impl fmt::Debug for RunningSandbox {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RunningSandbox")
            .field("local_addr", &self.local_addr)
            .field("api_key", &crate::REDACTED)
            .finish_non_exhaustive()
    }
}

impl RunningSandbox {
    /// The API root to give a client, `/api` included: `http://127.0.0.1:PORT/api`.
    pub fn base_url(&self) -> String {
        // A wildcard bind address is not something to connect to; point at loopback instead.
        let ip = match self.local_addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        format!("http://{}/api", SocketAddr::new(ip, self.local_addr.port()))
    }

    /// The key this run accepts, in clear, so its owner can print it once. Never log it.
    pub fn api_key(&self) -> &str {
        &self.api_key
    }

    /// The address actually bound (the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops accepting, lets in-flight requests finish (at most 5 s), and returns once the
    /// server has stopped. Every write answered before has been committed.
    pub async fn shutdown(mut self) -> Result<(), SandboxError> {
        if let Some(stop) = self.stop.take() {
            // An Err means the server already ended; joining below reports how.
            let _ = stop.send(());
        }
        let abort = self.task.abort_handle();
        match tokio::time::timeout(SHUTDOWN_GRACE, &mut self.task).await {
            Ok(joined) => flatten(joined),
            Err(_) => {
                abort.abort();
                tracing::warn!("sandbox shutdown grace expired; dropped in-flight requests");
                Ok(())
            }
        }
    }

    /// Serves until the server fails (it does not stop by itself otherwise).
    pub async fn wait(mut self) -> Result<(), SandboxError> {
        let joined = (&mut self.task).await;
        flatten(joined)
    }

    /// Serves until `signal` completes (e.g. `tokio::signal::ctrl_c()`), then shuts down as
    /// `shutdown` does. A server failure ends it early with the error.
    pub async fn run_until(mut self, signal: impl Future<Output = ()>) -> Result<(), SandboxError> {
        tokio::select! {
            joined = &mut self.task => flatten(joined),
            () = signal => self.shutdown().await,
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

fn flatten(joined: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), SandboxError> {
    match joined {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(SandboxError::Serve(e)),
        Err(e) => Err(SandboxError::Task(e.to_string())),
    }
}
