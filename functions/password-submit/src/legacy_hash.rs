//! Password hashes as legacy identity systems store them, checked against the password a user
//! just typed in Entra.
//!
//! Supported encodings (the ones exports from common legacy systems use):
//! - bcrypt modular crypt: `$2a$`, `$2b$`, `$2y$` + two-digit cost + 53 characters
//!   (OpenBSD / crypt_blowfish; passwords beyond 72 bytes are truncated as those systems did);
//! - Argon2 PHC strings: `$argon2id$`, `$argon2i$`, `$argon2d$` (argon2 reference encoding);
//! - PBKDF2 PHC-style: `$pbkdf2-sha256$`, `$pbkdf2-sha512$`, `$pbkdf2-sha1$` and passlib's
//!   `$pbkdf2$` (SHA-1), with either `i=<iterations>[,l=<length>]` (RustCrypto) or a bare
//!   iteration count (passlib), salt and hash in standard or passlib ("`.`" for "`+`") base64;
//! - Django's `pbkdf2_sha256$<iterations>$<salt>$<base64 hash>` (and `pbkdf2_sha1`), whose salt
//!   is used as text.
//!
//! Every hash is parsed when the store is loaded, so a malformed or absurdly expensive entry is a
//! start-up error naming its line, not a surprise inside Entra's timeout. Cost ceilings bound the
//! CPU and memory one verification may take ([`MAX_BCRYPT_COST`], [`MAX_ARGON2_MEMORY_KIB`], ...).

use std::fmt;
use std::num::NonZeroU32;

use argon2::password_hash::phc::PasswordHash;
use argon2::{Argon2, PasswordVerifier as _};
use aws_lc_rs::pbkdf2;
use base64::Engine as _;
use base64::alphabet;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};

/// Highest bcrypt cost accepted (2^16 rounds, seconds of CPU); legacy systems use 10 to 13.
pub const MAX_BCRYPT_COST: u32 = 16;
/// Highest Argon2 memory cost accepted, in KiB (256 MiB, within a small Lambda's memory).
pub const MAX_ARGON2_MEMORY_KIB: u32 = 256 * 1024;
/// Highest Argon2 time cost (passes) accepted.
pub const MAX_ARGON2_TIME_COST: u32 = 64;
/// Highest Argon2 parallelism accepted.
pub const MAX_ARGON2_LANES: u32 = 16;
/// Highest PBKDF2 iteration count accepted (ten times OWASP's 2023 SHA-256 advice).
pub const MAX_PBKDF2_ITERATIONS: u32 = 6_000_000;
/// Longest PBKDF2 derived key and salt accepted, in bytes.
const MAX_PBKDF2_BYTES: usize = 512;

/// Standard base64 alphabet, padding optional, lenient trailing bits (the encodings in the wild).
const LENIENT_B64: GeneralPurpose = GeneralPurpose::new(
    &alphabet::STANDARD,
    GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true),
);

/// Why a stored hash cannot be used. Messages never include the hash itself.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HashFormatError {
    #[error(
        "unknown hash format; use bcrypt ($2b$...), Argon2 ($argon2id$...) or PBKDF2 ($pbkdf2-sha256$...)"
    )]
    UnknownScheme,
    #[error("{scheme} is not supported: {why}")]
    Unsupported {
        scheme: &'static str,
        why: &'static str,
    },
    #[error("malformed {scheme} hash: {why}")]
    Malformed { scheme: &'static str, why: String },
    #[error("{scheme} cost {value} is above the limit of {limit}; rehash with a lower cost")]
    TooExpensive {
        scheme: &'static str,
        value: u64,
        limit: u64,
    },
}

/// The PRF of a PBKDF2 hash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pbkdf2Prf {
    Sha1,
    Sha256,
    Sha512,
}

impl Pbkdf2Prf {
    fn algorithm(self) -> pbkdf2::Algorithm {
        match self {
            Pbkdf2Prf::Sha1 => pbkdf2::PBKDF2_HMAC_SHA1,
            Pbkdf2Prf::Sha256 => pbkdf2::PBKDF2_HMAC_SHA256,
            Pbkdf2Prf::Sha512 => pbkdf2::PBKDF2_HMAC_SHA512,
        }
    }

    fn scheme(self) -> &'static str {
        match self {
            Pbkdf2Prf::Sha1 => "pbkdf2-sha1",
            Pbkdf2Prf::Sha256 => "pbkdf2-sha256",
            Pbkdf2Prf::Sha512 => "pbkdf2-sha512",
        }
    }
}

