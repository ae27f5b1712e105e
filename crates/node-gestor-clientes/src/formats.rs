//! The string formats of the Cliente parameters: the checks the core's validator runs for each
//! `format` keyword, and the normalisations applied when a checked value is deserialized.
//!
//! Every check here is a pure function of the text; nothing in this module knows about HTTP.

use chrono::{DateTime, NaiveDate, NaiveDateTime};
use nodehost_core::StringFormat;

/// `format` of a client ID given as a string.
pub const CLIENT_ID: &str = "client-id";
/// `format` of a CPF.
pub const CPF: &str = "cpf";
/// `format` of a CEP.
pub const CEP: &str = "cep";
/// `format` of a state code.
pub const UF: &str = "uf";
/// `format` of a birth date.
pub const BIRTH_DATE: &str = "birth-date";
/// `format` of an email address.
pub const EMAIL: &str = "email-address";

/// What a valid client ID string looks like.
pub const CLIENT_ID_EXPECTED: &str = "a positive whole number (digits only, e.g. \"42\")";
/// What a valid CPF looks like.
pub const CPF_EXPECTED: &str =
    "an 11-digit CPF with valid check digits (e.g. \"529.982.247-25\" or \"52998224725\")";
/// What a valid CEP looks like.
pub const CEP_EXPECTED: &str = "an 8-digit CEP (e.g. \"01310-100\" or \"01310100\")";
/// What a valid state code looks like.
pub const UF_EXPECTED: &str = "a two-letter Brazilian state code (UF) such as \"SP\" or \"RJ\"";
/// What a valid birth date looks like.
pub const BIRTH_DATE_EXPECTED: &str =
    "a real calendar date as YYYY-MM-DD (e.g. \"1990-05-17\") or an ISO 8601 date-time";
/// What a valid email address looks like.
pub const EMAIL_EXPECTED: &str = "an email address such as \"ana@example.com\"";

/// Every format the Cliente schema refers to, for `Node::formats()`.
pub fn all() -> Vec<StringFormat> {
    vec![
        StringFormat::new(CLIENT_ID, CLIENT_ID_EXPECTED, |s| parse_client_id(s).is_some()),
        StringFormat::new(CPF, CPF_EXPECTED, |s| normalize_cpf(s).is_some()),
        StringFormat::new(CEP, CEP_EXPECTED, |s| normalize_cep(s).is_some()),
        StringFormat::new(UF, UF_EXPECTED, |s| normalize_uf(s).is_some()),
        StringFormat::new(BIRTH_DATE, BIRTH_DATE_EXPECTED, |s| {
            normalize_birth_date(s).is_some()
        }),
        StringFormat::new(EMAIL, EMAIL_EXPECTED, is_email),
    ]
}

/// A client ID written as digits: `Some(id)` for a positive integer that fits in `u64`.
///
/// Only ASCII digits are accepted, so nothing that could change the request path (`/`, `?`, `.`,
/// `%`) ever reaches the URL.
pub fn parse_client_id(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse::<u64>().ok().filter(|&id| id >= 1)
}

/// A CPF as its 11 digits, if it is plain digits or masked as `ddd.ddd.ddd-dd` and its check
/// digits are right. Numbers of one repeated digit pass the arithmetic but are never issued.
pub fn normalize_cpf(s: &str) -> Option<String> {
    let digits = match s.len() {
        11 if s.bytes().all(|b| b.is_ascii_digit()) => s.to_owned(),
        14 if matches_mask(s, "ddd.ddd.ddd-dd") => s.replace(['.', '-'], ""),
        _ => return None,
    };
    let d: Vec<u32> = digits.bytes().map(|b| u32::from(b - b'0')).collect();
    if d.iter().all(|&x| x == d[0]) {
        return None;
    }
    let check = |len: usize| {
        let sum: u32 = d[..len]
            .iter()
            .zip((2..=len as u32 + 1).rev())
            .map(|(x, w)| x * w)
            .sum();
        let r = (sum * 10) % 11;
        if r == 10 { 0 } else { r }
    };
    (check(9) == d[9] && check(10) == d[10]).then_some(digits)
}

/// A CEP as its 8 digits, if it is plain digits or written `ddddd-ddd`.
pub fn normalize_cep(s: &str) -> Option<String> {
    match s.len() {
        8 if s.bytes().all(|b| b.is_ascii_digit()) => Some(s.to_owned()),
        9 if matches_mask(s, "ddddd-ddd") => Some(s.replace('-', "")),
        _ => None,
    }
}

/// The 27 federative units of Brazil.
const UFS: [&str; 27] = [
    "AC", "AL", "AM", "AP", "BA", "CE", "DF", "ES", "GO", "MA", "MG", "MS", "MT", "PA", "PB", "PE", "PI",
    "PR", "RJ", "RN", "RO", "RR", "RS", "SC", "SE", "SP", "TO",
];

/// A state code in upper case. Lower case is accepted because forms and spreadsheets often
/// deliver it, and the code is unambiguous either way.
pub fn normalize_uf(s: &str) -> Option<String> {
    let upper = s.to_ascii_uppercase();
    UFS.contains(&upper.as_str()).then_some(upper)
}

/// A birth date as `YYYY-MM-DD`, from a date or from an ISO 8601 date-time.
///
/// The date part is taken as written, without converting the time zone: a date picker that
/// sends local midnight as `1990-05-17T00:00:00-03:00` means the 17th, not the 16th in UTC.
pub fn normalize_birth_date(s: &str) -> Option<String> {
    // chrono's `%Y` accepts signs and more than four digits; insist on the plain shape first.
    if !s.get(..10).is_some_and(|head| matches_mask(head, "dddd-dd-dd")) {
        return None;
    }
    let date = if s.len() == 10 {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?
    } else if let Ok(dt) = DateTime::parse_from_rfc3339(s) {
        dt.date_naive()
    } else {
        let dt = NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M:%S%.f")
            .or_else(|_| NaiveDateTime::parse_from_str(s, "%Y-%m-%dT%H:%M"))
            .ok()?;
        dt.date()
    };
    Some(date.format("%Y-%m-%d").to_string())
}

