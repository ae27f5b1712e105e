//! Record-key templates (`client/{clientId|int}`), parsed once per operation and rendered
//! against each item's validated parameters into the [`Lock`]s the scheduler orders by.

use serde_json::{Map, Value};

use crate::description::LockTemplates;
use crate::node::Lock;

/// One operation's templates, parsed.
#[derive(Debug, Clone, Default)]
pub(crate) struct CompiledLocks {
    templates: Vec<(Vec<Segment>, bool)>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Segment {
    Text(String),
    Field(String, Filter),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Filter {
    None,
    Int,
    Lower,
    Digits,
}

impl CompiledLocks {
    /// Parse every template; a malformed one (an unclosed `{`, an unknown filter) is an error
    /// for the node's author.
    pub(crate) fn new(locks: &LockTemplates) -> Result<Self, String> {
        let mut templates = Vec::with_capacity(locks.read.len() + locks.write.len());
        for (list, exclusive) in [(&locks.read, false), (&locks.write, true)] {
            for template in list {
                templates.push((parse(template)?, exclusive));
            }
        }
        Ok(Self { templates })
    }

    /// The claims of one item; a template whose field is absent or `null` claims nothing.
    pub(crate) fn render(&self, params: &Map<String, Value>) -> Vec<Lock> {
        let mut out = Vec::with_capacity(self.templates.len());
        'templates: for (segments, exclusive) in &self.templates {
            let mut resource = String::new();
            for segment in segments {
                match segment {
                    Segment::Text(t) => resource.push_str(t),
                    Segment::Field(name, filter) => match params.get(name) {
                        None | Some(Value::Null) => continue 'templates,
                        Some(value) => filter.apply(value, &mut resource),
                    },
                }
            }
            out.push(Lock {
                resource,
                exclusive: *exclusive,
            });
        }
        out
    }
}

impl Filter {
    fn apply(self, value: &Value, out: &mut String) {
        let text = match value {
            Value::String(s) => s.clone(),
            Value::Number(n) => match (n.as_u64(), n.as_i64(), n.as_f64()) {
                (Some(u), _, _) => u.to_string(),
                (_, Some(i), _) => i.to_string(),
                // JSON Schema counts 7.0 as an integer.
                #[allow(clippy::cast_possible_truncation)]
                (_, _, Some(f)) if f.fract() == 0.0 && f.abs() < 9.0e15 => (f as i64).to_string(),
                _ => n.to_string(),
            },
            other => other.to_string(),
        };
        match self {
            Filter::None => out.push_str(&text),
            Filter::Lower => out.push_str(&text.to_lowercase()),
            Filter::Digits => out.extend(text.chars().filter(char::is_ascii_digit)),
            Filter::Int => {
                let trimmed = text.trim_start_matches('0');
                if !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()) {
                    out.push_str(if trimmed.is_empty() { "0" } else { trimmed });
                } else {
                    out.push_str(&text);
                }
            }
        }
    }
}

fn parse(template: &str) -> Result<Vec<Segment>, String> {
    let mut segments = Vec::new();
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        if open > 0 {
            segments.push(Segment::Text(rest[..open].to_owned()));
        }
        let Some(close) = rest[open..].find('}') else {
            return Err(format!("lock template `{template}`: `{{` without `}}`"));
        };
        let inner = &rest[open + 1..open + close];
        let (name, filter) = match inner.split_once('|') {
            None => (inner, Filter::None),
            Some((name, "int")) => (name, Filter::Int),
            Some((name, "lower")) => (name, Filter::Lower),
            Some((name, "digits")) => (name, Filter::Digits),
            Some((_, other)) => {
                return Err(format!(
                    "lock template `{template}`: unknown filter `{other}` (use int, lower or digits)"
                ));
            }
        };
        if name.is_empty() {
            return Err(format!("lock template `{template}`: empty field name"));
        }
        segments.push(Segment::Field(name.to_owned(), filter));
        rest = &rest[open + close + 1..];
    }
    if !rest.is_empty() {
        segments.push(Segment::Text(rest.to_owned()));
    }
    if segments.is_empty() {
        return Err("an empty lock template".to_owned());
    }
    Ok(segments)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn render(read: &[&str], write: &[&str], params: Value) -> Vec<Lock> {
        let templates = LockTemplates {
            read: read.iter().map(|s| (*s).to_owned()).collect(),
            write: write.iter().map(|s| (*s).to_owned()).collect(),
        };
        let Value::Object(params) = params else {
            unreachable!("test params are objects")
        };
        CompiledLocks::new(&templates)
            .expect("valid templates")
            .render(&params)
    }

    #[test]
    fn spellings_of_one_id_claim_one_record() {
        for id in [json!(42), json!("42"), json!("0042"), json!(42.0)] {
            assert_eq!(
                render(
                    &["clients"],
                    &["client/{clientId|int}"],
                    json!({"clientId": id.clone()})
                ),
                vec![Lock::shared("clients"), Lock::exclusive("client/42")],
                "{id}"
            );
        }
    }

    #[test]
    fn filters_normalise_and_missing_fields_claim_nothing() {
        assert_eq!(
            render(
                &["cpf/{cpf|digits}", "email/{email|lower}"],
                &[],
                json!({"cpf": "529.982.247-25", "email": null})
            ),
            vec![Lock::shared("cpf/52998224725")]
        );
        assert_eq!(
            render(&[], &["mail/{email|lower}"], json!({"email": "Ana@Example.COM"})),
            vec![Lock::exclusive("mail/ana@example.com")]
        );
    }

    #[test]
    fn malformed_templates_are_refused() {
        for bad in ["client/{clientId", "x/{id|upper}", "x/{}", ""] {
            let templates = LockTemplates {
                read: vec![bad.to_owned()],
                write: Vec::new(),
            };
            assert!(CompiledLocks::new(&templates).is_err(), "{bad:?} was accepted");
        }
    }
}
