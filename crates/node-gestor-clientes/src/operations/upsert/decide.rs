//! What an upsert does, decided from the clients the API's search returned: create, update only
//! the fields that differ, or nothing. Pure functions, so every case is unit-testable.
//!
//! The API's search matches substrings and is not documented as exact, so its answer is
//! filtered here: a client matches when its CPF's digits equal the item's, or its email equals
//! the item's ignoring case and surrounding spaces.

use nodehost_core::{Json, NodeError};
use serde_json::{Value, json};

use super::{MatchBy, UpsertParams};
use crate::params::ClientId;

/// What to send.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Decision {
    /// No client matches: `POST /clients` with this body.
    Create(Json),
    /// One client matches and these fields differ: `PUT /clients/{id}` with them.
    Update {
        id: ClientId,
        changes: Json,
        changed: Vec<String>,
    },
    /// One client matches and every given field already has its value: send nothing.
    Unchanged(Json),
}

/// The key of a stored record for `match_by`, normalised like the item's.
fn record_key(record: &Json, match_by: MatchBy) -> Option<String> {
    let text = match match_by {
        MatchBy::Cpf => record.get("cpf"),
        MatchBy::Email => record.get("email"),
    }?
    .as_str()?;
    Some(match match_by {
        MatchBy::Cpf => text.chars().filter(char::is_ascii_digit).collect(),
        MatchBy::Email => text.trim().to_lowercase(),
    })
}

fn field_name(match_by: MatchBy) -> &'static str {
    match match_by {
        MatchBy::Cpf => "cpf",
        MatchBy::Email => "email",
    }
}

/// Whether a given value is what the record holds: numbers by value (150 and 150.0 alike),
/// everything else exactly.
fn same(given: &Value, stored: Option<&Value>) -> bool {
    match (given, stored) {
        (Value::Number(a), Some(Value::Number(b))) => a.as_f64() == b.as_f64(),
        (Value::Null, None) => true,
        (a, Some(b)) => a == b,
        (_, None) => false,
    }
}

/// Decide from `found` (the search's answer) what the upsert `p` sends.
pub(crate) fn decide(p: &UpsertParams, key: &str, found: Vec<Json>) -> Result<Decision, NodeError> {
    let matching: Vec<Json> = found
        .into_iter()
        .filter(|r| record_key(r, p.match_by).as_deref() == Some(key))
        .collect();
    let body = match serde_json::to_value(&p.client) {
        Ok(Value::Object(body)) => body,
        Ok(_) | Err(_) => return Err(NodeError::internal("the upsert's fields are not an object")),
    };
    match matching.as_slice() {
        [] => Ok(Decision::Create(body)),
        [record] => {
            let id = record
                .get("id")
                .and_then(Value::as_u64)
                .and_then(ClientId::new)
                .ok_or_else(|| {
                    NodeError::new(
                        "the Gestor Clientes Max API's search answered a client without a numeric `id`; nothing was written",
                    )
                })?;
            let match_field = field_name(p.match_by);
            let mut changes = Json::new();
            for (field, value) in body {
                // The field that matched is equal up to normalisation: leave it as stored.
                if field == match_field || same(&value, record.get(&field)) {
                    continue;
                }
                changes.insert(field, value);
            }
            if changes.is_empty() {
                Ok(Decision::Unchanged(record.clone()))
            } else {
                let changed = changes.keys().cloned().collect();
                Ok(Decision::Update { id, changes, changed })
            }
        }
        several => {
            let ids: Vec<Value> = several.iter().filter_map(|r| r.get("id").cloned()).collect();
            let list = ids.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ");
            Err(NodeError::new(format!(
                "matchBy `{}`: {} clients have this {} (ids {list}); nothing was written. Update \
                 one of them by clientId, or make the {} unique",
                field_name(p.match_by),
                several.len(),
                field_name(p.match_by),
                field_name(p.match_by)
            ))
            .with_details(json!({ "matchingIds": ids })))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::operations::ClienteParams;

    fn upsert(item: Value) -> UpsertParams {
        match serde_json::from_value(item).unwrap() {
            ClienteParams::Upsert(p) => p,
            other => panic!("not an upsert: {other:?}"),
        }
    }

    fn record(v: Value) -> Json {
        match v {
            Value::Object(m) => m,
            _ => panic!("a record is an object"),
        }
    }

    #[test]
    fn no_match_creates_with_the_fields_given() {
        let p =
            upsert(json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "529.982.247-25"}));
        let key = p.match_key().unwrap();
        assert_eq!(key, "52998224725");
        // The search matched a substring only: not the same CPF.
        let found = vec![record(json!({"id": 4, "name": "Bia", "cpf": "152998224725"}))];
        assert_eq!(
            decide(&p, &key, found).unwrap(),
            Decision::Create(record(json!({"name": "Ana", "cpf": "52998224725"})))
        );
    }

    #[test]
    fn one_match_updates_only_what_differs() {
        let p = upsert(json!({"operation": "upsert", "matchBy": "email", "name": "Ana",
            "email": "ANA@example.com", "phone": "81 9999", "consultationPrice": 150}));
        let key = p.match_key().unwrap();
        let stored = record(json!({"id": 7, "name": "Ana", "email": "ana@example.com",
            "phone": "81 1111", "consultationPrice": 150.0}));
        let decision = decide(&p, &key, vec![stored]).unwrap();
        assert_eq!(
            decision,
            Decision::Update {
                id: ClientId::new(7).unwrap(),
                changes: record(json!({"phone": "81 9999"})),
                changed: vec!["phone".to_owned()],
            }
        );
    }

    #[test]
    fn one_match_with_every_field_equal_sends_nothing() {
        let p = upsert(
            json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "52998224725", "city": "Recife"}),
        );
        let key = p.match_key().unwrap();
        let stored =
            record(json!({"id": 7, "name": "Ana", "cpf": "529.982.247-25", "city": "Recife", "phone": null}));
        assert!(matches!(
            decide(&p, &key, vec![stored]).unwrap(),
            Decision::Unchanged(_)
        ));
    }

    #[test]
    fn several_matches_fail_naming_them() {
        let p = upsert(json!({"operation": "upsert", "matchBy": "cpf", "name": "Ana", "cpf": "52998224725"}));
        let key = p.match_key().unwrap();
        let found = vec![
            record(json!({"id": 3, "cpf": "52998224725"})),
            record(json!({"id": 9, "cpf": "52998224725"})),
        ];
        let e = decide(&p, &key, found).unwrap_err();
        assert!(e.message.contains("ids 3, 9"), "{}", e.message);
        assert!(e.message.contains("nothing was written"), "{}", e.message);
    }
}