/// A plausible email address: one `@`, a non-empty local part, a domain of non-empty labels with
/// at least one dot, no whitespace or control characters. Deliverability is the server's problem.
pub fn is_email(s: &str) -> bool {
    if s.len() > 254 || s.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return false;
    }
    let Some((local, domain)) = s.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && local.len() <= 64
        && !domain.contains('@')
        && domain.contains('.')
        && domain
            .split('.')
            .all(|label| !label.is_empty() && !label.starts_with('-') && !label.ends_with('-'))
}

/// Whether `s` has the shape of `mask`, where `d` stands for an ASCII digit and any other
/// character for itself.
fn matches_mask(s: &str, mask: &str) -> bool {
    s.len() == mask.len()
        && s.bytes().zip(mask.bytes()).all(|(c, m)| match m {
            b'd' => c.is_ascii_digit(),
            _ => c == m,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(name: &str, value: &str) -> bool {
        let format = all().into_iter().find(|f| f.name == name).unwrap();
        (format.check)(value)
    }

    #[test]
    fn cpf_accepts_valid_check_digits_plain_or_masked() {
        assert_eq!(normalize_cpf("529.982.247-25").as_deref(), Some("52998224725"));
        assert_eq!(normalize_cpf("11144477735").as_deref(), Some("11144477735"));
        assert!(check(CPF, "529.982.247-25"));
    }

    #[test]
    fn cpf_rejects_wrong_check_digits_repeats_and_odd_shapes() {
        assert_eq!(normalize_cpf("12345678900"), None);
        assert_eq!(normalize_cpf("11111111111"), None);
        assert_eq!(normalize_cpf("00000000000"), None);
        assert_eq!(normalize_cpf("52998224724"), None);
        assert_eq!(normalize_cpf("5299822472"), None);
        assert_eq!(normalize_cpf("529982247-25"), None);
        assert_eq!(normalize_cpf("529.982.247.25"), None);
        assert_eq!(normalize_cpf("５２９９８２２４７２５"), None);
        assert!(!check(CPF, "123.456.789-00"));
    }

    #[test]
    fn cep_is_eight_digits_with_optional_hyphen() {
        assert_eq!(normalize_cep("01310-100").as_deref(), Some("01310100"));
        assert_eq!(normalize_cep("01310100").as_deref(), Some("01310100"));
        for bad in ["0131010", "013101000", "0131-0100", "01310 100", "abcdefgh", ""] {
            assert_eq!(normalize_cep(bad), None, "{bad}");
        }
    }

    #[test]
    fn uf_accepts_the_27_codes_in_any_case() {
        assert_eq!(normalize_uf("SP").as_deref(), Some("SP"));
        assert_eq!(normalize_uf("rj").as_deref(), Some("RJ"));
        assert_eq!(normalize_uf("Df").as_deref(), Some("DF"));
        for bad in ["XX", "S", "SPP", "", " SP", "São Paulo"] {
            assert_eq!(normalize_uf(bad), None, "{bad}");
        }
    }

    #[test]
    fn birth_date_is_a_real_date_normalised_to_ymd() {
        let ok = [
            ("1990-05-17", "1990-05-17"),
            ("2000-02-29", "2000-02-29"),
            ("1990-05-17T00:00:00Z", "1990-05-17"),
            ("1990-05-17T00:00:00.000Z", "1990-05-17"),
            ("1990-05-17T23:30:00-03:00", "1990-05-17"),
            ("1990-05-17T10:00:00", "1990-05-17"),
            ("1990-05-17T10:00", "1990-05-17"),
        ];
        for (input, want) in ok {
            assert_eq!(normalize_birth_date(input).as_deref(), Some(want), "{input}");
        }
        let bad = [
            "1990-02-30",
            "1900-02-29",
            "1990-13-01",
            "17/05/1990",
            "1990-5-17",
            "+1990-05-17",
            "1990-05-17 ",
            "1990-05-17Tnoon",
            "",
        ];
        for input in bad {
            assert_eq!(normalize_birth_date(input), None, "{input}");
        }
    }

    #[test]
    fn email_needs_one_at_a_local_part_and_a_dotted_domain() {
        for ok in ["ana@example.com", "a.b+tag@mail.example.com.br"] {
            assert!(check(EMAIL, ok), "{ok}");
        }
        for bad in [
            "ana",
            "@example.com",
            "ana@",
            "ana@example",
            "ana@@example.com",
            "a@b@example.com",
            "ana maria@example.com",
            "ana@example..com",
            "ana@.example.com",
            "ana@example.com.",
        ] {
            assert!(!check(EMAIL, bad), "{bad}");
        }
    }

    #[test]
    fn client_id_strings_are_positive_digit_strings() {
        assert_eq!(parse_client_id("42"), Some(42));
        assert_eq!(parse_client_id("007"), Some(7));
        for bad in [
            "0",
            "-1",
            "1.5",
            "12/../7",
            "7?x=1",
            "",
            " 7",
            "+7",
            "1e3",
            "99999999999999999999",
        ] {
            assert_eq!(parse_client_id(bad), None, "{bad}");
            assert!(!check(CLIENT_ID, bad), "{bad}");
        }
    }
}
