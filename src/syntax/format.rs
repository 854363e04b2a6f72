//! The formatter: one canonical layout for a parsed file, keeping its comments and the
//! blank lines between its items (recovered from the source text the AST came from).

use super::ast::{
    BinOp, Binding, ClaimField, Expr, ExprKind, File, HostBlock, Item, PathSeg, Route, Rule, Span,
    StrLit, TestBlock, TestLine, TypeExpr,
};
use super::lex::{self, Comment};

/// Lines longer than this break before the `and`/`or` operators of a condition.
const WIDTH: usize = 100;
/// Spaces per nesting level.
const INDENT: usize = 2;

/// Formats `file`, which was parsed from `source`. Comments (own-line and trailing) and
/// single blank lines between items, routes, rules and test lines are kept; comments
/// written inside an expression move above it (own-line) or to the end of its line
/// (trailing). The output parses to the same AST (spans aside), and formatting it again
/// gives it back unchanged. An AST built by hand can be formatted with `source = ""`.
pub fn format(file: &File, source: &str) -> String {
    let mut f = Formatter::new(file, source);
    for item in &file.items {
        f.item(item);
    }
    f.flush_before(usize::MAX, 0);
    f.render()
}

/// One output line: code, a trailing comment, or an own-line comment (empty code).
struct Line {
    indent: usize,
    code: String,
    comment: Option<String>,
}

struct Formatter<'a> {
    source: &'a str,
    comments: Vec<Comment>,
    next: usize,
    lines: Vec<Line>,
    /// Where the last emitted thing ended in the source, to see blank lines.
    last_end: Option<usize>,
    /// Right after a `{`: no blank line.
    block_start: bool,
}

impl<'a> Formatter<'a> {
    fn new(file: &File, source: &'a str) -> Self {
        // `///` docs of claim fields are printed from the AST, not as comments.
        let mut doc_regions = Vec::new();
        for item in &file.items {
            if let Item::Claims(c) = item {
                for field in &c.fields {
                    let (docs, first) = lex::docs_above(source, field.span.start);
                    if !docs.is_empty() {
                        doc_regions.push(Span::new(first, field.span.start));
                    }
                }
            }
        }
        let comments = lex::comments(source)
            .into_iter()
            .filter(|c| {
                !doc_regions
                    .iter()
                    .any(|r| r.start <= c.span.start && c.span.start < r.end)
            })
            .collect();
        Formatter {
            source,
            comments,
            next: 0,
            lines: Vec::new(),
            last_end: None,
            block_start: true,
        }
    }

