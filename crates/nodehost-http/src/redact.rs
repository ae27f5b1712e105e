//! Which URLs the client accepts, and how a URL may be shown to a person.
//!
//! Owns the rule that credentials never travel in clear to a remote host and never ride in a
//! URL, and the one way a URL is rendered in errors, logs and `Debug`: scheme, host, port and
//! path only. User-info and query values are masked because both are common places for keys.

use std::net::IpAddr;

use url::{Host, Url};

use crate::error::HttpError;

/// What replaces a masked user-info or query.
const MASK: &str = "***";

/// Check a base URL from a credential: `http`/`https` only, no `user:password@`, and plain
/// `http` only to a loopback host (`127.0.0.0/8`, `::1`, `localhost`) unless
/// `allow_insecure_http` says the user accepts sending secrets in clear.
///
/// Error messages show the URL with its user-info and query masked.
pub fn check_base_url(url: &str, allow_insecure_http: bool) -> Result<Url, HttpError> {
    let parsed = Url::parse(url.trim()).map_err(|e| HttpError::InvalidUrl {
        url: redact_raw(url),
        reason: e.to_string(),
    })?;
    check_url(&parsed, allow_insecure_http)?;
    Ok(parsed)
}

/// The rules of [`check_base_url`] on an already parsed URL; the client applies them to every
/// request too, so a node that builds URLs by hand cannot bypass them.
pub(crate) fn check_url(parsed: &Url, allow_insecure_http: bool) -> Result<(), HttpError> {
    let invalid = |reason: &str| HttpError::InvalidUrl {
        url: redacted(parsed),
        reason: reason.to_owned(),
    };
    if !matches!(parsed.scheme(), "http" | "https") {
        return Err(invalid(&format!(
            "only http:// and https:// are supported, not `{}:`",
            parsed.scheme()
        )));
    }
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err(invalid(
            "it must not contain a user name or password: they would be logged and sent with \
             every request; give credentials in their own fields",
        ));
    }
    if parsed.scheme() == "http" && !allow_insecure_http && !is_loopback(parsed) {
        return Err(invalid(
            "plain http:// to a host other than this machine would send credentials \
             unencrypted; use https:// (or explicitly allow insecure HTTP)",
        ));
    }
    if parsed.host().is_none() {
        return Err(invalid("it has no host"));
    }
    Ok(())
}

/// Whether the URL's host is this machine, where clear text never crosses a network.
fn is_loopback(url: &Url) -> bool {
    match url.host() {
        Some(Host::Ipv4(ip)) => ip.is_loopback(),
        Some(Host::Ipv6(ip)) => {
            ip.is_loopback() || ip.to_ipv4_mapped().is_some_and(|v4| IpAddr::V4(v4).is_loopback())
        }
        // The URL parser lowercases domains. `localhost` is reserved for loopback (RFC 6761).
        Some(Host::Domain(domain)) => domain == "localhost",
        None => false,
    }
}

/// `scheme://host:port/path`, with user-info and query masked: safe for errors and logs.
pub(crate) fn redacted(url: &Url) -> String {
    let mut out = String::with_capacity(url.as_str().len());
    out.push_str(url.scheme());
    out.push_str("://");
    if !url.username().is_empty() || url.password().is_some() {
        out.push_str(MASK);
        out.push('@');
    }
    if let Some(host) = url.host_str() {
        out.push_str(host);
    }
    if let Some(port) = url.port_or_known_default() {
        out.push(':');
        out.push_str(&port.to_string());
    }
    out.push_str(url.path());
    if url.query().is_some() {
        out.push('?');
        out.push_str(MASK);
    }
    out
}

/// `METHOD scheme://host:port/path`: how errors name the request that failed.
pub(crate) fn target(method: &reqwest::Method, url: &Url) -> String {
    format!("{method} {}", redacted(url))
}

