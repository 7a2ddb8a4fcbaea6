//! The one structured line each function writes per callout. Every line about a callout starts
//! with the same identity fields, so an operator can follow one sign-in across the five functions
//! and Entra's own sign-in logs (which show the correlation id):
//!
//! - `event`: the event's short name (`tokenIssuanceStart`, ...);
//! - `tenant`: `data.tenantId`, already bound to the token's `tid`;
//! - `correlation_id`: `data.authenticationContext.correlationId`;
//! - `client_app`: the app id of the application being signed in to, `-` when Entra sent none.
//!
//! The function adds what it decided: by convention `action`, `fallback` and `latency_ms` on the
//! `answered callout` line, then its own fields (never a secret, a code or a password).

use crate::Callout;

#[doc(hidden)]
pub use tracing as __tracing;

/// The `client_app` field: the client application's app id, or `-` when the callout has none.
pub fn client_app(callout: &Callout) -> &str {
    callout
        .context
        .client_service_principal
        .as_ref()
        .and_then(|sp| sp.app_id.as_deref())
        .unwrap_or("-")
}

/// Logs one line about `callout` at `level` (`INFO`, `WARN`, `ERROR`, ...): the identity fields
/// the module describes, then the given fields and message, exactly as `tracing::event!` takes
/// them.
///
/// ```ignore
/// entra_extensions::callout_event!(
///     INFO,
///     request.callout,
///     action = decision.action_name(),
///     fallback = decision.fallback,
///     latency_ms = started.elapsed().as_secs_f64() * 1000.0,
///     "answered callout"
/// );
/// ```
#[macro_export]
macro_rules! callout_event {
    ($level:ident, $callout:expr, $($fields_and_message:tt)+) => {{
        let callout: &$crate::Callout = &$callout;
        $crate::callout_log::__tracing::event!(
            $crate::callout_log::__tracing::Level::$level,
            event = callout.kind.name(),
            tenant = %callout.tenant_id,
            correlation_id = %callout.context.correlation_id,
            client_app = $crate::callout_log::client_app(callout),
            $($fields_and_message)+
        )
    }};
}
