//! Parses tokens into a syntax tree, following the grammar of Google AIP-160:
//!
//! ```text
//! filter      = [ expression ]
//! expression  = sequence { "AND" sequence }
//! sequence    = factor { factor }              (terms side by side: an implicit AND)
//! factor      = term { "OR" term }
//! term        = [ "NOT" | "-" ] simple
//! simple      = restriction | "(" expression ")"
//! restriction = field comparator value
//! field       = word { "." word }
//! value       = string | word | [ "-" ] number | "*"
//! ```
//!
//! So OR binds tighter than AND, unlike in SQL: `a AND b OR c` means `a AND (b OR c)`. The
//! tree names fields and values as written; `fields` decides what they mean.

use super::error::{FilterError, Problem};
use super::lexer::{Comparator, Token, TokenKind};

/// Deepest nesting of parentheses an expression may use.
pub const MAX_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Restriction(Restriction),
}

/// One comparison, such as `context_data.market_hours = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restriction {
    pub field: Vec<String>,
    pub field_at: usize,
    pub comparator: Comparator,
    pub comparator_at: usize,
    pub value: Literal,
    pub value_at: usize,
}

/// A value as written; its type is decided by the field it is compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// Quoted text.
    Text(String),
    /// An unquoted word such as `psychology` or `true`.
    Word(String),
    /// A number as written, with its sign.
    Number(String),
    /// `*`: any value, for presence tests with `:`.
    Star,
}

/// Parses the tokens of a non-empty expression; `end` is the length of the text, where an
/// error about missing input points.
pub fn parse(tokens: &[Token], end: usize) -> Result<Expr, FilterError> {
    let mut parser = Parser { tokens, next: 0, end };
    let expression = parser.expression(0)?;

    match parser.peek() {
        None => Ok(expression),
        Some(token) if token.kind == TokenKind::CloseParen => {
            Err(FilterError::new(token.position, Problem::UnopenedParenthesis))
        }
        Some(token) => {
            Err(FilterError::new(token.position, Problem::TrailingInput(token.describe())))
        }
    }
}

