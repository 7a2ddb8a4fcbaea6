//! End-to-end tests of entra-hooks live in `tests/` of this crate; each starts the real local host
//! (every function router plus the simulated tenant) on loopback and talks to it over HTTP.
