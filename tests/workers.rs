//! `nodehost worker` and `nodehost submit` against a real `nats-server -js` on loopback and the
//! sandbox over real HTTP: jobs spread over workers, a worker killed with `kill -9` in the
//! middle of a job (every client created exactly once, the in-flight ones reported), duplicate
//! submissions, API failures answered once, poison jobs dead-lettered, SIGTERM drain, and no key
//! in results, journals or logs. Needs `nats-server` (`apt-get install -y nats-server`, which
//! `scripts/test` runs); without it every test here fails saying so.
//!
//! Every wait here waits for an event (a line, a count on the sandbox, a message), with a
//! generous limit; nothing asserts how long anything took.

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use futures::StreamExt as _;
use gestor_sandbox::Faults;
use nodehost_e2e::{Interactive, Outcome, Sandbox, nodehost};
use serde_json::{Value, json};

const LONG: Duration = Duration::from_secs(120);

/// A `nats-server -js` of this test's own, on a free loopback port, storing in a temp dir.
struct Nats {
    child: Child,
    url: String,
    _store: tempfile::TempDir,
}

impl Nats {
    fn start() -> Self {
        let found = Command::new("nats-server").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "nats-server is missing: install it with `apt-get install -y nats-server` \
             (scripts/test does); the worker tests run against a real JetStream server"
        );
        let store = tempfile::tempdir().unwrap();
        let mut child = Command::new("nats-server")
            .args(["-js", "-a", "127.0.0.1", "-p", "-1", "-sd"])
            .arg(store.path())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start nats-server");
        let stderr = child.stderr.take().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Some(at) = line.find("Listening for client connections on ") {
                    let address = line[at + 36..].trim().to_owned();
                    let _ = tx.send(format!("nats://{address}"));
                }
            }
        });
        let url = rx.recv_timeout(LONG).expect("nats-server printed its address");
        Self {
            child,
            url,
            _store: store,
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One test's server, sandbox, worker-side credentials and scratch directory.
struct Pool {
    nats: Nats,
    sandbox: Sandbox,
    credentials: PathBuf,
    _dir: tempfile::TempDir,
}

impl Pool {
    fn new(sandbox: Sandbox) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let credentials = sandbox.credentials(dir.path());
        Self {
            nats: Nats::start(),
            sandbox,
            credentials,
            _dir: dir,
        }
    }

    /// A worker with the pool's credentials; returns once it is taking jobs.
    fn worker(&self, name: &str, extra: &[&str]) -> Interactive {
        let mut args = vec![
            "worker",
            "--nats",
            &self.nats.url,
            "--credentials",
            self.credentials.to_str().unwrap(),
            "--name",
            name,
            "--ack-wait",
            "1",
        ];
        args.extend_from_slice(extra);
        let worker = nodehost(args).spawn();
        let ready = worker.next_line(LONG).expect("the worker's ready line");
        assert_eq!(
            serde_json::from_str::<Value>(&ready).unwrap()["worker"],
            name,
            "{ready}"
        );
        worker
    }

    /// `nodehost submit NODE` with the job's input on stdin.
    fn submit(&self, job: &str, input: &Value, extra: &[&str]) -> Outcome {
        let mut args = vec![
            "submit",
            "gestorClientesMaxCliente",
            "--nats",
            &self.nats.url,
            "--job-id",
            job,
        ];
        args.extend_from_slice(extra);
        nodehost(args).stdin_json(input).run()
    }

    /// Wait for a job's result: the same job id submitted again is dropped as a duplicate, and
    /// `--wait` prints the result however long ago it was published.
    fn result(&self, job: &str) -> Outcome {
        self.submit(job, &json!([]), &["--wait", "--timeout", "120"])
    }

    /// A JetStream client for looking at what the workers left (stream states, messages,
    /// journal records).
    fn inspect<T>(&self, look: impl AsyncFnOnce(async_nats::jetstream::Context) -> T) -> T {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let client = async_nats::connect(&self.nats.url).await.unwrap();
            look(async_nats::jetstream::new(client)).await
        })
    }

    /// Jobs still in the work queue (taken and unacknowledged ones included).
    fn queued(&self) -> u64 {
        self.inspect(async |js| {
            let mut stream = js.get_stream("NODEHOST_JOBS").await.unwrap();
            stream.info().await.unwrap().state.messages
        })
    }
}