    fn text(&self, span: Span) -> &'a str {
        self.source
            .get(span.start..span.end)
            .unwrap_or("")
            .trim_end()
    }

    fn push(&mut self, indent: usize, code: String, comment: Option<String>) {
        self.lines.push(Line {
            indent,
            code,
            comment,
        });
    }

    /// A blank line before something starting at `start`, if the source had one.
    fn gap(&mut self, start: usize) {
        let blank = !self.block_start
            && self.last_end.is_some_and(|end| {
                let between = self.source.get(end..start).unwrap_or("");
                let segs: Vec<&str> = between.split('\n').collect();
                segs.get(1..segs.len().saturating_sub(1))
                    .is_some_and(|mid| mid.iter().any(|s| s.trim().is_empty()))
            });
        if blank {
            self.push(0, String::new(), None);
        }
        self.block_start = false;
    }

    /// Emits the comments that start before `pos` as own-line comments.
    fn flush_before(&mut self, pos: usize, indent: usize) {
        while let Some(c) = self.comments.get(self.next).copied() {
            if c.span.start >= pos {
                break;
            }
            self.gap(c.span.start);
            let text = self.text(c.span).to_string();
            self.push(indent, String::new(), Some(text));
            self.last_end = Some(c.span.end);
            self.next += 1;
        }
    }

    /// Emits `lines` for the source `span`, with the comments around and inside it.
    fn leaf(&mut self, span: Span, indent: usize, lines: Vec<String>) {
        self.flush_before(span.start, indent);
        self.gap(span.start);
        let mut trailing = Vec::new();
        let mut end = span.end;
        while let Some(c) = self.comments.get(self.next).copied() {
            let inside = c.span.start < span.end;
            let same_line = c.span.start >= span.end
                && self
                    .source
                    .get(span.end..c.span.start)
                    .is_some_and(|between| {
                        between
                            .chars()
                            .all(|c| c == ',' || (c.is_whitespace() && c != '\n'))
                    });
            if !inside && !same_line {
                break;
            }
            let text = self.text(c.span).to_string();
            if inside && c.own_line {
                self.push(indent, String::new(), Some(text));
            } else {
                trailing.push(text);
            }
            end = end.max(c.span.end);
            self.next += 1;
        }
        let count = lines.len();
        for (i, code) in lines.into_iter().enumerate() {
            let comment = if i + 1 == count && !trailing.is_empty() {
                Some(trailing.join(" "))
            } else {
                None
            };
            self.push(indent, code, comment);
        }
        self.last_end = Some(end);
    }

    /// A `HEADER {` ... `}` block; `children` emits the body one level deeper.
    fn block(
        &mut self,
        span: Span,
        open: usize,
        indent: usize,
        header: String,
        children: impl FnOnce(&mut Self, usize),
    ) {
        // The header ends after its `{` (when the source has it where expected).
        let header_end = if self.source.as_bytes().get(open) == Some(&b'{') {
            open + 1
        } else {
            span.start
        };
        self.leaf(
            Span::new(span.start, header_end),
            indent,
            vec![format!("{header} {{")],
        );
        self.block_start = true;
        children(self, indent + INDENT);
        let close = span.end.saturating_sub(1).max(header_end);
        self.flush_before(close, indent + INDENT);
        self.block_start = true;
        self.leaf(Span::new(close, span.end), indent, vec!["}".to_string()]);
    }

    /// Where the `{` after the source text ending at `after` is.
    fn open_after(&self, after: usize) -> usize {
        lex::skip_trivia(self.source, after)
    }

    fn item(&mut self, item: &Item) {
        match item {
            Item::Policy(p) => {
                let mut line = format!("policy {}", p.name.name);
                if let Some((v, _)) = p.version {
                    line.push_str(&format!(" version {v}"));
                }
                self.leaf(p.span, 0, vec![line]);
            }
            Item::Use(u) => {
                let path: Vec<&str> = u.path.iter().map(|i| i.name.as_str()).collect();
                self.leaf(u.span, 0, vec![format!("use {}", path.join("::"))]);
            }
            Item::Claims(c) => {
                let open = self.open_after(c.span.start + "claims".len());
                self.block(c.span, open, 0, "claims".to_string(), |f, indent| {
                    for field in &c.fields {
                        f.claim_field(field, indent);
                    }
                });
            }
            Item::Principal(b) => self.binding("principal", b),
            Item::Service(b) => self.binding("service", b),
            Item::Role(r) => {
                let mut head = format!("role {}", r.name.name);
                if let Some(p) = &r.param {
                    head.push_str(&format!("({}: {})", p.name.name, p.kind.name));
                }
                head.push_str(" = ");
                let lines = with_cond(&head, &r.body, 0);
                self.leaf(r.span, 0, lines);
            }
            Item::Deny(r) => self.rule(r, 0),
            Item::Host(h) => self.host(h),
            Item::Route(r) => self.route(r, 0),
            Item::Test(t) => self.test(t),
        }
    }

    fn claim_field(&mut self, field: &ClaimField, indent: usize) {
        let mut lines: Vec<String> = field
            .doc
            .iter()
            .map(|d| {
                if d.is_empty() {
                    "///".to_string()
                } else {
                    format!("/// {d}")
                }
            })
            .collect();
        lines.push(format!("{}: {}", field.name.name, type_expr(&field.ty)));
        self.leaf(field.span, indent, lines);
    }

    fn binding(&mut self, keyword: &str, b: &Binding) {
        let head = format!(
            "{keyword} = {} where {} == ",
            b.kind.name,
            field_path(&b.field)
        );
        let lines = with_cond(&head, &b.value, 0);
        self.leaf(b.span, 0, lines);
    }

    fn host(&mut self, h: &HostBlock) {
        let open = self.open_after(h.host.span.end);
        let header = format!("host {}", string(&h.host.value));
        self.block(h.span, open, 0, header, |f, indent| {
            for route in &h.routes {
                f.route(route, indent);
            }
        });
    }

    fn route(&mut self, r: &Route, indent: usize) {
        let methods: Vec<&str> = r.methods.iter().map(|m| m.name.as_str()).collect();
        let mut header = format!("route {} {}", methods.join("|"), string(&r.path.value));
        let mut after = r.path.span.end;
        if let Some(t) = &r.target {
            header.push_str(&format!(" -> {t}"));
            after = t.span.end;
        }
        let open = self.open_after(after);
        self.block(r.span, open, indent, header, |f, indent| {
            for rule in &r.rules {
                f.rule(rule, indent);
            }
        });
    }

    fn rule(&mut self, r: &Rule, indent: usize) {
        let mut head = r.effect.as_str().to_string();
        if let Some(name) = &r.name {
            head.push(' ');
            head.push_str(&name.name);
        }
        let lines = match &r.cond {
            None => vec![head],
            Some(cond) => {
                if r.name.is_some() {
                    head.push_str(" when ");
                } else {
                    head.push(' ');
                }
                with_cond(&head, cond, indent)
            }
        };
        self.leaf(r.span, indent, lines);
    }

    fn test(&mut self, t: &TestBlock) {
        let open = self.open_after(t.name.span.end);
        let header = format!("test {}", string(&t.name.value));
        self.block(t.span, open, 0, header, |f, indent| {
            for line in &t.lines {
                let code = test_line(line);
                f.leaf(line.span(), indent, vec![code]);
            }
        });
    }

    /// The lines as text; trailing comments of consecutive lines are aligned.
    fn render(self) -> String {
        let mut out = String::new();
        let lines = self.lines;
        let mut i = 0;
        while let Some(line) = lines.get(i) {
            // a run of code lines that all carry a trailing comment
            let run_end = if line.code.is_empty() || line.comment.is_none() {
                i + 1
            } else {
                let mut j = i;
                while lines
                    .get(j)
                    .is_some_and(|l| !l.code.is_empty() && l.comment.is_some())
                {
                    j += 1;
                }
                j
            };
            let width = lines
                .get(i..run_end)
                .unwrap_or(&[])
                .iter()
                .map(|l| l.indent + l.code.len())
                .max()
                .unwrap_or(0);
            for l in lines.get(i..run_end).unwrap_or(&[]) {
                let mut text = " ".repeat(l.indent);
                text.push_str(&l.code);
                if let Some(c) = &l.comment {
                    if !l.code.is_empty() {
                        let pad = width - (l.indent + l.code.len()) + 2;
                        text.push_str(&" ".repeat(pad));
                    }
                    text.push_str(c);
                }
                if l.code.is_empty() && l.comment.is_none() {
                    text.clear();
                }
                out.push_str(&text);
                out.push('\n');
            }
            i = run_end;
        }
        out
    }
}

