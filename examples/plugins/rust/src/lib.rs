//! `cpfTools`: checks and formats Brazilian CPF numbers. A typed nodehost [`Node`] like any
//! built-in one; `main.rs` turns it into a plugin executable in three lines.

use async_trait::async_trait;
use nodehost_core::{
    ItemContext, Json, NoCredentials, Node, NodeError, NodeInfo, Output, SessionOptions, SetupError,
};
use schemars::JsonSchema;
use serde::Deserialize;
use serde_json::json;

/// The parameters of one item.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(tag = "operation", rename_all = "camelCase")]
pub enum CpfParams {
    /// Say whether a CPF is valid (11 digits, correct check digits), in any punctuation.
    #[schemars(extend("x-operation" = {"action": "Validate a CPF", "hints": "read"}))]
    Validate(CpfField),
    /// Write a valid CPF as `123.456.789-09`; fails for an invalid one.
    #[schemars(extend("x-operation" = {"action": "Format a CPF", "hints": "read"}))]
    Format(CpfField),
}

/// A CPF in any punctuation.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct CpfField {
    /// The CPF, e.g. `123.456.789-09` or `12345678909`.
    #[schemars(title = "CPF", length(min = 1, max = 64))]
    pub cpf: String,
}

/// The node.
#[derive(Debug, Clone, Copy, Default)]
pub struct CpfTools;

/// The digits of `text` when there are exactly 11 and their check digits are right.
pub fn valid_cpf(text: &str) -> Option<Vec<u32>> {
    let digits: Vec<u32> = text.chars().filter_map(|c| c.to_digit(10)).collect();
    if digits.len() != 11 || digits.iter().all(|d| *d == digits[0]) {
        return None;
    }
    let check = |n: usize| {
        let sum: u32 = digits[..n]
            .iter()
            .zip((2..=n as u32 + 1).rev())
            .map(|(d, w)| d * w)
            .sum();
        (sum * 10 % 11) % 10
    };
    (check(9) == digits[9] && check(10) == digits[10]).then_some(digits)
}

fn object(value: serde_json::Value) -> Output {
    match value {
        serde_json::Value::Object(map) => Output::from(map),
        _ => Output::from(Json::new()),
    }
}

#[async_trait]
impl Node for CpfTools {
    type Params = CpfParams;
    type Credentials = NoCredentials;
    type Session = ();

    fn info(&self) -> NodeInfo {
        NodeInfo {
            name: "cpfTools".into(),
            display_name: "CPF Tools".into(),
            version: 1,
            description: "Checks and formats Brazilian CPF numbers".into(),
            group: vec!["transform".into()],
            icon: Some("fa:id-card".into()),
            default_operation: "validate".into(),
            usable_as_tool: true,
            // `validate` sends nothing anywhere: a dry run is the run itself.
            supports_dry_run: true,
        }
    }

    async fn connect(&self, _: Option<NoCredentials>, _: &SessionOptions) -> Result<(), SetupError> {
        Ok(())
    }

    async fn execute(&self, _: &(), params: CpfParams, _: &ItemContext) -> Result<Vec<Output>, NodeError> {
        match params {
            CpfParams::Validate(p) => {
                let digits = valid_cpf(&p.cpf);
                Ok(vec![object(json!({"cpf": p.cpf, "valid": digits.is_some()}))])
            }
            CpfParams::Format(p) => {
                let d = valid_cpf(&p.cpf).ok_or_else(|| {
                    NodeError::new("not a valid CPF: it needs 11 digits with correct check digits")
                        .with_details(json!([{"path": ["cpf"], "message": "invalid CPF"}]))
                })?;
                let s: String = d
                    .iter()
                    .map(|d| char::from_digit(*d, 10).unwrap_or('0'))
                    .collect();
                let formatted = format!("{}.{}.{}-{}", &s[..3], &s[3..6], &s[6..9], &s[9..]);
                Ok(vec![object(json!({"cpf": p.cpf, "formatted": formatted}))])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::valid_cpf;

    #[test]
    fn check_digits_decide() {
        assert!(valid_cpf("529.982.247-25").is_some());
        assert!(valid_cpf("52998224725").is_some());
        assert!(valid_cpf("529.982.247-26").is_none());
        assert!(valid_cpf("111.111.111-11").is_none());
        assert!(valid_cpf("123").is_none());
    }
}
