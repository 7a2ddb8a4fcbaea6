//! Secret sources that need no cloud: environment variables and files (e.g. mounted secrets or a
//! developer's `.secrets/` directory). They read on every call: both are cheap and always current.

use std::path::Path;

use super::{SecretError, SecretFuture, SecretSource, SecretValue};

/// Reads `env:VAR` secrets from the process environment; `name` is the variable name.
#[derive(Debug, Clone, Copy, Default)]
pub struct EnvSecrets;

impl EnvSecrets {
    /// A source backed by the process environment.
    pub fn new() -> Self {
        EnvSecrets
    }
}

impl SecretSource for EnvSecrets {
    fn get<'a>(&'a self, name: &'a str) -> SecretFuture<'a> {
        let result =
            std::env::var(name)
                .map(SecretValue::new)
                .map_err(|_| SecretError::EnvNotSet {
                    var: name.to_owned(),
                });
        Box::pin(std::future::ready(result))
    }
}

/// Reads `file:PATH` secrets; `name` is the path. One trailing line break is removed, since
/// secret files are usually written by `echo` or an editor.
///
/// Reads synchronously: secret files are small and local, and are read at start or on rotation.
#[derive(Debug, Clone, Copy, Default)]
pub struct FileSecrets;

impl FileSecrets {
    /// A source backed by the file system.
    pub fn new() -> Self {
        FileSecrets
    }
}

impl SecretSource for FileSecrets {
    fn get<'a>(&'a self, name: &'a str) -> SecretFuture<'a> {
        let path = Path::new(name);
        let result = std::fs::read_to_string(path)
            .map(|mut text| {
                if text.ends_with('\n') {
                    text.pop();
                    if text.ends_with('\r') {
                        text.pop();
                    }
                }
                SecretValue::new(text)
            })
            .map_err(|source| SecretError::File {
                path: path.to_path_buf(),
                source,
            });
        Box::pin(std::future::ready(result))
    }
}
