//! SQL for client records: list, get, search, insert, update, delete, always scoped to the
//! owning user. Owns the `clients` table's queries; validation and HTTP live elsewhere.

use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, named_params};

use crate::record::{Client, PaymentStatus, Status, now_timestamp};
use crate::validation::ClientChanges;

/// Columns in `Client` field order, so `from_row` can read them by position.
const COLUMNS: &str = "id, user_id, name, email, phone, cpf, birth_date, cep, street, number, \
    complement, neighborhood, city, state, address, notes, status, payment_status, \
    consultation_price, created_at, updated_at";

/// Every client of `user_id`, oldest id first.
pub(crate) fn list(conn: &Connection, user_id: &str) -> rusqlite::Result<Vec<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM clients WHERE user_id = ?1 ORDER BY id"
    ))?;
    stmt.query_map([user_id], from_row)?.collect()
}

/// One client of `user_id`, if it exists.
pub(crate) fn get(conn: &Connection, user_id: &str, id: i64) -> rusqlite::Result<Option<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM clients WHERE id = ?1 AND user_id = ?2"
    ))?;
    stmt.query_row(rusqlite::params![id, user_id], from_row)
        .optional()
}

/// Clients of `user_id` whose name, e-mail, phone, CPF or city contains `term`
/// (case-insensitive for ASCII letters), oldest id first.
pub(crate) fn search(conn: &Connection, user_id: &str, term: &str) -> rusqlite::Result<Vec<Client>> {
    let mut stmt = conn.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM clients WHERE user_id = ?1 AND (\
            name LIKE ?2 ESCAPE '\\' OR email LIKE ?2 ESCAPE '\\' OR phone LIKE ?2 ESCAPE '\\' \
            OR cpf LIKE ?2 ESCAPE '\\' OR city LIKE ?2 ESCAPE '\\') ORDER BY id"
    ))?;
    // Escape LIKE's wildcards so a user's `%` or `_` matches itself.
    let escaped = term.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    stmt.query_map(rusqlite::params![user_id, format!("%{escaped}%")], from_row)?
        .collect()
}

/// Stores a new client and returns it with its id. Committed when this returns.
pub(crate) fn insert(conn: &Connection, mut client: Client) -> rusqlite::Result<Client> {
    let mut stmt = conn.prepare_cached(
        "INSERT INTO clients (user_id, name, email, phone, cpf, birth_date, cep, street, number, \
            complement, neighborhood, city, state, address, notes, status, payment_status, \
            consultation_price, created_at, updated_at) \
         VALUES (:user_id, :name, :email, :phone, :cpf, :birth_date, :cep, :street, :number, \
            :complement, :neighborhood, :city, :state, :address, :notes, :status, \
            :payment_status, :consultation_price, :created_at, :updated_at) \
         RETURNING id",
    )?;
    let c = &client;
    client.id = stmt.query_row(
        named_params! {
            ":user_id": c.user_id, ":name": c.name, ":email": c.email, ":phone": c.phone,
            ":cpf": c.cpf, ":birth_date": c.birth_date, ":cep": c.cep, ":street": c.street,
            ":number": c.number, ":complement": c.complement, ":neighborhood": c.neighborhood,
            ":city": c.city, ":state": c.state, ":address": c.address, ":notes": c.notes,
            ":status": c.status.as_str(), ":payment_status": c.payment_status.as_str(),
            ":consultation_price": c.consultation_price, ":created_at": c.created_at,
            ":updated_at": c.updated_at,
        },
        |r| r.get(0),
    )?;
    Ok(client)
}

/// Applies `changes` to client `id` of `user_id` and bumps `updatedAt`; `None` if there is no
/// such client. Read and write happen in one immediate transaction.
pub(crate) fn update(
    conn: &mut Connection,
    user_id: &str,
    id: i64,
    changes: ClientChanges,
) -> rusqlite::Result<Option<Client>> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let Some(mut client) = get(&tx, user_id, id)? else {
        return Ok(None);
    };
    changes.apply_to(&mut client);
    client.updated_at = now_timestamp();
    {
        let mut stmt = tx.prepare_cached(
            "UPDATE clients SET name = :name, email = :email, phone = :phone, cpf = :cpf, \
                birth_date = :birth_date, cep = :cep, street = :street, number = :number, \
                complement = :complement, neighborhood = :neighborhood, city = :city, \
                state = :state, address = :address, notes = :notes, status = :status, \
                payment_status = :payment_status, consultation_price = :consultation_price, \
                updated_at = :updated_at \
             WHERE id = :id",
        )?;
        let c = &client;
        stmt.execute(named_params! {
            ":name": c.name, ":email": c.email, ":phone": c.phone, ":cpf": c.cpf,
            ":birth_date": c.birth_date, ":cep": c.cep, ":street": c.street, ":number": c.number,
            ":complement": c.complement, ":neighborhood": c.neighborhood, ":city": c.city,
            ":state": c.state, ":address": c.address, ":notes": c.notes,
            ":status": c.status.as_str(), ":payment_status": c.payment_status.as_str(),
            ":consultation_price": c.consultation_price, ":updated_at": c.updated_at,
            ":id": c.id,
        })?;
    }
    tx.commit()?;
    Ok(Some(client))
}

/// Deletes client `id` of `user_id`; false if there was none.
pub(crate) fn delete(conn: &Connection, user_id: &str, id: i64) -> rusqlite::Result<bool> {
    let mut stmt = conn.prepare_cached("DELETE FROM clients WHERE id = ?1 AND user_id = ?2")?;
    Ok(stmt.execute(rusqlite::params![id, user_id])? > 0)
}

/// How many clients exist (any user); seeding only fills an empty table.
pub(crate) fn count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT COUNT(*) FROM clients", [], |r| r.get(0))
}

fn from_row(r: &Row<'_>) -> rusqlite::Result<Client> {
    Ok(Client {
        id: r.get(0)?,
        user_id: r.get(1)?,
        name: r.get(2)?,
        email: r.get(3)?,
        phone: r.get(4)?,
        cpf: r.get(5)?,
        birth_date: r.get(6)?,
        cep: r.get(7)?,
        street: r.get(8)?,
        number: r.get(9)?,
        complement: r.get(10)?,
        neighborhood: r.get(11)?,
        city: r.get(12)?,
        state: r.get(13)?,
        address: r.get(14)?,
        notes: r.get(15)?,
        status: closed(r, 16, Status::parse)?,
        payment_status: closed(r, 17, PaymentStatus::parse)?,
        consultation_price: r.get(18)?,
        created_at: r.get(19)?,
        updated_at: r.get(20)?,
    })
}

/// Reads an enum column; the table's CHECK constraint keeps other values out, but a file edited
/// by hand is reported as a conversion error rather than a panic.
fn closed<T>(r: &Row<'_>, idx: usize, parse: fn(&str) -> Option<T>) -> rusqlite::Result<T> {
    let text: String = r.get(idx)?;
    parse(&text).ok_or_else(|| {
        rusqlite::Error::FromSqlConversionFailure(
            idx,
            rusqlite::types::Type::Text,
            format!("unexpected value {text:?}").into(),
        )
    })
}
