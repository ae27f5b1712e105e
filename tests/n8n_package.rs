//! The n8n package's own tests (`integrations/n8n/test/`, Node.js's test runner): the generated
//! nodes driven as n8n drives them, against this build's `nodehost` binary and a real sandbox.
//! Needs Node.js 20.19+ and the package's dependencies (`scripts/test` installs both); a
//! machine without them fails here with the line that installs them, never skips.

use std::process::Command;

#[test]
fn the_n8n_package_tests_pass_against_this_build() {
    let package = nodehost_e2e::repo_file("integrations/n8n");
    let version = Command::new("node").arg("--version").output();
    let Ok(version) = version else {
        panic!(
            "node is missing: install Node.js 20.19 or newer (`apt-get install -y nodejs npm`, \
             or run `scripts/test`, which does); the n8n package's tests need it"
        );
    };
    assert!(version.status.success(), "`node --version` failed");
    assert!(
        package.join("node_modules/n8n-workflow").is_dir(),
        "the n8n package's dependencies are not installed: run \
         `npm ci --ignore-scripts --prefix integrations/n8n` (or `scripts/test`, which does)"
    );
    let mut tests: Vec<String> = std::fs::read_dir(package.join("test"))
        .expect("integrations/n8n/test/ exists")
        .flatten()
        .map(|e| format!("test/{}", e.file_name().to_string_lossy()))
        .filter(|name| name.ends_with(".test.js"))
        .collect();
    tests.sort();
    assert!(!tests.is_empty(), "no test files in integrations/n8n/test/");
    let mut node = Command::new("node");
    nodehost_e2e::clean_env(&mut node);
    let output = node
        .args(["--test", "--test-reporter=tap"])
        .args(&tests)
        .current_dir(&package)
        .env("NODEHOST_BIN", nodehost_e2e::nodehost_bin())
        .output()
        .expect("run node --test");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the n8n package's tests failed:\n{stdout}\n{stderr}"
    );
    assert!(stdout.contains("# fail 0"), "{stdout}");
    assert!(!stdout.contains("# pass 0"), "no test ran:\n{stdout}");
}
