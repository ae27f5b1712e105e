//! A run's input document read in bounded memory: the envelope's members are parsed, but the
//! items are only located (where each starts and ends in the text). Each item is parsed when it
//! is validated and again when it is dispatched, so a document costs its own bytes plus 8 bytes
//! per item, never a tree of everything: `[{},{},...]` of 105 MB took 4.9 GB as a tree, and
//! takes under 400 MB this way.
//!
//! The shape rules (array, envelope, one item) are those of [`RunInput::from_value`]; both
//! use the same checks of the envelope's members.

use std::fmt;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::error::Problem;
use crate::input::{
    self, BOM, InputError, RunInput, check_envelope_keys, envelope_continue_on_fail, envelope_credentials,
    envelope_parameters, envelope_rule, item_fields, items_not_an_array, not_a_document,
};

/// Where one item's text is: start and end offsets into the document.
type Span = (u32, u32);

/// Why a document cannot be read at all.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DocumentError {
    /// Not JSON (or a key given twice); carries the place, counted in the whole document.
    #[error("{message} at line {line}, column {column}")]
    Json {
        /// The parser's words, without its own place.
        message: String,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
    /// JSON of the wrong shape.
    #[error("{0}")]
    Input(#[from] InputError),
    /// Larger than the 4 GiB a document may be.
    #[error("the document is larger than 4 GiB")]
    TooLarge,
}

impl DocumentError {
    fn json(e: &serde_json::Error, bytes: &[u8], offset: usize) -> Self {
        let what = e.to_string();
        // serde_json appends " at line L column C"; keep the words, state the place in the
        // whole document.
        let message = what.split(" at line ").next().unwrap_or(&what).to_owned();
        let before = &bytes[..offset.min(bytes.len())];
        let lines_before = before.iter().filter(|b| **b == b'\n').count();
        let column_before = before.len() - before.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        Self::Json {
            message,
            line: lines_before + e.line(),
            column: if e.line() == 1 {
                column_before + e.column()
            } else {
                e.column()
            },
        }
    }
}

/// An input document whose items are parsed one at a time, when asked for.
pub struct Document<'a> {
    bytes: &'a [u8],
    /// Node-level parameters.
    pub parameters: Map<String, Value>,
    /// Credentials from the envelope (may hold secrets; never printed).
    pub credentials: Option<Value>,
    /// The envelope's `continueOnFail`.
    pub continue_on_fail: Option<bool>,
    items: Items,
}

