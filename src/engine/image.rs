//! Image references, checked against the grammar container runtimes parse them with (the
//! distribution reference grammar): a reference a runtime would refuse is refused here,
//! before it is rolled out, fails to pull on every new pod and is rolled back.
//!
//! ```text
//! reference  := name [ ":" tag ] [ "@" digest ]
//! name       := [ domain "/" ] path            at most 255 characters in all
//! domain     := host [ ":" port ]              host: DNS components or [IPv6]
//! path       := component ( "/" component )*  component: [a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*
//! tag        := [A-Za-z0-9_] [A-Za-z0-9_.-]{0,127}
//! digest     := "sha256:" 64 hex | "sha384:" 96 hex | "sha512:" 128 hex   (lower-case)
//! ```

use crate::text::shown;

/// The longest name (registry host and repository path) the grammar allows.
pub const NAME_MAX: usize = 255;
/// The longest tag the grammar allows.
pub const TAG_MAX: usize = 128;

/// Validates an image reference as the container runtime would parse it; the error says
/// what is wrong, quoting the reference (escaped and cut if long).
pub fn validate_image(image: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("invalid image reference {}: {why}", shown(image)));
    if image.is_empty() {
        return bad("it is empty");
    }
    if image.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return bad("it contains whitespace or control characters");
    }
    let (rest, digest) = match image.split_once('@') {
        Some((r, d)) => (r, Some(d)),
        None => (image, None),
    };
    if let Some(d) = digest
        && !digest_ok(d)
    {
        return bad(
            "the digest must be sha256:, sha384: or sha512: followed by 64, 96 or 128 lower-case hex digits",
        );
    }
    let last_slash = rest.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match rest[last_slash..].rfind(':') {
        Some(i) => (&rest[..last_slash + i], Some(&rest[last_slash + i + 1..])),
        None => (rest, None),
    };
    if let Some(tag) = tag
        && !tag_ok(tag)
    {
        return bad(
            "the tag may only contain letters, digits, '_', '.' and '-' (at most 128, not starting with '.' or '-')",
        );
    }
    if name.is_empty() {
        return bad("the repository name is empty");
    }
    if name.len() > NAME_MAX {
        return bad("the name (registry and repository) is longer than 255 characters");
    }
    let mut parts: Vec<&str> = name.split('/').collect();
    // The first of several components is a registry host when it has a '.' or a ':', is
    // `localhost`, or has upper-case letters (as the runtimes split it).
    if parts.len() > 1 && is_domain_like(parts[0]) {
        if !domain_ok(parts[0]) {
            return bad("the registry host is not a valid host[:port]");
        }
        parts.remove(0);
    }
    if !parts.iter().all(|p| component_ok(p)) {
        return bad(
            "repository names are lower-case letters and digits, separated by '/', '.', '_', '__' or dashes",
        );
    }
    Ok(())
}

fn is_domain_like(first: &str) -> bool {
    first.contains('.')
        || first.contains(':')
        || first == "localhost"
        || first.chars().any(|c| c.is_ascii_uppercase())
}

fn digest_ok(d: &str) -> bool {
    let Some((algorithm, hex)) = d.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len
        && hex
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn tag_ok(tag: &str) -> bool {
    tag.len() <= TAG_MAX
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// `host[:port]`: DNS components (letters, digits, inner dashes) joined by dots, or an
/// IPv6 address in brackets.
fn domain_ok(domain: &str) -> bool {
    let (host, port) = if let Some(v6) = domain.strip_prefix('[') {
        let Some((addr, after)) = v6.split_once(']') else {
            return false;
        };
        if addr.is_empty() || !addr.chars().all(|c| c.is_ascii_hexdigit() || c == ':') {
            return false;
        }
        match after {
            "" => return true,
            p => match p.strip_prefix(':') {
                Some(port) => ("", Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (domain, None),
        }
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()));
    let host_ok = domain.starts_with('[')
        || host.split('.').all(|c| {
            !c.is_empty()
                && c.chars().all(|x| x.is_ascii_alphanumeric() || x == '-')
                && !c.starts_with('-')
                && !c.ends_with('-')
        });
    port_ok && host_ok
}

/// `[a-z0-9]+ ( ( "." | "_" | "__" | "-"+ ) [a-z0-9]+ )*`
fn component_ok(p: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    if !p.starts_with(alnum) || !p.ends_with(alnum) {
        return false;
    }
    let mut separator = String::new();
    for c in p.chars() {
        if alnum(c) {
            let ok = separator.is_empty()
                || matches!(separator.as_str(), "." | "_" | "__")
                || separator.chars().all(|s| s == '-');
            if !ok {
                return false;
            }
            separator.clear();
        } else if matches!(c, '.' | '_' | '-') {
            separator.push(c);
        } else {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn valid_image_references_pass() {
        for ok in [
            "model:v2",
            "ghcr.io/acme/model:1.0.4",
            "localhost:5000/m:latest",
            "busybox",
            "a__b/c---d/e.f_g",
            "Registry.Example.com:443/team/app:v1",
            "[::1]:5000/app",
            "nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
            "nginx:1.27@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef",
        ] {
            assert_eq!(validate_image(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn references_a_runtime_refuses_are_refused() {
        for bad in [
            "",
            "Model:v2",
            "model:v2 ",
            "model:",
            "model::v2",
            "model:v2@sha256:xyz",
            "model@sha256:0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef",
            "model@md5:0123456789abcdef0123456789abcdef",
            "/model",
            "a..b",
            "a___b",
            "a/-b",
            "model:.hidden",
            "bad_host:5000x/app",
        ] {
            assert!(validate_image(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_name_over_255_characters_is_refused_and_quoted_short() {
        let long = format!("registry.example.com/{}:v1", "a".repeat(10 * 1024));
        let e = validate_image(&long).expect_err("too long");
        assert!(e.contains("longer than 255 characters"), "{e}");
        assert!(
            e.len() < 400,
            "the message cuts the echoed reference: {}",
            e.len()
        );
        let exactly = "a".repeat(NAME_MAX);
        assert_eq!(validate_image(&exactly), Ok(()));
        assert!(validate_image(&format!("{exactly}a")).is_err());
    }

    #[test]
    fn a_tag_over_128_characters_is_refused() {
        assert_eq!(
            validate_image(&format!("m:{}", "t".repeat(TAG_MAX))),
            Ok(())
        );
        assert!(validate_image(&format!("m:{}", "t".repeat(TAG_MAX + 1))).is_err());
    }
}
