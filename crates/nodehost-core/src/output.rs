//! What a node returns for an item: output objects, either built by the node or passed through
//! as the exact text a service answered.
//!
//! Passing an answer through is the fast path of a node that returns a service's record
//! unchanged: the text is checked (valid UTF-8 JSON, an object) but never built into a tree
//! and written back out, which is most of the per-item CPU of an HTTP node otherwise.

use std::borrow::Cow;
use std::fmt;

use serde::Serialize;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::node::Json;

/// One output object of a node: what an output item carries under `"json"`.
///
/// Build one from a [`Json`] map (`Output::from(map)` or `map.into()`), or pass a service's
/// answer through with [`Output::from_object_text`]. Either way it serializes as a JSON
/// object, and [`Output::to_object`] gives it as a map.
#[derive(Clone)]
pub struct Output(Repr);

#[derive(Clone)]
enum Repr {
    Object(Json),
    /// Checked at construction: a JSON object on one line whose strings have no `\u` escape.
    Text(Box<RawValue>),
}

impl Output {
    /// The JSON object in `text`, kept as it is, so writing it out costs a copy. `None` when the
    /// text cannot be passed through unchanged; parse it into a [`Json`] map instead, which also
    /// tells what is wrong with it:
    ///
    /// - it is not JSON, or not an object (surrounding whitespace is dropped);
    /// - it spans several lines (an output item must fit on one line of `--ndjson` output);
    /// - it holds a `\u` escape, which may be a lone surrogate that a JSON parser (and so
    ///   [`Output::to_object`]) would refuse.
    pub fn from_object_text(text: &str) -> Option<Self> {
        Self::from_object_bytes(text.as_bytes())
    }

    /// [`Output::from_object_text`] for bytes as they came off the wire: whether they are UTF-8
    /// is checked in the same pass as the JSON, not in one of its own.
    pub fn from_object_bytes(json: &[u8]) -> Option<Self> {
        // The cheap checks first: most text that fails them need not be parsed at all.
        if json.trim_ascii_start().first() != Some(&b'{') || spans_lines_or_escapes(json) || !shallow(json) {
            return None;
        }
        // Reading a borrowed `RawValue` from bytes checks that they are UTF-8.
        let raw: &RawValue = serde_json::from_slice(json).ok()?;
        // An object (it starts with `{`), and its text was checked above with what surrounds it.
        Some(Self(Repr::Text(raw.to_owned())))
    }

    /// [`Output::from_object_text`] for JSON already parsed as a [`RawValue`], e.g. one element
    /// of an array parsed as `Vec<&RawValue>`: the same checks, without parsing again.
    pub fn from_object_raw(raw: &RawValue) -> Option<Self> {
        let text = raw.get();
        if !text.starts_with('{') || spans_lines_or_escapes(text.as_bytes()) || !shallow(text.as_bytes()) {
            return None;
        }
        Some(Self(Repr::Text(raw.to_owned())))
    }

    /// The object as a map: borrowed when it was built as one, parsed when passed through.
    ///
    /// Fails only for passed-through text a map cannot hold although it is valid JSON: a
    /// number beyond what `f64` holds (`1e400`). Such text is still written out as it came.
    pub fn to_object(&self) -> Result<Cow<'_, Json>, serde_json::Error> {
        match &self.0 {
            Repr::Object(map) => Ok(Cow::Borrowed(map)),
            Repr::Text(raw) => serde_json::from_str(raw.get()).map(Cow::Owned),
        }
    }

    /// The object as a map, parsed if it was passed through (see [`Output::to_object`]).
    pub fn into_object(self) -> Result<Json, serde_json::Error> {
        match self.0 {
            Repr::Object(map) => Ok(map),
            Repr::Text(raw) => serde_json::from_str(raw.get()),
        }
    }

    /// The object as a [`Value`] (see [`Output::to_object`]).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        self.to_object().map(|m| Value::Object(m.into_owned()))
    }

    /// Whether the object is the service's text passed through unchanged.
    pub fn is_passed_through(&self) -> bool {
        matches!(self.0, Repr::Text(_))
    }
}

/// The deepest nesting a passed-through object may have: what a JSON parser reads back
/// (`serde_json` refuses 128 levels), so that what passes through can always be read back. A
/// deeper answer takes the parsing path and fails there with the parser's own words.
pub const MAX_DEPTH: usize = 127;

/// Whether `json` nests at most [`MAX_DEPTH`] deep. Counting brackets is a vectorised scan and
/// settles every ordinary record; only text with more opening brackets than that is walked.
fn shallow(json: &[u8]) -> bool {
    if memchr::memchr2_iter(b'{', b'[', json).take(MAX_DEPTH + 1).count() <= MAX_DEPTH {
        return true;
    }
    let (mut depth, mut in_string, mut escaped) = (0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'{' | b'[' => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return false;
                }
            }
            b'}' | b']' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    true
}

/// Whether `text` has a line break or a `\u` escape (or a backslash before a `u`, which an
/// escaped backslash also is: such text merely takes the slower path).
fn spans_lines_or_escapes(text: &[u8]) -> bool {
    memchr::memchr2(b'\n', b'\r', text).is_some()
        || memchr::memchr_iter(b'\\', text).any(|i| text.get(i + 1) == Some(&b'u'))
}

impl From<Json> for Output {
    fn from(map: Json) -> Self {
        Self(Repr::Object(map))
    }
}