/// `head` followed by `cond`; when too long, breaks before each operator of the
/// condition's outermost `and`/`or` chain, operands aligned under the first.
fn with_cond(head: &str, cond: &Expr, indent: usize) -> Vec<String> {
    let one = format!("{head}{}", expr(cond));
    if indent + one.len() <= WIDTH {
        return vec![one];
    }
    let (op, operands) = match &cond.kind {
        ExprKind::Or(..) => ("or", chain(cond, true)),
        ExprKind::And(..) => ("and", chain(cond, false)),
        _ => return vec![one],
    };
    let min = if op == "or" { 2 } else { 3 };
    let mut lines = Vec::new();
    for (i, e) in operands.iter().enumerate() {
        if i == 0 {
            lines.push(format!("{head}{}", expr_at(e, min - 1)));
        } else {
            let pad = head.len().saturating_sub(op.len() + 1);
            lines.push(format!("{}{op} {}", " ".repeat(pad), expr_at(e, min)));
        }
    }
    lines
}

/// The operands of a left-nested `or` (or `and`) chain, in order.
fn chain(e: &Expr, or: bool) -> Vec<&Expr> {
    let mut out = Vec::new();
    let mut cur = e;
    loop {
        match (&cur.kind, or) {
            (ExprKind::Or(l, r), true) | (ExprKind::And(l, r), false) => {
                out.push(r.as_ref());
                cur = l;
            }
            _ => {
                out.push(cur);
                break;
            }
        }
    }
    out.reverse();
    out
}

fn type_expr(t: &TypeExpr) -> String {
    match t {
        TypeExpr::Named(i) => i.name.clone(),
        TypeExpr::Set(inner, _) => format!("set<{}>", type_expr(inner)),
        TypeExpr::Optional(inner, _) => format!("{}?", type_expr(inner)),
    }
}