/// Poll `done` until it holds or `limit` passes (waiting for an event, not timing one).
fn wait_for(limit: Duration, mut done: impl FnMut() -> bool) -> bool {
    let start = std::time::Instant::now();
    while start.elapsed() < limit {
        if done() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    done()
}

fn creates(names: impl IntoIterator<Item = String>) -> Value {
    Value::Array(
        names
            .into_iter()
            .map(|name| json!({"operation": "create", "name": name}))
            .collect(),
    )
}

fn slow(latency_ms: u64) -> Sandbox {
    Sandbox::with_faults(
        3,
        Faults {
            latency: Duration::from_millis(latency_ms),
            ..Faults::default()
        },
    )
}

#[test]
fn jobs_spread_over_two_workers_and_each_result_is_published_once() {
    let pool = Pool::new(slow(150));
    let _w1 = pool.worker("w1", &["--concurrency", "1"]);
    let _w2 = pool.worker("w2", &["--concurrency", "1"]);
    // Each job holds its worker for 8 sequential requests; a worker takes the next job only
    // when its one slot is free, so the second job goes to the other worker.
    let gets = json!([1, 2, 3, 1, 2, 3, 1, 2].map(|id| json!({"operation": "get", "clientId": id})));
    pool.submit("spread-a", &gets, &[]).assert_code(0);
    pool.submit("spread-b", &gets, &[]).assert_code(0);
    let a = pool.result("spread-a");
    let b = pool.result("spread-b");
    a.assert_code(0);
    b.assert_code(0);
    let mut workers = vec![
        a.json()["worker"].as_str().unwrap().to_owned(),
        b.json()["worker"].as_str().unwrap().to_owned(),
    ];
    workers.sort();
    assert_eq!(workers, ["w1", "w2"]);
    for result in [a.json(), b.json()] {
        assert_eq!(result["delivery"], 1);
        let ids: Vec<u64> = result["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| i["json"]["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, [1, 2, 3, 1, 2, 3, 1, 2]);
    }
    assert_eq!(pool.sandbox.requests("GET /api/clients/1"), 6);
    assert!(wait_for(LONG, || pool.queued() == 0), "both jobs acknowledged");
}

#[test]
fn a_worker_killed_mid_job_leaves_it_to_another_with_every_client_created_once() {
    let pool = Pool::new(slow(40));
    let w1 = pool.worker("w1", &["--concurrency", "4"]);
    let names: Vec<String> = (0..200).map(|i| format!("Client {i:03}")).collect();
    // Without continue-on-fail: a worker's death is not an item's failure, so the resumed job
    // reports the create it had in flight as maybe applied and goes on with the rest.
    let job = json!({"items": creates(names.clone())});
    pool.submit("kill-9", &job, &[]).assert_code(0);
    assert!(
        wait_for(LONG, || pool.sandbox.requests("POST /api/clients") >= 40),
        "the first worker got going"
    );
    w1.signal("KILL");
    let _w2 = pool.worker("w2", &["--concurrency", "4"]);
    let result = pool.result("kill-9");
    result.assert_code(0);
    let result = result.json();
    assert_eq!(result["worker"], "w2");
    assert_eq!(result["delivery"], 2);
    let items = result["items"].as_array().unwrap();
    assert_eq!(items.len(), 200, "one output per item");
    let mut in_flight = Vec::new();
    for (i, item) in items.iter().enumerate() {
        assert_eq!(item["pairedItem"]["item"], i, "input order");
        if let Some(error) = item["json"].get("error") {
            assert_eq!(error["maybeApplied"], true, "item {i}: {error}");
            assert_eq!(error["inFlightWhenWorkerStopped"], true, "item {i}: {error}");
            in_flight.push(i);
        } else {
            assert_eq!(item["json"]["name"], names[i]);
        }
    }
    // At most the items the dead worker had in flight (its concurrency).
    assert!(in_flight.len() <= 4, "in flight: {in_flight:?}");
    let mut created: BTreeMap<String, usize> = BTreeMap::new();
    for client in pool.sandbox.clients() {
        *created
            .entry(client["name"].as_str().unwrap().to_owned())
            .or_default() += 1;
    }
    for (i, name) in names.iter().enumerate() {
        let count = created.get(name).copied().unwrap_or(0);
        if in_flight.contains(&i) {
            assert!(count <= 1, "{name} created {count} times");
        } else {
            assert_eq!(count, 1, "{name} created {count} times");
        }
    }
    // At most one POST per item (one the dead worker sent may have been cut off unanswered).
    let posts = pool.sandbox.requests("POST /api/clients");
    assert!(
        posts as usize <= names.len(),
        "{posts} creates sent for 200 items"
    );
}

#[test]
fn a_duplicate_submission_is_one_job() {
    let pool = Pool::new(Sandbox::seeded(3));
    let _w = pool.worker("w1", &[]);
    let job = creates(["Ana Souza".to_owned()]);
    let first = pool.submit("once", &job, &[]);
    first.assert_code(0);
    assert_eq!(first.json()["duplicate"], false);
    let second = pool.submit("once", &job, &[]);
    second.assert_code(0);
    assert_eq!(second.json()["duplicate"], true);
    assert!(second.stderr_text().contains("already submitted"));
    let result = pool.result("once");
    result.assert_code(0);
    assert_eq!(result.json()["items"][0]["json"]["name"], "Ana Souza");
    assert!(wait_for(LONG, || pool.queued() == 0));
    assert_eq!(pool.sandbox.requests("POST /api/clients"), 1);
}

#[test]
fn a_job_whose_items_fail_at_the_api_completes_once_with_its_stop_report() {
    let pool = Pool::new(Sandbox::seeded(3));
    // One item at a time, so the item after the failure is not started.
    let _w = pool.worker("w1", &["--concurrency", "1"]);
    let job = json!([
        {"operation": "get", "clientId": 1},
        {"operation": "get", "clientId": 999999},
        {"operation": "create", "name": "Never sent"}
    ]);
    let result = pool.submit("fails", &job, &["--wait", "--timeout", "120"]);
    result.assert_code(1);
    let document = result.json();
    assert_eq!(document["delivery"], 1);
    assert_eq!(document["error"]["reason"], "itemFailed");
    assert_eq!(document["error"]["httpStatus"], 404);
    assert_eq!(document["error"]["applied"], json!([[0, 0]]));
    assert_eq!(document["error"]["failed"], json!([[1, 1]]));
    assert_eq!(document["error"]["notRun"], json!([[2, 2]]));
    assert!(
        result.stderr_text().contains("job fails: item 1:"),
        "{}",
        result.stderr_text()
    );
    // Acknowledged: gone from the work queue, and never sent again.
    assert!(wait_for(LONG, || pool.queued() == 0));
    assert_eq!(pool.sandbox.requests("GET /api/clients/999999"), 1);
    assert_eq!(pool.sandbox.requests("POST /api/clients"), 0);
}

#[test]
fn a_job_that_keeps_killing_its_worker_is_dead_lettered_and_the_queue_goes_on() {
    // Every request takes longer than the test waits, so each worker that takes the job is
    // still in it when it is killed.
    let pool = Pool::new(slow(600_000));
    let job = json!([{"operation": "get", "clientId": 1}]);
    pool.submit("poison", &job, &[]).assert_code(0);
    for delivery in 1..=2 {
        let w = pool.worker(
            &format!("w{delivery}"),
            &["--max-deliver", "2", "--deadline", "3600"],
        );
        assert!(
            wait_for(LONG, || pool.sandbox.requests("GET /api/clients/1") >= delivery),
            "delivery {delivery} reached the API"
        );
        w.signal("KILL");
    }
    // The third delivery is past --max-deliver: dead-lettered without being run.
    let _w = pool.worker("w3", &["--max-deliver", "2", "--deadline", "3600"]);
    let result = pool.result("poison");
    result.assert_code(1);
    let document = result.json();
    assert_eq!(document["error"]["reason"], "deadLettered");
    let message = document["error"]["message"].as_str().unwrap();
    assert!(message.contains("delivered 3 times (max deliver 2)"), "{message}");
    assert!(
        message.contains("\"worker\":\"w2\""),
        "the last attempt: {message}"
    );
    assert_eq!(pool.sandbox.requests("GET /api/clients/1"), 2);

    // A job that is not even JSON is dead-lettered at once, and the job after it runs.
    pool.inspect(async |js| {
        js.publish("nodehost.jobs", "{\"jobId\": \"garbage\", ".into())
            .await
            .unwrap()
            .await
            .unwrap();
    });
    let dead = pool.inspect(async |js| {
        let stream = js.get_stream("NODEHOST_JOBS_RESULTS").await.unwrap();
        let consumer = stream
            .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
                filter_subject: "nodehost.dead.>".to_owned(),
                ..Default::default()
            })
            .await
            .unwrap();
        let mut messages = consumer.messages().await.unwrap();
        let mut letters = Vec::new();
        while letters.len() < 2 {
            let message = tokio::time::timeout(LONG, messages.next())
                .await
                .unwrap()
                .unwrap()
                .unwrap();
            letters.push(serde_json::from_slice::<Value>(&message.payload).unwrap());
        }
        letters
    });
    assert_eq!(dead[0]["jobId"], "poison");
    assert_eq!(dead[0]["deliveries"], 3);
    assert_eq!(dead[0]["job"]["items"], job, "the dead letter holds the job");
    assert!(
        dead[1]["lastError"].as_str().unwrap().contains("not valid JSON"),
        "{}",
        dead[1]
    );
    let after = pool.submit("after-garbage", &json!([]), &["--wait", "--timeout", "120"]);
    after.assert_code(0);
    assert_eq!(after.json()["worker"], "w3");
}