struct Parser<'t> {
    tokens: &'t [Token],
    next: usize,
    end: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.next)
    }

    fn advance(&mut self) -> Option<&Token> {
        let token = self.tokens.get(self.next);
        self.next += 1;
        token
    }

    fn peek_keyword(&self, keyword: &str) -> bool {
        matches!(self.peek(), Some(Token { kind: TokenKind::Word(word), .. }) if word == keyword)
    }

    /// Where the next token starts, or the end of the text.
    fn here(&self) -> usize {
        self.peek().map_or(self.end, |token| token.position)
    }

    fn found(&self) -> String {
        self.peek().map_or_else(|| "the end of the expression".into(), Token::describe)
    }

    fn expression(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut sequences = vec![self.sequence(depth)?];
        while self.peek_keyword("AND") {
            self.advance();
            sequences.push(self.sequence(depth)?);
        }
        Ok(flatten(sequences, Expr::And))
    }

    fn sequence(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut factors = vec![self.factor(depth)?];
        while self.starts_term() {
            factors.push(self.factor(depth)?);
        }
        Ok(flatten(factors, Expr::And))
    }

    /// Whether the next token can begin another term of an implicit AND.
    fn starts_term(&self) -> bool {
        match self.peek().map(|token| &token.kind) {
            Some(TokenKind::Word(word)) => word != "AND" && word != "OR",
            Some(TokenKind::OpenParen | TokenKind::Minus) => true,
            _ => false,
        }
    }

    fn factor(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let mut terms = vec![self.term(depth)?];
        while self.peek_keyword("OR") {
            self.advance();
            terms.push(self.term(depth)?);
        }
        Ok(flatten(terms, Expr::Or))
    }

    fn term(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let negated = self.peek_keyword("NOT")
            || matches!(self.peek(), Some(Token { kind: TokenKind::Minus, .. }));
        if negated {
            self.advance();
            return Ok(Expr::Not(Box::new(self.simple(depth)?)));
        }
        self.simple(depth)
    }

    fn simple(&mut self, depth: usize) -> Result<Expr, FilterError> {
        let Some(token) = self.peek() else {
            return Err(self.expected_condition());
        };
        if token.kind != TokenKind::OpenParen {
            return self.restriction();
        }

        let open_at = token.position;
        if depth >= MAX_DEPTH {
            return Err(FilterError::new(open_at, Problem::TooDeep { limit: MAX_DEPTH }));
        }
        self.advance();
        if matches!(self.peek(), Some(Token { kind: TokenKind::CloseParen, .. })) {
            return Err(FilterError::new(open_at, Problem::EmptyExpression));
        }
        let inner = self.expression(depth + 1)?;
        match self.advance() {
            Some(Token { kind: TokenKind::CloseParen, .. }) => Ok(inner),
            Some(token) => {
                Err(FilterError::new(token.position, Problem::TrailingInput(token.describe())))
            }
            None => Err(FilterError::new(open_at, Problem::UnclosedParenthesis)),
        }
    }

    fn restriction(&mut self) -> Result<Expr, FilterError> {
        let field_at = self.here();
        let field = self.field()?;

        let comparator_at = self.here();
        let comparator = match self.peek() {
            Some(Token { kind: TokenKind::Comparator(comparator), .. }) => *comparator,
            _ => return Err(FilterError::new(comparator_at, Problem::ExpectedComparator)),
        };
        self.advance();

        let value_at = self.here();
        let value = self.literal()?;

        Ok(Expr::Restriction(Restriction {
            field,
            field_at,
            comparator,
            comparator_at,
            value,
            value_at,
        }))
    }

    fn field(&mut self) -> Result<Vec<String>, FilterError> {
        let mut segments = vec![self.field_segment()?];
        while matches!(self.peek(), Some(Token { kind: TokenKind::Dot, .. })) {
            self.advance();
            segments.push(self.field_segment()?);
        }
        Ok(segments)
    }

    fn field_segment(&mut self) -> Result<String, FilterError> {
        match self.peek() {
            Some(Token { kind: TokenKind::Word(word), .. })
                if !matches!(word.as_str(), "AND" | "OR" | "NOT") =>
            {
                let word = word.clone();
                self.advance();
                Ok(word)
            }
            _ => Err(self.expected_condition()),
        }
    }

    fn expected_condition(&self) -> FilterError {
        match self.peek() {
            None if self.end == 0 => FilterError::new(0, Problem::EmptyExpression),
            Some(token) if token.kind == TokenKind::CloseParen && self.next == 0 => {
                FilterError::new(token.position, Problem::UnopenedParenthesis)
            }
            _ => FilterError::new(self.here(), Problem::ExpectedCondition(self.found())),
        }
    }

    fn literal(&mut self) -> Result<Literal, FilterError> {
        let value_at = self.here();
        let literal = match self.peek().map(|token| &token.kind) {
            Some(TokenKind::Text(text)) => Literal::Text(text.clone()),
            Some(TokenKind::Word(word)) if !matches!(word.as_str(), "AND" | "OR" | "NOT") => {
                Literal::Word(word.clone())
            }
            Some(TokenKind::Number(number)) => Literal::Number(number.clone()),
            Some(TokenKind::Star) => Literal::Star,
            Some(TokenKind::Minus) => {
                self.advance();
                return match self.peek().map(|token| &token.kind) {
                    Some(TokenKind::Number(number)) => {
                        let signed = Literal::Number(format!("-{number}"));
                        self.advance();
                        Ok(signed)
                    }
                    _ => Err(FilterError::new(value_at, Problem::ExpectedValue("'-'".into()))),
                };
            }
            _ => return Err(FilterError::new(value_at, Problem::ExpectedValue(self.found()))),
        };
        self.advance();
        Ok(literal)
    }
}

/// One item stays itself; several are joined by `join`.
fn flatten(mut items: Vec<Expr>, join: fn(Vec<Expr>) -> Expr) -> Expr {
    if items.len() == 1 { items.remove(0) } else { join(items) }
}

#[cfg(test)]
mod tests {
    use super::super::lexer::tokenize;
    use super::*;

    fn parsed(input: &str) -> Result<Expr, FilterError> {
        parse(&tokenize(input)?, input.len())
    }

    /// The tree as a compact string: fields only, to show its shape.
    fn shape(expr: &Expr) -> String {
        let join = |items: &[Expr], word: &str| {
            let parts: Vec<String> = items.iter().map(shape).collect();
            format!("({})", parts.join(word))
        };
        match expr {
            Expr::And(items) => join(items, " AND "),
            Expr::Or(items) => join(items, " OR "),
            Expr::Not(inner) => format!("NOT {}", shape(inner)),
            Expr::Restriction(restriction) => restriction.field.join("."),
        }
    }

