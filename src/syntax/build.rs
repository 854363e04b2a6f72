//! Builds the AST from pest's parse tree, checking what the grammar leaves loose
//! (escapes, durations, entity refs, method case, number range, expression depth).

use pest::iterators::Pair;

use super::ast::{
    self, BinOp, Binding, ClaimField, ClaimsBlock, Effect, EntityRefLit, Expr, ExprKind, HostBlock,
    Ident, Item, PathSeg, PolicyDecl, RoleDecl, RoleParam, Route, Span, StrLit, TestBlock,
    TestLine, TypeExpr, UseDecl,
};
use super::error::{SyntaxError, SyntaxErrorKind};
use super::grammar::Rule;
use super::lex;
use super::parser::MAX_EXPR_DEPTH;

type P<'i> = Pair<'i, Rule>;

/// Builds one item; `offset` is where the parsed slice starts in `source`.
pub(super) struct Builder<'a> {
    source: &'a str,
    offset: usize,
    errors: &'a mut Vec<SyntaxError>,
    too_deep_reported: bool,
}

/// An expression with the depth of its tree.
type Built = (Expr, usize);

impl<'a> Builder<'a> {
    pub(super) fn new(source: &'a str, offset: usize, errors: &'a mut Vec<SyntaxError>) -> Self {
        Builder {
            source,
            offset,
            errors,
            too_deep_reported: false,
        }
    }

    fn span(&self, p: &P) -> Span {
        let s = p.as_span();
        let (start, end) = (self.offset + s.start(), self.offset + s.end());
        Span::new(start, lex::content_end(self.source, start, end))
    }

    fn ident(&self, p: &P) -> Ident {
        Ident {
            name: p.as_str().to_string(),
            span: self.span(p),
        }
    }

    fn error(&mut self, e: SyntaxError) {
        self.errors.push(e);
    }

