//! A bot command as typed: a command word and its arguments.

/// A message split into a command word and its arguments.
#[derive(Debug, PartialEq, Eq)]
pub struct ParsedCommand {
    pub word: String,
    pub args: Vec<String>,
}

/// Splits a message into words; double quotes group words with spaces.
pub fn parse_command(text: &str, prefix: &str) -> Option<ParsedCommand> {
    let rest = text.trim().strip_prefix(prefix)?;
    let mut words = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    let mut has_word = false;
    for ch in rest.chars() {
        match ch {
            '"' => {
                in_quotes = !in_quotes;
                has_word = true;
            }
            c if c.is_whitespace() && !in_quotes => {
                if has_word {
                    words.push(std::mem::take(&mut current));
                    has_word = false;
                }
            }
            c => {
                current.push(c);
                has_word = true;
            }
        }
    }
    if has_word {
        words.push(current);
    }
    let mut words = words.into_iter();
    let word = words.next().filter(|w| !w.is_empty())?;
    Some(ParsedCommand {
        word,
        args: words.collect(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_prefix_and_quotes() {
        assert_eq!(
            parse_command("!join  #rust key", "!"),
            Some(ParsedCommand {
                word: "join".into(),
                args: vec!["#rust".into(), "key".into()]
            })
        );
        assert_eq!(
            parse_command("login \"two words\" x", ""),
            Some(ParsedCommand {
                word: "login".into(),
                args: vec!["two words".into(), "x".into()]
            })
        );
        assert_eq!(parse_command("hello", "!"), None);
        assert_eq!(parse_command("!", "!"), None);
    }
}