    fn error_of(input: &str) -> FilterError {
        parsed(input).unwrap_err()
    }

    #[test]
    fn or_binds_tighter_than_and() {
        let expr = parsed("a = 1 AND b = 2 OR c = 3").unwrap();
        assert_eq!(shape(&expr), "(a AND (b OR c))");
    }

    #[test]
    fn terms_side_by_side_are_an_implicit_and() {
        let expr = parsed("a = 1 b = 2 OR c = 3").unwrap();
        assert_eq!(shape(&expr), "(a AND (b OR c))");
    }

    #[test]
    fn parentheses_override_precedence() {
        let expr = parsed("(a = 1 AND b = 2) OR c = 3").unwrap();
        assert_eq!(shape(&expr), "((a AND b) OR c)");
    }

    #[test]
    fn not_and_minus_negate_the_next_term() {
        assert_eq!(shape(&parsed("NOT a = 1 -b = 2").unwrap()), "(NOT a AND NOT b)");
        assert_eq!(shape(&parsed("NOT (a = 1 OR b = 2)").unwrap()), "NOT (a OR b)");
    }

    #[test]
    fn dotted_fields_keep_every_segment() {
        let Expr::Restriction(restriction) = parsed("context_data.risk.max_loss = 250").unwrap()
        else {
            panic!("a restriction");
        };
        assert_eq!(restriction.field, ["context_data", "risk", "max_loss"]);
        assert_eq!(restriction.value, Literal::Number("250".into()));
        assert_eq!(restriction.value_at, 29);
    }

    #[test]
    fn a_minus_before_a_number_value_is_its_sign() {
        let Expr::Restriction(restriction) = parsed("x.y > -2.5").unwrap() else {
            panic!("a restriction");
        };
        assert_eq!(restriction.value, Literal::Number("-2.5".into()));
    }

    #[test]
    fn an_unclosed_parenthesis_is_reported_where_it_opens() {
        assert_eq!(
            error_of("mode = a AND (b = 1"),
            FilterError::new(13, Problem::UnclosedParenthesis)
        );
    }

    #[test]
    fn a_closing_parenthesis_without_an_opening_one_is_reported() {
        assert_eq!(error_of("a = 1)"), FilterError::new(5, Problem::UnopenedParenthesis));
        assert_eq!(error_of(")"), FilterError::new(0, Problem::UnopenedParenthesis));
    }

    #[test]
    fn empty_parentheses_are_an_empty_expression() {
        assert_eq!(error_of("a = 1 AND ()"), FilterError::new(10, Problem::EmptyExpression));
    }

    #[test]
    fn a_missing_operand_of_and_points_at_the_end() {
        let error = error_of("a = 1 AND");
        assert_eq!(error.position, 9);
        assert!(matches!(error.problem, Problem::ExpectedCondition(_)));
    }

    #[test]
    fn a_field_without_operator_is_refused() {
        assert_eq!(error_of("title"), FilterError::new(5, Problem::ExpectedComparator));
    }

    #[test]
    fn an_operator_without_value_is_refused() {
        assert!(matches!(error_of("a =").problem, Problem::ExpectedValue(_)));
        assert_eq!(error_of("a = ").position, 4);
    }

    #[test]
    fn a_value_after_a_complete_expression_is_trailing_input() {
        let error = error_of("a = 1 2");
        assert_eq!(error.position, 6);
        assert!(matches!(error.problem, Problem::TrailingInput(_)));
    }

    #[test]
    fn nesting_deeper_than_the_limit_is_refused() {
        let deep = format!("{}a = 1{}", "(".repeat(MAX_DEPTH + 1), ")".repeat(MAX_DEPTH + 1));
        let error = error_of(&deep);
        assert_eq!(error, FilterError::new(MAX_DEPTH, Problem::TooDeep { limit: MAX_DEPTH }));

        let allowed = format!("{}a = 1{}", "(".repeat(MAX_DEPTH), ")".repeat(MAX_DEPTH));
        assert!(parsed(&allowed).is_ok());
    }

    #[test]
    fn keywords_cannot_be_fields() {
        assert!(matches!(error_of("AND = 1").problem, Problem::ExpectedCondition(_)));
    }
}
