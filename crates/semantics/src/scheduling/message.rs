//! Reading a FailedScheduling message back: the node count and the per-reason tallies of
//! `0/3 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 2
//! Insufficient nvidia.com/gpu. preemption: ...`, each reason classified, for diagnoses on
//! clusters whose scheduler the CLI only sees through pod conditions and events.
//!
//! Taint wording differs by release: `had untolerated taint {key: value}` (1.26 to 1.33),
//! `had untolerated taint(s)` (later patch releases, which stopped printing keys and values)
//! and `had taint {key: value}, that the pod didn't tolerate` (before 1.26). All three read.

/// What one reason says about the nodes it counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Reason {
    /// `Insufficient <resource>`.
    Insufficient(String),
    /// `Too many pods`.
    TooManyPods,
    /// A taint the pod does not tolerate; key and value when the message names them.
    Taint {
        key: Option<String>,
        value: Option<String>,
    },
    /// `nodeSelector` or required node affinity.
    NodeAffinity,
    /// Required pod anti-affinity (the pod's own or a placed pod's).
    AntiAffinity,
    /// A `DoNotSchedule` topology spread constraint: the pod would exceed `maxSkew`, or
    /// (`missing_label`) the node lacks the constraint's topology key.
    TopologySpread { missing_label: bool },
    /// A cordoned node.
    Cordoned,
    /// Anything else, verbatim.
    Other(String),
}

impl Reason {
    /// Whether this is a taint the control plane puts on nodes for its own reasons (not
    /// ready, unreachable, control-plane role), which a workload should not tolerate.
    pub fn is_system_taint(&self) -> bool {
        matches!(self, Reason::Taint { key: Some(k), .. }
            if k.starts_with("node.kubernetes.io/") || k.starts_with("node-role.kubernetes.io/"))
    }
}

/// The message's node total and `(count, reason)` pairs in the order printed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FitError {
    pub total: usize,
    pub reasons: Vec<(usize, Reason)>,
}

impl FitError {
    /// Nodes counted under reasons matching `f` (a node may count under several reasons).
    pub fn nodes(&self, f: impl Fn(&Reason) -> bool) -> usize {
        self.reasons
            .iter()
            .filter(|(_, r)| f(r))
            .map(|(n, _)| n)
            .sum()
    }
}

/// One reason's text classified.
pub fn classify(text: &str) -> Reason {
    let braces = |s: &str| -> (Option<String>, Option<String>) {
        let Some(inner) = s
            .split_once('{')
            .and_then(|(_, r)| r.split_once('}'))
            .map(|(i, _)| i)
        else {
            return (None, None);
        };
        match inner.split_once(": ") {
            Some((k, v)) => (Some(k.to_string()), Some(v.to_string())),
            None => (
                Some(inner.trim_end_matches(':').to_string()),
                Some(String::new()),
            ),
        }
    };
    if let Some(r) = text.strip_prefix("Insufficient ") {
        return Reason::Insufficient(r.trim().to_string());
    }
    if text == "Too many pods" {
        return Reason::TooManyPods;
    }
    if text.contains("untolerated taint") || text.contains("that the pod didn't tolerate") {
        let (key, value) = braces(text);
        return Reason::Taint { key, value };
    }
    if text.contains("pod topology spread constraints") {
        return Reason::TopologySpread {
            missing_label: text.contains("(missing required label)"),
        };
    }
    if text.contains("node affinity/selector") || text.contains("didn't match node selector") {
        return Reason::NodeAffinity;
    }
    if text.contains("anti-affinity") {
        return Reason::AntiAffinity;
    }
    if text.contains("were unschedulable") {
        return Reason::Cordoned;
    }
    Reason::Other(text.to_string())
}

/// Parses the filter part of a FailedScheduling message (before ` preemption:`).
pub fn parse_fit_error(message: &str) -> Option<FitError> {
    let rest = message.trim().strip_prefix("0/")?;
    let (total, rest) = rest.split_once(" nodes are available: ")?;
    let total = total.parse().ok()?;
    let filters = rest.split(". preemption:").next().unwrap_or(rest);
    let filters = filters.trim_end_matches('.');
    // Reasons are joined by ", "; a piece not starting with a count continues the previous
    // reason (the old taint wording has a comma of its own).
    let mut pieces: Vec<String> = Vec::new();
    for piece in filters.split(", ") {
        let counted = piece
            .split_once(' ')
            .is_some_and(|(n, _)| n.parse::<usize>().is_ok());
        match pieces.last_mut() {
            Some(last) if !counted => {
                last.push_str(", ");
                last.push_str(piece);
            }
            _ => pieces.push(piece.to_string()),
        }
    }
    let reasons = pieces
        .iter()
        .filter_map(|p| {
            let (n, text) = p.split_once(' ')?;
            Some((n.parse().ok()?, classify(text)))
        })
        .collect();
    Some(FitError { total, reasons })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mixed_message_reads_back_into_counted_reasons() {
        let m = "0/6 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, \
                 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, \
                 4 Insufficient nvidia.com/gpu. preemption: 0/6 nodes are available: 2 Preemption \
                 is not helpful for scheduling, 4 No preemption victims found for incoming pod.";
        let f = parse_fit_error(m).expect("parses");
        assert_eq!(f.total, 6);
        assert_eq!(
            f.reasons,
            vec![
                (1, Reason::NodeAffinity),
                (
                    1,
                    Reason::Taint {
                        key: Some("node-role.kubernetes.io/control-plane".into()),
                        value: Some(String::new())
                    }
                ),
                (4, Reason::Insufficient("nvidia.com/gpu".into())),
            ]
        );
        assert!(f.reasons[1].1.is_system_taint());
        assert_eq!(f.nodes(|r| matches!(r, Reason::Insufficient(_))), 4);
    }

    #[test]
    fn every_release_s_taint_wording_is_a_taint_and_other_reasons_classify() {
        assert_eq!(
            classify("node(s) had untolerated taint {nvidia.com/gpu: present}"),
            Reason::Taint {
                key: Some("nvidia.com/gpu".into()),
                value: Some("present".into())
            }
        );
        assert_eq!(
            classify("node(s) had untolerated taint(s)"),
            Reason::Taint {
                key: None,
                value: None
            }
        );
        let old = parse_fit_error("0/2 nodes are available: 2 node(s) had taint {dedicated: ml}, that the pod didn't tolerate.").expect("parses");
        assert_eq!(
            old.reasons,
            vec![(
                2,
                Reason::Taint {
                    key: Some("dedicated".into()),
                    value: Some("ml".into())
                }
            )]
        );
        assert_eq!(
            classify("node(s) didn't match pod anti-affinity rules"),
            Reason::AntiAffinity
        );
        assert_eq!(classify("node(s) were unschedulable"), Reason::Cordoned);
        let spread = parse_fit_error(
            "0/3 nodes are available: 2 node(s) didn't match pod topology spread constraints, \
             1 node(s) didn't match pod topology spread constraints (missing required label).",
        )
        .expect("parses");
        assert_eq!(
            spread.reasons,
            vec![
                (
                    2,
                    Reason::TopologySpread {
                        missing_label: false
                    }
                ),
                (
                    1,
                    Reason::TopologySpread {
                        missing_label: true
                    }
                ),
            ]
        );
        assert!(parse_fit_error("no nodes available to schedule pods").is_none());
    }
}
