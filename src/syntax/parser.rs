//! The parser driver: parses one item at a time with pest, recovers after an error at the
//! next item keyword, and turns pest's errors into plain-language diagnostics.

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};

use super::ast::{File, Span};
use super::build::Builder;
use super::error::{SyntaxError, SyntaxErrorKind};
use super::fuzzy;
use super::grammar::{Rule, WardParser};
use super::lex::{self, Found};

/// Brackets (`(`, `[`, `{`) may nest this deep; deeper is a syntax error (the parser
/// recurses on brackets, so this bounds its stack: about 64 KiB a level in a debug
/// build, and a test thread has 2 MiB).
pub const MAX_NESTING: usize = 16;
/// Expression trees may be this deep (long `and` chains count); deeper is a syntax error,
/// so that every later stage can recurse over expressions without overflowing the stack.
pub const MAX_EXPR_DEPTH: usize = 256;

pub(super) const ITEM_KEYWORDS: [&str; 10] = [
    "policy",
    "use",
    "claims",
    "principal",
    "service",
    "role",
    "deny",
    "host",
    "route",
    "test",
];
const RULE_KEYWORDS: [&str; 3] = ["allow", "deny", "require"];
const TEST_KEYWORDS: [&str; 6] = ["request", "claims", "at", "ip", "country", "expect"];

const ITEMS: &str = "an item (`policy`, `use`, `claims`, `principal`, `service`, `role`, `deny`, `host`, `route` or `test`)";
const RULES: &str = "a rule (`allow`, `deny` or `require`)";
const TEST_LINES: &str =
    "a test line (`request`, `claims`, `at time`, `ip`, `country` or `expect`)";

/// Parses a whole file. On an error it records it, skips to the next line that starts
/// with an item keyword (indented no deeper than the broken item) and goes on, so one
/// run reports several independent errors. Spans are byte offsets into `source`.
pub fn parse(source: &str) -> (File, Vec<SyntaxError>) {
    let deep = lex::too_deep(source, MAX_NESTING);
    let mut items = Vec::new();
    let mut errors = Vec::new();
    let mut pos = lex::skip_trivia(source, 0);
    while pos < source.len() {
        let limit = deep
            .iter()
            .copied()
            .find(|&d| d >= pos)
            .unwrap_or(source.len());
        let Some(slice) = source.get(pos..limit) else {
            break;
        };
        match WardParser::parse(Rule::item, slice) {
            Ok(mut pairs) => {
                let Some(pair) = pairs.next() else { break };
                let end = pos + pair.as_span().end();
                let mut builder = Builder::new(source, pos, &mut errors);
                if let Some(item) = builder.item(pair) {
                    items.push(item);
                }
                pos = if end > pos {
                    lex::skip_trivia(source, end)
                } else {
                    recover(source, pos)
                };
            }
            Err(e) => {
                let at = pos
                    + match e.location {
                        InputLocation::Pos(p) => p,
                        InputLocation::Span((s, _)) => s,
                    };
                if limit < source.len() && at >= limit {
                    errors.push(too_deep(limit));
                } else {
                    let positives = match &e.variant {
                        ErrorVariant::ParsingError { positives, .. } => positives.as_slice(),
                        ErrorVariant::CustomError { .. } => &[],
                    };
                    errors.push(describe(source, pos, at, positives));
                }
                pos = recover(source, pos);
            }
        }
    }
    (File { items }, errors)
}

fn too_deep(at: usize) -> SyntaxError {
    SyntaxError::new(
        SyntaxErrorKind::TooDeep,
        format!("brackets nest more than {MAX_NESTING} deep"),
        Span::new(at, at + 1),
        "too deeply nested",
    )
    .with_help("split the expression into roles")
}

/// The start of the next line that begins with an item keyword, indented no deeper
/// than the line of `start`; the end of the file when there is none.
fn recover(source: &str, start: usize) -> usize {
    let indent = lex::line_prefix(source, start).len();
    let mut line_start = match source.get(start..).and_then(|s| s.find('\n')) {
        Some(i) => start + i + 1,
        None => return source.len(),
    };
    while let Some(rest) = source.get(line_start..) {
        if rest.is_empty() {
            break;
        }
        let trimmed = rest.trim_start_matches([' ', '\t']);
        let col = rest.len() - trimmed.len();
        if col <= indent && starts_with_item_keyword(trimmed) {
            return line_start + col;
        }
        match rest.find('\n') {
            Some(i) => line_start += i + 1,
            None => break,
        }
    }
    source.len()
}

