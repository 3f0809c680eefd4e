//! Validation errors shared by every domain type, reported field by field.

use serde::Serialize;

/// One rejected field: which one and why, in words a user can act on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

/// Input that breaks a rule of the domain. Nothing is written when this is returned.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", self.summary())]
pub struct ValidationError {
    pub errors: Vec<FieldError>,
}

impl ValidationError {
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            errors: vec![FieldError {
                field: field.into(),
                message: message.into(),
            }],
        }
    }

    fn summary(&self) -> String {
        self.errors
            .iter()
            .map(|e| format!("{}: {}", e.field, e.message))
            .collect::<Vec<_>>()
            .join("; ")
    }
}

/// Collects field errors so a request reports every problem at once.
#[derive(Debug, Default)]
pub struct Validator {
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn error(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: field.into(),
            message: message.into(),
        });
    }

    /// Rejects a string longer than `max` characters.
    pub fn max_len(&mut self, field: &str, value: Option<&str>, max: usize) {
        if let Some(v) = value
            && v.chars().count() > max
        {
            self.error(field, format!("must be at most {max} characters"));
        }
    }

    /// Rejects an empty or blank string.
    pub fn not_blank(&mut self, field: &str, value: &str) {
        if value.trim().is_empty() {
            self.error(field, "must not be empty");
        }
    }

    pub fn finish(self) -> Result<(), ValidationError> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(ValidationError {
                errors: self.errors,
            })
        }
    }
}

/// Longest free-text field we accept (prompts, notes, messages).
pub const MAX_TEXT: usize = 20_000;
/// Longest short field we accept (names, sids, statuses).
pub const MAX_SHORT: usize = 200;
