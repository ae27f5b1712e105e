//! The value rules of single client fields: e-mail shape, CPF check digits, calendar dates,
//! CEP and UF. Each returns the value to store (normalised) or why it is wrong; turning that into
//! a Zod-shaped issue is `validation`'s job.

/// The 27 federative units of Brazil, in the order they appear in `invalid_enum_value` issues.
pub(crate) const UFS: [&str; 27] = [
    "AC", "AL", "AP", "AM", "BA", "CE", "DF", "ES", "GO", "MA", "MT", "MS", "MG", "PA", "PB", "PR", "PE",
    "PI", "RJ", "RN", "RS", "RO", "RR", "SC", "SP", "SE", "TO",
];

/// Zod's e-mail rule (v3): a local part of `[A-Za-z0-9_'+.-]` not starting with a dot, without
/// `..`, not ending with `'` or `.`; a domain of labels `[A-Za-z0-9][A-Za-z0-9-]*` separated by
/// dots, ending in a letters-only TLD of two or more.
pub(crate) fn is_email(s: &str) -> bool {
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    let local_ok = !local.is_empty()
        && !local.starts_with('.')
        && !local.contains("..")
        && local
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_'+-.".contains(&b))
        && local
            .bytes()
            .last()
            .is_some_and(|b| b.is_ascii_alphanumeric() || b"_+-".contains(&b));
    if !local_ok || domain.contains("..") {
        return false;
    }
    let labels: Vec<&str> = domain.split('.').collect();
    let Some((tld, hosts)) = labels.split_last() else {
        return false;
    };
    let tld_ok = tld.len() >= 2 && tld.bytes().all(|b| b.is_ascii_alphabetic());
    let hosts_ok = !hosts.is_empty()
        && hosts.iter().all(|label| {
            label.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
        });
    tld_ok && hosts_ok
}

/// A CPF written as 11 digits or as `000.000.000-00`, with valid check digits and not one digit
/// repeated (those pass the arithmetic but are never issued). Returns the 11 digits.
pub(crate) fn normalize_cpf(s: &str) -> Option<String> {
    let digits = strip_punctuation(s, &[3, 7], 11, b'.', &[(11, b'-')])?;
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    (cpf_check_digit(&d[..9]) == d[9] && cpf_check_digit(&d[..10]) == d[10]).then_some(digits)
}

/// The check digit that follows `digits` (9 or 10 of them) in a CPF.
pub(crate) fn cpf_check_digit(digits: &[u32]) -> u32 {
    let weight_start = digits.len() as u32 + 1;
    let sum: u32 = digits
        .iter()
        .zip((2..=weight_start).rev())
        .map(|(d, w)| d * w)
        .sum();
    match sum % 11 {
        0 | 1 => 0,
        r => 11 - r,
    }
}

/// A CEP written as 8 digits or as `00000-000`. Returns the 8 digits.
pub(crate) fn normalize_cep(s: &str) -> Option<String> {
    strip_punctuation(s, &[], 8, b'-', &[(5, b'-')])
}

/// Accepts `plain_len` ASCII digits, or the same digits with exactly the punctuation of the
/// usual written form: `sep` at the byte offsets in `sep_at` and each `(offset, byte)` of `extra`.
/// Anything else (spaces, misplaced or partial punctuation) is refused rather than guessed.
fn strip_punctuation(
    s: &str,
    sep_at: &[usize],
    plain_len: usize,
    sep: u8,
    extra: &[(usize, u8)],
) -> Option<String> {
    let bytes = s.as_bytes();
    if bytes.len() == plain_len {
        return bytes.iter().all(u8::is_ascii_digit).then(|| s.to_owned());
    }
    if bytes.len() != plain_len + sep_at.len() + extra.len() {
        return None;
    }
    let mut digits = String::with_capacity(plain_len);
    for (i, &b) in bytes.iter().enumerate() {
        let expected_punct = if sep_at.contains(&i) {
            Some(sep)
        } else {
            extra.iter().find(|(at, _)| *at == i).map(|(_, p)| *p)
        };
        match expected_punct {
            Some(p) if b == p => {}
            Some(_) => return None,
            None if b.is_ascii_digit() => digits.push(char::from(b)),
            None => return None,
        }
    }
    Some(digits)
}

/// A real calendar date written exactly `YYYY-MM-DD` (no time, no other width).
pub(crate) fn is_calendar_date(s: &str) -> bool {
    let b = s.as_bytes();
    let shape = b.len() == 10
        && b[4] == b'-'
        && b[7] == b'-'
        && b.iter()
            .enumerate()
            .all(|(i, c)| i == 4 || i == 7 || c.is_ascii_digit());
    shape && chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpf_accepts_known_valid_numbers_plain_or_punctuated() {
        assert_eq!(normalize_cpf("52998224725").as_deref(), Some("52998224725"));
        assert_eq!(normalize_cpf("529.982.247-25").as_deref(), Some("52998224725"));
        assert_eq!(normalize_cpf("123.456.789-09").as_deref(), Some("12345678909"));
    }

    #[test]
    fn cpf_rejects_bad_check_digits_repeats_and_odd_shapes() {
        for bad in [
            "52998224724",
            "11111111111",
            "529.982.24725",
            "529 982 247 25",
            "5299822472",
            "529.982.247-2a",
        ] {
            assert_eq!(normalize_cpf(bad), None, "{bad}");
        }
    }

    #[test]
    fn cep_accepts_digits_or_hyphenated() {
        assert_eq!(normalize_cep("01310-100").as_deref(), Some("01310100"));
        assert_eq!(normalize_cep("01310100").as_deref(), Some("01310100"));
        assert_eq!(normalize_cep("0131-0100"), None);
        assert_eq!(normalize_cep("1310100"), None);
    }

    #[test]
    fn dates_must_exist_on_the_calendar() {
        assert!(is_calendar_date("2000-02-29"));
        assert!(!is_calendar_date("1900-02-29"));
        assert!(!is_calendar_date("2024-13-01"));
        assert!(!is_calendar_date("2024-1-01"));
        assert!(!is_calendar_date("+2024-01-01"));
    }

    #[test]
    fn email_follows_zod() {
        for ok in ["maria@example.com", "a.b+tag@mail.example.com.br", "o'neil@x.io"] {
            assert!(is_email(ok), "{ok}");
        }
        for bad in [
            "maria",
            "maria@",
            "@x.com",
            ".a@x.com",
            "a..b@x.com",
            "a@x",
            "a@x.c",
            "a@-x.com",
            "a b@x.com",
        ] {
            assert!(!is_email(bad), "{bad}");
        }
    }
}
