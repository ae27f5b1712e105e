//! Every shell block of the README and of the guides in `docs/`, run as a person pastes it:
//! whole, in a fresh `bash` (`-e -o pipefail`), from the repository root, with the `nodehost`
//! this build made first on `PATH`, a home folder and a plugin registry of its own. Blocks run
//! one after another (several listen on the documented ports). A block preceded by
//! `<!-- not run: WHY -->` is skipped (it needs an account, n8n, cargo itself, or it runs until
//! Ctrl-C); one preceded by `<!-- exit: N -->` must exit with N.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// A block that takes longer is a hang (a server never stopped, a wait with no end).
const BLOCK_DEADLINE: Duration = Duration::from_secs(120);

struct Block {
    file: String,
    line: usize,
    script: String,
    skip: Option<String>,
    exit: i32,
}

/// The `sh` blocks of one Markdown file, with the marker comment just before each, if any.
fn blocks(file: &Path, name: &str) -> Vec<Block> {
    let text = std::fs::read_to_string(file).unwrap();
    let lines: Vec<&str> = text.lines().collect();
    let mut found = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if lines[i].trim_end() == "```sh" {
            let start = i;
            let mut script = String::new();
            i += 1;
            while i < lines.len() && lines[i].trim_end() != "```" {
                script.push_str(lines[i]);
                script.push('\n');
                i += 1;
            }
            let marker = lines[..start]
                .iter()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| l.trim())
                .filter(|l| l.starts_with("<!--") && l.ends_with("-->"))
                .map(|l| {
                    l.trim_start_matches("<!--")
                        .trim_end_matches("-->")
                        .trim()
                        .to_owned()
                });
            let skip = marker
                .as_deref()
                .and_then(|m| m.strip_prefix("not run:"))
                .map(|why| why.trim().to_owned());
            let exit = marker
                .as_deref()
                .and_then(|m| m.strip_prefix("exit:"))
                .map_or(0, |n| n.trim().parse().unwrap());
            found.push(Block {
                file: name.to_owned(),
                line: start + 1,
                script,
                skip,
                exit,
            });
        }
        i += 1;
    }
    found
}

fn all_blocks() -> Vec<Block> {
    let mut files = vec![nodehost_e2e::repo_file("README.md")];
    let mut guides: Vec<PathBuf> = std::fs::read_dir(nodehost_e2e::repo_file("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    guides.sort();
    files.extend(guides);
    files
        .iter()
        .flat_map(|f| {
            let name = f
                .strip_prefix(nodehost_e2e::repo_file(""))
                .unwrap_or(f)
                .display()
                .to_string();
            blocks(f, &name)
        })
        .collect()
}

/// Runs one block in its own process group, and kills the group when it ends (or hangs), so
/// nothing it started outlives it. Returns the exit code (`None`: killed at the deadline) and
/// what it printed.
fn run(block: &Block, scratch: &Path) -> (Option<i32>, String) {
    use std::os::unix::process::CommandExt as _;
    let home = scratch.join(format!("home-{}", block.line));
    std::fs::create_dir_all(&home).unwrap();
    let script = scratch.join("block.sh");
    std::fs::write(&script, &block.script).unwrap();
    let bin = nodehost_e2e::nodehost_bin();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let log = scratch.join("block.log");
    let out = std::fs::File::create(&log).unwrap();
    let mut command = Command::new("bash");
    nodehost_e2e::clean_env(&mut command);
    let mut child = command
        .args(["-e", "-o", "pipefail"])
        .arg(&script)
        .current_dir(nodehost_e2e::repo_file(""))
        .env("PATH", path)
        .env("HOME", &home)
        .env("NODEHOST_PLUGINS", home.join("plugins.json"))
        .stdin(Stdio::null())
        .stdout(out.try_clone().unwrap())
        .stderr(out)
        .process_group(0)
        .spawn()
        .expect("bash");
    let started = Instant::now();
    let code = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status.code();
        }
        if started.elapsed() > BLOCK_DEADLINE {
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let _ = Command::new("kill")
        .args(["-KILL", "--", &format!("-{}", child.id())])
        .stderr(Stdio::null())
        .status();
    let _ = child.wait();
    (code, std::fs::read_to_string(&log).unwrap_or_default())
}

#[test]
fn every_shell_block_of_the_readme_and_the_guides_works_pasted_whole() {
    let curl = Command::new("curl").arg("--version").output();
    assert!(
        curl.is_ok_and(|o| o.status.success()),
        "curl is missing: install it with `apt-get install -y curl` (scripts/test does)"
    );
    let scratch = nodehost_e2e::tempdir();
    let blocks = all_blocks();
    let mut failures = Vec::new();
    let mut ran = 0;
    for block in &blocks {
        if block.skip.is_some() {
            continue;
        }
        ran += 1;
        let (code, output) = run(block, scratch.path());
        if code != Some(block.exit) {
            let tail: Vec<&str> = output.lines().rev().take(40).collect();
            let tail: Vec<&str> = tail.into_iter().rev().collect();
            failures.push(format!(
                "{}:{}: {} (expected exit {}):\n{}\n--- last lines:\n{}",
                block.file,
                block.line,
                code.map_or("did not finish in time".to_owned(), |c| format!("exit {c}")),
                block.exit,
                block.script,
                tail.join("\n")
            ));
        }
    }
    assert!(ran >= 20, "only {ran} blocks ran: did the Markdown change shape?");
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}
