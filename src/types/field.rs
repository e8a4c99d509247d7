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

/// A request refused for what it asks, whichever domain refuses it: the
/// record does not exist, the change collides with what exists, or a value
/// is not acceptable. Every domain error has it as one variant, so that it
/// is answered the same way everywhere (404, 409, 422).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Refusal {
    /// The record does not exist.
    #[error("no {kind} named `{name}`")]
    NotFound { kind: &'static str, name: String },
    /// The change would break uniqueness, or something depends on what it
    /// removes, or the record is not in a state that allows it.
    #[error(transparent)]
    Conflict(FieldError),
    /// A field's value is not acceptable.
    #[error(transparent)]
    Invalid(FieldError),
}

/// The constructors of a [`Refusal`], for every domain error that has one.
pub(crate) trait Refuse: From<Refusal> {
    /// No `kind` named `name`.
    fn not_found(kind: &'static str, name: impl ToString) -> Self {
        Refusal::NotFound { kind, name: name.to_string() }.into()
    }

    /// `field` collides with what exists.
    fn conflict(field: &str, message: impl Into<String>) -> Self {
        Refusal::Conflict(FieldError::new(field, message)).into()
    }

    /// `field`'s value is not acceptable.
    fn invalid(field: &str, message: impl Into<String>) -> Self {
        Refusal::Invalid(FieldError::new(field, message)).into()
    }
}
