//! Users and API keys: the sandbox's one owner account, minting keys, storing only their
//! SHA-256, and the in-memory key table that authentication reads. Owns the `users` and
//! `api_keys` tables; knows nothing of HTTP.

use std::collections::HashMap;
use std::fmt;
use std::sync::Arc;

use rand::Rng;
use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::record::now_timestamp;

/// The account every key of this sandbox belongs to; `test-connection` answers with it.
const OWNER_NAME: &str = "Sandbox Owner";
const OWNER_EMAIL: &str = "owner@sandbox.local";

/// A user a key authenticates as. Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct User {
    pub id: Arc<str>,
    pub name: Arc<str>,
    pub email: Arc<str>,
}

/// Hex SHA-256 of every accepted key, mapped to its user. Loaded once at start: keys only change
/// when the sandbox starts, so requests never touch the database to authenticate.
#[derive(Clone, Default)]
pub(crate) struct KeyTable(Arc<HashMap<[u8; 32], User>>);

impl fmt::Debug for KeyTable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KeyTable({} keys)", self.0.len())
    }
}

impl KeyTable {
    /// The user `key` belongs to, if it is accepted. The key is hashed first, so lookup time
    /// depends on the hash, not on how much of a guessed key is right.
    pub fn user_for(&self, key: &str) -> Option<&User> {
        self.0.get(&sha256(key))
    }
}

/// A new key in the vendor's shape: `gck_` and 64 lowercase hex digits (256 random bits).
pub(crate) fn mint_key() -> String {
    let bytes: [u8; 32] = rand::rng().random();
    format!("gck_{}", hex::encode(bytes))
}

/// Makes sure the owner exists and `key` is accepted (storing only its hash), then returns
/// every accepted key. Runs once, at start, on the writer connection.
pub(crate) fn bootstrap(conn: &mut Connection, key: &str) -> rusqlite::Result<(User, KeyTable)> {
    let tx = conn.transaction()?;
    let owner = match tx
        .query_row(
            "SELECT id, name, email FROM users ORDER BY created_at, id LIMIT 1",
            [],
            user_from_row,
        )
        .optional()?
    {
        Some(user) => user,
        None => {
            let user = User {
                id: new_uuid_v4().into(),
                name: OWNER_NAME.into(),
                email: OWNER_EMAIL.into(),
            };
            tx.execute(
                "INSERT INTO users (id, name, email, created_at) VALUES (?1, ?2, ?3, ?4)",
                params![&*user.id, &*user.name, &*user.email, now_timestamp()],
            )?;
            user
        }
    };
    tx.execute(
        "INSERT OR IGNORE INTO api_keys (key_sha256, user_id, created_at) VALUES (?1, ?2, ?3)",
        params![hex::encode(sha256(key)), &*owner.id, now_timestamp()],
    )?;
    let mut keys = HashMap::new();
    {
        let mut stmt = tx.prepare(
            "SELECT u.id, u.name, u.email, k.key_sha256 FROM api_keys k JOIN users u ON u.id = k.user_id",
        )?;
        let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(3)?, user_from_row(r)?)))?;
        for row in rows {
            let (hash, user) = row?;
            // A row that is not 64 hex digits can match no key; skip it rather than fail start.
            if let Ok(Ok(digest)) = hex::decode(&hash).map(<[u8; 32]>::try_from) {
                keys.insert(digest, user);
            }
        }
    }
    tx.commit()?;
    Ok((owner, KeyTable(Arc::new(keys))))
}

fn user_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        id: r.get::<_, String>(0)?.into(),
        name: r.get::<_, String>(1)?.into(),
        email: r.get::<_, String>(2)?.into(),
    })
}

fn sha256(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// A random (version 4) UUID, formatted `8-4-4-4-12`, like the vendor's user ids.
fn new_uuid_v4() -> String {
    let mut b: [u8; 16] = rand::rng().random();
    b[6] = (b[6] & 0x0f) | 0x40; // version 4
    b[8] = (b[8] & 0x3f) | 0x80; // RFC 4122 variant
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}
