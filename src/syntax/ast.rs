//! The spanned, untyped syntax tree of a `.ward` file, exactly as written.

use std::fmt;

/// A byte range in the source text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, PartialOrd, Ord)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }

    /// The smallest span covering both.
    pub fn join(self, other: Span) -> Span {
        Span {
            start: self.start.min(other.start),
            end: self.end.max(other.end),
        }
    }

    pub fn len(self) -> usize {
        self.end.saturating_sub(self.start)
    }

    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl From<Span> for miette::SourceSpan {
    fn from(s: Span) -> Self {
        miette::SourceSpan::new(s.start.into(), s.len())
    }
}

/// A name with where it was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A string literal: its decoded value and the span of the whole literal, quotes included.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrLit {
    pub value: String,
    pub span: Span,
}

/// A whole `.ward` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct File {
    pub items: Vec<Item>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    Policy(PolicyDecl),
    Use(UseDecl),
    Claims(ClaimsBlock),
    /// `principal = KIND where FIELD == EXPR`
    Principal(Binding),
    /// `service = KIND where FIELD == EXPR`
    Service(Binding),
    Role(RoleDecl),
    /// A top-level `deny NAME when EXPR`.
    Deny(Rule),
    Host(HostBlock),
    Route(Route),
    Test(TestBlock),
}

/// `policy NAME [version N]`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyDecl {
    pub name: Ident,
    pub version: Option<(i64, Span)>,
    pub span: Span,
}

/// `use std::MODULE` (the path as written, e.g. `std`, `okta`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UseDecl {
    pub path: Vec<Ident>,
    pub span: Span,
}

/// `claims { field: type, ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsBlock {
    pub fields: Vec<ClaimField>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimField {
    pub name: Ident,
    pub ty: TypeExpr,
    /// Doc comment lines (`///`) written above the field, without the slashes.
    pub doc: Vec<String>,
    pub span: Span,
}

/// A type as written: `string`, `set<string>`, `time?`, `Component`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TypeExpr {
    Named(Ident),
    Set(Box<TypeExpr>, Span),
    Optional(Box<TypeExpr>, Span),
}

impl TypeExpr {
    pub fn span(&self) -> Span {
        match self {
            TypeExpr::Named(i) => i.span,
            TypeExpr::Set(_, s) | TypeExpr::Optional(_, s) => *s,
        }
    }
}

/// `KIND where FIELD == EXPR` (the left side of `=` is implied by the item).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub kind: Ident,
    /// The entity field compared, e.g. `spec.profile.email` or `metadata.annotations["k"]`.
    pub field: Vec<PathSeg>,
    pub field_span: Span,
    pub value: Expr,
    pub span: Span,
}

/// `role NAME[(PARAM: Kind)] = EXPR`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleDecl {
    pub name: Ident,
    pub param: Option<RoleParam>,
    pub body: Expr,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RoleParam {
    pub name: Ident,
    pub kind: Ident,
}

/// `host "NAME" { routes }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostBlock {
    pub host: StrLit,
    pub routes: Vec<Route>,
    pub span: Span,
}

/// `route METHODS "PATH" [-> ENTITY] { rules }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The methods as written; `ANY` is one ident named `ANY`.
    pub methods: Vec<Ident>,
    pub path: StrLit,
    pub target: Option<EntityRefLit>,
    pub rules: Vec<Rule>,
    pub span: Span,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Effect {
    Allow,
    Deny,
    Require,
}

impl Effect {
    pub fn as_str(self) -> &'static str {
        match self {
            Effect::Allow => "allow",
            Effect::Deny => "deny",
            Effect::Require => "require",
        }
    }
}

/// `allow NAME [when EXPR]`, `deny NAME [when EXPR]`, `require EXPR`, `require NAME when EXPR`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub effect: Effect,
    /// `None` only for an unnamed `require`.
    pub name: Option<Ident>,
    /// `None` for an unconditional `allow NAME` / `deny NAME`.
    pub cond: Option<Expr>,
    /// Starts at the effect keyword (the manifest's `source` position).
    pub span: Span,
}

