//! Loading `.env`: the first `.env` in the working directory or one of its parents, each variable set unless
//! the real environment already has it. dotenvy parses the file (quotes, `#` comments, values in double quotes
//! over several lines), but its `$NAME` substitution is switched off: it stops a name at the first `_`
//! (`$MCP_MEMORY_BASE_DIR/events.redb` became `_MEMORY_BASE_DIR/events.redb`) and puts an empty string for a
//! variable that is not set. Every `$` reaches the settings as written, and the path settings expand `~`,
//! `$NAME` and `${NAME}` themselves (`Config::expand_paths`), knowing the defaults of the directories they
//! name; other settings take `$` literally.

use std::path::{Path, PathBuf};

/// Loads the nearest `.env`, if there is one. A malformed line stops the loading there: the variables it
/// fails to set show up as their defaults, as before.
pub(super) fn load() {
    let Some(path) = std::env::current_dir().ok().and_then(|dir| find(&dir)) else { return };
    let Ok(text) = std::fs::read_to_string(&path) else { return };
    let _ = dotenvy::from_read(literal_dollars(&text).as_bytes());
}

/// The first `.env` file in `dir` or one of its parents (where dotenvy looks).
fn find(dir: &Path) -> Option<PathBuf> {
    dir.ancestors().map(|dir| dir.join(".env")).find(|path| path.is_file())
}

/// Where the scanner is, in dotenvy's grammar.
#[derive(Clone, Copy, PartialEq, Eq)]
enum State {
    /// At the start of a line (or of its leading blanks): a `#` here makes a comment line.
    LineStart,
    /// In the name, before the `=`.
    Name,
    /// In an unquoted value; `blank` when the last character was a blank (a `#` then starts a comment).
    Value { blank: bool },
    /// In single quotes: dotenvy takes everything literally, `$` included.
    Single,
    /// In double quotes: dotenvy substitutes `$` and reads `\` escapes.
    Double,
    /// In a comment, to the end of the line.
    Comment,
}

/// The `.env` text with a backslash before every `$` dotenvy would substitute (outside single quotes and
/// comments, not already escaped), so that dotenvy keeps it as a literal `$`.
fn literal_dollars(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut state = State::LineStart;
    let mut escaped = false;
    for c in text.chars() {
        if escaped {
            escaped = false;
            out.push(c);
            continue;
        }
        state = match (state, c) {
            (State::LineStart, '#') => State::Comment,
            (State::LineStart, c) if c.is_whitespace() => State::LineStart,
            (State::LineStart, _) => State::Name,
            (State::Name, '=') => State::Value { blank: true },
            (State::Name | State::Comment | State::Value { .. }, '\n') => State::LineStart,
            (State::Name | State::Comment, _) => state,
            (State::Value { blank: true }, '#') => State::Comment,
            (State::Value { .. } | State::Double, '\\') => {
                escaped = true;
                state
            }
            (State::Value { .. }, '\'') => State::Single,
            (State::Value { .. }, '"') => State::Double,
            (State::Value { .. }, c) => State::Value { blank: c == ' ' || c == '\t' },
            (State::Single, '\'') | (State::Double, '"') => State::Value { blank: false },
            (State::Single | State::Double, _) => state,
        };
        if c == '$' && matches!(state, State::Value { .. } | State::Double) {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What dotenvy makes of `text` once its dollars are literal.
    fn parsed(text: &str) -> Vec<(String, String)> {
        dotenvy::from_read_iter(literal_dollars(text).as_bytes()).map(|item| item.expect("parses")).collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
    }

    #[test]
    fn dollars_reach_the_settings_as_written() {
        let text = "# A comment with an apostrophe's $DOLLAR\n\
                    A=$MCP_MEMORY_BASE_DIR/events.redb\n\
                    B=${MCP_MEMORY_BASE_DIR}/backups # it's a comment with $X\n\
                    C=\"$HOME/x y\"\n\
                    D='$HOME/single'\n\
                    E=price\\$5\n\
                    F=\"multi\n$LINE\"\n\
                    \x20 G=after'quoted $Q'$Z\n\
                    H=\n";
        assert_eq!(
            parsed(text),
            pairs(&[
                ("A", "$MCP_MEMORY_BASE_DIR/events.redb"),
                ("B", "${MCP_MEMORY_BASE_DIR}/backups"),
                ("C", "$HOME/x y"),
                ("D", "$HOME/single"),
                ("E", "price$5"),
                ("F", "multi\n$LINE"),
                ("G", "afterquoted $Q$Z"),
                ("H", ""),
            ])
        );
    }

    #[test]
    fn a_value_without_dollars_is_unchanged() {
        let text = "# x\nKEY=\"-----BEGIN KEY-----\nabc\n-----END KEY-----\"\nNAME=\"MCP Memory Service\"\n";
        assert_eq!(literal_dollars(text), text);
    }
}
