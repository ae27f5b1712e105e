//! What every HTTP node does with an answer it cannot use as it is: a short, clean excerpt of
//! an error page, the status in words, and the API key scrubbed from whatever a server echoed.
//!
//! Pure functions: no I/O, so every text is unit-testable.

use nodehost_core::Secrets;
use reqwest::StatusCode;
use reqwest::header::HeaderValue;
use serde_json::{Map, Value};

/// The longest excerpt of a body quoted in an error, in characters.
pub const EXCERPT_CHARS: usize = 200;
/// How much of a non-JSON body is looked at to build the excerpt.
const EXCERPT_SCAN_BYTES: usize = 32 * 1024;

/// Scrubs the API key from text that came from the server (a proxy or debug page may echo the
/// request headers), so no error can carry it: the core's [`Secrets`] for the key of an
/// `Authorization: Bearer` header, under the names an HTTP node reads best.
#[derive(Clone, Debug)]
pub struct Redactor {
    secrets: Secrets,
}

impl Redactor {
    /// A redactor for the key inside an `Authorization: Bearer KEY` value.
    pub fn from_authorization(authorization: &HeaderValue) -> Self {
        Self {
            secrets: Secrets::new(bearer_key(authorization)),
        }
    }

    /// Whether `body` holds the key (or the start of it).
    pub fn finds_key_in(&self, body: &[u8]) -> bool {
        self.secrets.found_in(body)
    }

    /// `text` with every occurrence of the key replaced.
    pub fn redact(&self, text: &str) -> String {
        self.secrets.scrub(text)
    }

    /// `value` with the key replaced in every string, object keys included: structured details
    /// quoted from a server are as untrusted as its text.
    pub fn redact_value(&self, value: Value) -> Value {
        self.secrets.scrub_value(value)
    }

    /// [`Redactor::redact_value`] of an object.
    pub fn redact_object(&self, map: Map<String, Value>) -> Map<String, Value> {
        self.secrets.scrub_object(map)
    }
}

/// The key in an `Authorization: Bearer KEY` value: what follows `Bearer `.
fn bearer_key(authorization: &HeaderValue) -> Option<&str> {
    authorization
        .as_bytes()
        .strip_prefix(b"Bearer ")
        .and_then(|k| std::str::from_utf8(k).ok())
        .filter(|k| !k.is_empty())
}

/// A short, clean, one-line excerpt of a body: tags, scripts, styles and comments removed,
/// entities decoded, whitespace collapsed, at most [`EXCERPT_CHARS`] characters.
pub fn excerpt(body: &[u8]) -> String {
    let head = &body[..body.len().min(EXCERPT_SCAN_BYTES)];
    let text = String::from_utf8_lossy(head);
    let text = if text.contains('<') {
        strip_tags(&text)
    } else {
        text.into_owned()
    };
    let text = decode_entities(&text);
    let collapsed = text
        .split_whitespace()
        .filter(|w| !w.chars().all(char::is_control))
        .collect::<Vec<_>>()
        .join(" ");
    truncate(&collapsed, EXCERPT_CHARS)
}

