//! The parameter types the Cliente node's operations share: the client's fields, a client's
//! ID, checked strings, and the request bodies built from them. Each operation's own
//! parameters live in its file under `operations/`.
//!
//! The JSON Schema derived from these types is what the core validates every item against
//! before anything is sent, so every rule lives in the schema (types, `minimum`, `enum`,
//! `minLength`, the custom `format`s of [`crate::formats`]). Deserialization only normalises
//! values that already passed, and re-checks them so that a value that skipped validation can
//! still never reach a URL or a body unchecked.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde::de::{self, Deserializer, Unexpected};
use serde::{Deserialize, Serialize};
use serde_json::{Number, Value};

use crate::formats;

/// Longest text accepted in a free-text field. The API's limits are not published; this is far
/// above any real name or note and far below a request body a JSON API accepts (Express's
/// default is 100 kB), so a runaway value is refused before anything is sent rather than
/// answered with a 413 or a reset connection halfway through a batch.
pub const TEXT_MAX_CHARS: u64 = 10_000;

pub(crate) fn default_true() -> bool {
    true
}

pub(crate) fn default_limit() -> u32 {
    50
}

/// `limit` only matters when `returnAll` is false, so the n8n form shows it only then.
pub(crate) fn limit_schema(_: &mut SchemaGenerator) -> Schema {
    json_schema!({
        "type": "integer",
        "minimum": 1,
        "maximum": u32::MAX,
        "x-show-when": { "returnAll": [false] }
    })
}

/// `#[serde(default)]` on an optional field makes schemars publish `"default": null`, which
/// reads as if null were allowed (it is not for `status`, `name`...). Omitting a field is the
/// default; say nothing.
pub(crate) fn drop_null_defaults(schema: &mut Schema) {
    if let Some(Value::Object(properties)) = schema.get_mut("properties") {
        for property in properties.values_mut() {
            if let Value::Object(property) = property
                && property.get("default") == Some(&Value::Null)
            {
                property.remove("default");
            }
        }
    }
}

/// Parameters of `get` and `delete`: which client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(inline)]
pub struct ClientRef {
    /// The client's numeric ID, as a number or a string of digits.
    #[schemars(title = "Client ID")]
    pub client_id: ClientId,
}

/// The fields an update changes: a field set to `null` clears it, a field left out is not sent.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = drop_null_defaults)]
pub struct ClientChanges {
    /// The client's full name (cannot be cleared).
    #[schemars(title = "Name", with = "NonEmptyString")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<NonEmptyString>,
    /// The fields to change; `null` clears a field, a field left out is not sent.
    #[serde(flatten)]
    pub fields: ClientFields,
}

/// A field that may be left out (`None`), set to `null` (`Some(None)`) or given a value.
pub type Nullable<T> = Option<Option<T>>;

