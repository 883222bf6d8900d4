//! Splits a filter expression into tokens, each with the byte offset where it starts.
//!
//! Words are identifiers (`mode`, `AND`, `live_trading`); quoted text takes double or single
//! quotes, and a backslash inside it makes the next character literal. A `-` is its own token:
//! the parser decides whether it negates a term or signs a number.

use super::error::{FilterError, Problem};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenKind {
    Word(String),
    Text(String),
    Number(String),
    Comparator(Comparator),
    Dot,
    Star,
    Minus,
    OpenParen,
    CloseParen,
}

/// The comparison operators of the grammar; `Has` is `:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Comparator {
    Equal,
    NotEqual,
    Less,
    LessOrEqual,
    Greater,
    GreaterOrEqual,
    Has,
}

impl Comparator {
    pub fn symbol(self) -> &'static str {
        match self {
            Self::Equal => "=",
            Self::NotEqual => "!=",
            Self::Less => "<",
            Self::LessOrEqual => "<=",
            Self::Greater => ">",
            Self::GreaterOrEqual => ">=",
            Self::Has => ":",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub kind: TokenKind,
    /// Byte offset of the token's first character.
    pub position: usize,
}

impl Token {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.kind {
            TokenKind::Word(word) => format!("{word:?}"),
            TokenKind::Text(text) => format!("the string {text:?}"),
            TokenKind::Number(number) => format!("the number {number}"),
            TokenKind::Comparator(comparator) => format!("'{}'", comparator.symbol()),
            TokenKind::Dot => "'.'".into(),
            TokenKind::Star => "'*'".into(),
            TokenKind::Minus => "'-'".into(),
            TokenKind::OpenParen => "'('".into(),
            TokenKind::CloseParen => "')'".into(),
        }
    }
}

pub fn tokenize(input: &str) -> Result<Vec<Token>, FilterError> {
    let mut tokens = Vec::new();
    let mut chars = input.char_indices().peekable();

    while let Some(&(position, character)) = chars.peek() {
        let single = |kind| Token { kind, position };

        if character == '\0' {
            return Err(FilterError::new(position, Problem::NulCharacter));
        }
        if character.is_whitespace() {
            chars.next();
            continue;
        }

        let token = match character {
            '(' => single(TokenKind::OpenParen),
            ')' => single(TokenKind::CloseParen),
            '.' => single(TokenKind::Dot),
            '*' => single(TokenKind::Star),
            '-' => single(TokenKind::Minus),
            ':' => single(TokenKind::Comparator(Comparator::Has)),
            '=' => single(TokenKind::Comparator(Comparator::Equal)),
            '<' | '>' | '!' => {
                chars.next();
                let followed_by_equal = chars.next_if(|&(_, next)| next == '=').is_some();
                let comparator = match (character, followed_by_equal) {
                    ('<', false) => Comparator::Less,
                    ('<', true) => Comparator::LessOrEqual,
                    ('>', false) => Comparator::Greater,
                    ('>', true) => Comparator::GreaterOrEqual,
                    ('!', true) => Comparator::NotEqual,
                    _ => return Err(FilterError::new(position, Problem::UnexpectedCharacter('!'))),
                };
                tokens.push(single(TokenKind::Comparator(comparator)));
                continue;
            }
            '"' | '\'' => {
                chars.next();
                tokens.push(Token { kind: quoted(&mut chars, character, position)?, position });
                continue;
            }
            _ if character.is_ascii_digit() => {
                let end = scan(&mut chars, |c| c.is_ascii_alphanumeric() || c == '.' || c == '+');
                let number = &input[position..end.unwrap_or(input.len())];
                tokens.push(single(TokenKind::Number(number.to_owned())));
                continue;
            }
            _ if character.is_ascii_alphabetic() || character == '_' => {
                let end = scan(&mut chars, |c| c.is_ascii_alphanumeric() || c == '_');
                let word = &input[position..end.unwrap_or(input.len())];
                tokens.push(single(TokenKind::Word(word.to_owned())));
                continue;
            }
            other => return Err(FilterError::new(position, Problem::UnexpectedCharacter(other))),
        };
        chars.next();
        tokens.push(token);
    }

    Ok(tokens)
}

type Chars<'a> = std::iter::Peekable<std::str::CharIndices<'a>>;

/// Consumes characters while `accept` holds; returns the offset of the first one refused.
fn scan(chars: &mut Chars<'_>, accept: impl Fn(char) -> bool) -> Option<usize> {
    while chars.next_if(|&(_, c)| accept(c)).is_some() {}
    chars.peek().map(|&(position, _)| position)
}

/// Reads a quoted string after its opening quote.
fn quoted(chars: &mut Chars<'_>, quote: char, start: usize) -> Result<TokenKind, FilterError> {
    let mut text = String::new();
    loop {
        let Some((position, character)) = chars.next() else {
            return Err(FilterError::new(start, Problem::UnterminatedString(quote)));
        };
        match character {
            '\0' => return Err(FilterError::new(position, Problem::NulCharacter)),
            '\\' => match chars.next() {
                Some((escaped_at, '\0')) => {
                    return Err(FilterError::new(escaped_at, Problem::NulCharacter));
                }
                Some((_, escaped)) => text.push(escaped),
                None => return Err(FilterError::new(start, Problem::UnterminatedString(quote))),
            },
            _ if character == quote => return Ok(TokenKind::Text(text)),
            _ => text.push(character),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(input: &str) -> Vec<TokenKind> {
        tokenize(input).unwrap().into_iter().map(|token| token.kind).collect()
    }

    #[test]
    fn tokens_carry_their_byte_offsets() {
        let positions: Vec<usize> =
            tokenize("mode = \"é\" OR x").unwrap().iter().map(|token| token.position).collect();
        assert_eq!(positions, [0, 5, 7, 12, 15]);
    }

    #[test]
    fn two_character_comparators_are_one_token() {
        let comparators: Vec<TokenKind> = [
            Comparator::LessOrEqual,
            Comparator::GreaterOrEqual,
            Comparator::NotEqual,
            Comparator::Less,
        ]
        .into_iter()
        .map(TokenKind::Comparator)
        .collect();
        assert_eq!(kinds("<= >= != <"), comparators);
    }

    #[test]
    fn a_backslash_makes_the_next_character_literal() {
        assert_eq!(kinds(r#""a\"b\\c""#), [TokenKind::Text(r#"a"b\c"#.into())]);
    }

    #[test]
    fn an_unterminated_string_is_reported_at_its_opening_quote() {
        let error = tokenize("title = 'abc").unwrap_err();
        assert_eq!(error, FilterError::new(8, Problem::UnterminatedString('\'')));
    }

    #[test]
    fn a_nul_character_is_refused_even_inside_a_string() {
        assert_eq!(tokenize("title = \"a\0\"").unwrap_err().problem, Problem::NulCharacter);
    }

    #[test]
    fn a_lone_exclamation_mark_is_refused() {
        assert_eq!(
            tokenize("a ! b").unwrap_err(),
            FilterError::new(2, Problem::UnexpectedCharacter('!'))
        );
    }
}
