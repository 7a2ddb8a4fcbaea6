//! Stateful subset of Microsoft Graph v1.0 for users and groups. (PLACEHOLDER: being implemented.)

use std::sync::Arc;

use axum::Router;

use crate::{SandboxConfig, SandboxState};

pub struct DirectoryState {}

impl DirectoryState {
    pub fn new(_config: &SandboxConfig) -> Self {
        Self {}
    }
}

pub fn router() -> Router<Arc<SandboxState>> {
    Router::new()
}