/// The optional client fields shared by `create` and `update`.
///
/// A field left out is not sent. A nullable field set to `null` is sent as `null`, which
/// clears it on update (and stores no value on create).
// Serialized, only the fields given appear, in declaration order.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
#[schemars(transform = drop_null_defaults)]
pub struct ClientFields {
    /// Email address.
    #[schemars(title = "Email")]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub email: Nullable<Email>,
    /// Phone number, as the user writes it.
    #[schemars(title = "Phone", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub phone: Nullable<String>,
    /// CPF (Brazilian taxpayer number): 11 digits with valid check digits; punctuation such as `529.982.247-25` is accepted and removed.
    #[schemars(title = "CPF")]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpf: Nullable<Cpf>,
    /// Birth date as `YYYY-MM-DD`; an ISO 8601 date-time is accepted and cut to its date.
    #[schemars(title = "Birth Date")]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_date: Nullable<BirthDate>,
    /// CEP (postal code): 8 digits; a hyphen such as `01310-100` is accepted and removed.
    #[schemars(title = "CEP")]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub cep: Nullable<Cep>,
    /// Street name.
    #[schemars(title = "Street", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub street: Nullable<String>,
    /// House or building number (text, e.g. `"120A"`).
    #[schemars(title = "Number", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub number: Nullable<String>,
    /// Address complement, e.g. apartment.
    #[schemars(title = "Complement", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub complement: Nullable<String>,
    /// Neighborhood (bairro).
    #[schemars(title = "Neighborhood", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub neighborhood: Nullable<String>,
    /// City.
    #[schemars(title = "City", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub city: Nullable<String>,
    /// Two-letter state code (UF), e.g. `SP`; lower case is accepted and upper-cased.
    #[schemars(title = "State")]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Nullable<Uf>,
    /// Full address as free text.
    #[schemars(title = "Address", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub address: Nullable<String>,
    /// Free-form notes.
    #[schemars(title = "Notes", length(max = TEXT_MAX_CHARS))]
    #[serde(
        default,
        deserialize_with = "nullable",
        skip_serializing_if = "Option::is_none"
    )]
    pub notes: Nullable<String>,
    /// Whether the client is active (the API's default is `active`).
    #[schemars(title = "Status", with = "Status")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Payment status (the API's default is `a_pagar`).
    #[schemars(title = "Payment Status", with = "PaymentStatus")]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payment_status: Option<PaymentStatus>,
    /// Price of a consultation; 0 is a valid price and is sent.
    #[schemars(title = "Consultation Price", with = "Number", range(min = 0))]
    #[serde(
        default,
        deserialize_with = "non_negative",
        skip_serializing_if = "Option::is_none"
    )]
    pub consultation_price: Option<Number>,
    /// Owner's user ID (UUID); only a super-admin key may set it, by default the API uses the key's own user.
    #[schemars(title = "User ID", with = "String", extend("format" = "uuid"))]
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_id: Option<String>,
}

impl ClientFields {
    /// Whether no field is given.
    pub fn is_empty(&self) -> bool {
        *self == Self::default()
    }
}

/// Whether a client is active.
// No doc comments on the variants: they would turn `enum` into a `oneOf` of `const`s, whose
// validation errors read worse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
#[schemars(inline)]
pub enum Status {
    Active,
    Inactive,
}

/// Whether a client has paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(inline)]
pub enum PaymentStatus {
    APagar,
    Pago,
    Cancelado,
}

/// A client ID: a positive integer, given as a number or as a string of digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct ClientId(u64);

impl ClientId {
    /// The ID, if it is positive.
    pub fn new(id: u64) -> Option<Self> {
        (id >= 1).then_some(Self(id))
    }

    /// The ID as a number.
    pub fn get(self) -> u64 {
        self.0
    }
}

impl std::fmt::Display for ClientId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl JsonSchema for ClientId {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "ClientId".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        // `format` applies to strings only; `minimum` to numbers only.
        json_schema!({
            "type": ["integer", "string"],
            "minimum": 1,
            // The API is JavaScript: ids beyond 2^53 - 1 cannot be represented exactly there.
            "maximum": 9_007_199_254_740_991_u64,
            "format": formats::CLIENT_ID,
        })
    }
}

