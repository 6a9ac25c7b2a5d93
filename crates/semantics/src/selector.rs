//! Label and field selectors: parsing, matching, and rendering.
//!
//! Follows apimachinery `pkg/labels/selector.go` (the lexer/parser behind `-l` and
//! `?labelSelector=`), `metav1.LabelSelectorAsSelector` / `FormatLabelSelector`
//! (`pkg/apis/meta/v1/helpers.go`) and `pkg/fields/selector.go`. A nil selector matches nothing and
//! an empty one matches everything, which is why [`Selector`] keeps the two apart.

use std::collections::BTreeMap;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;

/// A label selector operator (`pkg/selection/operator.go`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operator {
    Equals,
    DoubleEquals,
    NotEquals,
    In,
    NotIn,
    Exists,
    DoesNotExist,
}

/// One `key op values` term.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Requirement {
    pub key: String,
    pub operator: Operator,
    /// Sorted and de-duplicated, like upstream's `sets.String`.
    pub values: Vec<String>,
}

/// A parsed label selector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// From a nil `LabelSelector`: matches no object.
    Nothing,
    /// All requirements must hold; an empty list matches every object.
    Requirements(Vec<Requirement>),
}

/// Why a selector string or `LabelSelector` could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SelectorError {
    /// A token other than the grammar allows here (upstream wording).
    #[error("found '{found}', expected: {expected}")]
    Unexpected {
        found: String,
        expected: &'static str,
    },
    /// `parseValues` without `(`; upstream's message has no colon here.
    #[error("found '{0}' expected: '('")]
    ExpectedOpenParen(String),
    /// The key, values or operator of one requirement are invalid.
    #[error("unable to parse requirement: {0}")]
    Requirement(String),
    /// A `matchExpressions` operator outside In/NotIn/Exists/DoesNotExist.
    #[error("{0:?} is not a valid label selector operator")]
    BadOperator(String),
    /// A field selector term without `=`, `==` or `!=`.
    #[error("invalid selector: '{0}'; can't understand '{1}'")]
    Field(String, String),
}

impl Requirement {
    /// Builds a requirement, validating as upstream `NewRequirement` does.
    pub fn new(key: &str, operator: Operator, values: Vec<String>) -> Result<Self, SelectorError> {
        validate_key(key)?;
        let mut values = values;
        values.sort();
        values.dedup();
        match operator {
            Operator::In | Operator::NotIn if values.is_empty() => {
                return Err(SelectorError::Requirement(
                    "for 'in', 'notin' operators, values set can't be empty".into(),
                ));
            }
            Operator::Equals | Operator::DoubleEquals | Operator::NotEquals
                if values.len() != 1 =>
            {
                return Err(SelectorError::Requirement(
                    "exact-match compatibility requires one single value".into(),
                ));
            }
            Operator::Exists | Operator::DoesNotExist if !values.is_empty() => {
                return Err(SelectorError::Requirement(
                    "values set must be empty for exists and does not exist".into(),
                ));
            }
            _ => {}
        }
        for v in &values {
            validate_value(v)?;
        }
        Ok(Requirement {
            key: key.to_string(),
            operator,
            values,
        })
    }

    /// True when `labels` satisfy this requirement.
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        let got = labels.get(&self.key);
        let listed = got.is_some_and(|v| self.values.iter().any(|x| x == v));
        match self.operator {
            Operator::Equals | Operator::DoubleEquals | Operator::In => listed,
            Operator::NotEquals | Operator::NotIn => !listed,
            Operator::Exists => got.is_some(),
            Operator::DoesNotExist => got.is_none(),
        }
    }
}

impl std::fmt::Display for Requirement {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let joined = self.values.join(",");
        match self.operator {
            Operator::Equals => write!(f, "{}={}", self.key, joined),
            Operator::DoubleEquals => write!(f, "{}=={}", self.key, joined),
            Operator::NotEquals => write!(f, "{}!={}", self.key, joined),
            Operator::In => write!(f, "{} in ({})", self.key, joined),
            Operator::NotIn => write!(f, "{} notin ({})", self.key, joined),
            Operator::Exists => write!(f, "{}", self.key),
            Operator::DoesNotExist => write!(f, "!{}", self.key),
        }
    }
}

impl Selector {
    /// The selector that matches every object.
    pub fn everything() -> Self {
        Selector::Requirements(Vec::new())
    }

    /// True when every requirement holds (never for [`Selector::Nothing`]).
    pub fn matches(&self, labels: &BTreeMap<String, String>) -> bool {
        match self {
            Selector::Nothing => false,
            Selector::Requirements(reqs) => reqs.iter().all(|r| r.matches(labels)),
        }
    }

