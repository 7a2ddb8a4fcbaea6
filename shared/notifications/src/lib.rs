//! Microsoft Graph change notifications, receiver side (docs/protocols/change-notifications.md).
//!
//! - [`handshake`]: the validation handshake Graph performs on both notification URLs.
//! - [`wire`]: the `changeNotificationCollection` Graph POSTs, read leniently.
//! - [`decrypt`]: rich-notification decryption (RSA-OAEP-SHA1 key unwrap, HMAC-SHA256 check in
//!   constant time, AES-256-CBC), with several keys live at once for rotation.
//! - [`event`]: the directory change events our queue carries, whichever source produced them
//!   (Graph's webhooks in workforce tenants, the directory poller in External ID tenants).

pub mod config;
pub mod decrypt;
pub mod event;
pub mod handshake;
pub mod wire;