/// Mask user-info and query of a string that did not even parse as a URL.
fn redact_raw(raw: &str) -> String {
    let raw = raw.trim();
    let (head, had_query) = match raw.find(['?', '#']) {
        Some(i) => (&raw[..i], raw[i..].starts_with('?')),
        None => (raw, false),
    };
    let after_scheme = head.find("://").map_or(0, |i| i + 3);
    let authority_end = head[after_scheme..]
        .find('/')
        .map_or(head.len(), |i| after_scheme + i);
    let mut out = String::with_capacity(head.len() + 8);
    match head[after_scheme..authority_end].rfind('@') {
        Some(at) => {
            out.push_str(&head[..after_scheme]);
            out.push_str(MASK);
            out.push_str(&head[after_scheme + at..]);
        }
        None => out.push_str(head),
    }
    if had_query {
        out.push('?');
        out.push_str(MASK);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base_url_table() {
        // (input, allow_insecure_http, Ok(normalised) or Err(substring of the message))
        let rows: &[(&str, bool, Result<&str, &str>)] = &[
            (
                "https://agenda.example.com/api",
                false,
                Ok("https://agenda.example.com/api"),
            ),
            (
                "https://agenda.example.com:8443/api/",
                false,
                Ok("https://agenda.example.com:8443/api/"),
            ),
            (
                " https://agenda.example.com/api ",
                false,
                Ok("https://agenda.example.com/api"),
            ),
            (
                "http://127.0.0.1:5800/api",
                false,
                Ok("http://127.0.0.1:5800/api"),
            ),
            ("http://127.8.9.10/api", false, Ok("http://127.8.9.10/api")),
            ("http://[::1]:5800/api", false, Ok("http://[::1]:5800/api")),
            (
                "http://localhost:5800/api",
                false,
                Ok("http://localhost:5800/api"),
            ),
            ("http://LOCALHOST/api", false, Ok("http://localhost/api")),
            ("http://agenda.example.com/api", false, Err("unencrypted")),
            ("http://10.0.0.5/api", false, Err("unencrypted")),
            ("http://localhost.example.com/api", false, Err("unencrypted")),
            (
                "http://agenda.example.com/api",
                true,
                Ok("http://agenda.example.com/api"),
            ),
            (
                "ftp://agenda.example.com/api",
                false,
                Err("only http:// and https://"),
            ),
            (
                "ftp://agenda.example.com/api",
                true,
                Err("only http:// and https://"),
            ),
            ("file:///etc/passwd", false, Err("only http:// and https://")),
            (
                "https://admin:hunter2@agenda.example.com/api",
                false,
                Err("user name or password"),
            ),
            (
                "https://hunter2@agenda.example.com/api",
                false,
                Err("user name or password"),
            ),
            (
                "http://admin:hunter2@127.0.0.1/api",
                false,
                Err("user name or password"),
            ),
            (
                "http://admin:hunter2@agenda.example.com/api",
                false,
                Err("user name or password"),
            ),
            (
                "agenda.example.com/api",
                false,
                Err("relative URL without a base"),
            ),
            ("", false, Err("relative URL without a base")),
            ("https://", false, Err("empty host")),
        ];
        for (input, insecure, expected) in rows {
            let got = check_base_url(input, *insecure);
            match (expected, got) {
                (Ok(want), Ok(url)) => assert_eq!(url.as_str(), *want, "{input}"),
                (Err(want), Err(err)) => {
                    let msg = err.to_string();
                    assert!(msg.contains(want), "{input}: {msg}");
                    assert!(!msg.contains("hunter2"), "{input} leaks the password: {msg}");
                }
                (want, got) => panic!("{input}: expected {want:?}, got {got:?}"),
            }
        }
    }

    #[test]
    fn unparseable_urls_are_redacted_too() {
        let err = check_base_url("https://admin:hunter2@exa mple.com/api?key=s3cret", false)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("invalid URL `https://***@exa mple.com/api?***`"),
            "{err}"
        );
        assert!(!err.contains("hunter2") && !err.contains("s3cret"), "{err}");
    }

    #[test]
    fn shown_urls_keep_only_scheme_host_port_path() {
        let url = Url::parse("https://u:p@api.example.com/api/clients/7?api_key=s3cret#frag")
            .map_err(|e| e.to_string());
        assert_eq!(
            url.map(|u| redacted(&u)),
            Ok("https://***@api.example.com:443/api/clients/7?***".to_owned())
        );
    }
}