#[test]
fn sigterm_finishes_the_running_job_and_leaves_the_queued_ones() {
    let pool = Pool::new(slow(100));
    let w = pool.worker("w1", &["--concurrency", "1"]);
    let gets = json!([1, 2, 3, 1, 2, 3].map(|id| json!({"operation": "get", "clientId": id})));
    pool.submit("running", &gets, &[]).assert_code(0);
    assert!(wait_for(LONG, || pool.sandbox.requests("GET /api/clients/1") >= 1));
    pool.submit("queued", &gets, &[]).assert_code(0);
    w.signal("TERM");
    let (status, _, stderr) = w.wait(LONG);
    assert!(status.success(), "{stderr}");
    let finished = pool.result("running");
    finished.assert_code(0);
    assert_eq!(
        finished.json()["items"].as_array().unwrap().len(),
        6,
        "finished, not cut short"
    );
    assert_eq!(pool.queued(), 1, "the queued job was left for others");
    let _other = pool.worker("w2", &["--concurrency", "1"]);
    let queued = pool.result("queued");
    queued.assert_code(0);
    assert_eq!(queued.json()["worker"], "w2");
}

#[test]
fn keys_appear_in_no_result_journal_record_or_log() {
    let pool = Pool::new(Sandbox::seeded(3));
    let key = pool.sandbox.api_key().to_owned();
    let w = pool.worker("w1", &["--log-format", "json"]);
    // A write (journaled; reads are not) and a read that fails.
    let job = json!([
        {"operation": "create", "name": "Ana Souza"},
        {"operation": "get", "clientId": 999999}
    ]);
    pool.submit("secret", &json!({"items": job, "continueOnFail": true}), &[])
        .assert_code(0);
    let result = pool.result("secret");
    result.assert_code(0);
    assert!(!result.stdout_text().contains(&key), "{}", result.stdout_text());
    let records = pool.inspect(async |js| {
        let store = js.get_key_value("nodehost-items").await.unwrap();
        let keys: Vec<String> = store.keys().await.unwrap().map(|k| k.unwrap()).collect().await;
        let mut values = Vec::new();
        for k in &keys {
            values.push(String::from_utf8_lossy(&store.get(k).await.unwrap().unwrap()).into_owned());
        }
        (keys, values)
    });
    assert!(records.0.contains(&"secret.0".to_owned()), "{:?}", records.0);
    assert!(records.0.contains(&"secret.done".to_owned()), "{:?}", records.0);
    assert!(
        !records.0.contains(&"secret.1".to_owned()),
        "reads are not journaled: {:?}",
        records.0
    );
    for value in &records.1 {
        assert!(!value.contains(&key), "a journal record holds the key: {value}");
    }
    w.signal("TERM");
    let (_, _, stderr) = w.wait(LONG);
    assert!(stderr.contains("\"message\":\"job finished\""), "{stderr}");
    assert!(!stderr.contains(&key), "{stderr}");
}