/// A parsed legacy password hash. `Debug` names the scheme only: a hash is an offline-cracking
/// target and does not belong in logs.
#[derive(Clone, PartialEq, Eq)]
pub enum LegacyHash {
    /// A bcrypt modular crypt string, checked by the `bcrypt` crate.
    Bcrypt(String),
    /// An Argon2 PHC string, checked by the `argon2` crate (parameters from the string).
    Argon2 {
        variant: &'static str,
        encoded: String,
    },
    /// PBKDF2-HMAC, checked by aws-lc-rs in constant time.
    Pbkdf2 {
        prf: Pbkdf2Prf,
        iterations: NonZeroU32,
        salt: Vec<u8>,
        derived: Vec<u8>,
    },
}

impl fmt::Debug for LegacyHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LegacyHash({})", self.scheme())
    }
}

impl LegacyHash {
    /// Parses and bounds-checks an encoded hash (leading and trailing spaces ignored).
    pub fn parse(encoded: &str) -> Result<Self, HashFormatError> {
        let encoded = encoded.trim();
        if let Some(rest) = encoded.strip_prefix("$2") {
            return parse_bcrypt(encoded, rest);
        }
        for variant in ["argon2id", "argon2i", "argon2d"] {
            if encoded
                .strip_prefix('$')
                .and_then(|s| s.strip_prefix(variant))
                .is_some_and(|s| s.starts_with('$'))
            {
                return parse_argon2(variant, encoded);
            }
        }
        if let Some(rest) = encoded.strip_prefix("$pbkdf2") {
            let (prf, rest) = if let Some(rest) = rest.strip_prefix("-sha256$") {
                (Pbkdf2Prf::Sha256, rest)
            } else if let Some(rest) = rest.strip_prefix("-sha512$") {
                (Pbkdf2Prf::Sha512, rest)
            } else if let Some(rest) = rest.strip_prefix("-sha1$") {
                (Pbkdf2Prf::Sha1, rest)
            } else if let Some(rest) = rest.strip_prefix('$') {
                (Pbkdf2Prf::Sha1, rest)
            } else {
                return Err(HashFormatError::Unsupported {
                    scheme: "pbkdf2",
                    why: "only pbkdf2-sha1, pbkdf2-sha256 and pbkdf2-sha512 are supported",
                });
            };
            return parse_pbkdf2_phc(prf, rest);
        }
        if let Some(rest) = encoded.strip_prefix("pbkdf2_sha256$") {
            return parse_pbkdf2_django(Pbkdf2Prf::Sha256, rest);
        }
        if let Some(rest) = encoded.strip_prefix("pbkdf2_sha1$") {
            return parse_pbkdf2_django(Pbkdf2Prf::Sha1, rest);
        }
        Err(HashFormatError::UnknownScheme)
    }

    /// The scheme's name, for logs and errors (`bcrypt`, `argon2id`, `pbkdf2-sha256`, ...).
    pub fn scheme(&self) -> &'static str {
        match self {
            LegacyHash::Bcrypt(_) => "bcrypt",
            LegacyHash::Argon2 { variant, .. } => variant,
            LegacyHash::Pbkdf2 { prf, .. } => prf.scheme(),
        }
    }

    /// Whether `password` is the one this hash was made from. CPU-bound by design (up to the
    /// cost ceilings): call it on a blocking thread. Comparison is constant-time in every scheme.
    pub fn verify(&self, password: &[u8]) -> bool {
        match self {
            LegacyHash::Bcrypt(encoded) => bcrypt::verify(password, encoded).unwrap_or(false),
            LegacyHash::Argon2 { encoded, .. } => PasswordHash::new(encoded)
                .ok()
                .is_some_and(|hash| Argon2::default().verify_password(password, &hash).is_ok()),
            LegacyHash::Pbkdf2 {
                prf,
                iterations,
                salt,
                derived,
            } => pbkdf2::verify(prf.algorithm(), *iterations, salt, password, derived).is_ok(),
        }
    }
}

