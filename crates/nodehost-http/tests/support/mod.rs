//! A tiny scripted HTTP/1.1 server on 127.0.0.1, raw TCP, so tests control exactly what the
//! wire does: answer, reset, stall or refuse, and count what arrived.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use url::Url;

/// What the server does with the next request.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Write these bytes verbatim (a whole HTTP response).
    Raw(String),
    /// Reset the connection (RST) after reading the request.
    Reset,
    /// Send a response head announcing a body, then send nothing more.
    StallAfterHeaders,
}

/// A response with a `Content-Length` body and the given extra headers.
pub fn respond(status: u16, headers: &[(&str, &str)], body: &str) -> Reply {
    let mut raw = format!("HTTP/1.1 {status} X\r\ncontent-length: {}\r\n", body.len());
    for (name, value) in headers {
        raw.push_str(&format!("{name}: {value}\r\n"));
    }
    raw.push_str("\r\n");
    raw.push_str(body);
    Reply::Raw(raw)
}

/// A response whose body is chunked, so its size is not announced up front.
pub fn respond_chunked(status: u16, body: &str) -> Reply {
    Reply::Raw(format!(
        "HTTP/1.1 {status} X\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    ))
}

#[derive(Default)]
struct State {
    script: Mutex<VecDeque<Reply>>,
    last: Mutex<Option<Reply>>,
    connections: AtomicUsize,
    heads: Mutex<Vec<String>>,
}

/// A running server; it lives until the test's runtime ends.
pub struct Server {
    pub addr: SocketAddr,
    state: Arc<State>,
}

impl Server {
    /// Serve `script` in order, one reply per request; the last reply repeats forever.
    pub async fn start(script: Vec<Reply>) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Self::serve(listener, script)
    }

    /// Serve on an existing listener (to come up on a known port later).
    pub fn serve(listener: TcpListener, script: Vec<Reply>) -> Server {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(State {
            script: Mutex::new(script.into()),
            ..State::default()
        });
        let shared = Arc::clone(&state);
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                shared.connections.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(handle(stream, Arc::clone(&shared)));
            }
        });
        Server { addr, state }
    }

    pub fn url(&self, path: &str) -> Url {
        Url::parse(&format!("http://{}{path}", self.addr)).unwrap()
    }

    /// Requests fully received so far.
    pub fn requests(&self) -> usize {
        self.state.heads.lock().unwrap().len()
    }

    /// TCP connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Request heads received, lowercased, in arrival order.
    pub fn heads(&self) -> Vec<String> {
        self.state.heads.lock().unwrap().clone()
    }
}

/// A URL on 127.0.0.1 where nothing listens: bind a port, then let it go.
pub async fn refused_url(path: &str) -> Url {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    Url::parse(&format!("http://{addr}{path}")).unwrap()
}

async fn handle(mut stream: TcpStream, state: Arc<State>) {
    let mut buf = Vec::new();
    loop {
        // Read one request head and its Content-Length body.
        let head_end = loop {
            if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break i + 4;
            }
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        };
        let head = String::from_utf8_lossy(&buf[..head_end]).to_lowercase();
        let body_len = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .map_or(0, |v| v.trim().parse::<usize>().unwrap());
        while buf.len() < head_end + body_len {
            let mut chunk = [0u8; 4096];
            match stream.read(&mut chunk).await {
                Ok(0) | Err(_) => return,
                Ok(n) => buf.extend_from_slice(&chunk[..n]),
            }
        }
        buf.drain(..head_end + body_len);
        state.heads.lock().unwrap().push(head);

        let reply = {
            let next = state.script.lock().unwrap().pop_front();
            let mut last = state.last.lock().unwrap();
            if let Some(next) = next {
                *last = Some(next);
            }
            last.clone().expect("the script has at least one reply")
        };
        match reply {
            Reply::Raw(raw) => {
                if stream.write_all(raw.as_bytes()).await.is_err() {
                    return;
                }
            }
            Reply::Reset => {
                let _ = stream.set_zero_linger();
                return;
            }
            Reply::StallAfterHeaders => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{")
                    .await;
                tokio::time::sleep(Duration::from_secs(60)).await;
                return;
            }
        }
    }
}