/// An entity ref literal as written: `group:default/platform-admins`, `component:{name}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntityRefLit {
    pub kind: String,
    pub namespace: Option<String>,
    /// May hold `{param}` templates in a route target.
    pub name: String,
    pub span: Span,
}

impl fmt::Display for EntityRefLit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{}:{}/{}", self.kind, ns, self.name),
            None => write!(f, "{}:{}", self.kind, self.name),
        }
    }
}

/// A segment of a path expression after its root: `.field` or `["key"]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathSeg {
    Field(Ident),
    Index(StrLit),
}

impl PathSeg {
    pub fn span(&self) -> Span {
        match self {
            PathSeg::Field(i) => i.span,
            PathSeg::Index(s) => s.span,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum BinOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Contains,
    StartsWith,
    EndsWith,
    Matches,
    Owns,
    PartOf,
    Add,
    Sub,
}

impl BinOp {
    pub fn as_str(self) -> &'static str {
        match self {
            BinOp::Eq => "==",
            BinOp::Ne => "!=",
            BinOp::Lt => "<",
            BinOp::Le => "<=",
            BinOp::Gt => ">",
            BinOp::Ge => ">=",
            BinOp::In => "in",
            BinOp::Contains => "contains",
            BinOp::StartsWith => "starts_with",
            BinOp::EndsWith => "ends_with",
            BinOp::Matches => "matches",
            BinOp::Owns => "owns",
            BinOp::PartOf => "part_of",
            BinOp::Add => "+",
            BinOp::Sub => "-",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExprKind {
    Str(String),
    Int(i64),
    Bool(bool),
    /// A duration literal in seconds, with its text (`15m`).
    Duration(i64, String),
    /// `time "RFC3339"`: the literal text, checked by the checker.
    Time(StrLit),
    /// `ip "CIDR"` or `ip "ADDR"`: the literal text, checked by the checker.
    Ip(StrLit),
    List(Vec<Expr>),
    EntityRef(EntityRefLit),
    /// A name and what follows it: `claims.email`, `target.metadata.labels["k"]`,
    /// `admin` (a role without parameters), `e` (a role parameter).
    Path(Ident, Vec<PathSeg>),
    /// A role call with arguments: `owner(target)`.
    Call(Ident, Vec<Expr>),
    Binary(BinOp, Box<Expr>, Box<Expr>),
    /// `ROOT has FIELD`: `claims has amr`, `request has country`.
    Has(Box<Expr>, Ident),
    Not(Box<Expr>),
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    /// `( E )`, kept so that the formatter writes the parentheses back.
    Paren(Box<Expr>),
}

/// `test "NAME" { ... }`
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestBlock {
    pub name: StrLit,
    pub lines: Vec<TestLine>,
    pub span: Span,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestLine {
    /// `request METHOD "URL"`
    Request {
        method: Ident,
        url: StrLit,
        span: Span,
    },
    /// `claims { name: literal, ... }`
    Claims {
        fields: Vec<(Ident, Expr)>,
        span: Span,
    },
    /// `at time "RFC3339"`
    At { time: StrLit, span: Span },
    /// `ip "ADDR"`
    Ip { addr: StrLit, span: Span },
    /// `country "CC"`
    Country { country: StrLit, span: Span },
    /// `expect allow [by NAME]`, `expect deny [by NAME]`, `expect OUTCOME`
    Expect {
        outcome: Ident,
        by: Option<Ident>,
        span: Span,
    },
}

impl TestLine {
    pub fn span(&self) -> Span {
        match self {
            TestLine::Request { span, .. }
            | TestLine::Claims { span, .. }
            | TestLine::At { span, .. }
            | TestLine::Ip { span, .. }
            | TestLine::Country { span, .. }
            | TestLine::Expect { span, .. } => *span,
        }
    }
}