fn parse_bcrypt(encoded: &str, rest: &str) -> Result<LegacyHash, HashFormatError> {
    const SCHEME: &str = "bcrypt";
    let malformed = |why: &str| HashFormatError::Malformed {
        scheme: SCHEME,
        why: why.to_owned(),
    };
    let (version, rest) = rest.split_once('$').ok_or_else(|| malformed("no cost"))?;
    match version {
        "a" | "b" | "y" => {}
        "x" => {
            return Err(HashFormatError::Unsupported {
                scheme: "bcrypt $2x$",
                why: "it marks hashes made by the crypt_blowfish sign-extension bug; they cannot be checked reliably",
            });
        }
        _ => return Err(malformed("the version must be 2a, 2b or 2y")),
    }
    let (cost, digest) = rest.split_once('$').ok_or_else(|| malformed("no salt"))?;
    if cost.len() != 2 || !cost.bytes().all(|b| b.is_ascii_digit()) {
        return Err(malformed("the cost must be two digits"));
    }
    let cost: u32 = cost
        .parse()
        .map_err(|_| malformed("the cost must be two digits"))?;
    if !(4..=31).contains(&cost) {
        return Err(malformed("the cost must be between 04 and 31"));
    }
    if cost > MAX_BCRYPT_COST {
        return Err(HashFormatError::TooExpensive {
            scheme: SCHEME,
            value: u64::from(cost),
            limit: u64::from(MAX_BCRYPT_COST),
        });
    }
    let alphabet_ok = digest
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'/');
    if digest.len() != 53 || !alphabet_ok {
        return Err(malformed(
            "salt and hash must be 53 characters of the bcrypt alphabet",
        ));
    }
    Ok(LegacyHash::Bcrypt(encoded.to_owned()))
}

fn parse_argon2(variant: &'static str, encoded: &str) -> Result<LegacyHash, HashFormatError> {
    let malformed = |why: String| HashFormatError::Malformed {
        scheme: variant,
        why,
    };
    let hash = PasswordHash::new(encoded).map_err(|e| malformed(e.to_string()))?;
    if hash.salt.is_none() || hash.hash.is_none() {
        return Err(malformed("salt or hash missing".into()));
    }
    let params = argon2::Params::try_from(&hash).map_err(|e| malformed(e.to_string()))?;
    for (value, limit) in [
        (params.m_cost(), MAX_ARGON2_MEMORY_KIB),
        (params.t_cost(), MAX_ARGON2_TIME_COST),
        (params.p_cost(), MAX_ARGON2_LANES),
    ] {
        if value > limit {
            return Err(HashFormatError::TooExpensive {
                scheme: variant,
                value: u64::from(value),
                limit: u64::from(limit),
            });
        }
    }
    Ok(LegacyHash::Argon2 {
        variant,
        encoded: encoded.to_owned(),
    })
}

/// `<params>$<salt>$<hash>` after `$pbkdf2-<prf>$`.
fn parse_pbkdf2_phc(prf: Pbkdf2Prf, rest: &str) -> Result<LegacyHash, HashFormatError> {
    let scheme = prf.scheme();
    let malformed = |why: &str| HashFormatError::Malformed {
        scheme,
        why: why.to_owned(),
    };
    let mut fields = rest.split('$');
    let (Some(params), Some(salt), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("expected <iterations>$<salt>$<hash>"));
    };
    let mut iterations = None;
    let mut length = None;
    if params.bytes().all(|b| b.is_ascii_digit()) {
        iterations = Some(params);
    } else {
        for param in params.split(',') {
            match param.split_once('=') {
                Some(("i", value)) => iterations = Some(value),
                Some(("l", value)) => length = Some(value),
                _ => return Err(malformed("parameters must be i=<iterations>[,l=<length>]")),
            }
        }
    }
    let iterations = iterations.ok_or_else(|| malformed("no iteration count"))?;
    let iterations = parse_iterations(scheme, iterations)?;
    // passlib's "adapted base64" writes '.' for '+'.
    let decode = |field: &str, what: &str| {
        LENIENT_B64
            .decode(field.replace('.', "+"))
            .map_err(|_| malformed(&format!("the {what} is not base64")))
    };
    let salt = decode(salt, "salt")?;
    let derived = decode(hash, "hash")?;
    if let Some(length) = length
        && length.parse::<usize>().ok() != Some(derived.len())
    {
        return Err(malformed("l= does not match the hash length"));
    }
    pbkdf2_hash(prf, iterations, salt, derived)
}

