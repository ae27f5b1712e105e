//! The client record as the API shows it, the enums of its closed fields and the timestamp
//! format. Owns the JSON shape of a record; knows nothing of SQL or HTTP.

use serde::{Serialize, Serializer};

/// One client, exactly as the API returns it (camelCase, nulls included, in the vendor's field
/// order).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Client {
    pub id: i64,
    pub user_id: String,
    pub name: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub cpf: Option<String>,
    pub birth_date: Option<String>,
    pub cep: Option<String>,
    pub street: Option<String>,
    pub number: Option<String>,
    pub complement: Option<String>,
    pub neighborhood: Option<String>,
    pub city: Option<String>,
    pub state: Option<String>,
    pub address: Option<String>,
    pub notes: Option<String>,
    pub status: Status,
    pub payment_status: PaymentStatus,
    #[serde(serialize_with = "js_number")]
    pub consultation_price: Option<f64>,
    pub created_at: String,
    pub updated_at: String,
}

/// `status` of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    #[default]
    Active,
    Inactive,
}

impl Status {
    /// Accepted values, in the order Zod lists them in `invalid_enum_value` issues.
    pub const OPTIONS: [&'static str; 2] = ["active", "inactive"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "inactive" => Some(Self::Inactive),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::OPTIONS[self as usize]
    }
}

/// `paymentStatus` of a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PaymentStatus {
    #[default]
    APagar,
    Pago,
    Cancelado,
}

impl PaymentStatus {
    /// Accepted values, in the order Zod lists them in `invalid_enum_value` issues.
    pub const OPTIONS: [&'static str; 3] = ["a_pagar", "pago", "cancelado"];

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "a_pagar" => Some(Self::APagar),
            "pago" => Some(Self::Pago),
            "cancelado" => Some(Self::Cancelado),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        Self::OPTIONS[self as usize]
    }
}

/// The vendor runs on Node.js, whose `JSON.stringify` writes `150` for an integral number where
/// serde would write `150.0`; emulate it so clients are tested against the real shape.
fn js_number<S: Serializer>(value: &Option<f64>, s: S) -> Result<S::Ok, S::Error> {
    // Below 2^53 every integral f64 is exactly an i64, so the cast loses nothing.
    const EXACT_INT_LIMIT: f64 = 9_007_199_254_740_992.0;
    match *value {
        Some(v) if v.fract() == 0.0 && v.abs() < EXACT_INT_LIMIT => s.serialize_i64(v as i64),
        Some(v) => s.serialize_f64(v),
        None => s.serialize_none(),
    }
}

/// Now, in the API's timestamp format: ISO-8601 UTC with milliseconds, `2025-06-24T20:36:45.969Z`.
pub(crate) fn now_timestamp() -> String {
    chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integral_prices_serialize_like_javascript() {
        let json = |v: Option<f64>| {
            let mut out = Vec::new();
            let mut ser = serde_json::Serializer::new(&mut out);
            js_number(&v, &mut ser).map(|_| String::from_utf8_lossy(&out).into_owned())
        };
        assert_eq!(json(Some(150.0)).ok().as_deref(), Some("150"));
        assert_eq!(json(Some(99.9)).ok().as_deref(), Some("99.9"));
        assert_eq!(json(None).ok().as_deref(), Some("null"));
    }
}
