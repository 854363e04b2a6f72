//! The checker: names, types, catalog binding and lints, from the AST to the typed IR.
//!
//! [`check`] keeps going after an error and reports every problem it finds; it returns a
//! [`Program`] only when there is no error and a catalog was given (or none is needed).

pub mod diag;
mod expr;
mod routes;
mod schema;
mod test_blocks;
mod universe;

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};

use crate::catalog::{Catalog, EntityId};
use crate::ir::{self, Binding, ExprId, Program, Rule, RuleIdx, SlotIdx};
use crate::syntax::ast::{self, Effect, Item, Span};
pub use diag::{Diagnostic, Level};
use schema::Schema;

/// What the checker needs besides the AST.
pub struct Input<'a> {
    /// The policy path as given on the command line (rule sources name it).
    pub path: &'a str,
    /// The policy source text.
    pub source: &'a str,
    /// The catalog; without one, entity refs are not checked and no program is produced.
    pub catalog: Option<&'a Catalog>,
}

/// The result of checking: every diagnostic, and the program when there is no error.
pub struct Checked {
    pub diagnostics: Vec<Diagnostic>,
    pub program: Option<Program>,
}

impl Checked {
    pub fn has_errors(&self) -> bool {
        self.diagnostics.iter().any(Diagnostic::is_error)
    }
}

/// Checks a parsed policy and lowers it to the IR.
pub fn check(file: &ast::File, input: &Input<'_>) -> Checked {
    let mut cx = Cx::new(input);
    cx.run(file);
    let mut diagnostics = std::mem::take(&mut cx.diags);
    dedup(&mut diagnostics);
    let program = if diagnostics.iter().any(Diagnostic::is_error) || input.catalog.is_none() {
        None
    } else {
        Some(cx.finish())
    };
    Checked {
        diagnostics,
        program,
    }
}

fn dedup(diags: &mut Vec<Diagnostic>) {
    let mut seen = BTreeSet::new();
    diags.retain(|d| seen.insert((d.span, d.code, d.message.clone())));
    diags.sort_by_key(|d| (d.span.start, d.level));
}

/// `sha256:<hex>` of some bytes.
pub fn sha256(bytes: &[u8]) -> String {
    let digest = Sha256::digest(bytes);
    let mut s = String::with_capacity(7 + 64);
    s.push_str("sha256:");
    for b in digest {
        s.push_str(&format!("{b:02x}"));
    }
    s
}

/// `LINE:COL` (1-based, columns in characters) of a byte offset.
pub fn line_col(source: &str, offset: usize) -> (usize, usize) {
    let before = source.get(..offset).unwrap_or(source);
    let line = before.matches('\n').count() + 1;
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let col = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    (line, col)
}

/// The deepest chain of roles inside roles that a role may expand to.
pub(crate) const MAX_ROLE_DEPTH: u64 = 64;
/// The most expressions one role may expand to.
pub(crate) const MAX_ROLE_EXPANSION: u64 = 100_000;
/// The most expressions a whole policy may lower to, role expansions included.
pub(crate) const MAX_EXPRS: usize = 4_000_000;

/// A role definition, from the policy or from a stdlib module.
struct RoleDef<'f> {
    decl: &'f ast::RoleDecl,
    /// The stdlib module it comes from; `None` for the policy's own roles.
    module: Option<&'static str>,
}

