//! The load generator's target URL, restricted to loopback.
//!
//! This machine must never send load anywhere else, so a [`Target`] can only
//! be built from an `http://` URL whose host is an IPv4 address in
//! 127.0.0.0/8 or `localhost`. `localhost` is connected to as 127.0.0.1
//! without asking a resolver, so `/etc/hosts` cannot redirect the load.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use hyper::Uri;

/// A validated loopback HTTP URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    original: String,
    connect_uri: Uri,
    host_header: String,
}

/// Why a URL cannot be a load target.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// The text is not an absolute URL.
    #[error("load target {url:?} is not a valid URL: {reason}")]
    Invalid { url: String, reason: String },
    /// Only plain HTTP is generated.
    #[error("load target {url:?} must use http://, not {scheme}://")]
    NotHttp { url: String, scheme: String },
    /// The host is not on this machine's loopback.
    #[error(
        "load target {url:?} is refused: host {host:?} is not in 127.0.0.0/8 or localhost; load is only ever sent to this machine"
    )]
    NotLoopback { url: String, host: String },
}

impl Target {
    /// Validates `url`; see the module documentation for what is accepted.
    pub fn parse(url: &str) -> Result<Target, TargetError> {
        let invalid = |reason: String| TargetError::Invalid {
            url: url.to_string(),
            reason,
        };
        let uri: Uri = url.parse().map_err(|e| invalid(format!("{e}")))?;
        let scheme = uri
            .scheme_str()
            .ok_or_else(|| invalid("it has no scheme (expected http://)".to_string()))?;
        if !scheme.eq_ignore_ascii_case("http") {
            return Err(TargetError::NotHttp {
                url: url.to_string(),
                scheme: scheme.to_string(),
            });
        }
        let authority = uri
            .authority()
            .ok_or_else(|| invalid("it has no host".to_string()))?;
        let host = authority.host();
        let ip = if host.eq_ignore_ascii_case("localhost") {
            Ipv4Addr::LOCALHOST
        } else {
            match host.parse::<Ipv4Addr>() {
                Ok(ip) if ip.is_loopback() => ip,
                _ => {
                    return Err(TargetError::NotLoopback {
                        url: url.to_string(),
                        host: host.to_string(),
                    });
                }
            }
        };
        let port = authority.port_u16().unwrap_or(80);
        let path = uri.path_and_query().map_or("/", |p| p.as_str());
        let connect_uri = Uri::builder()
            .scheme("http")
            .authority(format!("{ip}:{port}"))
            .path_and_query(path)
            .build()
            .map_err(|e| invalid(format!("{e}")))?;
        let host_header = match authority.port_u16() {
            Some(port) => format!("{host}:{port}"),
            None => host.to_string(),
        };
        Ok(Target {
            original: url.to_string(),
            connect_uri,
            host_header,
        })
    }

    /// The URL as given.
    pub fn as_str(&self) -> &str {
        &self.original
    }

    /// The URL with the host replaced by its loopback IP address.
    pub fn connect_uri(&self) -> &Uri {
        &self.connect_uri
    }

    /// The `Host` header to send (the host as the user wrote it).
    pub fn host_header(&self) -> &str {
        &self.host_header
    }
}

impl FromStr for Target {
    type Err = TargetError;

    fn from_str(url: &str) -> Result<Target, TargetError> {
        Target::parse(url)
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.original)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_addresses_are_accepted_as_given() {
        let target = Target::parse("http://127.1.0.7:8080/v1/models/classifier:predict").unwrap();
        assert_eq!(
            target.connect_uri().to_string(),
            "http://127.1.0.7:8080/v1/models/classifier:predict"
        );
        assert_eq!(target.host_header(), "127.1.0.7:8080");
    }

    #[test]
    fn localhost_is_connected_to_as_127_0_0_1_without_a_resolver() {
        let target = Target::parse("http://LocalHost:9000").unwrap();
        assert_eq!(target.connect_uri().to_string(), "http://127.0.0.1:9000/");
        assert_eq!(target.host_header(), "LocalHost:9000");
        let default_port = Target::parse("http://localhost/x?y=1").unwrap();
        assert_eq!(
            default_port.connect_uri().to_string(),
            "http://127.0.0.1:80/x?y=1"
        );
    }

    #[test]
    fn hosts_off_this_machine_are_refused() {
        for url in [
            "http://10.0.0.1:8080/",
            "http://example.com/",
            "http://localhost.example.com/",
            "http://127.0.0.1.nip.io/",
            "http://128.0.0.1/",
            "http://0.0.0.0:8080/",
            "http://[::1]:8080/",
            "http://127.1/",
            "http://2130706433/",
        ] {
            match Target::parse(url) {
                Err(TargetError::NotLoopback { .. }) => {}
                other => panic!("{url} gave {other:?}"),
            }
        }
    }

    #[test]
    fn other_schemes_and_relative_urls_are_refused() {
        assert!(matches!(
            Target::parse("https://127.0.0.1/"),
            Err(TargetError::NotHttp { .. })
        ));
        assert!(matches!(
            Target::parse("/v1/models/x"),
            Err(TargetError::Invalid { .. })
        ));
        assert!(matches!(
            Target::parse("not a url"),
            Err(TargetError::Invalid { .. })
        ));
    }

    #[test]
    fn the_refusal_explains_the_loopback_rule() {
        let err = Target::parse("http://example.com/").unwrap_err();
        assert!(
            err.to_string().contains("127.0.0.0/8 or localhost"),
            "{err}"
        );
    }
}