impl<'de> Deserialize<'de> for ClientId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;

        impl de::Visitor<'_> for Visitor {
            type Value = ClientId;

            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(formats::CLIENT_ID_EXPECTED)
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ClientId, E> {
                ClientId::new(v).ok_or_else(|| E::invalid_value(Unexpected::Unsigned(v), &self))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ClientId, E> {
                u64::try_from(v)
                    .ok()
                    .and_then(ClientId::new)
                    .ok_or_else(|| E::invalid_value(Unexpected::Signed(v), &self))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ClientId, E> {
                // JSON Schema counts 7.0 as an integer, so accept whole floats in the exact range.
                const MAX_EXACT: f64 = 9_007_199_254_740_992.0;
                if v.fract() == 0.0 && (1.0..=MAX_EXACT).contains(&v) {
                    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
                    return Ok(ClientId(v as u64));
                }
                Err(E::invalid_value(Unexpected::Float(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ClientId, E> {
                formats::parse_client_id(v)
                    .map(ClientId)
                    .ok_or_else(|| E::invalid_value(Unexpected::Str(v), &self))
            }
        }

        deserializer.deserialize_any(Visitor)
    }
}

/// A string of at least one character.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct NonEmptyString(String);

impl NonEmptyString {
    /// The text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl JsonSchema for NonEmptyString {
    fn inline_schema() -> bool {
        true
    }

    fn schema_name() -> Cow<'static, str> {
        "NonEmptyString".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({ "type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS })
    }
}

impl<'de> Deserialize<'de> for NonEmptyString {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        if s.is_empty() {
            return Err(de::Error::invalid_length(0, &"a non-empty string"));
        }
        Ok(Self(s))
    }
}

/// A string newtype whose schema is `{"type": "string", "format": FORMAT}` and whose
/// deserialization checks and normalises the value with the format's own function.
macro_rules! formatted_string {
    ($(#[$meta:meta])* $name:ident, $format:expr, $expected:expr, $normalize:expr) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Serialize)]
        #[serde(transparent)]
        pub struct $name(String);

        impl $name {
            /// The normalised text.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl JsonSchema for $name {
            fn inline_schema() -> bool {
                true
            }

            fn schema_name() -> Cow<'static, str> {
                stringify!($name).into()
            }

            fn json_schema(_: &mut SchemaGenerator) -> Schema {
                json_schema!({ "type": "string", "format": $format })
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let raw: Cow<'de, str> = Deserialize::deserialize(deserializer)?;
                let normalize: fn(&str) -> Option<String> = $normalize;
                normalize(&raw).map(Self).ok_or_else(|| {
                    de::Error::invalid_value(Unexpected::Str(&raw), &$expected)
                })
            }
        }
    };
}

formatted_string!(
    /// A CPF, normalised to its 11 digits.
    Cpf, formats::CPF, formats::CPF_EXPECTED, formats::normalize_cpf
);
formatted_string!(
    /// A CEP, normalised to its 8 digits.
    Cep, formats::CEP, formats::CEP_EXPECTED, formats::normalize_cep
);
formatted_string!(
    /// A Brazilian state code, normalised to upper case.
    Uf, formats::UF, formats::UF_EXPECTED, formats::normalize_uf
);
formatted_string!(
    /// A birth date, normalised to `YYYY-MM-DD`.
    BirthDate, formats::BIRTH_DATE, formats::BIRTH_DATE_EXPECTED, formats::normalize_birth_date
);
formatted_string!(
    /// An email address, kept as written.
    Email, formats::EMAIL, formats::EMAIL_EXPECTED, |s| formats::is_email(s).then(|| s.to_owned())
);

/// Deserialize a present field, `null` included, as `Some(..)`; `#[serde(default)]` makes a
/// missing field `None`. This is what tells "clear it" from "leave it alone".
fn nullable<'de, D, T>(deserializer: D) -> Result<Nullable<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Option::<T>::deserialize(deserializer).map(Some)
}

/// A number that is zero or more, kept exactly as given (150 stays 150, 0 stays 0).
fn non_negative<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Number>, D::Error> {
    let n = Number::deserialize(deserializer)?;
    if n.as_f64().is_some_and(|v| v >= 0.0) {
        Ok(Some(n))
    } else {
        Err(de::Error::invalid_value(
            Unexpected::Other("a negative number"),
            &"a number of 0 or more",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{ClienteParams, GetAllParams};
    use serde_json::json;

    fn parse(v: Value) -> Result<ClienteParams, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn client_id_accepts_positive_integers_and_digit_strings() {
        for (input, want) in [
            (json!(7), 7),
            (json!("7"), 7),
            (json!("0042"), 42),
            (json!(7.0), 7),
        ] {
            let id: ClientId = serde_json::from_value(input.clone()).unwrap();
            assert_eq!(id.get(), want, "{input}");
        }
    }

    #[test]
    fn client_id_rejects_everything_else() {
        for input in [
            json!(0),
            json!(-1),
            json!(1.5),
            json!("0"),
            json!("-1"),
            json!("1.5"),
            json!("12/../7"),
            json!("7?x=1"),
            json!(""),
            json!(null),
            json!(true),
            json!([7]),
            json!("99999999999999999999999"),
        ] {
            let result: Result<ClientId, _> = serde_json::from_value(input.clone());
            assert!(result.is_err(), "{input} was accepted");
        }
    }

    #[test]
    fn create_normalises_formatted_fields() {
        let p = parse(json!({
            "operation": "create",
            "name": "Ana",
            "cpf": "529.982.247-25",
            "cep": "01310-100",
            "state": "sp",
            "birthDate": "1990-05-17T00:00:00.000Z",
            "consultationPrice": 0,
        }))
        .unwrap();
        let ClienteParams::Create(create) = p else {
            panic!("not a create: {p:?}")
        };
        assert_eq!(
            serde_json::to_value(&create).unwrap(),
            json!({
                "name": "Ana",
                "cpf": "52998224725",
                "birthDate": "1990-05-17",
                "cep": "01310100",
                "state": "SP",
                "consultationPrice": 0,
            })
        );
    }

    #[test]
    fn update_tells_null_from_missing() {
        let p =
            parse(json!({"operation": "update", "clientId": "5", "email": null, "city": "Recife"})).unwrap();
        let ClienteParams::Update(update) = p else {
            panic!("not an update: {p:?}")
        };
        assert_eq!(update.client_id.get(), 5);
        assert_eq!(
            serde_json::to_value(&update.changes).unwrap(),
            json!({"email": null, "city": "Recife"})
        );
    }

    #[test]
    fn get_all_defaults_to_return_all_with_limit_50() {
        let p = parse(json!({"operation": "getAll"})).unwrap();
        assert_eq!(p, ClienteParams::GetAll(GetAllParams::default()));
    }

    #[test]
    fn deserialization_rechecks_what_the_schema_checks() {
        for bad in [
            json!({"operation": "create", "name": ""}),
            json!({"operation": "create", "name": "Ana", "cpf": "12345678900"}),
            json!({"operation": "create", "name": "Ana", "consultationPrice": -1}),
            json!({"operation": "create", "name": "Ana", "status": "gone"}),
            json!({"operation": "update", "clientId": 1, "name": ""}),
            json!({"operation": "get", "clientId": "12/../7"}),
        ] {
            assert!(parse(bad.clone()).is_err(), "{bad} was accepted");
        }
    }

    #[test]
    fn schema_carries_formats_nullability_and_min_properties() {
        let schema = serde_json::to_value(schemars::schema_for!(ClienteParams)).unwrap();
        let text = serde_json::to_string_pretty(&schema).unwrap();
        let update = schema["oneOf"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["properties"]["operation"]["const"] == "update")
            .unwrap_or_else(|| panic!("no update variant in {text}"));
        assert_eq!(update["minProperties"], 2, "{text}");
        assert_eq!(
            update["properties"]["name"],
            json!({"title": "Name", "description": "The client's full name (cannot be cleared).", "type": "string", "minLength": 1, "maxLength": TEXT_MAX_CHARS}),
            "{text}"
        );
        assert_eq!(
            update["properties"]["status"],
            json!({"title": "Status", "description": "Whether the client is active (the API's default is `active`).", "type": "string", "enum": ["active", "inactive"]}),
            "{text}"
        );
        assert_eq!(
            update["properties"]["cpf"]["type"],
            json!(["string", "null"]),
            "{text}"
        );
        assert_eq!(update["properties"]["cpf"]["format"], "cpf", "{text}");
        assert_eq!(update["properties"]["clientId"]["format"], "client-id", "{text}");
        assert_eq!(update["required"], json!(["operation", "clientId"]), "{text}");
        assert!(!text.contains("$ref"), "{text}");
    }
}
