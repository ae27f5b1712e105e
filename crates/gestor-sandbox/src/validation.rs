//! Turns a request body into the changes to apply to a client, reporting every problem at once
//! the way the vendor's Zod schema does. Owns the client schema (which field takes which type
//! and rule, which are nullable, which are required on create); stores nothing.
//!
//! Members the schema does not know (`id`, `userId`, `createdAt`, typos) are dropped silently,
//! as Zod's default `strip` mode does.

use serde_json::{Map, Value};

use crate::field_rules::{self, UFS};
use crate::record::{Client, PaymentStatus, Status};
use crate::zod::{self, Issue};

/// A field the body may set: absent (`None`), cleared (`Some(None)`) or set (`Some(Some(v))`).
pub(crate) type Change<T> = Option<Option<T>>;

/// Validated changes, every value already normalised for storage.
#[derive(Debug, Default, Clone, PartialEq)]
pub(crate) struct ClientChanges {
    pub name: Option<String>,
    pub email: Change<String>,
    pub phone: Change<String>,
    pub cpf: Change<String>,
    pub birth_date: Change<String>,
    pub cep: Change<String>,
    pub street: Change<String>,
    pub number: Change<String>,
    pub complement: Change<String>,
    pub neighborhood: Change<String>,
    pub city: Change<String>,
    pub state: Change<String>,
    pub address: Change<String>,
    pub notes: Change<String>,
    pub status: Option<Status>,
    pub payment_status: Option<PaymentStatus>,
    pub consultation_price: Change<f64>,
}

/// Whether `name` must be present (create) or may be left out (update).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    Create,
    Update,
}

impl ClientChanges {
    /// Validates a parsed JSON body. `Err` holds every issue found, in schema field order.
    pub fn from_json(body: &Value, mode: Mode) -> Result<Self, Vec<Issue>> {
        let Value::Object(obj) = body else {
            return Err(vec![zod::invalid_type(&[], "object", Some(body))]);
        };
        let mut v = Validator {
            obj,
            issues: Vec::new(),
        };
        let changes = ClientChanges {
            name: v.name(mode),
            email: v.text("email", |s| {
                field_rules::is_email(s)
                    .then(|| s.to_owned())
                    .ok_or_else(|| zod::invalid_string(&["email"], "email", "Invalid email"))
            }),
            phone: v.plain_text("phone"),
            cpf: v.text("cpf", |s| {
                field_rules::normalize_cpf(s).ok_or_else(|| {
                    zod::custom(
                        &["cpf"],
                        "CPF inválido: informe 11 dígitos (ou 000.000.000-00) com dígitos verificadores corretos",
                    )
                })
            }),
            birth_date: v.text("birthDate", |s| {
                field_rules::is_calendar_date(s)
                    .then(|| s.to_owned())
                    .ok_or_else(|| {
                        zod::custom(&["birthDate"], "Data inválida: use uma data real no formato AAAA-MM-DD")
                    })
            }),
            cep: v.text("cep", |s| {
                field_rules::normalize_cep(s).ok_or_else(|| {
                    zod::invalid_string(&["cep"], "regex", "CEP inválido: informe 8 dígitos (ou 00000-000)")
                })
            }),
            street: v.plain_text("street"),
            number: v.plain_text("number"),
            complement: v.plain_text("complement"),
            neighborhood: v.plain_text("neighborhood"),
            city: v.plain_text("city"),
            state: v.text("state", |s| {
                UFS.contains(&s)
                    .then(|| s.to_owned())
                    .ok_or_else(|| zod::invalid_enum_value(&["state"], s, &UFS))
            }),
            address: v.plain_text("address"),
            notes: v.plain_text("notes"),
            status: v.closed("status", &Status::OPTIONS, Status::parse),
            payment_status: v.closed("paymentStatus", &PaymentStatus::OPTIONS, PaymentStatus::parse),
            consultation_price: v.price(),
        };
        if v.issues.is_empty() {
            Ok(changes)
        } else {
            Err(v.issues)
        }
    }