    pub(super) fn item(&mut self, pair: P) -> Option<Item> {
        let decl = pair.into_inner().next()?;
        let span = self.span(&decl);
        Some(match decl.as_rule() {
            Rule::policy_decl => {
                let mut name = None;
                let mut version = None;
                for c in decl.into_inner() {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(&c)),
                        Rule::int => version = Some((self.int(&c), self.span(&c))),
                        _ => {}
                    }
                }
                Item::Policy(PolicyDecl {
                    name: name?,
                    version,
                    span,
                })
            }
            Rule::use_decl => Item::Use(UseDecl {
                path: decl
                    .into_inner()
                    .filter(|c| c.as_rule() == Rule::word)
                    .map(|c| self.ident(&c))
                    .collect(),
                span,
            }),
            Rule::claims_block => {
                let mut fields = Vec::new();
                for c in decl.into_inner() {
                    if c.as_rule() == Rule::claim_field {
                        fields.push(self.claim_field(c)?);
                    }
                }
                Item::Claims(ClaimsBlock { fields, span })
            }
            Rule::principal_decl => Item::Principal(self.binding(decl, span)?),
            Rule::service_decl => Item::Service(self.binding(decl, span)?),
            Rule::role_decl => {
                let mut name = None;
                let mut param = None;
                let mut body = None;
                for c in decl.into_inner() {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(&c)),
                        Rule::role_param => {
                            let ids: Vec<Ident> = c
                                .into_inner()
                                .filter(|c| c.as_rule() == Rule::ident)
                                .map(|c| self.ident(&c))
                                .collect();
                            let mut ids = ids.into_iter();
                            param = Some(RoleParam {
                                name: ids.next()?,
                                kind: ids.next()?,
                            });
                        }
                        Rule::expr => body = Some(self.expr(c, 0)?.0),
                        _ => {}
                    }
                }
                Item::Role(RoleDecl {
                    name: name?,
                    param,
                    body: body?,
                    span,
                })
            }
            Rule::top_deny => Item::Deny(self.rule_body(Effect::Deny, decl, span)?),
            Rule::host_block => {
                let mut host = None;
                let mut routes = Vec::new();
                for c in decl.into_inner() {
                    match c.as_rule() {
                        Rule::string => host = Some(self.string(&c)),
                        Rule::route => routes.push(self.route(c)?),
                        _ => {}
                    }
                }
                Item::Host(HostBlock {
                    host: host?,
                    routes,
                    span,
                })
            }
            Rule::route => Item::Route(self.route(decl)?),
            Rule::test_block => {
                let mut name = None;
                let mut lines = Vec::new();
                for c in decl.into_inner() {
                    match c.as_rule() {
                        Rule::string => name = Some(self.string(&c)),
                        Rule::test_line => lines.push(self.test_line(c.into_inner().next()?)?),
                        _ => {}
                    }
                }
                Item::Test(TestBlock {
                    name: name?,
                    lines,
                    span,
                })
            }
            _ => return None,
        })
    }

    fn claim_field(&mut self, p: P) -> Option<ClaimField> {
        let span = self.span(&p);
        let mut inner = p.into_inner().filter(|c| c.as_rule() != Rule::colon);
        let name = self.ident(&inner.next()?);
        let ty = self.type_expr(inner.next()?)?;
        let (doc, _) = lex::docs_above(self.source, span.start);
        Some(ClaimField {
            name,
            ty,
            doc,
            span,
        })
    }

    fn type_expr(&mut self, p: P) -> Option<TypeExpr> {
        let span = self.span(&p);
        let mut atom = None;
        let mut optional = false;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => atom = Some(TypeExpr::Named(self.ident(&c))),
                Rule::set_type => {
                    let set_span = self.span(&c);
                    let inner = c.into_inner().find(|c| c.as_rule() == Rule::type_expr)?;
                    atom = Some(TypeExpr::Set(Box::new(self.type_expr(inner)?), set_span));
                }
                Rule::question => optional = true,
                _ => {}
            }
        }
        let atom = atom?;
        Some(if optional {
            TypeExpr::Optional(Box::new(atom), span)
        } else {
            atom
        })
    }

    fn binding(&mut self, decl: P, span: Span) -> Option<Binding> {
        let b = decl.into_inner().find(|c| c.as_rule() == Rule::binding)?;
        let mut kind = None;
        let mut field = None;
        let mut value = None;
        for c in b.into_inner() {
            match c.as_rule() {
                Rule::ident => kind = Some(self.ident(&c)),
                Rule::field_path => field = Some((self.span(&c), self.field_path(c)?)),
                Rule::expr => value = Some(self.expr(c, 0)?.0),
                _ => {}
            }
        }
        let (field_span, field) = field?;
        Some(Binding {
            kind: kind?,
            field,
            field_span,
            value: value?,
            span,
        })
    }

    /// `word (.field | ["key"])*` as a list of segments, the first word included.
    fn field_path(&mut self, p: P) -> Option<Vec<PathSeg>> {
        let mut segs = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::word => segs.push(PathSeg::Field(self.ident(&c))),
                Rule::field_seg | Rule::index_seg => segs.push(self.path_seg(c)?),
                _ => {}
            }
        }
        Some(segs)
    }

    fn path_seg(&mut self, c: P) -> Option<PathSeg> {
        let which = c.as_rule();
        let inner = c.into_inner().next()?;
        Some(match which {
            Rule::field_seg => PathSeg::Field(self.ident(&inner)),
            _ => PathSeg::Index(self.string(&inner)),
        })
    }

    fn route(&mut self, p: P) -> Option<Route> {
        let span = self.span(&p);
        let mut methods = Vec::new();
        let mut path = None;
        let mut target = None;
        let mut rules = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::methods => {
                    for m in c.into_inner().filter(|m| m.as_rule() == Rule::method) {
                        methods.push(self.method(&m));
                    }
                }
                Rule::string => path = Some(self.string(&c)),
                Rule::entity_ref => target = Some(self.entity_ref(c)?),
                Rule::bad_ref => target = Some(self.bad_ref(&c)),
                Rule::rule => {
                    let r = c.into_inner().next()?;
                    let effect = match r.as_rule() {
                        Rule::allow_rule => Effect::Allow,
                        Rule::deny_rule => Effect::Deny,
                        _ => Effect::Require,
                    };
                    let rspan = self.span(&r);
                    rules.push(self.rule_body(effect, r, rspan)?);
                }
                _ => {}
            }
        }
        Some(Route {
            methods,
            path: path?,
            target,
            rules,
            span,
        })
    }

    fn method(&mut self, m: &P) -> Ident {
        let id = self.ident(m);
        if !id
            .name
            .bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_')
        {
            let upper = id.name.to_ascii_uppercase();
            self.error(
                SyntaxError::new(
                    SyntaxErrorKind::BadMethod,
                    format!("HTTP method `{}` is not in uppercase", id.name),
                    id.span,
                    "methods are written in uppercase",
                )
                .with_help(format!("write `{upper}`")),
            );
        }
        id
    }

    /// `allow NAME [when EXPR]`, `deny NAME [when EXPR]`, `require [NAME when] EXPR`.
    fn rule_body(&mut self, effect: Effect, p: P, span: Span) -> Option<ast::Rule> {
        let mut name = None;
        let mut cond = None;
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ident => name = Some(self.ident(&c)),
                Rule::expr => cond = Some(self.expr(c, 0)?.0),
                _ => {}
            }
        }
        Some(ast::Rule {
            effect,
            name,
            cond,
            span,
        })
    }

    fn test_line(&mut self, p: P) -> Option<TestLine> {
        let span = self.span(&p);
        let which = p.as_rule();
        let mut strings = Vec::new();
        let mut words = Vec::new();
        let mut fields = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::string => strings.push(self.string(&c)),
                Rule::method => words.push(self.method(&c)),
                Rule::word | Rule::rule_ref => words.push(self.ident(&c)),
                Rule::test_claim => {
                    let mut inner = c.into_inner().filter(|c| c.as_rule() != Rule::colon);
                    let key = self.ident(&inner.next()?);
                    let value = self.expr(inner.next()?, 0)?.0;
                    fields.push((key, value));
                }
                _ => {}
            }
        }
        let mut strings = strings.into_iter();
        let mut words = words.into_iter();
        Some(match which {
            Rule::t_request => TestLine::Request {
                method: words.next()?,
                url: strings.next()?,
                span,
            },
            Rule::t_claims => TestLine::Claims { fields, span },
            Rule::t_at => TestLine::At {
                time: strings.next()?,
                span,
            },
            Rule::t_ip => TestLine::Ip {
                addr: strings.next()?,
                span,
            },
            Rule::t_country => TestLine::Country {
                country: strings.next()?,
                span,
            },
            Rule::t_expect => TestLine::Expect {
                outcome: words.next()?,
                by: words.next(),
                span,
            },
            _ => return None,
        })
    }

    // ------------------------------------------------------------ expressions

    /// Makes a node one level above children of depth `depth`; `None` (reported once)
    /// when the tree would be deeper than [`MAX_EXPR_DEPTH`].
    fn node(&mut self, kind: ExprKind, span: Span, depth: usize) -> Option<Built> {
        if depth + 1 > MAX_EXPR_DEPTH {
            if !self.too_deep_reported {
                self.too_deep_reported = true;
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::TooDeep,
                        format!("expression nests more than {MAX_EXPR_DEPTH} operators deep"),
                        span,
                        "too deeply nested",
                    )
                    .with_help("split the expression into roles"),
                );
            }
            return None;
        }
        Some((Expr { kind, span }, depth + 1))
    }

    fn expr(&mut self, p: P, _depth: usize) -> Option<Built> {
        match p.as_rule() {
            Rule::expr | Rule::and_expr => {
                let is_or = p.as_rule() == Rule::expr;
                let mut acc: Option<Built> = None;
                for c in p.into_inner() {
                    if matches!(c.as_rule(), Rule::kw_or | Rule::kw_and) {
                        continue;
                    }
                    let rhs = self.expr(c, 0)?;
                    acc = Some(match acc {
                        None => rhs,
                        Some((lhs, ld)) => {
                            let span = lhs.span.join(rhs.0.span);
                            let kind = if is_or {
                                ExprKind::Or(Box::new(lhs), Box::new(rhs.0))
                            } else {
                                ExprKind::And(Box::new(lhs), Box::new(rhs.0))
                            };
                            self.node(kind, span, ld.max(rhs.1))?
                        }
                    });
                }
                acc
            }
            Rule::not_expr => {
                let mut nots = Vec::new();
                let mut operand = None;
                for c in p.into_inner() {
                    if c.as_rule() == Rule::kw_not {
                        nots.push(self.span(&c).start);
                    } else {
                        operand = Some(self.expr(c, 0)?);
                    }
                }
                let mut acc = operand?;
                for start in nots.into_iter().rev() {
                    let span = Span::new(start, acc.0.span.end);
                    acc = self.node(ExprKind::Not(Box::new(acc.0)), span, acc.1)?;
                }
                Some(acc)
            }
            Rule::cmp_expr => {
                let mut inner = p.into_inner();
                let lhs = self.expr(inner.next()?, 0)?;
                let Some(op) = inner.next() else {
                    return Some(lhs);
                };
                let rhs = inner.next()?;
                if op.as_rule() == Rule::kw_has {
                    let field = self.ident(&rhs);
                    let span = lhs.0.span.join(field.span);
                    return self.node(ExprKind::Has(Box::new(lhs.0), field), span, lhs.1);
                }
                let op = binop(op.as_rule())?;
                let rhs = self.expr(rhs, 0)?;
                let span = lhs.0.span.join(rhs.0.span);
                self.node(
                    ExprKind::Binary(op, Box::new(lhs.0), Box::new(rhs.0)),
                    span,
                    lhs.1.max(rhs.1),
                )
            }
            Rule::sum_expr => {
                let mut acc: Option<Built> = None;
                let mut op = BinOp::Add;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::op_add => op = BinOp::Add,
                        Rule::op_sub => op = BinOp::Sub,
                        _ => {
                            let rhs = self.expr(c, 0)?;
                            acc = Some(match acc {
                                None => rhs,
                                Some((lhs, ld)) => {
                                    let span = lhs.span.join(rhs.0.span);
                                    let kind = ExprKind::Binary(op, Box::new(lhs), Box::new(rhs.0));
                                    self.node(kind, span, ld.max(rhs.1))?
                                }
                            });
                        }
                    }
                }
                acc
            }
            _ => self.primary(p),
        }
    }

    fn primary(&mut self, p: P) -> Option<Built> {
        let span = self.span(&p);
        let leaf = |kind| Some((Expr { kind, span }, 1));
        match p.as_rule() {
            Rule::paren => {
                let inner = p.into_inner().find(|c| c.as_rule() == Rule::expr)?;
                let (e, d) = self.expr(inner, 0)?;
                self.node(ExprKind::Paren(Box::new(e)), span, d)
            }
            Rule::list => {
                let mut items = Vec::new();
                let mut depth = 0;
                for c in p.into_inner().filter(|c| c.as_rule() == Rule::expr) {
                    let (e, d) = self.expr(c, 0)?;
                    depth = depth.max(d);
                    items.push(e);
                }
                self.node(ExprKind::List(items), span, depth)
            }
            Rule::call => {
                let mut name = None;
                let mut args = Vec::new();
                let mut depth = 0;
                for c in p.into_inner() {
                    match c.as_rule() {
                        Rule::ident => name = Some(self.ident(&c)),
                        Rule::expr => {
                            let (e, d) = self.expr(c, 0)?;
                            depth = depth.max(d);
                            args.push(e);
                        }
                        _ => {}
                    }
                }
                self.node(ExprKind::Call(name?, args), span, depth)
            }
            Rule::path => {
                let mut inner = p.into_inner();
                let root = self.ident(&inner.next()?);
                let mut segs = Vec::new();
                for c in inner {
                    segs.push(self.path_seg(c)?);
                }
                leaf(ExprKind::Path(root, segs))
            }
            Rule::time_lit | Rule::ip_lit => {
                let is_time = p.as_rule() == Rule::time_lit;
                let s = p.into_inner().find(|c| c.as_rule() == Rule::string)?;
                let lit = self.string(&s);
                leaf(if is_time {
                    ExprKind::Time(lit)
                } else {
                    ExprKind::Ip(lit)
                })
            }
            Rule::string => {
                let lit = self.string(&p);
                leaf(ExprKind::Str(lit.value))
            }
            Rule::int => leaf(ExprKind::Int(self.int(&p))),
            Rule::bool => leaf(ExprKind::Bool(p.as_str() == "true")),
            Rule::duration => {
                let text = p.as_str();
                let secs = self.duration(text, span);
                leaf(ExprKind::Duration(secs, text.to_string()))
            }
            Rule::bad_number => {
                let text = p.as_str();
                let digits = text.bytes().take_while(u8::is_ascii_digit).count();
                let unit_span = Span::new(span.start + digits, span.end);
                let unit = text.get(digits..).unwrap_or("");
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::BadDuration,
                        format!("`{text}` is not a duration"),
                        unit_span,
                        format!("unknown unit `{unit}`"),
                    )
                    .with_help(
                        "a duration is a whole number and a unit: `s`, `m`, `h` or `d` (`15m`, `8h`, `30d`)",
                    ),
                );
                leaf(ExprKind::Duration(0, text.to_string()))
            }
            Rule::entity_ref => {
                let r = self.entity_ref(p)?;
                leaf(ExprKind::EntityRef(r))
            }
            Rule::bad_ref => {
                let r = self.bad_ref(&p);
                leaf(ExprKind::EntityRef(r))
            }
            _ => None,
        }
    }

    // ------------------------------------------------------------ literals

    fn int(&mut self, p: &P) -> i64 {
        match p.as_str().parse::<i64>() {
            Ok(n) => n,
            Err(_) => {
                let span = self.span(p);
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::BadNumber,
                        format!("`{}` is too large", p.as_str()),
                        span,
                        "larger than 9223372036854775807",
                    )
                    .with_help("integers are 64-bit signed"),
                );
                0
            }
        }
    }

    fn duration(&mut self, text: &str, span: Span) -> i64 {
        let digits = text.get(..text.len().saturating_sub(1)).unwrap_or("");
        let unit = match text.as_bytes().last() {
            Some(b's') => 1,
            Some(b'm') => 60,
            Some(b'h') => 3_600,
            _ => 86_400,
        };
        match digits.parse::<i64>().ok().and_then(|n| n.checked_mul(unit)) {
            Some(secs) => secs,
            None => {
                self.error(
                    SyntaxError::new(
                        SyntaxErrorKind::BadDuration,
                        format!("duration `{text}` is too large"),
                        span,
                        "more seconds than a 64-bit integer holds",
                    )
                    .with_help("use a smaller duration"),
                );
                0
            }
        }
    }

    fn entity_ref(&mut self, p: P) -> Option<EntityRefLit> {
        let span = self.span(&p);
        let mut kind = None;
        let mut parts = Vec::new();
        for c in p.into_inner() {
            match c.as_rule() {
                Rule::ref_kind => kind = Some(c.as_str().to_string()),
                Rule::ref_part => parts.push(c.as_str().to_string()),
                _ => {}
            }
        }
        let name = parts.pop()?;
        Some(EntityRefLit {
            kind: kind?,
            namespace: parts.pop(),
            name,
            span,
        })
    }

    fn bad_ref(&mut self, p: &P) -> EntityRefLit {
        let span = self.span(p);
        let text = p.as_str();
        self.error(
            SyntaxError::new(
                SyntaxErrorKind::BadRef,
                format!("`{text}` is not an entity ref"),
                span,
                "not an entity ref",
            )
            .with_help(
                "write `kind:name` or `kind:namespace/name`; names hold letters, digits, `_`, `.`, `-` and, in route targets, `{param}`",
            ),
        );
        let (kind, name) = text.split_once(':').unwrap_or((text, ""));
        EntityRefLit {
            kind: kind.to_string(),
            namespace: None,
            name: name.to_string(),
            span,
        }
    }

    /// Decodes a string literal (`\"`, `\\`, `\n`, `\t`, `\u{HEX}`), reporting bad escapes.
    fn string(&mut self, p: &P) -> StrLit {
        let span = self.span(p);
        let text = p.as_str();
        let body = text
            .strip_prefix('"')
            .and_then(|t| t.strip_suffix('"'))
            .unwrap_or("");
        let mut value = String::with_capacity(body.len());
        let mut chars = body.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c != '\\' {
                value.push(c);
                continue;
            }
            let esc_start = span.start + 1 + i;
            match chars.next() {
                Some((_, '"')) => value.push('"'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, 'n')) => value.push('\n'),
                Some((_, 't')) => value.push('\t'),
                Some((_, 'u')) => {
                    let rest = body.get(i + 2..).unwrap_or("");
                    let decoded = rest.strip_prefix('{').and_then(|r| {
                        let close = r.find('}')?;
                        let hex = r.get(..close)?;
                        let ok = (1..=6).contains(&hex.len())
                            && hex.bytes().all(|b| b.is_ascii_hexdigit());
                        let ch = u32::from_str_radix(hex, 16).ok().and_then(char::from_u32);
                        ok.then_some(ch).flatten().map(|ch| (ch, close + 2))
                    });
                    match decoded {
                        Some((ch, len)) => {
                            value.push(ch);
                            for _ in 0..len {
                                chars.next();
                            }
                        }
                        None => {
                            let end = rest
                                .find(['}', '"'])
                                .map_or(esc_start + 2, |j| esc_start + 2 + j + 1);
                            self.error(
                                SyntaxError::new(
                                    SyntaxErrorKind::BadEscape,
                                    "bad unicode escape",
                                    Span::new(esc_start, end.min(span.end - 1).max(esc_start + 2)),
                                    "not a `\\u{...}` escape of a valid character",
                                )
                                .with_help("write `\\u{` and 1 to 6 hex digits of a Unicode scalar value, then `}`"),
                            );
                        }
                    }
                }
                Some((_, other)) => {
                    self.error(
                        SyntaxError::new(
                            SyntaxErrorKind::BadEscape,
                            format!("unknown escape `\\{other}`"),
                            Span::new(esc_start, esc_start + 1 + other.len_utf8()),
                            "unknown escape",
                        )
                        .with_help("strings know `\\\"`, `\\\\`, `\\n`, `\\t` and `\\u{...}`; write `\\\\` for a backslash"),
                    );
                }
                None => {}
            }
        }
        StrLit { value, span }
    }
}

fn binop(r: Rule) -> Option<BinOp> {
    Some(match r {
        Rule::op_eq => BinOp::Eq,
        Rule::op_ne => BinOp::Ne,
        Rule::op_lt => BinOp::Lt,
        Rule::op_le => BinOp::Le,
        Rule::op_gt => BinOp::Gt,
        Rule::op_ge => BinOp::Ge,
        Rule::kw_in => BinOp::In,
        Rule::kw_contains => BinOp::Contains,
        Rule::kw_starts_with => BinOp::StartsWith,
        Rule::kw_ends_with => BinOp::EndsWith,
        Rule::kw_matches => BinOp::Matches,
        Rule::kw_owns => BinOp::Owns,
        Rule::kw_part_of => BinOp::PartOf,
        _ => return None,
    })
}