/// Django: `<iterations>$<salt text>$<base64 hash>` after `pbkdf2_<prf>$`.
fn parse_pbkdf2_django(prf: Pbkdf2Prf, rest: &str) -> Result<LegacyHash, HashFormatError> {
    let scheme = prf.scheme();
    let malformed = |why: &str| HashFormatError::Malformed {
        scheme,
        why: why.to_owned(),
    };
    let mut fields = rest.split('$');
    let (Some(iterations), Some(salt), Some(hash), None) =
        (fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(malformed("expected <iterations>$<salt>$<hash>"));
    };
    let iterations = parse_iterations(scheme, iterations)?;
    let derived = LENIENT_B64
        .decode(hash)
        .map_err(|_| malformed("the hash is not base64"))?;
    pbkdf2_hash(prf, iterations, salt.as_bytes().to_vec(), derived)
}

fn parse_iterations(scheme: &'static str, text: &str) -> Result<NonZeroU32, HashFormatError> {
    let iterations: u32 = text.parse().map_err(|_| HashFormatError::Malformed {
        scheme,
        why: "the iteration count is not a number".into(),
    })?;
    if iterations > MAX_PBKDF2_ITERATIONS {
        return Err(HashFormatError::TooExpensive {
            scheme,
            value: u64::from(iterations),
            limit: u64::from(MAX_PBKDF2_ITERATIONS),
        });
    }
    NonZeroU32::new(iterations).ok_or(HashFormatError::Malformed {
        scheme,
        why: "the iteration count is zero".into(),
    })
}

fn pbkdf2_hash(
    prf: Pbkdf2Prf,
    iterations: NonZeroU32,
    salt: Vec<u8>,
    derived: Vec<u8>,
) -> Result<LegacyHash, HashFormatError> {
    let scheme = prf.scheme();
    if derived.len() < 8 || derived.len() > MAX_PBKDF2_BYTES {
        return Err(HashFormatError::Malformed {
            scheme,
            why: format!("the hash must be 8 to {MAX_PBKDF2_BYTES} bytes"),
        });
    }
    if salt.len() > MAX_PBKDF2_BYTES {
        return Err(HashFormatError::Malformed {
            scheme,
            why: format!("the salt is longer than {MAX_PBKDF2_BYTES} bytes"),
        });
    }
    Ok(LegacyHash::Pbkdf2 {
        prf,
        iterations,
        salt,
        derived,
    })
}

#[cfg(test)]
mod tests {
    use argon2::password_hash::PasswordHasher as _;

    use super::*;

    const PASSWORD: &[u8] = b"correct horse battery staple";

    /// Hashes computed by Python's hashlib (an independent PBKDF2), in each encoding.
    const PBKDF2_VECTORS: [&str; 6] = [
        // passlib pbkdf2_sha256 (adapted base64 with '.' for '+')
        "$pbkdf2-sha256$29000$.//.AAECAwQFBgcICQoLDA$zRXPum2lyQyQ5GeFsaHGx0xObAa9aMeR.v3YOtxY1qY",
        "$pbkdf2-sha256$29000$AQIDBAUGBwgJCgsMDQ4PEA$iRBkQ1El5j2Ll8eLrDcBT5JZZOmzYlGHf7YryTIcZ7Y",
        // passlib pbkdf2_sha512 and pbkdf2 (SHA-1)
        "$pbkdf2-sha512$25000$AQIDBAUGBwgJCgsMDQ4PEA$i9upswO8grD3mbcMuNBnLYioF5mgJhWFgGADX/zAHGpXQCOm/2HEPV9NTejn0Qqj5lSxwgPaxR44SwsoIdhwTg",
        "$pbkdf2$131000$AQIDBAUGBwgJCgsMDQ4PEA$SqsxhZojqWg7cT0UEq2DWD31DAE",
        // RustCrypto PHC form
        "$pbkdf2-sha256$i=10000,l=32$+//+AAECAwQFBgcICQoLDA$YfPIxwvKgejBHHBWl15nTklYugnGEAft1WVNDKsm6KE",
        // Django
        "pbkdf2_sha256$20000$seasalt2024$/FGD0fHP58H2js1zdmTHujCdYqKXzSrg6N/xblOuviA=",
    ];