impl fmt::Debug for Document<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Document")
            .field("bytes", &self.bytes.len())
            .field("items", &self.len())
            .field("credentials", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

enum Items {
    Spans(Vec<Span>),
    /// An envelope without `items`: one empty item.
    OneEmpty,
}

impl<'a> Document<'a> {
    /// Read a document (an array of items, an envelope, or one item; a leading byte-order mark
    /// is skipped). A key given twice in the envelope or its parameters is an error naming it.
    pub fn parse(bytes: &'a [u8]) -> Result<Self, DocumentError> {
        let bytes = bytes.strip_prefix(BOM).unwrap_or(bytes);
        if u32::try_from(bytes.len()).is_err() {
            return Err(DocumentError::TooLarge);
        }
        let mut de = serde_json::Deserializer::from_slice(bytes);
        let top = TopLevel {
            base: bytes.as_ptr() as usize,
        }
        .deserialize(&mut de)
        .and_then(|top| de.end().map(|()| top))
        .map_err(|e| DocumentError::json(&skim(bytes).err().unwrap_or(e), bytes, 0))?;
        let empty = Self {
            bytes,
            parameters: Map::new(),
            credentials: None,
            continue_on_fail: None,
            items: Items::Spans(Vec::new()),
        };
        match top {
            Top::Array(spans) => Ok(Self {
                items: Items::Spans(spans),
                ..empty
            }),
            Top::Other(got) => Err(not_a_document(&got).into()),
            Top::Object(members) => {
                let raw = |key: &str| members.iter().find(|(k, _)| k == key).map(|(_, v)| *v);
                let items_is_array = raw("items").is_some_and(|r| r.get().starts_with('['));
                if !envelope_rule(
                    items_is_array,
                    raw("parameters").is_some() || raw("credentials").is_some(),
                ) {
                    return Ok(Self {
                        items: Items::Spans(vec![(0, bytes.len() as u32)]),
                        ..empty
                    });
                }
                check_envelope_keys(members.iter().map(|(k, _)| k.as_str()))?;
                let value = |key: &str| -> Result<Option<Value>, DocumentError> {
                    raw(key)
                        .map(|r| {
                            input::parse_json(r.get().as_bytes())
                                .map_err(|e| DocumentError::json(&e, bytes, offset(bytes, r)))
                        })
                        .transpose()
                };
                let items = match raw("items") {
                    None => Items::OneEmpty,
                    Some(r) if r.get() == "null" => Items::OneEmpty,
                    Some(r) if items_is_array => {
                        let start = offset(bytes, r);
                        let mut de = serde_json::Deserializer::from_str(r.get());
                        let spans = ItemSpans {
                            base: bytes.as_ptr() as usize,
                        }
                        .deserialize(&mut de)
                        .map_err(|e| DocumentError::json(&e, bytes, start))?;
                        Items::Spans(spans)
                    }
                    Some(r) => {
                        let got = input::parse_json(r.get().as_bytes())
                            .map(|v| crate::validate::describe(&v))
                            .unwrap_or_default();
                        return Err(items_not_an_array(&got).into());
                    }
                };
                Ok(Self {
                    parameters: envelope_parameters(value("parameters")?)?,
                    continue_on_fail: envelope_continue_on_fail(value("continueOnFail")?)?,
                    credentials: envelope_credentials(value("credentials")?)?,
                    items,
                    bytes,
                })
            }
        }
    }

    /// How many items the document holds.
    pub fn len(&self) -> usize {
        match &self.items {
            Items::Spans(spans) => spans.len(),
            Items::OneEmpty => 1,
        }
    }

    /// Whether the document holds no item.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Each item's own fields, parsed now. An item that is not an object stops the run
    /// ([`InputError`]); one with a key given twice is an invalid item (a [`Problem`] naming
    /// the key), so it is reported like any other before anything is sent.
    pub fn items(
        &self,
    ) -> impl Iterator<Item = Result<Result<Map<String, Value>, Problem>, InputError>> + '_ {
        let spans: &[Span] = match &self.items {
            Items::Spans(spans) => spans,
            Items::OneEmpty => &[],
        };
        let one_empty = matches!(self.items, Items::OneEmpty);
        let parsed = spans.iter().enumerate().map(move |(index, &(start, end))| {
            let text = &self.bytes[start as usize..end as usize];
            match input::parse_json(text) {
                Ok(value) => item_fields(index, value).map(Ok),
                Err(e) => match DocumentError::json(&e, self.bytes, start as usize) {
                    // A key given twice is the item's own problem, reported like any other.
                    DocumentError::Json { message, .. } if message.starts_with("duplicate key `") => {
                        Ok(Err(Problem {
                            path: String::new(),
                            message,
                        }))
                    }
                    DocumentError::Json {
                        message,
                        line,
                        column,
                    } => Err(InputError::Json {
                        index,
                        place: format!("at line {line}, column {column}"),
                        message,
                    }),
                    other => Err(InputError::Shape(other.to_string())),
                },
            }
        });
        parsed.chain(one_empty.then(|| Ok(Ok(Map::new()))))
    }

    /// The whole document as a [`RunInput`] (every item parsed at once).
    pub fn into_input(self) -> Result<RunInput, DocumentError> {
        let mut items = Vec::with_capacity(self.len());
        for item in self.items() {
            match item? {
                Ok(item) => items.push(item),
                Err(problem) => return Err(InputError::Shape(problem.message).into()),
            }
        }
        Ok(RunInput {
            parameters: self.parameters,
            items,
            credentials: self.credentials,
            continue_on_fail: self.continue_on_fail,
        })
    }
}

fn offset(bytes: &[u8], raw: &RawValue) -> usize {
    (raw.get().as_ptr() as usize).saturating_sub(bytes.as_ptr() as usize)
}

/// Read `bytes` as JSON without keeping anything, the way a full parse reads them: locating
/// items skips their values by a faster route whose words are vaguer ("key must be a string"
/// where a parse says "trailing comma"), so a document that fails is read again this way for
/// the message. Builds no tree, so it costs no memory on a large document.
fn skim(bytes: &[u8]) -> Result<(), serde_json::Error> {
    let mut de = serde_json::Deserializer::from_slice(bytes);
    Skim.deserialize(&mut de)?;
    de.end()
}

struct Skim;

impl<'de> DeserializeSeed<'de> for Skim {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Skim {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }

    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }

    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }

    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }

    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while seq.next_element_seed(Skim)?.is_some() {}
        Ok(())
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while map.next_key::<de::IgnoredAny>()?.is_some() {
            map.next_value_seed(Skim)?;
        }
        Ok(())
    }
}