fn starts_with_item_keyword(text: &str) -> bool {
    ITEM_KEYWORDS.iter().any(|kw| {
        text.strip_prefix(kw).is_some_and(|after| {
            !after
                .bytes()
                .next()
                .is_some_and(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
    })
}

/// How one expected grammar rule reads in a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expected {
    Item,
    Rules,
    TestLine,
    Expr,
    Operator,
    Text(&'static str),
    /// Not worth mentioning (optional continuations such as `.field`).
    Skip,
}

fn expected(r: Rule) -> Expected {
    match r {
        Rule::item => Expected::Item,
        Rule::rule | Rule::kw_allow | Rule::kw_require => Expected::Rules,
        Rule::test_line => Expected::TestLine,
        Rule::expr
        | Rule::and_expr
        | Rule::not_expr
        | Rule::cmp_expr
        | Rule::sum_expr
        | Rule::paren
        | Rule::list
        | Rule::time_lit
        | Rule::ip_lit
        | Rule::duration
        | Rule::int
        | Rule::bad_number
        | Rule::bool
        | Rule::entity_ref
        | Rule::bad_ref
        | Rule::call
        | Rule::path
        | Rule::kw_not => Expected::Expr,
        Rule::op_eq
        | Rule::op_ne
        | Rule::op_le
        | Rule::op_ge
        | Rule::op_lt
        | Rule::op_gt
        | Rule::op_add
        | Rule::op_sub
        | Rule::kw_in
        | Rule::kw_contains
        | Rule::kw_starts_with
        | Rule::kw_ends_with
        | Rule::kw_matches
        | Rule::kw_owns
        | Rule::kw_part_of
        | Rule::kw_has
        | Rule::kw_and
        | Rule::kw_or => Expected::Operator,
        Rule::field_seg | Rule::index_seg | Rule::question | Rule::WHITESPACE | Rule::COMMENT => {
            Expected::Skip
        }
        Rule::EOI => Expected::Text("the end of the file"),
        Rule::string => Expected::Text("a string"),
        Rule::ident | Rule::word | Rule::rule_ref => Expected::Text("a name"),
        Rule::method | Rule::methods => Expected::Text("an HTTP method (`GET`, `GET|HEAD`, `ANY`)"),
        Rule::type_expr | Rule::set_type | Rule::kw_set => Expected::Text(
            "a type (`string`, `int`, `bool`, `time`, `duration`, `ip`, `set<string>`, an entity kind)",
        ),
        Rule::ref_kind | Rule::ref_part => Expected::Text("an entity ref (`kind:namespace/name`)"),
        Rule::kw_policy => Expected::Text("`policy`"),
        Rule::kw_version => Expected::Text("`version`"),
        Rule::kw_use => Expected::Text("`use`"),
        Rule::kw_claims => Expected::Text("`claims`"),
        Rule::kw_principal => Expected::Text("`principal`"),
        Rule::kw_service => Expected::Text("`service`"),
        Rule::kw_where => Expected::Text("`where`"),
        Rule::kw_role => Expected::Text("`role`"),
        Rule::kw_host => Expected::Text("`host`"),
        Rule::kw_route => Expected::Text("`route`"),
        Rule::kw_test => Expected::Text("`test`"),
        Rule::kw_deny => Expected::Text("`deny`"),
        Rule::kw_when => Expected::Text("`when`"),
        Rule::kw_request => Expected::Text("`request`"),
        Rule::kw_at => Expected::Text("`at`"),
        Rule::kw_time => Expected::Text("`time`"),
        Rule::kw_ip => Expected::Text("`ip`"),
        Rule::kw_country => Expected::Text("`country`"),
        Rule::kw_expect => Expected::Text("`expect`"),
        Rule::kw_by => Expected::Text("`by`"),
        Rule::lbrace => Expected::Text("`{`"),
        Rule::rbrace => Expected::Text("`}`"),
        Rule::lparen => Expected::Text("`(`"),
        Rule::rparen => Expected::Text("`)`"),
        Rule::lbrack => Expected::Text("`[`"),
        Rule::rbrack => Expected::Text("`]`"),
        Rule::langle => Expected::Text("`<`"),
        Rule::rangle => Expected::Text("`>`"),
        Rule::comma => Expected::Text("`,`"),
        Rule::colon => Expected::Text("`:`"),
        Rule::path_sep => Expected::Text("`::`"),
        Rule::assign => Expected::Text("`=`"),
        Rule::arrow => Expected::Text("`->`"),
        Rule::pipe => Expected::Text("`|`"),
        _ => Expected::Text("something else"),
    }
}

/// The keywords a misspelled word could have meant, given what was expected.
fn keyword_candidates(exp: &[Expected], rules: &[Rule]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = Vec::new();
    for e in exp {
        match e {
            Expected::Item => out.extend(ITEM_KEYWORDS),
            Expected::Rules => out.extend(RULE_KEYWORDS),
            Expected::TestLine => out.extend(TEST_KEYWORDS),
            Expected::Operator => out.extend([
                "and",
                "or",
                "in",
                "has",
                "contains",
                "starts_with",
                "ends_with",
                "matches",
                "owns",
                "part_of",
            ]),
            Expected::Text(t) => {
                if let Some(kw) = t.strip_prefix('`').and_then(|t| t.strip_suffix('`'))
                    && kw.bytes().all(|b| b.is_ascii_lowercase())
                {
                    out.push(kw);
                }
            }
            Expected::Expr | Expected::Skip => {}
        }
    }
    if rules.contains(&Rule::kw_route) {
        out.push("route");
    }
    out.sort_unstable();
    out.dedup();
    out
}

/// Turns a pest failure at `at` (inside the item starting at `item_start`) into a diagnostic.
fn describe(source: &str, item_start: usize, at: usize, positives: &[Rule]) -> SyntaxError {
    let (found, span) = lex::token_at(source, at);
    let closers: Vec<&str> = positives
        .iter()
        .filter_map(|r| match r {
            Rule::rbrace => Some("}"),
            Rule::rparen => Some(")"),
            Rule::rbrack => Some("]"),
            _ => None,
        })
        .collect();

    if let Found::Str { closed: false } = found {
        return SyntaxError::new(
            SyntaxErrorKind::UnclosedString,
            "this string is not closed",
            span,
            "no closing `\"` on this line",
        )
        .with_help("add the closing `\"`: a string ends on the line where it starts");
    }

    // Group what was expected into phrases, in a stable order.
    let mut exp: Vec<Expected> = Vec::new();
    let item_kws = positives
        .iter()
        .filter(|r| {
            matches!(
                r,
                Rule::kw_policy
                    | Rule::kw_use
                    | Rule::kw_claims
                    | Rule::kw_principal
                    | Rule::kw_service
                    | Rule::kw_role
                    | Rule::kw_deny
                    | Rule::kw_host
                    | Rule::kw_test
            )
        })
        .count();
    for &r in positives {
        let e = if item_kws >= 3
            && matches!(
                r,
                Rule::kw_policy
                    | Rule::kw_use
                    | Rule::kw_claims
                    | Rule::kw_principal
                    | Rule::kw_service
                    | Rule::kw_role
                    | Rule::kw_deny
                    | Rule::kw_host
                    | Rule::kw_route
                    | Rule::kw_test
            ) {
            Expected::Item
        } else {
            expected(r)
        };
        if e != Expected::Skip && !exp.contains(&e) {
            exp.push(e);
        }
    }
    // The end of the file goes without saying next to items.
    if exp.contains(&Expected::Item) {
        exp.retain(|e| *e != Expected::Text("the end of the file"));
    }
    // A call's `(` is noise next to operators.
    if exp.contains(&Expected::Operator) {
        exp.retain(|e| *e != Expected::Text("`(`"));
    }
    exp.sort_by_key(|e| match e {
        Expected::Operator => 0,
        Expected::Expr => 1,
        Expected::Rules | Expected::TestLine => 2,
        Expected::Text(_) => 3,
        Expected::Item => 4,
        Expected::Skip => 5,
    });
    let phrases: Vec<&str> = exp
        .iter()
        .map(|e| match e {
            Expected::Item => ITEMS,
            Expected::Rules => RULES,
            Expected::TestLine => TEST_LINES,
            Expected::Expr => "an expression",
            Expected::Operator => "an operator",
            Expected::Text(t) => t,
            Expected::Skip => "",
        })
        .collect();
    let wanted = join_or(&phrases);
    let message = if wanted.is_empty() {
        format!("unexpected {}", found.describe())
    } else {
        format!("expected {wanted}, found {}", found.describe())
    };

    // A block, list or call left open.
    if let Some(&closer) = closers.first() {
        let at_item_keyword = matches!(&found, Found::Word(w) if ITEM_KEYWORDS.contains(&w.as_str()))
            && lex::line_prefix(source, span.start).trim().is_empty();
        if (found == Found::End || at_item_keyword)
            && let Some((open, byte)) = lex::unclosed_opener(source, item_start, span.start)
        {
            {
                let opener = char::from(byte);
                let want = match byte {
                    b'(' => ")",
                    b'[' => "]",
                    _ => closer,
                };
                let open_span = Span::new(open, open + 1);
                let line = lex::line_of(source, open);
                return if found == Found::End {
                    SyntaxError::new(
                        SyntaxErrorKind::UnclosedBrace,
                        format!("`{opener}` on line {line} is never closed"),
                        open_span,
                        format!("this `{opener}` is never closed"),
                    )
                    .with_help(format!("add `{want}` where the block ends"))
                } else {
                    SyntaxError::new(
                        SyntaxErrorKind::UnclosedBrace,
                        format!("expected `{want}` before {}", found.describe()),
                        span,
                        format!("expected `{want}` before this"),
                    )
                    .with_related(open_span, format!("this `{opener}` is not closed"))
                    .with_help(format!("add `{want}` where the block ends"))
                };
            }
        }
    }

    let unexpected = |kind, help: Option<String>| {
        let e = SyntaxError::new(
            kind,
            message.clone(),
            span,
            format!("unexpected {}", found.noun()),
        );
        match help {
            Some(h) => e.with_help(h),
            None => e,
        }
    };
    let wants_operator = exp.contains(&Expected::Operator);
    let wants_compare = positives.contains(&Rule::op_eq);
    match &found {
        Found::Punct(p) if p == "=" && (wants_operator || wants_compare) => {
            return SyntaxError::new(
                SyntaxErrorKind::UseDoubleEquals,
                "found `=` where a comparison was expected",
                span,
                "`=` does not compare",
            )
            .with_help("use `==` to compare");
        }
        Found::Punct(p) if p == "&&" && wants_operator => {
            return unexpected(SyntaxErrorKind::Unexpected, Some("write `and`".into()));
        }
        Found::Punct(p) if p == "||" && wants_operator => {
            return unexpected(SyntaxErrorKind::Unexpected, Some("write `or`".into()));
        }
        Found::Punct(p) if p == "!" && exp.contains(&Expected::Expr) => {
            return unexpected(SyntaxErrorKind::Unexpected, Some("write `not`".into()));
        }
        Found::Punct(p)
            if wants_operator
                && !wants_compare
                && ["==", "!=", "<", "<=", ">", ">="].contains(&p.as_str()) =>
        {
            return unexpected(
                SyntaxErrorKind::Unexpected,
                Some("comparisons do not chain: join them with `and`, or add parentheses".into()),
            );
        }
        Found::Str { .. } if exp == [Expected::Text("`time`")] => {
            return unexpected(
                SyntaxErrorKind::Unexpected,
                Some("write `time` before the string: `at time \"2026-11-28T10:00:00Z\"`".into()),
            );
        }
        Found::Word(w) => {
            let candidates = keyword_candidates(&exp, positives);
            if let Some(s) = fuzzy::suggest(w, candidates.iter().copied()) {
                return SyntaxError::new(
                    SyntaxErrorKind::UnknownKeyword,
                    message.clone(),
                    span,
                    format!("unknown keyword `{w}`"),
                )
                .with_help(format!("did you mean `{s}`?"));
            }
            if exp
                .iter()
                .any(|e| matches!(e, Expected::Item | Expected::Rules | Expected::TestLine))
            {
                return unexpected(SyntaxErrorKind::UnknownKeyword, None);
            }
        }
        _ => {}
    }
    unexpected(SyntaxErrorKind::Unexpected, None)
}

/// `a`, `a or b`, `a, b or c`.
fn join_or(parts: &[&str]) -> String {
    match parts {
        [] => String::new(),
        [one] => (*one).to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}