    /// True for the selector that selects everything (`{}`), which the Deployment controller
    /// refuses with `SelectingAll`.
    pub fn is_empty(&self) -> bool {
        matches!(self, Selector::Requirements(r) if r.is_empty())
    }
}

impl std::fmt::Display for Selector {
    /// Requirements sorted by key and joined with `,`, as upstream `internalSelector.String`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Selector::Requirements(reqs) = self else {
            return Ok(());
        };
        let mut sorted: Vec<&Requirement> = reqs.iter().collect();
        sorted.sort_by(|a, b| a.key.cmp(&b.key));
        let parts: Vec<String> = sorted.iter().map(|r| r.to_string()).collect();
        f.write_str(&parts.join(","))
    }
}

/// `metav1.LabelSelectorAsSelector`: nil matches nothing, empty matches everything.
pub fn from_label_selector(ls: Option<&LabelSelector>) -> Result<Selector, SelectorError> {
    let Some(ls) = ls else {
        return Ok(Selector::Nothing);
    };
    let mut reqs = Vec::new();
    for (k, v) in ls.match_labels.iter().flatten() {
        reqs.push(Requirement::new(k, Operator::Equals, vec![v.clone()])?);
    }
    for expr in ls.match_expressions.iter().flatten() {
        let op = match expr.operator.as_str() {
            "In" => Operator::In,
            "NotIn" => Operator::NotIn,
            "Exists" => Operator::Exists,
            "DoesNotExist" => Operator::DoesNotExist,
            other => return Err(SelectorError::BadOperator(other.to_string())),
        };
        let values = expr.values.clone().unwrap_or_default();
        reqs.push(Requirement::new(&expr.key, op, values)?);
    }
    Ok(Selector::Requirements(reqs))
}

/// `metav1.FormatLabelSelector`: `app=x`, `<none>` when it selects by nothing, `<error>` if invalid.
pub fn format_label_selector(ls: Option<&LabelSelector>) -> String {
    match from_label_selector(ls) {
        Err(_) => "<error>".to_string(),
        Ok(sel) => {
            let s = sel.to_string();
            if s.is_empty() {
                "<none>".to_string()
            } else {
                s
            }
        }
    }
}

/// True when a (possibly nil) `LabelSelector` selects `labels`; invalid selectors select nothing.
pub fn label_selector_matches(
    ls: Option<&LabelSelector>,
    labels: &BTreeMap<String, String>,
) -> bool {
    from_label_selector(ls).is_ok_and(|s| s.matches(labels))
}

const MAX_NAME: usize = 63;
const MAX_PREFIX: usize = 253;

fn valid_name_part(s: &str) -> bool {
    let ok_char = |c: char| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.';
    let first_last = |c: Option<char>| c.is_some_and(|c| c.is_ascii_alphanumeric());
    !s.is_empty()
        && s.len() <= MAX_NAME
        && s.chars().all(ok_char)
        && first_last(s.chars().next())
        && first_last(s.chars().last())
}

/// Qualified-name check (`validation.IsQualifiedName`): `[prefix/]name`.
fn validate_key(key: &str) -> Result<(), SelectorError> {
    let (prefix, name) = match key.split_once('/') {
        Some((p, n)) => (Some(p), n),
        None => (None, key),
    };
    let prefix_ok = prefix.is_none_or(|p| {
        !p.is_empty()
            && p.len() <= MAX_PREFIX
            && p.split('.').all(|l| {
                !l.is_empty()
                    && l.chars()
                        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
            })
    });
    if prefix_ok && valid_name_part(name) {
        Ok(())
    } else {
        Err(SelectorError::Requirement(format!(
            "invalid label key {key:?}: must be a qualified name (at most 63 characters, matching regex ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]), with an optional DNS subdomain prefix and slash (/)"
        )))
    }
}

/// Label value check (`validation.IsValidLabelValue`): empty or a valid name part.
fn validate_value(v: &str) -> Result<(), SelectorError> {
    if v.is_empty() || valid_name_part(v) {
        Ok(())
    } else {
        Err(SelectorError::Requirement(format!(
            "invalid label value {v:?}: must have at most 63 characters, matching regex (([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?"
        )))
    }
}

