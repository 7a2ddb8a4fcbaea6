//! Rich-notification decryption (docs/protocols/change-notifications.md B.4).