/// The checker's state while it walks one policy.
pub(crate) struct Cx<'a, 'f> {
    input: &'a Input<'a>,
    catalog: Option<&'a Catalog>,
    diags: Vec<Diagnostic>,
    schema: Schema,
    roles: BTreeMap<String, RoleDef<'f>>,
    used_roles: BTreeSet<String>,
    /// Roles currently being inlined (recursion guard).
    role_stack: Vec<String>,
    /// Roles whose expansion is too deep or too large ([`Cx::role_expansion_limits`]): never
    /// expanded, each reported once.
    oversized_roles: BTreeSet<String>,
    /// The roles each role's body names (for marking what an unexpanded role uses).
    role_graph: BTreeMap<String, Vec<String>>,
    /// Set once the program has grown past [`MAX_EXPRS`] and that was reported: no role is
    /// expanded after.
    too_large_reported: bool,
    program: Program,
    /// Claim slots by claim name; request slots by field name.
    slot_of: BTreeMap<String, SlotIdx>,
    /// Entities the program names, with the catalog id behind each `EntityIdx` so far.
    entity_ids: Vec<EntityId>,
    entity_of: BTreeMap<EntityId, ir::EntityIdx>,
    /// Field keys the program reads.
    field_of: BTreeMap<ir::FieldKey, ir::FieldIdx>,
    /// Where each line of the source starts, so that rule sources do not rescan the text.
    line_starts: Vec<usize>,
    /// Each route's head (`route METHODS "PATH" [-> ENTITY]`), where route-level diagnostics point.
    route_heads: Vec<Span>,
    /// The candidates of the route being checked, when its target is templated.
    current_route_candidates: Option<Vec<EntityId>>,
    principal_spec: Option<BindingSpec>,
    service_spec: Option<BindingSpec>,
    principal_read: Option<Span>,
    reads_time: bool,
    policy_decl: Option<&'f ast::PolicyDecl>,
    principal_ast: Option<&'f ast::Binding>,
    service_ast: Option<&'f ast::Binding>,
}

impl<'a, 'f> Cx<'a, 'f> {
    fn new(input: &'a Input<'a>) -> Self {
        let mut program = Program {
            name: String::new(),
            version: None,
            source_hash: sha256(input.source.as_bytes()),
            catalog_hash: input.catalog.map_or_else(|| sha256(b""), Catalog::hash),
            claims: Vec::new(),
            slots: Vec::new(),
            routes: Vec::new(),
            route_order: Vec::new(),
            rules: Vec::new(),
            top_denies: Vec::new(),
            exprs: Vec::new(),
            spans: Vec::new(),
            entities: ir::Entities::default(),
            principal: None,
            service: None,
            tests: Vec::new(),
        };
        let mut slot_of = BTreeMap::new();
        for (name, source) in [
            ("request.method", ir::SlotSource::Method),
            ("request.host", ir::SlotSource::Host),
            ("request.path", ir::SlotSource::Path),
        ] {
            slot_of.insert(name.to_string(), SlotIdx(program.slots.len() as u32));
            program.slots.push(ir::Slot {
                name: name.to_string(),
                source,
                ty: ir::SlotType::String,
                optional: false,
            });
        }
        Cx {
            input,
            catalog: input.catalog,
            diags: Vec::new(),
            schema: Schema::default(),
            roles: BTreeMap::new(),
            used_roles: BTreeSet::new(),
            role_stack: Vec::new(),
            oversized_roles: BTreeSet::new(),
            role_graph: BTreeMap::new(),
            too_large_reported: false,
            program,
            slot_of,
            entity_ids: Vec::new(),
            entity_of: BTreeMap::new(),
            field_of: BTreeMap::new(),
            line_starts: std::iter::once(0)
                .chain(input.source.match_indices('\n').map(|(i, _)| i + 1))
                .collect(),
            route_heads: Vec::new(),
            current_route_candidates: None,
            principal_spec: None,
            service_spec: None,
            principal_read: None,
            reads_time: false,
            policy_decl: None,
            principal_ast: None,
            service_ast: None,
        }
    }

    fn emit(&mut self, d: Diagnostic) {
        self.diags.push(d);
    }