enum Top<'de> {
    Array(Vec<Span>),
    Object(Vec<(String, &'de RawValue)>),
    Other(String),
}

fn other<'de>(value: Value) -> Top<'de> {
    Top::Other(crate::validate::describe(&value))
}

/// The top level: an array is located item by item, an object is kept as raw members.
struct TopLevel {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for TopLevel {
    type Value = Top<'de>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Top<'de>, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for TopLevel {
    type Value = Top<'de>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items, an item object or an envelope")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Top<'de>, A::Error> {
        ItemSpans { base: self.base }.visit_seq(seq).map(Top::Array)
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Top<'de>, A::Error> {
        let mut members: Vec<(String, &'de RawValue)> = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            if members.iter().any(|(k, _)| *k == key) {
                return Err(de::Error::custom(format!(
                    "duplicate key `{}`",
                    crate::validate::truncate(&key, 60)
                )));
            }
            let value: &'de RawValue = map.next_value()?;
            members.push((key, value));
        }
        Ok(Top::Object(members))
    }

    fn visit_bool<E>(self, v: bool) -> Result<Top<'de>, E> {
        Ok(other(v.into()))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Top<'de>, E> {
        Ok(other(v.into()))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Top<'de>, E> {
        Ok(other(v.into()))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Top<'de>, E> {
        Ok(other(v.into()))
    }

    fn visit_str<E>(self, v: &str) -> Result<Top<'de>, E> {
        Ok(other(v.into()))
    }

    fn visit_unit<E>(self) -> Result<Top<'de>, E> {
        Ok(other(Value::Null))
    }
}

/// The elements of an array, located but not parsed into values.
struct ItemSpans {
    base: usize,
}

impl<'de> DeserializeSeed<'de> for ItemSpans {
    type Value = Vec<Span>;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Vec<Span>, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for ItemSpans {
    type Value = Vec<Span>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of items")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<Span>, A::Error> {
        let mut spans = Vec::new();
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            let start = (raw.get().as_ptr() as usize).saturating_sub(self.base);
            // The document is at most 4 GiB (checked before parsing), so offsets fit.
            let start = u32::try_from(start).unwrap_or(u32::MAX);
            let end = start.saturating_add(u32::try_from(raw.get().len()).unwrap_or(u32::MAX));
            spans.push((start, end));
        }
        Ok(spans)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde_json::json;

    fn items(text: &str) -> Vec<Value> {
        let doc = Document::parse(text.as_bytes()).unwrap();
        doc.items().map(|i| Value::Object(i.unwrap().unwrap())).collect()
    }

    #[test]
    fn every_input_form_reads_as_run_input_does() {
        for text in [
            r#"[{"operation": "get", "clientId": 1}, {"json": {"name": "Ana"}, "pairedItem": {"item": 0}}]"#,
            r#"{"operation": "get", "clientId": 1}"#,
            r#"{"parameters": {"operation": "get"}, "items": [{"clientId": 1}], "continueOnFail": true}"#,
            r#"{"parameters": {"operation": "getAll"}}"#,
            r#"{"items": [], "credentials": {"baseUrl": "x"}}"#,
            r#"{"items": "not an array, so an item"}"#,
            "\u{feff}[{}]",
        ] {
            let expected = RunInput::from_value(input::parse_json(text.as_bytes()).unwrap()).unwrap();
            let doc = Document::parse(text.as_bytes()).unwrap();
            assert_eq!(doc.len(), expected.items.len(), "{text}");
            assert_eq!(doc.parameters, expected.parameters, "{text}");
            assert_eq!(doc.continue_on_fail, expected.continue_on_fail, "{text}");
            assert_eq!(doc.credentials, expected.credentials, "{text}");
            let got: Vec<Value> = doc.items().map(|i| Value::Object(i.unwrap().unwrap())).collect();
            let want: Vec<Value> = expected.items.into_iter().map(Value::Object).collect();
            assert_eq!(got, want, "{text}");
        }
        assert_eq!(
            items(r#"[{"a": 1}, {"b": [2]}]"#),
            vec![json!({"a": 1}), json!({"b": [2]})]
        );
    }

    #[test]
    fn bad_shapes_and_duplicate_keys_are_named_with_their_place() {
        let err = |text: &str| Document::parse(text.as_bytes()).unwrap_err().to_string();
        assert_eq!(
            err("5"),
            "input: expected an array of items, an item object or an envelope {\"items\": [...]}, got 5"
        );
        assert_eq!(
            err("{\"items\": [1],\n \"items\": []}"),
            "duplicate key `items` at line 2, column 8"
        );
        assert_eq!(
            err("{\"parameters\": {\n\"operation\": 1, \"operation\": 2}, \"items\": []}"),
            "duplicate key `operation` at line 2, column 27"
        );
        assert_eq!(
            err(r#"{"items": 5, "parameters": {}}"#),
            "input: `items` must be an array, got 5"
        );
        assert!(err(r#"{"items": [], "extra": 1}"#).contains("unknown envelope field `extra`"));
        assert!(err("[{}, {]").contains("at line 1, column 7"));
        // A duplicate inside an item is that item's problem, found when it is read.
        let doc = Document::parse(br#"[{"a": 1, "a": 2}, 7]"#).unwrap();
        let mut all = doc.items();
        assert_eq!(
            all.next().unwrap().unwrap().unwrap_err().message,
            "duplicate key `a`"
        );
        assert!(
            all.next().unwrap().is_err(),
            "an item that is not an object stops the run"
        );
    }
}
