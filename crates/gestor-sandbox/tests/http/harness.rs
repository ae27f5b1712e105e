//! Starts a sandbox for one test and talks to it.

use gestor_sandbox::{DbLocation, RunningSandbox, SandboxConfig};
use reqwest::{Method, Response};
use serde_json::Value;
use std::net::SocketAddr;
use std::path::PathBuf;

pub struct Sandbox {
    pub running: RunningSandbox,
    pub http: reqwest::Client,
    /// Kept so the database directory lives as long as the sandbox.
    _dir: tempfile::TempDir,
}

/// Port 0 on loopback, a fresh database file in a temporary directory.
pub fn config(dir: &tempfile::TempDir) -> SandboxConfig {
    SandboxConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        db: DbLocation::File(db_path(dir)),
        ..SandboxConfig::default()
    }
}

pub fn db_path(dir: &tempfile::TempDir) -> PathBuf {
    dir.path().join("data").join("sandbox.db")
}

impl Sandbox {
    pub async fn start() -> Self {
        Self::start_with(|_| {}).await
    }

    pub async fn start_with(tweak: impl FnOnce(&mut SandboxConfig)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(&dir);
        tweak(&mut cfg);
        let running = gestor_sandbox::start(cfg).await.unwrap();
        Self {
            running,
            http: reqwest::Client::new(),
            _dir: dir,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.base_url())
    }

    /// A request with the sandbox's key, `Accept: application/json` and, with a body, JSON.
    pub async fn call(&self, method: Method, path: &str, body: Option<Value>) -> Response {
        let mut req = self
            .http
            .request(method, self.url(path))
            .bearer_auth(self.running.api_key())
            .header("accept", "application/json");
        if let Some(body) = body {
            req = req.json(&body);
        }
        req.send().await.unwrap()
    }

    pub async fn get(&self, path: &str) -> Response {
        self.call(Method::GET, path, None).await
    }

    /// Creates a client and returns the record, asserting 201.
    pub async fn create(&self, body: Value) -> Value {
        let res = self.call(Method::POST, "/clients", Some(body)).await;
        assert_eq!(res.status(), 201);
        res.json().await.unwrap()
    }

    /// `GET /api/__sandbox/stats` → the `requests` map.
    pub async fn stats(&self) -> Value {
        let res = self.get("/__sandbox/stats").await;
        assert_eq!(res.status(), 200);
        res.json::<Value>().await.unwrap()["requests"].clone()
    }
}

/// The response's content type, or "" when it has none.
pub fn content_type(res: &Response) -> String {
    res.headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default()
}