fn field_path(segs: &[PathSeg]) -> String {
    let mut out = String::new();
    for (i, seg) in segs.iter().enumerate() {
        match seg {
            PathSeg::Field(f) if i == 0 => out.push_str(&f.name),
            PathSeg::Field(f) => {
                out.push('.');
                out.push_str(&f.name);
            }
            PathSeg::Index(s) => out.push_str(&format!("[{}]", string(&s.value))),
        }
    }
    out
}

fn test_line(line: &TestLine) -> String {
    match line {
        TestLine::Request { method, url, .. } => {
            format!("request {} {}", method.name, string(&url.value))
        }
        TestLine::Claims { fields, .. } => {
            if fields.is_empty() {
                return "claims {}".to_string();
            }
            let fields: Vec<String> = fields
                .iter()
                .map(|(k, v)| format!("{}: {}", k.name, expr(v)))
                .collect();
            format!("claims {{ {} }}", fields.join(", "))
        }
        TestLine::At { time, .. } => format!("at time {}", lit(time)),
        TestLine::Ip { addr, .. } => format!("ip {}", lit(addr)),
        TestLine::Country { country, .. } => format!("country {}", lit(country)),
        TestLine::Expect { outcome, by, .. } => match by {
            Some(by) => format!("expect {} by {}", outcome.name, by.name),
            None => format!("expect {}", outcome.name),
        },
    }
}

fn lit(s: &StrLit) -> String {
    string(&s.value)
}

/// A string literal with the escapes it needs.
fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{{{:x}}}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// How tightly an expression binds: 1 `or`, 2 `and`, 3 `not`, 4 comparisons, 5 `+ -`, 6 atoms.
fn prec(e: &Expr) -> u8 {
    match &e.kind {
        ExprKind::Or(..) => 1,
        ExprKind::And(..) => 2,
        ExprKind::Not(..) => 3,
        ExprKind::Has(..) => 4,
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 5,
        ExprKind::Binary(..) => 4,
        _ => 6,
    }
}

/// `e`, in parentheses when it binds more loosely than `min` (never for a parsed AST,
/// whose parentheses are `Paren` nodes).
fn expr_at(e: &Expr, min: u8) -> String {
    if prec(e) < min {
        format!("({})", expr(e))
    } else {
        expr(e)
    }
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Str(s) => string(s),
        ExprKind::Int(n) => n.to_string(),
        ExprKind::Bool(b) => b.to_string(),
        ExprKind::Duration(_, text) => text.clone(),
        ExprKind::Time(s) => format!("time {}", lit(s)),
        ExprKind::Ip(s) => format!("ip {}", lit(s)),
        ExprKind::List(items) => {
            let items: Vec<String> = items.iter().map(expr).collect();
            format!("[{}]", items.join(", "))
        }
        ExprKind::EntityRef(r) => r.to_string(),
        ExprKind::Path(root, segs) => {
            let mut out = root.name.clone();
            for seg in segs {
                match seg {
                    PathSeg::Field(f) => {
                        out.push('.');
                        out.push_str(&f.name);
                    }
                    PathSeg::Index(s) => out.push_str(&format!("[{}]", string(&s.value))),
                }
            }
            out
        }
        ExprKind::Call(name, args) => {
            let args: Vec<String> = args.iter().map(expr).collect();
            format!("{}({})", name.name, args.join(", "))
        }
        ExprKind::Binary(op @ (BinOp::Add | BinOp::Sub), l, r) => {
            format!("{} {} {}", expr_at(l, 5), op.as_str(), expr_at(r, 6))
        }
        ExprKind::Binary(op, l, r) => {
            format!("{} {} {}", expr_at(l, 5), op.as_str(), expr_at(r, 5))
        }
        ExprKind::Has(root, field) => format!("{} has {}", expr_at(root, 5), field.name),
        ExprKind::Not(x) => format!("not {}", expr_at(x, 3)),
        ExprKind::And(l, r) => format!("{} and {}", expr_at(l, 2), expr_at(r, 3)),
        ExprKind::Or(l, r) => format!("{} or {}", expr_at(l, 1), expr_at(r, 2)),
        ExprKind::Paren(x) => format!("({})", expr(x)),
    }
}