pub use crate::selector_parse::{FieldRequirement, parse, parse_fields};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::labels;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelectorRequirement;

    #[test]
    fn every_kubectl_operator_parses_and_matches_as_upstream() {
        let l = labels(&[("app", "web"), ("tier", "gpu")]);
        // (selector, matches app=web,tier=gpu)
        let cases = [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app!=api", true),
            ("app in (api, web)", true),
            ("app notin (web)", false),
            ("missing notin (web)", true),
            ("tier", true),
            ("!tier", false),
            ("!missing", true),
            ("app=web,tier=cpu", false),
            ("app=web, tier in (gpu)", true),
            ("", true),
        ];
        for (s, want) in cases {
            let sel = parse(s).unwrap_or_else(|e| panic!("{s}: {e}"));
            assert_eq!(sel.matches(&l), want, "{s}");
        }
    }

    #[test]
    fn malformed_selectors_fail_with_upstream_wording() {
        let cases = [
            ("app=web,", "found '', expected: identifier after ','"),
            (
                "app web",
                "unable to parse requirement: found 'web', expected: '=', '!=', '==', 'in', notin'",
            ),
            (
                "app in web",
                "unable to parse requirement: found 'web' expected: '('",
            ),
            (
                "app in (web",
                "unable to parse requirement: found '', expected: ',' or ')'",
            ),
            (
                "=web",
                "found '=', expected: !, identifier, or 'end of string'",
            ),
            ("!a=b", "found '=', expected: ',' or 'end of string'"),
        ];
        for (s, want) in cases {
            assert_eq!(parse(s).unwrap_err().to_string(), want, "{s}");
        }
        // `()` is the set {""}: valid, and matches only an empty value.
        let empty = parse("app in ()").unwrap_or(Selector::Nothing);
        assert!(empty.matches(&labels(&[("app", "")])));
        assert!(!empty.matches(&labels(&[("app", "web")])));
        let err = parse("-bad-=x").unwrap_err().to_string();
        assert!(err.starts_with("unable to parse requirement: "), "{err}");
    }

    #[test]
    fn odd_inputs_never_panic() {
        for s in [
            "(", ")", ",", "!", "!!", "a in (,", "a in (,)", "a=(", "é=ü", "a<b", "\\",
        ] {
            let _ = parse(s);
            let _ = parse_fields(s);
        }
        assert!(parse("a in (,b)").is_ok());
    }

    #[test]
    fn nil_label_selector_matches_nothing_and_empty_matches_everything() {
        let l = labels(&[("app", "web")]);
        assert!(!label_selector_matches(None, &l));
        assert!(label_selector_matches(Some(&LabelSelector::default()), &l));
        assert!(from_label_selector(Some(&LabelSelector::default())).is_ok_and(|s| s.is_empty()));
    }

    #[test]
    fn label_selector_expressions_convert_and_render_like_format_label_selector() {
        let ls = LabelSelector {
            match_labels: Some(labels(&[("app", "web")])),
            match_expressions: Some(vec![
                LabelSelectorRequirement {
                    key: "tier".into(),
                    operator: "In".into(),
                    values: Some(vec!["gpu".into(), "cpu".into()]),
                },
                LabelSelectorRequirement {
                    key: "canary".into(),
                    operator: "DoesNotExist".into(),
                    values: None,
                },
            ]),
        };
        assert_eq!(
            format_label_selector(Some(&ls)),
            "app=web,!canary,tier in (cpu,gpu)"
        );
        assert!(label_selector_matches(
            Some(&ls),
            &labels(&[("app", "web"), ("tier", "cpu")])
        ));
        assert!(!label_selector_matches(
            Some(&ls),
            &labels(&[("app", "web"), ("canary", "1"), ("tier", "cpu")])
        ));
        assert_eq!(format_label_selector(None), "<none>");
        let bad = LabelSelector {
            match_expressions: Some(vec![LabelSelectorRequirement {
                key: "a".into(),
                operator: "Gt".into(),
                values: None,
            }]),
            ..Default::default()
        };
        assert_eq!(format_label_selector(Some(&bad)), "<error>");
    }

    #[test]
    fn field_selectors_parse_equality_terms_and_match_a_getter() {
        let reqs = parse_fields("metadata.name=web,status.phase!=Failed").unwrap_or_default();
        assert_eq!(reqs.len(), 2);
        let get = |f: &str| match f {
            "metadata.name" => Some("web".to_string()),
            "status.phase" => Some("Running".to_string()),
            _ => None,
        };
        assert!(reqs.iter().all(|r| r.matches(&get)));
        let dbl = parse_fields("metadata.name==api").unwrap_or_default();
        assert!(!dbl[0].matches(&get));
        assert_eq!(
            parse_fields("metadata.name").unwrap_err().to_string(),
            "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
        );
        let esc = parse_fields(r"a=x\,y").unwrap_or_default();
        assert_eq!(esc[0].value, "x,y");
    }
}
