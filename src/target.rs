//! Naming a Deployment as kubectl does: `NAME`, `deploy/NAME`, `deployment/NAME`,
//! `deployments/NAME`, `deployment.apps/NAME`.

use crate::error::CliError;
use crate::text::shown;

/// The Deployment name in a target argument.
pub fn deployment_name(arg: &str) -> Result<String, CliError> {
    let (kind, name) = match arg.split_once('/') {
        Some((k, n)) => (Some(k), n),
        None => (None, arg),
    };
    if let Some(kind) = kind
        && !matches!(
            kind,
            "deploy" | "deployment" | "deployments" | "deployment.apps" | "deployments.apps"
        )
    {
        return Err(CliError::usage(
            format!(
                "{} is not a Deployment: rollout acts on Deployments",
                shown(kind)
            ),
            Some("name one as NAME, deploy/NAME or deployment.apps/NAME".to_string()),
        ));
    }
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(CliError::usage(
            format!("{} is not a valid Deployment name", shown(name)),
            Some("names are lower-case letters, digits, '-' and '.', starting and ending with a letter or digit".to_string()),
        ));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kubectl_spelling_names_the_deployment() {
        for arg in [
            "web",
            "deploy/web",
            "deployment/web",
            "deployments/web",
            "deployment.apps/web",
        ] {
            assert_eq!(deployment_name(arg).ok().as_deref(), Some("web"), "{arg}");
        }
    }

    #[test]
    fn other_kinds_and_bad_names_are_usage_errors() {
        assert!(deployment_name("svc/web").is_err());
        assert!(deployment_name("Web").is_err());
        assert!(deployment_name("deploy/").is_err());
        assert!(deployment_name("-web").is_err());
    }
}