    #[test]
    fn pbkdf2_hashes_from_other_implementations_verify() {
        for encoded in PBKDF2_VECTORS {
            let hash = LegacyHash::parse(encoded).unwrap();
            assert!(hash.verify(PASSWORD), "{encoded}");
            assert!(!hash.verify(b"correct horse battery stapler"), "{encoded}");
            assert!(!hash.verify(b""), "{encoded}");
        }
        assert_eq!(
            LegacyHash::parse(PBKDF2_VECTORS[2]).unwrap().scheme(),
            "pbkdf2-sha512"
        );
        assert_eq!(
            LegacyHash::parse(PBKDF2_VECTORS[3]).unwrap().scheme(),
            "pbkdf2-sha1"
        );
    }

    /// OpenBSD / crypt_blowfish test vector.
    #[test]
    fn bcrypt_reference_vector_and_fresh_hashes_verify() {
        let reference =
            LegacyHash::parse("$2a$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW")
                .unwrap();
        assert!(reference.verify(b"U*U"));
        assert!(!reference.verify(b"U*V"));
        for prefix in ["$2a$", "$2b$", "$2y$"] {
            let fresh = bcrypt::hash(PASSWORD, 4)
                .unwrap()
                .replacen("$2b$", prefix, 1);
            let hash = LegacyHash::parse(&fresh).unwrap();
            assert_eq!(hash.scheme(), "bcrypt");
            assert!(hash.verify(PASSWORD), "{prefix}");
            assert!(!hash.verify(b"wrong"), "{prefix}");
        }
    }

    #[test]
    fn argon2_variants_verify_with_their_own_parameters() {
        for algorithm in [
            argon2::Algorithm::Argon2id,
            argon2::Algorithm::Argon2i,
            argon2::Algorithm::Argon2d,
        ] {
            let params = argon2::Params::new(256, 1, 1, None).unwrap();
            let hasher = Argon2::new(algorithm, argon2::Version::V0x13, params);
            let encoded = hasher.hash_password(PASSWORD).unwrap().to_string();
            let hash = LegacyHash::parse(&encoded).unwrap();
            assert_eq!(hash.scheme(), algorithm.ident().as_str());
            assert!(hash.verify(PASSWORD));
            assert!(!hash.verify(b"wrong"));
        }
    }

    #[test]
    fn malformed_and_unsupported_hashes_are_refused() {
        let cases = [
            ("plaintext-password", "unknown hash format"),
            ("{SSHA}abcdef", "unknown hash format"),
            (
                "$2x$05$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "sign-extension",
            ),
            (
                "$2b$5$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "two digits",
            ),
            ("$2b$05$short", "53 characters"),
            (
                "$2b$20$CCCCCCCCCCCCCCCCCCCCC.E5YPO9kmyuRGyh0XouQYb4YMJKvyOeW",
                "above the limit",
            ),
            (
                "$argon2id$v=19$m=1048576,t=2,p=1$c29tZXNhbHQ$CTFhFdXPJO1aFaMaO6Mm5c8y7cJHAph8ArZWb2GRPPc",
                "above the limit",
            ),
            (
                "$argon2id$v=19$m=65536,t=2,p=1$c29tZXNhbHQ",
                "salt or hash missing",
            ),
            ("$argon2id$garbage", "malformed argon2id"),
            ("$pbkdf2-md5$1000$AQID$AQIDBAUGBwg", "not supported"),
            ("$pbkdf2-sha256$0$AQID$AQIDBAUGBwg", "zero"),
            (
                "$pbkdf2-sha256$99999999$AQID$AQIDBAUGBwg",
                "above the limit",
            ),
            ("$pbkdf2-sha256$1000$AQID", "expected"),
            ("$pbkdf2-sha256$1000$AQID$!!!!", "not base64"),
            (
                "$pbkdf2-sha256$i=1000,l=31$AQID$AQIDBAUGBwgJCgsMDQ4PEA",
                "l= does not match",
            ),
            (
                "$pbkdf2-sha256$i=1000,r=8$AQID$AQIDBAUGBwg",
                "parameters must be",
            ),
            ("$pbkdf2-sha256$1000$AQID$AQID", "8 to 512 bytes"),
        ];
        for (encoded, expected) in cases {
            let err = LegacyHash::parse(encoded).unwrap_err().to_string();
            assert!(err.contains(expected), "{encoded}: {err}");
            assert!(!err.contains("CCCCCCCC"), "{err}");
        }
    }

    #[test]
    fn debug_shows_the_scheme_only() {
        let hash = LegacyHash::parse(PBKDF2_VECTORS[1]).unwrap();
        assert_eq!(format!("{hash:?}"), "LegacyHash(pbkdf2-sha256)");
    }
}
