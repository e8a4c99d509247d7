//! [`Report`]: an error as a person reads it, the error and then every
//! cause, joined by `: `. Error types say what failed and keep why as
//! their `source`; logs and API answers show the whole chain through this.

use std::error::Error;
use std::fmt;

/// Displays an error with its causes.
pub(crate) struct Report<'a>(pub(crate) &'a (dyn Error + 'static));

impl fmt::Display for Report<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut cause = self.0.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    #[derive(Debug, thiserror::Error)]
    #[error("cannot open the store")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn shows_every_cause_once() {
        let e = Outer(std::io::Error::other("disk on fire"));
        assert_eq!(super::Report(&e).to_string(), "cannot open the store: disk on fire");
    }
}