    /// [`line_col`] through the line index: `LINE:COL` of an offset in time logarithmic in the lines.
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let line = self.line_starts.partition_point(|s| *s <= offset).max(1);
        let start = self.line_starts.get(line - 1).copied().unwrap_or(0);
        let col = self
            .input
            .source
            .get(start..offset)
            .map_or(0, |s| s.chars().count())
            + 1;
        (line, col)
    }

    /// Whether an error was reported inside `span` (so a lint about it would only repeat the error).
    fn erred_within(&self, span: Span) -> bool {
        self.diags
            .iter()
            .any(|d| d.is_error() && d.span.start >= span.start && d.span.end <= span.end)
    }

    fn run(&mut self, file: &'f ast::File) {
        // Declarations first, so that rules may use what is declared below them.
        self.declarations(file);
        self.role_expansion_limits();
        if self.catalog.is_none() {
            self.emit(
                Diagnostic::warning(
                    "edgeward::no_catalog",
                    Span::new(0, 0),
                    "entity refs were not checked: no catalog given",
                )
                .help("pass `--catalog PATH` to check refs and bindings against your Backstage catalog"),
            );
        }
        self.bindings();
        for item in &file.items {
            match item {
                Item::Deny(rule) => self.top_deny(rule),
                Item::Host(host) => {
                    for route in &host.routes {
                        self.route(Some(&host.host), route);
                    }
                }
                Item::Route(route) => self.route(None, route),
                _ => {}
            }
        }
        self.route_checks();
        self.unused_roles();
        if let (Some(span), None) = (self.principal_read, self.principal_ast) {
            self.emit(
                Diagnostic::warning(
                    "edgeward::no_principal_binding",
                    span,
                    "`principal` is read but the policy has no `principal =` binding",
                )
                .label("never bound: reading it always errs, so this rule fails closed")
                .help("add a binding, e.g. `principal = user where spec.profile.email == claims.email`"),
            );
        }
        for item in &file.items {
            if let Item::Test(t) = item {
                self.test_block(t);
            }
        }
    }

    fn declarations(&mut self, file: &'f ast::File) {
        for item in &file.items {
            match item {
                Item::Policy(p) => {
                    if let Some(first) = self.policy_decl {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::duplicate_item",
                                p.span,
                                "a second `policy` item",
                            )
                            .label("second `policy` here")
                            .related(first.span, "first here"),
                        );
                    } else {
                        self.policy_decl = Some(p);
                        self.program.name = p.name.name.clone();
                        self.program.version = p.version.map(|(v, _)| v);
                    }
                }
                Item::Use(u) => self.use_module(u),
                Item::Claims(c) => self.schema.declare_block(c, None, &mut self.diags),
                Item::Principal(b) => {
                    if let Some(first) = self.principal_ast {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::duplicate_item",
                                b.span,
                                "a second `principal` binding",
                            )
                            .related(first.span, "first here"),
                        );
                    } else {
                        self.principal_ast = Some(b);
                    }
                }
                Item::Service(b) => {
                    if let Some(first) = self.service_ast {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::duplicate_item",
                                b.span,
                                "a second `service` binding",
                            )
                            .related(first.span, "first here"),
                        );
                    } else {
                        self.service_ast = Some(b);
                    }
                }
                Item::Role(r) => self.define_role(r, None),
                _ => {}
            }
        }
        if self.program.name.is_empty() {
            self.program.name = "policy".to_string();
        }
        self.program.claims = self.schema.decls();
    }

    /// Roles are expanded where they are used, so a chain of roles nests that deep and a role
    /// using another twice doubles it: a role nesting more than [`MAX_ROLE_DEPTH`] roles deep or
    /// expanding to more than [`MAX_ROLE_EXPANSION`] expressions is an error, found here without
    /// expanding anything (the graph of roles walked with a stack of its own).
    fn role_expansion_limits(&mut self) {
        // Each role's own expressions, and the roles its body names (once per use).
        let mut uses: BTreeMap<&str, (u64, Vec<&str>)> = BTreeMap::new();
        for (name, def) in &self.roles {
            let mut own = 0u64;
            let mut named = Vec::new();
            let mut todo = vec![&def.decl.body];
            while let Some(e) = todo.pop() {
                own += 1;
                match &e.kind {
                    ast::ExprKind::Call(role, args) => {
                        named.push(role.name.as_str());
                        todo.extend(args);
                    }
                    ast::ExprKind::Path(root, segs) if segs.is_empty() => {
                        named.push(root.name.as_str())
                    }
                    ast::ExprKind::List(items) => todo.extend(items),
                    ast::ExprKind::Binary(_, a, b)
                    | ast::ExprKind::And(a, b)
                    | ast::ExprKind::Or(a, b) => {
                        todo.push(a);
                        todo.push(b);
                    }
                    ast::ExprKind::Has(a, _) | ast::ExprKind::Not(a) | ast::ExprKind::Paren(a) => {
                        todo.push(a)
                    }
                    _ => {}
                }
            }
            named.retain(|n| self.roles.contains_key(*n));
            uses.insert(name.as_str(), (own, named));
        }
        // (depth, expressions) of each role, after the roles it names; a role met again while
        // its own are being measured is recursive (reported where it is used) and counts nothing.
        let mut measured: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
        let mut open: BTreeSet<&str> = BTreeSet::new();
        for start in uses.keys().copied() {
            let mut stack = vec![(start, false)];
            while let Some((role, named_done)) = stack.pop() {
                if measured.contains_key(role) {
                    continue;
                }
                let Some((own, named)) = uses.get(role) else {
                    continue;
                };
                if named_done {
                    let (mut depth, mut size) = (0u64, *own);
                    for n in named {
                        let (d, s) = measured.get(n).copied().unwrap_or((0, 0));
                        depth = depth.max(d);
                        size = size.saturating_add(s);
                    }
                    measured.insert(role, (depth + 1, size));
                    open.remove(role);
                } else if open.insert(role) {
                    stack.push((role, true));
                    for n in named {
                        if !measured.contains_key(n) && !open.contains(n) {
                            stack.push((n, false));
                        }
                    }
                }
            }
        }
        let over = |role: &str| {
            measured
                .get(role)
                .is_some_and(|(d, s)| *d > MAX_ROLE_DEPTH || *s > MAX_ROLE_EXPANSION)
        };
        // Every role past a limit is left unexpanded; reported are those where a limit is first
        // passed (none of the roles they name is past one), which is where to change the policy.
        self.role_graph = uses
            .iter()
            .map(|(name, (_, named))| {
                let named = named.iter().map(|n| (*n).to_owned()).collect();
                ((*name).to_owned(), named)
            })
            .collect();
        let mut oversized = Vec::new();
        for (name, (depth, size)) in &measured {
            if over(name) {
                let first = uses
                    .get(name)
                    .is_none_or(|(_, named)| !named.iter().any(|n| over(n)));
                oversized.push(((*name).to_owned(), *depth, *size, first));
            }
        }
        for (name, depth, size, first) in oversized {
            if !first {
                self.oversized_roles.insert(name);
                continue;
            }
            let Some(span) = self.roles.get(&name).map(|d| d.decl.name.span) else {
                continue;
            };
            let why = if depth > MAX_ROLE_DEPTH {
                format!("role `{name}` nests {depth} roles deep (at most {MAX_ROLE_DEPTH})")
            } else {
                format!(
                    "role `{name}` expands to {size} expressions (at most {MAX_ROLE_EXPANSION})"
                )
            };
            self.emit(
                Diagnostic::error("edgeward::role_too_large", span, why)
                    .label("expanded wherever it is used")
                    .help("roles are expanded where they are used: use fewer roles inside roles, or name a role once in a rule instead of twice"),
            );
            self.oversized_roles.insert(name);
        }
    }

    fn define_role(&mut self, decl: &'f ast::RoleDecl, module: Option<&'static str>) {
        let name = decl.name.name.clone();
        if let Some(prev) = self.roles.get(&name) {
            let d = Diagnostic::error(
                "edgeward::duplicate_item",
                decl.name.span,
                format!("role `{name}` is defined twice"),
            )
            .label("second definition");
            let d = match prev.module {
                None => d.related(prev.decl.name.span, "first defined here"),
                Some(m) => d.help(format!(
                    "`std::{m}` already defines `{name}`: pick another name"
                )),
            };
            self.emit(d);
            return;
        }
        self.roles.insert(name, RoleDef { decl, module });
    }

    /// Adds a rule to the table and returns its index.
    fn push_rule(
        &mut self,
        name: String,
        effect: Effect,
        route: Option<u32>,
        span: Span,
        cond: Option<ExprId>,
    ) -> RuleIdx {
        let (line, col) = self.line_col(span.start);
        let idx = RuleIdx(self.program.rules.len() as u32);
        self.program.rules.push(Rule {
            name,
            effect,
            route,
            source: format!("{}:{line}:{col}", self.input.path),
            cond,
            span,
        });
        idx
    }

    fn top_deny(&mut self, rule: &ast::Rule) {
        let name = rule
            .name
            .as_ref()
            .map_or_else(String::new, |n| n.name.clone());
        if let Some(prev) = self
            .program
            .top_denies
            .iter()
            .filter_map(|r| self.program.rule(*r))
            .find(|r| r.name == name)
        {
            let prev_span = prev.span;
            self.emit(
                Diagnostic::error(
                    "edgeward::duplicate_rule",
                    rule.span,
                    format!("a second top-level rule named `{name}`"),
                )
                .related(prev_span, "first here")
                .help("rule names are unique: they name the rule in every decision and report"),
            );
        }
        let ctx = expr::Ctx::top_level();
        let cond = rule.cond.as_ref().map(|c| self.lower_rule_cond(c, &ctx));
        let idx = self.push_rule(name, Effect::Deny, None, rule.span, cond);
        self.program.top_denies.push(idx);
    }

    /// Lowers a rule's condition, which must be a bool.
    fn lower_rule_cond(&mut self, e: &ast::Expr, ctx: &expr::Ctx) -> ExprId {
        let facts = expr::Facts::default();
        let (id, ty) = self.lower(e, ctx, &facts);
        if !matches!(ty, expr::Ty::Bool | expr::Ty::Err) {
            self.emit(
                Diagnostic::error(
                    "edgeward::type_mismatch",
                    e.span,
                    "a rule's condition must be true or false",
                )
                .label(format!("this is {}", ty.describe())),
            );
        }
        id
    }

    /// Interns an entity of the catalog.
    fn entity(&mut self, id: EntityId) -> ir::EntityIdx {
        if let Some(e) = self.entity_of.get(&id) {
            return *e;
        }
        let e = ir::EntityIdx(self.entity_ids.len() as u32);
        self.entity_ids.push(id);
        self.entity_of.insert(id, e);
        e
    }

    fn field(&mut self, key: ir::FieldKey) -> ir::FieldIdx {
        if let Some(f) = self.field_of.get(&key) {
            return *f;
        }
        let f = ir::FieldIdx(self.field_of.len() as u32);
        self.field_of.insert(key, f);
        f
    }

    fn finish(mut self) -> Program {
        self.program.route_order = crate::ir::optimise::route_order(&self.program.routes);
        universe::build(&mut self);
        crate::ir::optimise::fold(&mut self.program);
        self.program
    }
}

/// The binding of a `principal`/`service` item, resolved.
pub(crate) struct BindingSpec {
    pub kind: String,
    pub field: Vec<String>,
    pub field_text: String,
    pub claim: SlotIdx,
}

impl Binding {
    pub(crate) fn from_spec(spec: &BindingSpec, ascii_case_insensitive: bool) -> Binding {
        Binding {
            kind: spec.kind.clone(),
            field_text: spec.field_text.clone(),
            claim: spec.claim,
            ascii_case_insensitive,
            table: BTreeMap::new(),
            ambiguous: Vec::new(),
        }
    }
}
