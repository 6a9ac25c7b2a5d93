//! Resource paths: `/api/v1/...` and `/apis/{group}/{version}/...` to a target.

use crate::error::ApiError;
use crate::kinds::{self, ResourceType};

/// What a resource path addresses.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    /// A collection, in one namespace or (for namespaced types without one) all.
    Collection {
        rt: &'static ResourceType,
        namespace: Option<String>,
    },
    /// One object, maybe a subresource of it.
    Object {
        rt: &'static ResourceType,
        namespace: String,
        name: String,
        sub: Option<String>,
    },
    /// `/api/v1` or `/apis/{g}/{v}` itself: the legacy resource list.
    GroupVersion { group: String, version: String },
    /// `/apis/{g}`.
    Group(String),
}

/// The subresources any type may have; each handler checks its own.
const SUBRESOURCES: &[&str] = &[
    "status",
    "scale",
    "log",
    "binding",
    "finalize",
    "eviction",
    // Pod subresources: exec, attach and portforward have routes of their own (websockets);
    // ephemeralcontainers answers a Status saying the lab does not support it.
    "exec",
    "attach",
    "portforward",
    "ephemeralcontainers",
];

fn resource(group: &str, version: &str, plural: &str) -> Result<&'static ResourceType, ApiError> {
    kinds::find(group, version, plural).ok_or_else(ApiError::no_route)
}

/// Parses the path after `/api` or `/apis` (the leading segment says which).
pub fn parse(path: &str) -> Result<Target, ApiError> {
    let segs: Vec<&str> = path
        .trim_matches('/')
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", v, rest @ ..] => ("", *v, rest),
        ["apis", g] => return Ok(Target::Group((*g).to_string())),
        ["apis", g, v, rest @ ..] => (*g, *v, rest),
        _ => return Err(ApiError::no_route()),
    };
    let gv = || Target::GroupVersion {
        group: group.to_string(),
        version: version.to_string(),
    };
    if let Some(sub) = rest.last().filter(|_| rest.len() == 3 || rest.len() == 5) {
        let is_collection = rest.len() == 3
            && rest[0] == "namespaces"
            && kinds::find(group, version, sub).is_some_and(|r| r.namespaced);
        if !SUBRESOURCES.contains(sub) && !is_collection {
            return Err(ApiError::no_route());
        }
    }
    let obj = |rt: &'static ResourceType, ns: &str, name: &str, sub: Option<&str>| Target::Object {
        rt,
        namespace: ns.to_string(),
        name: name.to_string(),
        sub: sub.map(String::from),
    };
    let cluster_obj = |rt: &'static ResourceType, name: &str, sub: Option<&str>| {
        if rt.namespaced {
            Err(ApiError::no_route())
        } else {
            Ok(obj(rt, "", name, sub))
        }
    };
    match rest {
        [] => Ok(gv()),
        [res] => Ok(Target::Collection {
            rt: resource(group, version, res)?,
            namespace: None,
        }),
        // `/api/v1/namespaces/{ns}/{resource}...` for namespaced types.
        ["namespaces", ns, res, tail @ ..]
            if group.is_empty()
                && kinds::find(group, version, res).is_some_and(|r| r.namespaced)
                || !group.is_empty() =>
        {
            let rt = resource(group, version, res)?;
            if !rt.namespaced {
                return Err(ApiError::no_route());
            }
            match tail {
                [] => Ok(Target::Collection {
                    rt,
                    namespace: Some((*ns).to_string()),
                }),
                [name] => Ok(obj(rt, ns, name, None)),
                [name, sub] => Ok(obj(rt, ns, name, Some(sub))),
                _ => Err(ApiError::no_route()),
            }
        }
        [res, name] => cluster_obj(resource(group, version, res)?, name, None),
        [res, name, sub] => cluster_obj(resource(group, version, res)?, name, Some(sub)),
        _ => Err(ApiError::no_route()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt(g: &str, p: &str) -> &'static ResourceType {
        kinds::find(g, "v1", p).expect("served")
    }

    #[test]
    fn namespaced_collections_objects_and_subresources_parse() {
        assert_eq!(
            parse("/apis/apps/v1/namespaces/default/deployments").ok(),
            Some(Target::Collection {
                rt: rt("apps", "deployments"),
                namespace: Some("default".into())
            })
        );
        assert_eq!(
            parse("/apis/apps/v1/namespaces/default/deployments/web/scale").ok(),
            Some(Target::Object {
                rt: rt("apps", "deployments"),
                namespace: "default".into(),
                name: "web".into(),
                sub: Some("scale".into())
            })
        );
        assert_eq!(
            parse("/api/v1/namespaces/default/pods/p/log").ok(),
            Some(Target::Object {
                rt: rt("", "pods"),
                namespace: "default".into(),
                name: "p".into(),
                sub: Some("log".into())
            })
        );
    }

    #[test]
    fn namespaces_themselves_are_cluster_scoped_objects() {
        assert_eq!(
            parse("/api/v1/namespaces/default").ok(),
            Some(Target::Object {
                rt: rt("", "namespaces"),
                namespace: "".into(),
                name: "default".into(),
                sub: None
            })
        );
        assert_eq!(
            parse("/api/v1/namespaces/gone/status").ok(),
            Some(Target::Object {
                rt: rt("", "namespaces"),
                namespace: "".into(),
                name: "gone".into(),
                sub: Some("status".into())
            })
        );
    }

    #[test]
    fn all_namespace_lists_and_unknown_paths() {
        assert_eq!(
            parse("/api/v1/pods").ok(),
            Some(Target::Collection {
                rt: rt("", "pods"),
                namespace: None
            })
        );
        assert!(parse("/api/v1/namespaces/default/widgets").is_err());
        assert!(
            parse("/api/v1/pods/p").is_err(),
            "a namespaced object needs its namespace"
        );
        assert!(parse("/apis/apps/v2/deployments").is_err());
    }
}
