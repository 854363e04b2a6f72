//! The typed IR: names resolved, roles inlined, sugar gone; expressions in an arena indexed by [`ExprId`]
//! with their source spans in a side table, and the catalog pruned to the facts the policy can reach.
//!
//! Every later stage (the interpreter, the code generator, the manifest) reads a [`Program`] and nothing else.

pub mod entities;
pub mod optimise;
pub mod text;

use std::net::IpAddr;

pub use crate::input::{ClaimDecl, ClaimType};
use crate::syntax::ast::{Effect, Span};
pub use entities::{Binding, Entities, EntityIdx, FieldIdx, FieldKey, Rel};

/// Index of an expression in [`Program::exprs`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ExprId(pub u32);

/// Index of an input slot in [`Program::slots`] (= the encoding order).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SlotIdx(pub u32);

/// Index of a rule in [`Program::rules`] (= the manifest's rule table).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RuleIdx(pub u32);

/// The method slot, always first.
pub const SLOT_METHOD: SlotIdx = SlotIdx(0);
/// The host slot (lowercase, no port), always second.
pub const SLOT_HOST: SlotIdx = SlotIdx(1);
/// The path slot (WHATWG pathname), always third.
pub const SLOT_PATH: SlotIdx = SlotIdx(2);

/// The type of an input slot (DESIGN §3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SlotType {
    String,
    Set,
    /// Int64; times are Unix seconds.
    Int,
    Bool,
    Ip,
}

impl SlotType {
    /// The manifest spelling.
    pub fn manifest_name(self) -> &'static str {
        match self {
            SlotType::String => "string",
            SlotType::Set => "set",
            SlotType::Int => "int",
            SlotType::Bool => "bool",
            SlotType::Ip => "ip",
        }
    }

    /// The encoding's tag byte.
    pub fn tag(self) -> u8 {
        match self {
            SlotType::String => 1,
            SlotType::Set => 2,
            SlotType::Int => 3,
            SlotType::Bool => 4,
            SlotType::Ip => 5,
        }
    }
}

/// What an input slot carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SlotSource {
    Method,
    Host,
    Path,
    Time,
    Ip,
    Country,
    Claim(String),
}

/// One input slot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Slot {
    /// `request.method`, `claims.email`, ...
    pub name: String,
    pub source: SlotSource,
    pub ty: SlotType,
    pub optional: bool,
}

impl Slot {
    /// Whether the slot carries a claim (`claims.NAME`).
    pub fn is_claim(&self) -> bool {
        matches!(self.source, SlotSource::Claim(_))
    }
}

/// The methods of a route.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Methods {
    Any,
    /// Uppercase, as written, no duplicates.
    List(Vec<String>),
}

impl Methods {
    pub fn includes(&self, method: &str) -> bool {
        match self {
            Methods::Any => true,
            Methods::List(ms) => ms.iter().any(|m| m == method),
        }
    }
}

/// One segment of a route's path pattern (DESIGN §7.2).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    /// Matches itself exactly, case-sensitive, not percent-decoded.
    Lit(String),
    /// `{name}`: one non-empty segment; the value is percent-decoded. Holds the param index.
    Param(u32),
}

/// A route's entity target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A fixed entity.
    Fixed(EntityIdx),
    /// `kind:namespace/{param}...`: resolved per request; a name not in the catalog is `unknown_target`.
    Template {
        /// Lowercase.
        kind: String,
        /// Lowercase.
        namespace: String,
        parts: Vec<TemplatePart>,
        /// The catalog entities this template can name: `(lowercase name, entity)`, sorted by name.
        candidates: Vec<(String, EntityIdx)>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    Lit(String),
    /// The decoded value of the route's param with this index.
    Param(u32),
}

/// A route, in source order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub methods: Methods,
    /// As written, uppercase, `|`-joined; `ANY` stays `ANY`.
    pub methods_text: String,
    /// Lowercase; `None` for an any-host route.
    pub host: Option<String>,
    /// The path pattern as written.
    pub path_text: String,
    pub segments: Vec<Seg>,
    /// Ends with `*` (zero or more further segments).
    pub star: bool,
    /// Param names in path order; `Seg::Param(i)` names `params[i]`.
    pub params: Vec<String>,
    pub target: Option<Target>,
    /// `kind:namespace/name` lowercase with `{param}` kept.
    pub target_text: Option<String>,
    /// The route's rules of each effect, each list in source order.
    pub denies: Vec<RuleIdx>,
    pub requires: Vec<RuleIdx>,
    pub allows: Vec<RuleIdx>,
    pub span: Span,
}

/// A rule, in source order (the manifest's rule table).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    /// As reported: `require#N` for an unnamed require.
    pub name: String,
    pub effect: Effect,
    /// `None` for a top-level deny.
    pub route: Option<u32>,
    /// `FILE:LINE:COL`.
    pub source: String,
    /// `None`: holds unconditionally.
    pub cond: Option<ExprId>,
    pub span: Span,
}

