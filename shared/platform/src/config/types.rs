//! Validated value types for configuration: a value of these types is known to be well-formed, so
//! code that receives one never re-checks it.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer};

/// An Entra object id (tenant id, application id): a GUID in its hyphenated 8-4-4-4-12 form,
/// stored lower-case so comparisons with token claims (`tid`, `azp`, `appid`) are exact.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(String);

/// The example shown in error messages, so operators see the expected shape.
const GUID_EXAMPLE: &str = "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93";

impl Guid {
    /// The GUID as lower-case hyphenated text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a GUID; the message follows a config key ("tenant.id must be ...").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be a GUID like {GUID_EXAMPLE} (got {0:?})")]
pub struct InvalidGuid(String);

impl FromStr for Guid {
    type Err = InvalidGuid;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let groups: Vec<&str> = s.split('-').collect();
        let lengths = [8, 4, 4, 4, 12];
        let well_formed = groups.len() == lengths.len()
            && groups.iter().zip(lengths).all(|(group, len)| {
                group.len() == len && group.bytes().all(|b| b.is_ascii_hexdigit())
            });
        if well_formed {
            Ok(Guid(s.to_ascii_lowercase()))
        } else {
            Err(InvalidGuid(s.to_owned()))
        }
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for Guid {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// An External ID tenant subdomain (`contoso` in `contoso.ciamlogin.com`): one DNS label of
/// lower-case letters, digits and inner hyphens, so it can be placed into a host name safely.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TenantName(String);

impl TenantName {
    /// The subdomain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Why a string is not a tenant subdomain.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "must be the tenant subdomain (the `contoso` of contoso.ciamlogin.com): 1-63 lower-case letters, digits or inner hyphens (got {0:?})"
)]
pub struct InvalidTenantName(String);

impl FromStr for TenantName {
    type Err = InvalidTenantName;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let valid = (1..=63).contains(&s.len())
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
            && !s.starts_with('-')
            && !s.ends_with('-');
        if valid {
            Ok(TenantName(s.to_owned()))
        } else {
            Err(InvalidTenantName(s.to_owned()))
        }
    }
}

impl fmt::Display for TenantName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for TenantName {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

/// A URL we will send credentials or trust responses from: `https`, or plain `http` only to a
/// loopback host (the local sandbox and moto), never to anything on the network.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct HttpUrl(url::Url);

impl HttpUrl {
    /// The parsed URL.
    pub fn url(&self) -> &url::Url {
        &self.0
    }

    /// The URL as text.
    pub fn as_str(&self) -> &str {
        self.0.as_str()
    }

    /// The URL as text without a trailing `/`, for joining paths (`{base}/users`).
    pub fn trimmed(&self) -> &str {
        self.0.as_str().trim_end_matches('/')
    }
}

/// Why a string is not an acceptable URL.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("must be an https:// URL (http:// only for localhost or 127.0.0.1) (got {0:?})")]
pub struct InvalidHttpUrl(String);

impl FromStr for HttpUrl {
    type Err = InvalidHttpUrl;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let url = url::Url::parse(s).map_err(|_| InvalidHttpUrl(s.to_owned()))?;
        let loopback = match url.host() {
            Some(url::Host::Domain(domain)) => domain.eq_ignore_ascii_case("localhost"),
            Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
            Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
            None => false,
        };
        let acceptable = url.host().is_some()
            && url.username().is_empty()
            && url.password().is_none()
            && (url.scheme() == "https" || (url.scheme() == "http" && loopback));
        if acceptable {
            Ok(HttpUrl(url))
        } else {
            Err(InvalidHttpUrl(s.to_owned()))
        }
    }
}

impl fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.as_str())
    }
}

impl<'de> Deserialize<'de> for HttpUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        raw.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_must_be_hyphenated_hex_and_are_lowercased() {
        let guid: Guid = "4F2E7A8C-6B1D-4E3A-9C5F-2D8B7A1E0C93".parse().unwrap();
        assert_eq!(guid.as_str(), "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93");
        for bad in [
            "",
            "4f2e7a8c6b1d4e3a9c5f2d8b7a1e0c93",
            "{4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c93}",
            "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c9",
            "4f2e7a8c-6b1d-4e3a-9c5f-2d8b7a1e0c9g",
            "4f2e7a8c-6b1d-4e3a-9c5f2-d8b7a1e0c93",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn tenant_names_are_single_dns_labels() {
        assert!("contoso".parse::<TenantName>().is_ok());
        assert!("entra-hooks-demo1".parse::<TenantName>().is_ok());
        for bad in ["", "Contoso", "-a", "a-", "a.b", "a/b", &"a".repeat(64)] {
            assert!(bad.parse::<TenantName>().is_err(), "{bad:?} accepted");
        }
    }

    #[test]
    fn http_is_only_for_loopback() {
        assert!(
            "https://graph.microsoft.com/v1.0"
                .parse::<HttpUrl>()
                .is_ok()
        );
        assert!("http://127.0.0.1:8080/x".parse::<HttpUrl>().is_ok());
        assert!("http://localhost:8080".parse::<HttpUrl>().is_ok());
        assert!("http://[::1]:8080".parse::<HttpUrl>().is_ok());
        for bad in [
            "http://graph.microsoft.com",
            "ftp://127.0.0.1",
            "not a url",
            "https://user:pw@example.com",
            "file:///etc/passwd",
        ] {
            assert!(bad.parse::<HttpUrl>().is_err(), "{bad:?} accepted");
        }
    }
}
