//! Store failures that callers act on differently.

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A unique rule was broken (duplicate `callSid`, `recordingSid`, …). `what` names the rule.
    #[error("already exists: {what}")]
    Conflict { what: String },
    /// The database cannot be reached or is overloaded; the caller may retry.
    #[error("store unavailable: {0}")]
    Unavailable(String),
    /// Anything else: a bug or corrupt data. Logged, never shown to API users.
    #[error("store error: {0}")]
    Internal(String),
}

impl StoreError {
    pub fn conflict(what: impl Into<String>) -> Self {
        Self::Conflict { what: what.into() }
    }

    pub fn is_conflict(&self) -> bool {
        matches!(self, Self::Conflict { .. })
    }
}

pub type StoreResult<T> = Result<T, StoreError>;
