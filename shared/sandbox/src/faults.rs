//! Per-route fault injection. (PLACEHOLDER: being implemented.)

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;

use crate::SandboxState;

#[derive(Debug, Clone)]
pub enum Fault {}

#[derive(Debug, Clone)]
pub struct FaultRule {}

#[derive(Debug, Default)]
pub struct FaultRules {}

pub async fn inject(State(_state): State<Arc<SandboxState>>, request: Request, next: Next) -> Response {
    next.run(request).await
}
