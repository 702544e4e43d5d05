//! What every module's errors share: [`Chain`], an error shown with its sources, as `main` reports one.
//!
//! Errors are typed (thiserror enums, one per module or operation) and keep their cause as the source; a
//! message that names only what failed relies on the cause being shown after it, which `Chain` does where an
//! error is reported to a user outside `main` (an HTTP or MCP answer, the server log).

use std::fmt;

/// An error and its sources, joined by ": " (the form `main` reports an error in).
pub struct Chain<'a>(pub &'a (dyn std::error::Error + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(error) = source {
            write!(f, ": {error}")?;
            source = error.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot read {what}")]
    struct Outer {
        what: &'static str,
        source: std::io::Error,
    }

    #[test]
    fn a_chain_shows_the_error_then_its_sources() {
        let error = Outer { what: "the file", source: std::io::Error::other("denied") };
        assert_eq!(Chain(&error).to_string(), "cannot read the file: denied");
        assert_eq!(error.to_string(), "cannot read the file");
    }
}
