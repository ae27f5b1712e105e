//! The registry file of `nodehost plugin add`: which executables are plugins, with the
//! definitions they gave when registered, so `list`, `describe` and `schema` answer without
//! starting them. One JSON document; each entry is read on its own, so one broken entry never
//! breaks the others, and saving keeps a broken entry as it was.

use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::process::PluginCommand;
use crate::protocol::InitializeResult;

/// The file format's version.
const FORMAT: u64 = 1;

/// One registered plugin.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PluginEntry {
    /// The plugin's name (from its `initialize` answer).
    pub name: String,
    /// Its version (from its `initialize` answer).
    pub version: String,
    /// What is started.
    #[serde(flatten)]
    pub command: PluginCommand,
    /// Size and modification time of the executable (and of arguments that name files, such
    /// as a script): when one changed, the definitions are read again.
    pub stamps: Vec<FileStamp>,
    /// Node definitions, as the plugin gave them.
    pub nodes: Vec<Value>,
    /// Credential definitions, as the plugin gave them.
    #[serde(default)]
    pub credentials: Vec<Value>,
}

/// What a file looked like at registration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FileStamp {
    /// The file.
    pub path: PathBuf,
    /// Its size in bytes.
    pub size: u64,
    /// Its modification time, in nanoseconds since 1970.
    pub modified_ns: u128,
}

impl FileStamp {
    fn of(path: &Path) -> Option<Self> {
        let meta = std::fs::metadata(path).ok().filter(std::fs::Metadata::is_file)?;
        let modified_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos());
        Some(Self {
            path: path.to_owned(),
            size: meta.len(),
            modified_ns,
        })
    }
}

impl PluginEntry {
    /// The entry of a plugin that answered `initialize` with `result`.
    pub fn new(command: PluginCommand, result: &InitializeResult) -> Self {
        Self {
            name: result.plugin.name.clone(),
            version: result.plugin.version.clone(),
            stamps: stamps(&command),
            command,
            nodes: result.nodes.clone(),
            credentials: result.credentials.clone(),
        }
    }

    /// Whether the executable (or a file argument) changed since the stamps were taken.
    pub fn changed(&self) -> bool {
        stamps(&self.command) != self.stamps
    }

    /// The `initialize` answer this entry stands for.
    pub fn handshake(&self) -> InitializeResult {
        InitializeResult {
            protocol_version: crate::protocol::PROTOCOL_VERSION.into(),
            plugin: crate::protocol::Software {
                name: self.name.clone(),
                version: self.version.clone(),
            },
            nodes: self.nodes.clone(),
            credentials: self.credentials.clone(),
        }
    }

    /// The node names.
    pub fn node_names(&self) -> Vec<String> {
        self.nodes
            .iter()
            .filter_map(|n| n.get("name").and_then(Value::as_str).map(str::to_owned))
            .collect()
    }
}

/// Stamps of the program and of every argument that names a file.
fn stamps(command: &PluginCommand) -> Vec<FileStamp> {
    std::iter::once(command.program.as_path())
        .chain(command.args.iter().map(Path::new))
        .filter_map(FileStamp::of)
        .collect()
}

/// The registry file.
#[derive(Debug, Clone)]
pub struct PluginsFile {
    path: PathBuf,
    entries: Vec<Value>,
}

impl PluginsFile {
    /// Where the file is by default: `$XDG_CONFIG_HOME/nodehost/plugins.json`, else
    /// `~/.config/nodehost/plugins.json`.
    pub fn default_path() -> Option<PathBuf> {
        let config = std::env::var_os("XDG_CONFIG_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
        Some(config.join("nodehost").join("plugins.json"))
    }

    /// Read the file; a file that does not exist holds no plugin.
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(format!("cannot read the plugin registry {}: {e}", path.display())),
        };
        let entries = if text.iter().all(u8::is_ascii_whitespace) {
            Vec::new()
        } else {
            let doc: Value = serde_json::from_slice(&text).map_err(|e| {
                format!(
                    "the plugin registry {} is not valid JSON ({e}); fix or delete it",
                    path.display()
                )
            })?;
            match doc.get("plugins") {
                Some(Value::Array(list)) => list.clone(),
                _ => {
                    return Err(format!(
                        "the plugin registry {} has no `plugins` array; fix or delete it",
                        path.display()
                    ));
                }
            }
        };
        Ok(Self {
            path: path.to_owned(),
            entries,
        })
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every entry, read on its own: a broken one is an error naming its place.
    pub fn entries(&self) -> Vec<Result<PluginEntry, String>> {
        self.entries
            .iter()
            .enumerate()
            .map(|(i, raw)| {
                serde_json::from_value::<PluginEntry>(raw.clone()).map_err(|e| {
                    let name = raw.get("name").and_then(Value::as_str).unwrap_or("?");
                    format!(
                        "entry {i} (`{}`) of the plugin registry {} is broken ({e}); remove it with `nodehost plugin remove` or fix the file",
                        crate::truncate(name, 60),
                        self.path.display()
                    )
                })
            })
            .collect()
    }

    /// Add `entry`, replacing one of the same name.
    pub fn upsert(&mut self, entry: &PluginEntry) {
        let value = json!(entry);
        match self.position(&entry.name) {
            Some(i) => self.entries[i] = value,
            None => self.entries.push(value),
        }
    }

    /// Remove the entry called `name`; whether there was one.
    pub fn remove(&mut self, name: &str) -> bool {
        match self.position(name) {
            Some(i) => {
                self.entries.remove(i);
                true
            }
            None => false,
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.get("name").and_then(Value::as_str) == Some(name))
    }

    /// Write the file (its directory created if needed), replacing it atomically.
    pub fn save(&self) -> Result<(), String> {
        let fail =
            |e: std::io::Error| format!("cannot write the plugin registry {}: {e}", self.path.display());
        let dir = self
            .path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let doc = json!({ "format": FORMAT, "plugins": self.entries });
        let mut text = serde_json::to_vec_pretty(&doc).map_err(|e| fail(std::io::Error::other(e)))?;
        text.push(b'\n');
        let mut file = tempfile::NamedTempFile::new_in(dir).map_err(fail)?;
        file.write_all(&text).map_err(fail)?;
        file.persist(&self.path).map_err(|e| fail(e.error))?;
        Ok(())
    }
}
