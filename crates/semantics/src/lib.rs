//! Pure Kubernetes rollout semantics: no I/O, shared by the `rollout` CLI and the lab cluster.
pub mod selector {
    //! TEMPORARY placeholder.
    use std::collections::BTreeMap;
    #[derive(Debug, Clone)]
    pub struct LabelSelector(Vec<(String, String)>);
    #[derive(Debug, Clone)]
    pub struct FieldSelector(Vec<(String, String)>);
    fn pairs(s: &str) -> Result<Vec<(String, String)>, String> {
        s.split(',')
            .map(|p| {
                p.split_once('=')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| p.to_string())
            })
            .collect()
    }
    impl LabelSelector {
        pub fn parse(s: &str) -> Result<Self, String> {
            pairs(s).map(Self)
        }
        pub fn matches(&self, l: &BTreeMap<String, String>) -> bool {
            self.0.iter().all(|(k, v)| l.get(k) == Some(v))
        }
    }
    impl FieldSelector {
        pub fn parse(s: &str) -> Result<Self, String> {
            pairs(s).map(Self)
        }
        pub fn fields(&self) -> impl Iterator<Item = &str> {
            self.0.iter().map(|(k, _)| k.as_str())
        }
        pub fn matches(&self, get: impl Fn(&str) -> Option<String>) -> bool {
            self.0.iter().all(|(k, v)| get(k).as_deref() == Some(v))
        }
    }
}
