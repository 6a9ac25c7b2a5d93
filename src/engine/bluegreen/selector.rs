//! A Service's selector: a plain label map (equality only), how it matches pod labels, and
//! how it is written down (`app=inference,color=blue`, kubectl's form, keys sorted).

use std::collections::BTreeMap;

/// A Service selector or a set of labels.
pub type Labels = BTreeMap<String, String>;

/// True when every pair of `selector` is in `labels` (an empty selector matches nothing:
/// a Service without a selector selects no pod).
pub fn matches(selector: &Labels, labels: &Labels) -> bool {
    !selector.is_empty() && selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `k=v,k2=v2`, or `<none>`.
pub fn format_selector(selector: &Labels) -> String {
    if selector.is_empty() {
        return "<none>".to_string();
    }
    selector
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// The pairs that differ, as `-key=old` / `+key=new` lines (the `--dry-run` diff).
pub fn selector_diff(before: &Labels, after: &Labels) -> Vec<String> {
    let mut lines = Vec::new();
    for (k, v) in before {
        if after.get(k) != Some(v) {
            lines.push(format!("-{k}={v}"));
        }
    }
    for (k, v) in after {
        if before.get(k) != Some(v) {
            lines.push(format!("+{k}={v}"));
        }
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn a_selector_matches_labels_that_carry_every_pair() {
        let sel = l(&[("app", "inference"), ("color", "blue")]);
        let cases = [
            (l(&[("app", "inference"), ("color", "blue")]), true),
            (
                l(&[("app", "inference"), ("color", "blue"), ("x", "y")]),
                true,
            ),
            (l(&[("app", "inference"), ("color", "green")]), false),
            (l(&[("app", "inference")]), false),
        ];
        for (labels, want) in cases {
            assert_eq!(matches(&sel, &labels), want, "{labels:?}");
        }
    }

    #[test]
    fn an_empty_selector_matches_nothing() {
        assert!(!matches(&Labels::new(), &l(&[("app", "x")])));
    }

    #[test]
    fn the_diff_shows_the_changed_pairs_only() {
        let before = l(&[("app", "inference"), ("color", "blue")]);
        let after = l(&[("app", "inference"), ("color", "green")]);
        assert_eq!(
            selector_diff(&before, &after),
            vec!["-color=blue", "+color=green"]
        );
        assert_eq!(format_selector(&after), "app=inference,color=green");
        assert_eq!(format_selector(&Labels::new()), "<none>");
    }
}
