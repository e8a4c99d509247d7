//! [`FieldError`]: what every domain returns when one field of a request or
//! record is wrong, so that the API can name the field in its answer.

/// A value that is not acceptable, or that collides with another record,
/// and the field it came from (`name`, `macs[0]`, `dynamic.start`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {message}")]
pub(crate) struct FieldError {
    /// The field, as the API names it.
    pub(crate) field: String,
    /// What is wrong with it, for a person.
    pub(crate) message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> FieldError {
        FieldError { field: field.into(), message: message.into() }
    }
}