impl Serialize for Output {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Object(map) => map.serialize(serializer),
            Repr::Text(raw) => raw.serialize(serializer),
        }
    }
}

impl PartialEq for Output {
    /// Equal when they are the same object, however each was made.
    fn eq(&self, other: &Self) -> bool {
        match (&self.0, &other.0) {
            (Repr::Text(a), Repr::Text(b)) if a.get() == b.get() => true,
            _ => matches!((self.to_object(), other.to_object()), (Ok(a), Ok(b)) if a == b),
        }
    }
}

impl PartialEq<Json> for Output {
    fn eq(&self, other: &Json) -> bool {
        self.to_object().is_ok_and(|o| *o == *other)
    }
}

impl fmt::Debug for Output {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Repr::Object(map) => fmt::Debug::fmt(map, f),
            Repr::Text(raw) => write!(f, "Output({})", raw.get()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(value: Value) -> Json {
        match value {
            Value::Object(map) => map,
            _ => unreachable!("test objects are objects"),
        }
    }

    #[test]
    fn an_answer_is_written_out_exactly_as_the_service_sent_it() {
        // Key order, number spelling and non-ASCII text all survive, byte for byte.
        let text = r#" {"id":7,"price":120.50,"name":"João","big":12345678901234567890123} "#;
        let out = Output::from_object_text(text).expect("a one-line object");
        assert!(out.is_passed_through());
        assert_eq!(serde_json::to_string(&out).unwrap(), text.trim());
        assert_eq!(out.to_object().unwrap()["name"], "João");
        assert_eq!(
            out.into_object().unwrap().keys().collect::<Vec<_>>(),
            ["id", "price", "name", "big"]
        );
    }

    #[test]
    fn text_that_cannot_be_passed_through_is_left_to_the_caller_to_parse() {
        for text in [
            "",
            "   ",
            "[1,2]",
            "\"text\"",
            "null",
            "{\"a\":1",
            "{\"a\":1} trailing",
            "{\n  \"a\": 1\n}",
            "{\"a\":1}\r\n",
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\u00e9"}"#,
            "<html>{</html>",
        ] {
            assert!(
                Output::from_object_text(text).is_none(),
                "{text:?} should not pass through"
            );
        }
        // A backslash that escapes something else is fine.
        assert!(Output::from_object_text(r#"{"a":"x\"y\\z"}"#).is_some());
        // The elements of a parsed array get the same checks.
        let elements: Vec<&RawValue> = serde_json::from_str(r#"[{"a":1}, [2], {"b":"\u00e9"}]"#).unwrap();
        let passed: Vec<bool> = elements
            .into_iter()
            .map(|e| Output::from_object_raw(e).is_some())
            .collect();
        assert_eq!(passed, [true, false, false]);
    }

    #[test]
    fn what_passes_through_can_always_be_read_back_as_an_object() {
        let nested = |depth: usize| format!("{{\"a\":{}1{}}}", "[".repeat(depth - 1), "]".repeat(depth - 1));
        // At the parser's limit it passes and reads back; one deeper, it takes the parsing
        // path, which refuses it in its own words.
        let at_limit = Output::from_object_text(&nested(MAX_DEPTH)).expect("at the limit");
        assert!(at_limit.to_object().is_ok());
        assert!(Output::from_object_text(&nested(MAX_DEPTH + 1)).is_none());
        assert!(serde_json::from_str::<Json>(&nested(MAX_DEPTH + 1)).is_err());
        // Brackets inside strings do not count.
        let brackets = format!("{{\"a\":\"{}\"}}", "[{".repeat(200));
        assert!(Output::from_object_text(&brackets).is_some());
        // A number beyond f64 is valid JSON: it passes through as written, but is no map.
        let huge = Output::from_object_text(r#"{"n":1e400}"#).expect("valid JSON");
        assert_eq!(serde_json::to_string(&huge).unwrap(), r#"{"n":1e400}"#);
        assert!(huge.to_object().is_err());
    }

    #[test]
    fn bytes_off_the_wire_pass_through_only_when_they_are_utf8() {
        let text = " {\"name\":\"Jo\u{e3}o\"}";
        let out = Output::from_object_bytes(text.as_bytes()).expect("UTF-8 JSON object");
        assert_eq!(serde_json::to_string(&out).unwrap(), text.trim());
        // Latin-1 "ã", a truncated sequence, and a stray continuation byte: not UTF-8.
        for bytes in [
            &b"{\"name\":\"Jo\xe3o\"}"[..],
            b"{\"name\":\"Jo\xc3\"}",
            b"{\"\x80\":1}",
        ] {
            assert!(Output::from_object_bytes(bytes).is_none(), "{bytes:?}");
        }
    }

    #[test]
    fn built_and_passed_through_outputs_compare_as_objects() {
        let built = Output::from(object(json!({"id": 1, "name": "Ana"})));
        let passed = Output::from_object_text(r#"{"id":1,"name":"Ana"}"#).unwrap();
        let spaced = Output::from_object_text(r#"{ "id": 1, "name": "Ana" }"#).unwrap();
        assert_eq!(built, passed);
        assert_eq!(passed, spaced);
        assert_eq!(passed, object(json!({"id": 1, "name": "Ana"})));
        assert_ne!(passed, Output::from(object(json!({"id": 2}))));
        assert_eq!(serde_json::to_value(&passed).unwrap(), passed.to_value().unwrap());
        assert_eq!(format!("{passed:?}"), r#"Output({"id":1,"name":"Ana"})"#);
    }
}
