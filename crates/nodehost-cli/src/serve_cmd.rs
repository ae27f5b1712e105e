//! `nodehost serve`: the `nodehost-serve` library's router on a socket. This file owns what a
//! process does around it: flags into a [`ServeConfig`], the token file, the embedded
//! emulators, the accept loop (HTTP/1.1 with a bound on idle connections), signals and the
//! drain.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use nodehost_core::{CancellationToken, Host, Registry};
use nodehost_serve::{RunSlots, ServeConfig, Token};
use serde_json::json;

use crate::CliError;
use crate::cli::ServeArgs;
use crate::connection::{item_deadline, session_options};
use crate::stderr::say;

pub async fn run(registry: Registry, args: ServeArgs) -> Result<(), CliError> {
    if args.openapi {
        print!("{}", crate::render(&nodehost_serve::openapi_document()));
        return Ok(());
    }
    let token = token(&args)?;
    if token.is_none() && !args.listen.ip().is_loopback() {
        return Err(CliError::usage(format!(
            "refusing to listen on {} without a token: anyone who can reach it could run nodes with \
             the server's credentials; set NODEHOST_TOKEN or --token-file, or listen on 127.0.0.1",
            args.listen
        )));
    }
    let secs = crate::connection::seconds;
    let run_deadline = secs("run-deadline", args.run_deadline)?;
    let drain = secs("drain", args.drain)?;
    let idle = secs("idle-timeout", args.idle_timeout)?;
    let item_deadline = item_deadline(&args.connection)?;
    let options = session_options(&args.connection)?;
    let sandbox = if args.connection.sandbox {
        Some(crate::connection::Sandboxes::all(&registry, args.connection.sandbox_db.as_deref()).await?)
    } else {
        None
    };
    let credentials = crate::connection::server_credentials(&registry, sandbox.as_ref(), &args.connection)?;
    let host = Arc::new(Host::with_options(registry, options));
    let runs = RunSlots::new(args.max_runs as usize);
    let shutdown = CancellationToken::new();
    let has_token = token.is_some();
    let config = ServeConfig {
        token,
        credentials,
        max_body: usize::try_from(args.max_body_mib * 1024 * 1024).unwrap_or(usize::MAX),
        max_items: usize::try_from(args.max_items).unwrap_or(usize::MAX),
        max_concurrency: args.max_concurrency as usize,
        runs: runs.clone(),
        run_deadline,
        item_deadline,
        idle,
        public: !args.listen.ip().is_loopback(),
        shutdown: shutdown.clone(),
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    let local = listener
        .local_addr()
        .map_err(|e| CliError::usage(format!("cannot listen on {}: {e}", args.listen)))?;
    say(format!(
        "serving {} node(s) on http://{local}/v1/nodes ({})",
        host.registry().names().count(),
        if has_token {
            "a bearer token is required"
        } else {
            "no token: anyone on this machine may call it"
        }
    ));
    // On stdout, for scripts and supervisors that start it on port 0.
    println!("{}", json!({ "listening": format!("http://{local}") }));
    let app = nodehost_serve::router(host, config);
    let result = serve(listener, app, Draining { runs, shutdown, idle }, drain).await;
    if let Some(s) = sandbox {
        s.stop().await;
    }
    result
}

/// `--token-file`, else `NODEHOST_TOKEN`, else no token.
fn token(args: &ServeArgs) -> Result<Option<Token>, CliError> {
    let text = match &args.token_file {
        Some(path) => std::fs::read_to_string(path)
            .map_err(|e| CliError::usage(format!("cannot read token file {}: {e}", path.display())))?,
        None => match std::env::var("NODEHOST_TOKEN") {
            Ok(t) => t,
            Err(_) => return Ok(None),
        },
    };
    Token::new(&text)
        .map(Some)
        .map_err(|e| CliError::usage(e.to_string()))
}

/// What the accept loop and the drain need of the service.
struct Draining {
    runs: RunSlots,
    /// Cancelled once the drain time is over: gives up every run in flight.
    shutdown: CancellationToken,
    /// How long a connection may wait for the client.
    idle: Duration,
}

async fn serve(
    listener: tokio::net::TcpListener,
    app: Router,
    served: Draining,
    drain: Duration,
) -> Result<(), CliError> {
    let stop = CancellationToken::new();
    let server = tokio::spawn(accept(listener, app, served.idle, stop.clone()));
    terminated().await;
    say(format!(
        "stopping: no new connections; runs in flight may take up to {}s to finish",
        drain.as_secs_f64()
    ));
    stop.cancel();
    // Every run holds a slot until its task ends, also a run whose client went away (its
    // connection is gone, but its items in flight still finish and are logged): all slots
    // back means every run ended.
    let all_ended = || served.runs.all_free();
    let mut server = server;
    let mut result = None;
    let drained = tokio::time::timeout(drain, async {
        result = Some((&mut server).await);
        all_ended().await;
    })
    .await;
    if drained.is_err() {
        say(
            "drain time over: giving up the runs still in flight (writes among them are reported as maybe applied)",
        );
        served.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(5), all_ended()).await;
    }
    match result {
        Some(r) => finished(r),
        None => match tokio::time::timeout(Duration::from_secs(5), server).await {
            Ok(r) => finished(r),
            Err(_) => Ok(()),
        },
    }
}

/// Accepts connections until `stop`, then lets each finish the request it is answering and
/// closes it. HTTP/1.1 only: the engines that call it speak it, and hyper's HTTP/1 server
/// can bound the wait for a request (`idle`: a silent new connection, an idle keep-alive one,
/// headers sent slowly), where the HTTP/1-or-2 sniffing of an auto server waits unbounded.
async fn accept(
    listener: tokio::net::TcpListener,
    app: Router,
    idle: Duration,
    stop: CancellationToken,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder.timer(TokioTimer::new()).header_read_timeout(idle);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    loop {
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => stream,
                // Out of file descriptors and the like: the listener itself is fine, so wait
                // a moment rather than spin.
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = stop.cancelled() => break,
        };
        let _ = stream.set_nodelay(true);
        let service = hyper_util::service::TowerToHyperService::new(app.clone());
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let _ = connection.await;
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

fn finished(r: Result<std::io::Result<()>, tokio::task::JoinError>) -> Result<(), CliError> {
    match r {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(CliError::stopped(format!("server: {e}"))),
        Err(e) => Err(CliError::stopped(format!("server: {e}"))),
    }
}

/// SIGTERM or Ctrl-C.
async fn terminated() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = term.recv() => {}
            _ = tokio::signal::ctrl_c() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}
