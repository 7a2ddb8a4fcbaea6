//! Comparison of secrets without a timing side channel.
//!
//! Graph change notifications echo our `clientState` secret and webhooks carry shared secrets; an
//! early-exit `==` would let a caller learn them byte by byte from response times.

use subtle::ConstantTimeEq;

/// True when `a` and `b` are equal, in time that depends only on their lengths (never on where
/// they differ). Lengths are not secret: they are public in our protocols.
pub fn secure_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::secure_eq;

    #[test]
    fn equal_only_when_bytes_and_lengths_match() {
        assert!(secure_eq(b"client-state", b"client-state"));
        assert!(secure_eq(b"", b""));
        assert!(!secure_eq(b"client-state", b"client-statf"));
        assert!(!secure_eq(b"client-state", b"client-stat"));
        assert!(!secure_eq(b"", b"x"));
    }
}