    /// A new client owned by `user_id` with these changes over the defaults.
    pub fn into_new_client(self, user_id: String, now: String) -> Client {
        let mut client = Client {
            id: 0,
            user_id,
            name: String::new(),
            email: None,
            phone: None,
            cpf: None,
            birth_date: None,
            cep: None,
            street: None,
            number: None,
            complement: None,
            neighborhood: None,
            city: None,
            state: None,
            address: None,
            notes: None,
            status: Status::default(),
            payment_status: PaymentStatus::default(),
            consultation_price: None,
            created_at: now.clone(),
            updated_at: now,
        };
        self.apply_to(&mut client);
        client
    }

    /// Overwrites exactly the fields this body mentioned.
    pub fn apply_to(self, c: &mut Client) {
        fn set<T>(slot: &mut T, change: Option<T>) {
            if let Some(v) = change {
                *slot = v;
            }
        }
        set(&mut c.name, self.name);
        set(&mut c.email, self.email);
        set(&mut c.phone, self.phone);
        set(&mut c.cpf, self.cpf);
        set(&mut c.birth_date, self.birth_date);
        set(&mut c.cep, self.cep);
        set(&mut c.street, self.street);
        set(&mut c.number, self.number);
        set(&mut c.complement, self.complement);
        set(&mut c.neighborhood, self.neighborhood);
        set(&mut c.city, self.city);
        set(&mut c.state, self.state);
        set(&mut c.address, self.address);
        set(&mut c.notes, self.notes);
        set(&mut c.status, self.status);
        set(&mut c.payment_status, self.payment_status);
        set(&mut c.consultation_price, self.consultation_price);
    }
}

/// Walks one body, collecting issues instead of stopping at the first.
struct Validator<'a> {
    obj: &'a Map<String, Value>,
    issues: Vec<Issue>,
}

impl Validator<'_> {
    /// `name`: a non-empty string, required on create, never null.
    fn name(&mut self, mode: Mode) -> Option<String> {
        match self.obj.get("name") {
            None if mode == Mode::Update => None,
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            Some(Value::String(_)) => {
                self.issues.push(zod::string_too_small(&["name"], 1));
                None
            }
            other => {
                self.issues.push(zod::invalid_type(&["name"], "string", other));
                None
            }
        }
    }

    /// A nullable string with no rule beyond its type.
    fn plain_text(&mut self, key: &'static str) -> Change<String> {
        self.text(key, |s| Ok(s.to_owned()))
    }

    /// A nullable string checked (and normalised) by `rule`.
    fn text(
        &mut self,
        key: &'static str,
        rule: impl FnOnce(&str) -> Result<String, Issue>,
    ) -> Change<String> {
        match self.obj.get(key)? {
            Value::Null => Some(None),
            Value::String(s) => match rule(s) {
                Ok(v) => Some(Some(v)),
                Err(issue) => {
                    self.issues.push(issue);
                    None
                }
            },
            other => {
                self.issues.push(zod::invalid_type(&[key], "string", Some(other)));
                None
            }
        }
    }

    /// A non-nullable enum with a server-side default when absent.
    fn closed<T>(
        &mut self,
        key: &'static str,
        options: &[&str],
        parse: impl FnOnce(&str) -> Option<T>,
    ) -> Option<T> {
        match self.obj.get(key)? {
            Value::String(s) => {
                let parsed = parse(s);
                if parsed.is_none() {
                    self.issues.push(zod::invalid_enum_value(&[key], s, options));
                }
                parsed
            }
            other => {
                let expected = zod::enum_expected(options);
                self.issues
                    .push(zod::invalid_type(&[key], &expected, Some(other)));
                None
            }
        }
    }

    /// `consultationPrice`: a nullable number, zero or more.
    fn price(&mut self) -> Change<f64> {
        const KEY: &str = "consultationPrice";
        match self.obj.get(KEY)? {
            Value::Null => Some(None),
            Value::Number(n) => match n.as_f64() {
                Some(p) if p >= 0.0 => Some(Some(p)),
                _ => {
                    self.issues.push(zod::number_too_small(&[KEY], 0));
                    None
                }
            },
            other => {
                self.issues.push(zod::invalid_type(&[KEY], "number", Some(other)));
                None
            }
        }
    }
}
