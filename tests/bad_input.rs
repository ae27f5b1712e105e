//! A corpus of bad input through the built binary: malformed JSON, deep nesting, huge numbers,
//! wrong types, 10 MB strings, invalid UTF-8, path-injection ids, unknown fields, empty input,
//! bare values, NDJSON with a bad line. Each must end with exit status 1 or 2 and a message on
//! stderr naming the problem: never a panic, never a hang, and never a request to the API.

use std::time::Duration;

use nodehost_e2e::{NODE, Sandbox, nodehost, run_node, tempdir};
use serde_json::{Value, json};

/// One bad input and what a user must see.
struct Case {
    name: &'static str,
    stdin: Vec<u8>,
    args: Vec<&'static str>,
    code: i32,
    /// Every one of these must appear on stderr.
    says: Vec<String>,
}

fn case(name: &'static str, stdin: impl Into<Vec<u8>>, code: i32, says: &[&str]) -> Case {
    Case {
        name,
        stdin: stdin.into(),
        args: Vec::new(),
        code,
        says: says.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn corpus() -> Vec<Case> {
    let ten_mb = "7".repeat(10_000_000);
    let mut cases = vec![
        // A key given twice must not silently mean its last value: this one would delete.
        case(
            "a key twice in an item",
            r#"{"operation": "get", "operation": "delete", "clientId": 1}"#,
            2,
            &["malformed JSON in stdin at line 1", "duplicate key `operation`"],
        ),
        case(
            "items twice in an envelope",
            r#"{"items": [{"operation": "get", "clientId": 1}], "items": [{"operation": "delete", "clientId": 1}]}"#,
            2,
            &["duplicate key `items`"],
        ),
        case(
            "a key twice in node-level parameters",
            r#"{"parameters": {"operation": "get", "operation": "delete"}, "items": [{"clientId": 1}]}"#,
            2,
            &["duplicate key `operation`"],
        ),
        case(
            "a byte-order mark, then a bad item",
            b"\xef\xbb\xbf[{\"operation\": \"archive\"}]".to_vec(),
            1,
            &["item 0: Unknown operation: archive"],
        ),
        case("empty input", "", 2, &["stdin is empty"]),
        case("whitespace only", " \n\t\n", 2, &["stdin is empty"]),
        case(
            "truncated JSON",
            r#"[{"operation": "get", "clientId": 1"#,
            2,
            &["malformed JSON in stdin at line 1"],
        ),
        case(
            "trailing garbage",
            r#"{"operation": "get", "clientId": 1} x"#,
            2,
            &["malformed JSON in stdin", "trailing characters"],
        ),
        case(
            "a comment",
            "// items\n[]",
            2,
            &["malformed JSON in stdin at line 1, column 1"],
        ),
        case(
            "invalid UTF-8 in a string",
            b"{\"operation\": \"create\", \"name\": \"\xff\xfe\"}".to_vec(),
            2,
            &["malformed JSON in stdin"],
        ),
        case(
            "invalid UTF-8 outside strings",
            b"\xef\xbb\xbf\xff[]".to_vec(),
            2,
            &["malformed JSON in stdin"],
        ),
        case(
            "arrays nested 100 000 deep",
            "[".repeat(100_000),
            2,
            &["malformed JSON", "recursion limit exceeded"],
        ),
        case(
            "objects nested 100 000 deep",
            "{\"a\":".repeat(100_000),
            2,
            &["malformed JSON", "recursion limit exceeded"],
        ),
        case(
            "an object nested 100 deep as a name",
            format!(
                r#"{{"operation": "create", "name": {}1{}}}"#,
                "{\"a\":".repeat(100),
                "}".repeat(100)
            ),
            1,
            &["field `name`: expected a string, got an object"],
        ),
        case(
            "a number beyond f64",
            r#"{"operation": "get", "clientId": 1e400}"#,
            2,
            &["number out of range"],
        ),
        case(
            "a negative id",
            r#"{"operation": "get", "clientId": -1}"#,
            1,
            &["field `clientId`", "got -1"],
        ),
        case(
            "a fractional id",
            r#"{"operation": "delete", "clientId": 7.5}"#,
            1,
            &["field `clientId`"],
        ),
        case(
            "a huge negative price",
            r#"{"operation": "create", "name": "A", "consultationPrice": -1e308}"#,
            1,
            &["field `consultationPrice`"],
        ),
        case(
            "a bare number",
            "42",
            2,
            &[
                "expected an array of items, an item object or an envelope",
                "got 42",
            ],
        ),
        case("null", "null", 2, &["got null"]),
        case("a bare string", r#""get""#, 2, &["got \"get\""]),
        case(
            "an item that is a string",
            r#"["x"]"#,
            2,
            &["item 0: expected an object"],
        ),
        case(
            "an item that is an array",
            r#"[{"operation": "getAll"}, [1]]"#,
            2,
            &["item 1: expected an object"],
        ),
        case(
            "parameters that are not an object",
            r#"{"parameters": 5, "items": []}"#,
            2,
            &["`parameters` must be an object"],
        ),
        case(
            "continueOnFail that is a string",
            r#"{"continueOnFail": "yes", "items": []}"#,
            2,
            &["`continueOnFail` must be true or false"],
        ),
        case(
            "an unknown envelope field",
            r#"{"items": [], "parameters": {}, "extra": 1}"#,
            2,
            &["unknown envelope field `extra`"],
        ),
        case(
            "an unknown node-level parameter",
            r#"{"parameters": {"clientid": 1}, "items": [{"operation": "get"}]}"#,
            2,
            &["unknown node-level parameter(s) `clientid`"],
        ),
        case(
            "an id of the wrong type",
            r#"{"operation": "get", "clientId": true}"#,
            1,
            &["field `clientId`", "got true"],
        ),
        case(
            "a name of the wrong type",
            r#"{"operation": "create", "name": 5}"#,
            1,
            &["field `name`: expected a string, got 5"],
        ),
        case(
            "an operation of the wrong type",
            r#"{"operation": 5}"#,
            1,
            &["field `operation`"],
        ),
        case(
            "an unknown operation",
            r#"{"operation": "frobnicate"}"#,
            1,
            &["Unknown operation: frobnicate"],
        ),
        case(
            "an unknown field",
            r#"{"operation": "get", "clientId": 1, "foo": 1}"#,
            1,
            &["unknown field `foo` for operation `get`"],
        ),
        case(
            "a status outside the enum",
            r#"{"operation": "update", "clientId": 1, "status": "maybe"}"#,
            1,
            &["field `status`"],
        ),
        case(
            "a missing required id",
            r#"{"operation": "delete"}"#,
            1,
            &["clientId"],
        ),
        case(
            "a 10 MB id",
            format!(r#"{{"operation": "get", "clientId": "{ten_mb}"}}"#),
            1,
            &["field `clientId`", "(10000000 characters)"],
        ),
        case(
            "a 10 MB id as an NDJSON line",
            format!("{{\"operation\": \"get\", \"clientId\": \"{ten_mb}\"}}\n"),
            1,
            &["field `clientId`"],
        ),
        case(
            "an invalid NDJSON line",
            "{\"operation\": \"get\",\n",
            1,
            &["input line 1", "malformed JSON"],
        ),
    ];
    cases.last_mut().unwrap().args = vec!["--ndjson"];
    let len = cases.len();
    cases[len - 2].args = vec!["--ndjson"];
    for id in [
        "12/../7",
        "7?x=1",
        "7#x",
        "%37",
        "7/",
        " 7",
        "7\n",
        "0x7",
        "+7",
        "٧",
        "7.0",
        "",
        "0",
        "18446744073709551616",
    ] {
        for op in ["get", "update", "delete"] {
            let mut item = json!({"operation": op, "clientId": id});
            if op == "update" {
                item["notes"] = json!("x");
            }
            cases.push(case(
                "a path-injection id",
                item.to_string(),
                1,
                &["field `clientId`"],
            ));
        }
    }
    let mut bad_param = case(
        "malformed --parameters",
        r#"{"operation": "getAll"}"#,
        2,
        &["malformed JSON in --parameters"],
    );
    bad_param.args = vec!["--parameters", "{oops"];
    cases.push(bad_param);
    cases
}

#[test]
fn every_bad_input_is_refused_with_a_clear_message_and_nothing_is_sent() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let cases = corpus();
    for case in &cases {
        let out = run_node(&creds)
            .args(case.args.iter().copied())
            .stdin(case.stdin.clone())
            .deadline(Duration::from_secs(20))
            .run();
        let stderr = out.stderr_text();
        assert!(!stderr.contains("panicked"), "{}: panic\n{stderr}", case.name);
        assert_eq!(
            out.code(),
            Some(case.code),
            "{}: exit status\nstderr: {stderr}",
            case.name
        );
        for needle in &case.says {
            assert!(
                stderr.contains(needle.as_str()),
                "{}: stderr lacks {needle:?}:\n{stderr}",
                case.name
            );
        }
        // A message, not a dump: a 10 MB input never comes back whole.
        assert!(
            stderr.len() < 4096,
            "{}: {} bytes on stderr",
            case.name,
            stderr.len()
        );
        assert!(
            out.stdout.len() < 8192,
            "{}: {} bytes on stdout",
            case.name,
            out.stdout.len()
        );
    }
    assert_eq!(
        sandbox.total_requests(),
        0,
        "bad input reached the API: {:?}",
        sandbox.stats()
    );
    assert!(cases.len() >= 70, "corpus of {} cases", cases.len());
}

#[test]
fn an_unknown_node_and_a_missing_input_file_are_invocation_errors() {
    let out = nodehost(["run", "noSuchNode"]).stdin("[]").run();
    out.assert_code(2);
    assert!(
        out.stderr_text()
            .contains("unknown node `noSuchNode`; available: gestorClientesMaxCliente")
    );
    let dir = tempdir();
    let missing = dir.path().join("missing.json");
    let out = nodehost(["run", NODE, "--input"]).args([&missing]).run();
    out.assert_code(2);
    assert!(out.stderr_text().contains("cannot read"), "{}", out.stderr_text());
}

#[test]
fn an_ndjson_file_with_a_bad_line_stops_there_or_yields_a_paired_error_item() {
    let sandbox = Sandbox::seeded(2);
    let dir = tempdir();
    let creds = sandbox.credentials(dir.path());
    let file = dir.path().join("items.ndjson");
    std::fs::write(
        &file,
        "{\"operation\": \"get\", \"clientId\": 1}\n{not json\n{\"operation\": \"get\", \"clientId\": 2}\n",
    )
    .unwrap();

    let out = run_node(&creds)
        .args(["--ndjson", "--concurrency", "1", "--input"])
        .args([&file])
        .run();
    out.assert_code(1);
    let lines = out.json_lines();
    assert_eq!(lines.len(), 2, "one output, then the error line");
    assert_eq!(lines[0]["json"]["id"], 1);
    let error = &lines[1]["error"];
    assert!(
        error["message"].as_str().unwrap().contains("input line 2"),
        "{error}"
    );
    assert_eq!(error["applied"], json!([[0, 0]]));
    assert_eq!(error["failed"], json!([[1, 1]]));
    assert!(out.stderr_text().contains("input line 2: malformed JSON"));
    assert_eq!(
        sandbox.requests("GET /api/clients/2"),
        0,
        "nothing after the bad line was sent"
    );

    let out = run_node(&creds)
        .args(["--ndjson", "--continue-on-fail", "--input"])
        .args([&file])
        .run();
    out.assert_code(0);
    let lines = out.json_lines();
    let paired: Vec<&Value> = lines.iter().map(|l| &l["pairedItem"]["item"]).collect();
    assert_eq!(paired, [&json!(0), &json!(1), &json!(2)]);
    assert!(
        lines[1]["json"]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("input line 2")
    );
    assert_eq!(lines[2]["json"]["id"], 2);
}

#[test]
fn a_10_mb_name_fails_cleanly_without_a_panic_a_hang_or_a_dump() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let name = "a".repeat(10_000_000);
    let out = run_node(&sandbox.credentials(dir.path()))
        .stdin_json(&json!({"operation": "create", "name": name}))
        .run();
    out.assert_code(1);
    let stderr = out.stderr_text();
    assert!(stderr.len() < 4096, "{} bytes on stderr", stderr.len());
    assert!(out.stdout.len() < 8192);
    // Free-text fields are bounded in the schema, so the runaway value is refused by
    // validation, named, and never sent (no 413, no connection reset halfway through a body).
    assert!(
        stderr.contains("field `name`: expected at most 10000 characters"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was sent"), "{stderr}");
    assert_eq!(sandbox.requests("POST /api/clients"), 0);
    assert!(sandbox.clients().is_empty());
}

#[test]
fn an_integer_id_beyond_u64_is_refused_naming_the_field() {
    let sandbox = Sandbox::memory();
    let dir = tempdir();
    let out = run_node(&sandbox.credentials(dir.path()))
        .stdin(r#"{"operation": "get", "clientId": 18446744073709551616}"#)
        .run();
    out.assert_code(1);
    assert!(
        out.stderr_text().contains("field `clientId`"),
        "{}",
        out.stderr_text()
    );
}

/// A document of two million items costs a small multiple of its size: the items are located,
/// validated one at a time and never built into one tree. Before, this 6 MB document took
/// 1.4 GB; here the child may use at most 96 MiB of data memory (`prlimit --data`), and a
/// tree of every item could not fit.
#[test]
fn a_document_of_two_million_items_is_validated_within_a_small_multiple_of_its_size() {
    let prlimit = std::path::Path::new("/usr/bin/prlimit");
    assert!(
        prlimit.is_file(),
        "this test needs prlimit: apt-get install -y util-linux"
    );
    let mut document = String::from("[");
    for _ in 0..2_000_000 {
        document.push_str("{},");
    }
    document.push_str(r#"{"operation": "nope"}]"#);
    let dir = tempdir();
    let input = dir.path().join("big.json");
    std::fs::write(&input, &document).unwrap();
    let mut prlimit = std::process::Command::new(prlimit);
    nodehost_e2e::clean_env(&mut prlimit);
    let out = prlimit
        .arg(format!("--data={}", 96 * 1024 * 1024))
        .arg(nodehost_e2e::nodehost_bin())
        .args(["run", NODE, "--input"])
        .arg(&input)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("item 2000000: Unknown operation: nope")
            && stderr.contains("1 of 2000001 item(s) invalid; nothing was sent"),
        "{stderr}"
    );
    let error: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(error["error"]["notRun"], json!([[0, 1_999_999]]));
}

#[test]
fn a_credentials_file_that_never_ends_is_refused_before_it_is_read() {
    // `/dev/zero` would grow without end; a FIFO might never be written. Only regular files.
    let out = nodehost(["run", NODE, "--credentials", "/dev/zero"])
        .stdin_json(&json!({"operation": "get", "clientId": 1}))
        .run();
    out.assert_code(2);
    assert!(
        out.stderr_text()
            .contains("credentials file /dev/zero is not a regular file"),
        "{}",
        out.stderr_text()
    );
}