/// A typed expression. Values are bool, int (times are Unix seconds, durations seconds), string,
/// set of strings, ip, cidr, or entity; any node may err instead (DESIGN §7.3).
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    Bool(bool),
    Int(i64),
    Str(String),
    /// A literal list of strings (a set value).
    StrList(Vec<String>),
    /// A CIDR literal: network address and prefix length. The checker writes IPv4 networks as
    /// IPv4-mapped IPv6 with the prefix over 128 bits (prefix + 96); an `IpAddr::V4` address means
    /// a prefix over its 32 bits, and every host reads both forms alike.
    Cidr(IpAddr, u8),
    /// The value of an input slot; errs when the slot is absent.
    Slot(SlotIdx),
    /// Whether an input slot is present (`claims has x`, `request has ip`). Never errs.
    Has(SlotIdx),
    /// The percent-decoded value of the matched route's param.
    Param(u32),
    /// The route's target entity.
    Target,
    /// The bound principal; errs when unbound.
    Principal,
    /// A constant entity.
    Entity(EntityIdx),
    /// A string field of an entity value; errs when the entity lacks it.
    Field(ExprId, FieldIdx),
    /// An entity related to an entity value (`.owner`, `.system`); errs when absent or dangling.
    Related(ExprId, Rel),
    /// `l == r` / `l != r` on values of the same type (strings and entities included).
    Eq(ExprId, ExprId),
    Ne(ExprId, ExprId),
    /// Integer (time) comparisons.
    Lt(ExprId, ExprId),
    Le(ExprId, ExprId),
    Gt(ExprId, ExprId),
    Ge(ExprId, ExprId),
    /// String `elem` in set `set` (a claim set or a literal list).
    SetHas {
        set: ExprId,
        elem: ExprId,
    },
    /// Substring test: `haystack contains needle` on strings.
    StrContains {
        haystack: ExprId,
        needle: ExprId,
    },
    StartsWith(ExprId, ExprId),
    EndsWith(ExprId, ExprId),
    /// Whole-string glob: `*` any run, `?` one character.
    Matches(ExprId, ExprId),
    /// Ip in CIDR.
    IpIn(ExprId, ExprId),
    /// Entity in group, transitive through parents; a non-User is in no group.
    InGroup {
        member: ExprId,
        group: ExprId,
    },
    /// Backstage `isEntityOwner`.
    Owns {
        owner: ExprId,
        owned: ExprId,
    },
    /// Transitive containment (component → system → domain, subcomponents, subdomains).
    PartOf {
        part: ExprId,
        whole: ExprId,
    },
    Add(ExprId, ExprId),
    Sub(ExprId, ExprId),
    And(ExprId, ExprId),
    Or(ExprId, ExprId),
    Not(ExprId),
}

/// An expected outcome of a test block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expectation {
    /// `expect allow [by NAME]`
    Allow(Option<String>),
    /// `expect deny [by NAME]`: any deny outcome.
    Deny(Option<String>),
    /// `expect OUTCOME`: the outcome name of DESIGN §3.
    Outcome(String),
}

/// A checked test block.
#[derive(Debug, Clone, PartialEq)]
pub struct Test {
    pub name: String,
    pub request: crate::input::Request,
    pub expect: Expectation,
    pub span: Span,
}

/// A checked, lowered policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub name: String,
    pub version: Option<i64>,
    /// `sha256:...` of the policy source text.
    pub source_hash: String,
    /// `sha256:...` of the catalog (or of nothing).
    pub catalog_hash: String,
    /// Every declared claim, in declaration order.
    pub claims: Vec<ClaimDecl>,
    /// The input slots in encoding order: method, host, path first.
    pub slots: Vec<Slot>,
    pub routes: Vec<Route>,
    /// Route indices, most specific first (see [`optimise::route_order`]).
    pub route_order: Vec<u32>,
    pub rules: Vec<Rule>,
    /// Top-level deny rules in source order.
    pub top_denies: Vec<RuleIdx>,
    pub exprs: Vec<Expr>,
    /// Source span of each expression (side table, same index).
    pub spans: Vec<Span>,
    /// The catalog facts the policy can reach.
    pub entities: Entities,
    /// `principal = KIND where ...`
    pub principal: Option<Binding>,
    /// `service = KIND where ...`, tried when `principal` did not bind.
    pub service: Option<Binding>,
    pub tests: Vec<Test>,
}

impl Program {
    pub fn expr(&self, id: ExprId) -> Option<&Expr> {
        self.exprs.get(id.0 as usize)
    }

    pub fn span(&self, id: ExprId) -> Span {
        self.spans.get(id.0 as usize).copied().unwrap_or_default()
    }

    pub fn rule(&self, id: RuleIdx) -> Option<&Rule> {
        self.rules.get(id.0 as usize)
    }

    pub fn slot(&self, id: SlotIdx) -> Option<&Slot> {
        self.slots.get(id.0 as usize)
    }

    /// Adds an expression to the arena.
    pub fn push(&mut self, e: Expr, span: Span) -> ExprId {
        let id = ExprId(self.exprs.len() as u32);
        self.exprs.push(e);
        self.spans.push(span);
        id
    }
}
