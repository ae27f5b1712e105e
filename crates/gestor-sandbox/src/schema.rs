//! The database schema and its migrations. Owns table definitions and `user_version`; the
//! queries live beside the features that use them.

use rusqlite::Connection;

use crate::error::SandboxError;

/// Schema version this build writes; bump it and add a step to `MIGRATIONS` to change tables.
const CURRENT_VERSION: i64 = 1;

/// Step `i` brings a database from version `i` to `i + 1`.
const MIGRATIONS: [&str; CURRENT_VERSION as usize] = [r#"
    CREATE TABLE users (
        id          TEXT PRIMARY KEY,          -- UUID, shown as clients' userId
        name        TEXT NOT NULL,
        email       TEXT NOT NULL,
        created_at  TEXT NOT NULL
    );
    CREATE TABLE api_keys (
        key_sha256  TEXT PRIMARY KEY,          -- hex SHA-256 of the key; the key itself is never stored
        user_id     TEXT NOT NULL REFERENCES users(id),
        created_at  TEXT NOT NULL
    );
    -- AUTOINCREMENT so ids are never reused after a delete, like the vendor's serial column.
    CREATE TABLE clients (
        id                  INTEGER PRIMARY KEY AUTOINCREMENT,
        user_id             TEXT NOT NULL REFERENCES users(id),
        name                TEXT NOT NULL,
        email               TEXT,
        phone               TEXT,
        cpf                 TEXT,
        birth_date          TEXT,
        cep                 TEXT,
        street              TEXT,
        number              TEXT,
        complement          TEXT,
        neighborhood        TEXT,
        city                TEXT,
        state               TEXT,
        address             TEXT,
        notes               TEXT,
        status              TEXT NOT NULL CHECK (status IN ('active', 'inactive')),
        payment_status      TEXT NOT NULL CHECK (payment_status IN ('a_pagar', 'pago', 'cancelado')),
        consultation_price  REAL CHECK (consultation_price >= 0),
        created_at          TEXT NOT NULL,
        updated_at          TEXT NOT NULL
    );
    CREATE INDEX clients_by_user ON clients(user_id, id);
"#];

/// Brings the database to `CURRENT_VERSION` in one transaction, refusing newer databases.
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SandboxError> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > CURRENT_VERSION {
        return Err(SandboxError::SchemaVersion {
            found,
            supported: CURRENT_VERSION,
        });
    }
    let tx = conn.transaction()?;
    for step in MIGRATIONS.iter().skip(usize::try_from(found).unwrap_or(0)) {
        tx.execute_batch(step)?;
    }
    tx.pragma_update(None, "user_version", CURRENT_VERSION)?;
    tx.commit()?;
    Ok(())
}
