//! The host side against tiny plugins written inline: limits that are too slow or too big to
//! reach through the CLI tests.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use nodehost_plugin::{Plugin, PluginCommand, PluginOptions};

fn python(script: &str) -> PluginCommand {
    PluginCommand::new("python3", ["-c", script])
}

#[tokio::test]
async fn a_line_past_the_limit_is_a_protocol_error_naming_the_limit() {
    let long_answer = r#"
import sys, json
for line in sys.stdin:
    m = json.loads(line)
    sys.stdout.write('{"jsonrpc":"2.0","id":%d,"result":{"x":"%s"}}\n' % (m["id"], "a" * 5000))
    sys.stdout.flush()
"#;
    let options = PluginOptions {
        max_line_bytes: 4096,
        ..PluginOptions::default()
    };
    let e = Plugin::start(python(long_answer), options).await.unwrap_err();
    assert!(
        e.0.contains("plugin `python3` wrote a line longer than 4 KiB on stdout (a protocol error)"),
        "{e}"
    );
}

#[tokio::test]
async fn a_plugin_that_exits_at_once_is_reported_with_its_status_and_last_words() {
    let dies = "import sys; print('cannot find my config', file=sys.stderr); sys.exit(7)";
    let options = PluginOptions {
        init_timeout: Duration::from_secs(30),
        ..PluginOptions::default()
    };
    let e = Plugin::start(python(dies), options).await.unwrap_err();
    assert!(e.0.contains("exited (exit status 7)"), "{e}");
    assert!(e.0.contains("cannot find my config"), "{e}");
}

#[tokio::test]
async fn a_missing_executable_is_named() {
    let e = Plugin::start(
        PluginCommand::new("/nonexistent/plugin", Vec::<String>::new()),
        PluginOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(
        e.0.starts_with("cannot start plugin `/nonexistent/plugin`"),
        "{e}"
    );
}