/// `html` without markup. Tags become spaces so words on either side stay apart.
fn strip_tags(html: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so positions found in `lower` index `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = String::with_capacity(html.len());
    let mut i = 0;
    while let Some(offset) = lower[i..].find('<') {
        let start = i + offset;
        // `a < b` in plain text is not markup: a tag starts with a letter, `/` or `!`.
        let opens_tag = lower[start + 1..]
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphabetic() || b == b'/' || b == b'!');
        if !opens_tag {
            out.push_str(&html[i..=start]);
            i = start + 1;
            continue;
        }
        out.push_str(&html[i..start]);
        out.push(' ');
        let rest = &lower[start..];
        let end = if rest.starts_with("<!--") {
            rest.find("-->").map(|e| start + e + 3)
        } else if let Some(closer) = ["script", "style"]
            .into_iter()
            .find(|t| rest[1..].starts_with(t))
            .map(|t| format!("</{t}"))
        {
            rest.find(&closer)
                .and_then(|c| lower[start + c..].find('>').map(|e| start + c + e + 1))
        } else {
            rest.find('>').map(|e| start + e + 1)
        };
        match end {
            Some(end) => i = end,
            // An unclosed tag: the rest is markup, not text.
            None => return out,
        }
    }
    out.push_str(&html[i..]);
    out
}

/// Decode the character references a proxy's page typically uses.
fn decode_entities(text: &str) -> String {
    if !text.contains('&') {
        return text.to_owned();
    }
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        rest = &rest[amp..];
        let decoded = rest.find(';').filter(|&semi| semi <= 10).and_then(|semi| {
            let entity = &rest[1..semi];
            let c = match entity {
                "amp" => Some('&'),
                "lt" => Some('<'),
                "gt" => Some('>'),
                "quot" => Some('"'),
                "apos" | "#39" => Some('\''),
                "nbsp" => Some(' '),
                _ => entity.strip_prefix('#').and_then(|n| {
                    let code = match n.strip_prefix(['x', 'X']) {
                        Some(hex) => u32::from_str_radix(hex, 16).ok(),
                        None => n.parse().ok(),
                    };
                    code.and_then(char::from_u32)
                }),
            };
            c.map(|c| (c, semi))
        });
        match decoded {
            Some((c, semi)) => {
                out.push(c);
                rest = &rest[semi + 1..];
            }
            None => {
                out.push('&');
                rest = &rest[1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// At most `max` characters, with `…` marking a cut.
pub fn truncate(text: &str, max: usize) -> String {
    match text.char_indices().nth(max.saturating_sub(1)) {
        Some((cut, _)) if text[cut..].chars().nth(1).is_some() => format!("{}…", &text[..cut]),
        _ => text.to_owned(),
    }
}

/// `404 Not Found`.
pub fn status_text(status: u16) -> String {
    match StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
    {
        Some(reason) => format!("{status} {reason}"),
        None => status.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::HeaderValue;

    const KEY: &str = "gck_canary0123456789";

    #[test]
    fn html_pages_become_a_short_clean_excerpt() {
        let page = "<html><head><title>502 Bad Gateway</title><style>body{color:red}</style>\
                    <script>var x = '<b>';</script></head><body>\n<!-- upstream -->\
                    <center><h1>Bad&nbsp;Gateway</h1></center>\n\n<hr><center>nginx &amp; co</center>\
                    </body></html>";
        assert_eq!(excerpt(page.as_bytes()), "502 Bad Gateway Bad Gateway nginx & co");
        let long = format!("<p>{}</p>", "word ".repeat(500));
        assert_eq!(excerpt(long.as_bytes()).chars().count(), EXCERPT_CHARS);
        assert!(excerpt(long.as_bytes()).ends_with('…'));
    }

    #[test]
    fn truncate_counts_characters_not_bytes() {
        assert_eq!(truncate("ação", 4), "ação");
        assert_eq!(truncate("ação!", 4), "açã…");
        assert_eq!(truncate("", 4), "");
    }

    #[test]
    fn odd_markup_never_panics() {
        for body in [
            "<",
            "<<<>",
            "<script>never closed",
            "&#xFFFFFFFF; &#; &",
            "a < b > c",
            "<!-- x",
        ] {
            let _ = excerpt(body.as_bytes());
        }
        assert_eq!(excerpt(b"a < b and c > d"), "a < b and c > d");
    }

    #[test]
    fn the_key_is_scrubbed_from_text_values_and_object_keys() {
        let redactor = Redactor::from_authorization(&HeaderValue::from_static("Bearer gck_canary0123456789"));
        assert!(redactor.finds_key_in(format!("x{KEY}y").as_bytes()));
        assert_eq!(redactor.redact(&format!("Bearer {KEY}")), "Bearer [REDACTED]");
        let value = serde_json::json!({ KEY: [format!("a {KEY}"), 1] });
        assert_eq!(
            redactor.redact_value(value),
            serde_json::json!({ "[REDACTED]": ["a [REDACTED]", 1] })
        );
    }
}
