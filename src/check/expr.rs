//! Expressions: name resolution, types, the `has` guard rule, role inlining, lowering to IR nodes.

use std::collections::BTreeSet;

use super::Cx;
use super::diag::Diagnostic;
use crate::catalog::EntityRef;
use crate::input::ClaimType;
use crate::ir::{Expr, ExprId, FieldKey, Rel, SlotIdx, SlotSource, SlotType};
use crate::syntax::ast::{self, BinOp, ExprKind, PathSeg, Span};
use crate::syntax::fuzzy::suggest;

/// The type of a checked expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Ty {
    Bool,
    Int,
    Str,
    Time,
    Duration,
    Ip,
    Cidr,
    Set,
    /// An entity, of a known lowercase kind when known.
    Entity(Option<String>),
    /// Already reported: no further errors about it.
    Err,
}

impl Ty {
    pub fn describe(&self) -> String {
        match self {
            Ty::Bool => "a bool".into(),
            Ty::Int => "an int".into(),
            Ty::Str => "a string".into(),
            Ty::Time => "a time".into(),
            Ty::Duration => "a duration".into(),
            Ty::Ip => "an ip address".into(),
            Ty::Cidr => "an ip range".into(),
            Ty::Set => "a set of strings".into(),
            Ty::Entity(Some(k)) => format!("a `{}` entity", capitalise(k)),
            Ty::Entity(None) => "an entity".into(),
            Ty::Err => "an error".into(),
        }
    }
}

/// The catalog kinds an entity type may name, lowercase.
pub(crate) const KINDS: &[&str] = &[
    "component",
    "api",
    "resource",
    "system",
    "domain",
    "group",
    "user",
    "location",
];

/// `Component` for `component`, `API` for `api`.
pub(crate) fn capitalise(kind: &str) -> String {
    match kind {
        "api" => "API".into(),
        k => {
            let mut c = k.chars();
            c.next().map_or_else(String::new, |f| {
                f.to_uppercase().collect::<String>() + c.as_str()
            })
        }
    }
}

/// Where an expression is: which route (for `params` and `target`) and which role parameter.
#[derive(Debug, Clone, Default)]
pub(crate) struct Ctx {
    /// The route's param names; `None` outside a route.
    pub params: Option<Vec<String>>,
    /// The route's target kind; `None` when it has no target.
    pub target: Option<Option<String>>,
    /// Whether a route is in scope (top-level denies have none).
    pub in_route: bool,
    /// The role parameter in scope and the argument bound to it.
    pub role_param: Option<(String, ExprId, Ty)>,
    /// Checking an unused role on its own: `params` and `target` are taken as given.
    pub permissive: bool,
}

impl Ctx {
    pub fn top_level() -> Ctx {
        Ctx::default()
    }
}

/// Slots known present: guarded by `has` in the same conjunction.
#[derive(Debug, Clone, Default)]
pub(crate) struct Facts {
    pub present: BTreeSet<SlotIdx>,
}

impl<'a, 'f> Cx<'a, 'f> {
    fn push(&mut self, e: Expr, span: Span) -> ExprId {
        self.program.push(e, span)
    }

    /// The slot of a claim, creating it on first read.
    pub(crate) fn claim_slot(&mut self, name: &str) -> Option<(SlotIdx, ClaimType, bool)> {
        let decl = self.schema.get(name)?.decl.clone();
        let key = format!("claims.{name}");
        let ty = match decl.ty {
            ClaimType::String => SlotType::String,
            ClaimType::Set => SlotType::Set,
            ClaimType::Int | ClaimType::Time => SlotType::Int,
            ClaimType::Bool => SlotType::Bool,
        };
        let idx = self.slot(&key, SlotSource::Claim(name.to_string()), ty, decl.optional);
        Some((idx, decl.ty, decl.optional))
    }

    pub(crate) fn slot(
        &mut self,
        key: &str,
        source: SlotSource,
        ty: SlotType,
        optional: bool,
    ) -> SlotIdx {
        if let Some(s) = self.slot_of.get(key) {
            return *s;
        }
        let idx = SlotIdx(self.program.slots.len() as u32);
        self.program.slots.push(crate::ir::Slot {
            name: key.to_string(),
            source,
            ty,
            optional,
        });
        self.slot_of.insert(key.to_string(), idx);
        idx
    }

    /// The slots an expression guarantees present when it holds (its `has` conjuncts).
    fn guards(&mut self, e: &ast::Expr, depth: usize) -> Vec<SlotIdx> {
        if depth > 32 {
            return Vec::new();
        }
        match &e.kind {
            ExprKind::Has(root, field) => self.has_slot(root, field).into_iter().collect(),
            ExprKind::And(a, b) => {
                let mut v = self.guards(a, depth + 1);
                v.extend(self.guards(b, depth + 1));
                v
            }
            ExprKind::Paren(inner) => self.guards(inner, depth + 1),
            ExprKind::Path(name, segs) if segs.is_empty() => match self.roles.get(&name.name) {
                Some(r) if r.decl.param.is_none() => {
                    let body = &r.decl.body;
                    self.guards(body, depth + 1)
                }
                _ => Vec::new(),
            },
            _ => Vec::new(),
        }
    }

    /// The slot `ROOT has FIELD` tests, if it names one.
    fn has_slot(&mut self, root: &ast::Expr, field: &ast::Ident) -> Option<SlotIdx> {
        let ExprKind::Path(r, segs) = &root.kind else {
            return None;
        };
        if !segs.is_empty() {
            return None;
        }
        match r.name.as_str() {
            "claims" => self.claim_slot(&field.name).map(|(s, _, _)| s),
            "request" => self.request_slot(&field.name).map(|(s, _)| s),
            _ => None,
        }
    }

    fn request_slot(&mut self, field: &str) -> Option<(SlotIdx, Ty)> {
        Some(match field {
            "method" => (crate::ir::SLOT_METHOD, Ty::Str),
            "host" => (crate::ir::SLOT_HOST, Ty::Str),
            "path" => (crate::ir::SLOT_PATH, Ty::Str),
            "time" => {
                self.reads_time = true;
                (
                    self.slot("request.time", SlotSource::Time, SlotType::Int, false),
                    Ty::Time,
                )
            }
            "ip" => (
                self.slot("request.ip", SlotSource::Ip, SlotType::Ip, true),
                Ty::Ip,
            ),
            "country" => (
                self.slot(
                    "request.country",
                    SlotSource::Country,
                    SlotType::String,
                    true,
                ),
                Ty::Str,
            ),
            _ => return None,
        })
    }

    /// Type-checks and lowers an expression.
    pub(crate) fn lower(&mut self, e: &ast::Expr, ctx: &Ctx, facts: &Facts) -> (ExprId, Ty) {
        let span = e.span;
        match &e.kind {
            ExprKind::Str(s) => (self.push(Expr::Str(s.clone()), span), Ty::Str),
            ExprKind::Int(i) => (self.push(Expr::Int(*i), span), Ty::Int),
            ExprKind::Bool(b) => (self.push(Expr::Bool(*b), span), Ty::Bool),
            ExprKind::Duration(secs, _) => (self.push(Expr::Int(*secs), span), Ty::Duration),
            ExprKind::Time(lit) => match crate::input::parse_rfc3339(&lit.value) {
                Some(t) => (self.push(Expr::Int(t), span), Ty::Time),
                None => {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::bad_literal",
                            lit.span,
                            format!("`{}` is not an RFC 3339 time", lit.value),
                        )
                        .label("not a time")
                        .help("write a time like `time \"2026-12-20T00:00:00Z\"`"),
                    );
                    (self.push(Expr::Bool(false), span), Ty::Err)
                }
            },
            ExprKind::Ip(lit) => match parse_cidr(&lit.value) {
                Some((addr, prefix)) => (self.push(Expr::Cidr(addr, prefix), span), Ty::Cidr),
                None => {
                    self.emit(
                        Diagnostic::error("edgeward::bad_literal", lit.span, format!("`{}` is not an ip address or range", lit.value))
                            .label("not an address or CIDR")
                            .help("write an address or a range, like `ip \"10.0.0.0/8\"` or `ip \"2001:db8::/32\"`"),
                    );
                    (self.push(Expr::Bool(false), span), Ty::Err)
                }
            },
            ExprKind::List(items) => {
                let mut out = Vec::new();
                for item in items {
                    match &item.kind {
                        ExprKind::Str(s) => out.push(s.clone()),
                        _ => self.emit(
                            Diagnostic::error(
                                "edgeward::type_mismatch",
                                item.span,
                                "list items must be string literals",
                            )
                            .label("not a string literal"),
                        ),
                    }
                }
                (self.push(Expr::StrList(out), span), Ty::Set)
            }
            ExprKind::EntityRef(r) => self.entity_ref(r, span),
            ExprKind::Path(root, segs) => self.path(root, segs, ctx, facts, span),
            ExprKind::Call(name, args) => self.role_call(name, args, ctx, facts, span),
            ExprKind::Paren(inner) => self.lower(inner, ctx, facts),
            ExprKind::Not(inner) => {
                let (id, ty) = self.lower(inner, ctx, facts);
                self.expect_bool(&ty, inner.span, "`not`");
                (self.push(Expr::Not(id), span), Ty::Bool)
            }
            ExprKind::And(a, b) => {
                let (la, ta) = self.lower(a, ctx, facts);
                let mut inner = facts.clone();
                inner.present.extend(self.guards(a, 0));
                let (lb, tb) = self.lower(b, ctx, &inner);
                self.expect_bool(&ta, a.span, "`and`");
                self.expect_bool(&tb, b.span, "`and`");
                (self.push(Expr::And(la, lb), span), Ty::Bool)
            }
            ExprKind::Or(a, b) => {
                let (la, ta) = self.lower(a, ctx, facts);
                let (lb, tb) = self.lower(b, ctx, facts);
                self.expect_bool(&ta, a.span, "`or`");
                self.expect_bool(&tb, b.span, "`or`");
                (self.push(Expr::Or(la, lb), span), Ty::Bool)
            }
            ExprKind::Has(root, field) => self.has(root, field, span),
            ExprKind::Binary(op, l, r) => self.binary(*op, l, r, ctx, facts, span),
        }
    }

    fn expect_bool(&mut self, ty: &Ty, span: Span, what: &str) {
        if !matches!(ty, Ty::Bool | Ty::Err) {
            self.emit(
                Diagnostic::error(
                    "edgeward::type_mismatch",
                    span,
                    format!("{what} needs true or false"),
                )
                .label(format!("this is {}", ty.describe())),
            );
        }
    }

    fn has(&mut self, root: &ast::Expr, field: &ast::Ident, span: Span) -> (ExprId, Ty) {
        let root_name = match &root.kind {
            ExprKind::Path(r, segs) if segs.is_empty() => r.name.as_str(),
            _ => "",
        };
        match root_name {
            "claims" => match self.claim_slot(&field.name) {
                Some((slot, _, true)) => (self.push(Expr::Has(slot), span), Ty::Bool),
                Some((_, _, false)) => (self.push(Expr::Bool(true), span), Ty::Bool),
                None => {
                    self.unknown_claim(&field.name, field.span);
                    (self.push(Expr::Bool(false), span), Ty::Err)
                }
            },
            "request" => match self.request_slot(&field.name) {
                Some((slot, _)) if matches!(field.name.as_str(), "ip" | "country") => {
                    (self.push(Expr::Has(slot), span), Ty::Bool)
                }
                Some(_) => (self.push(Expr::Bool(true), span), Ty::Bool),
                None => {
                    self.unknown_request_field(&field.name, field.span);
                    (self.push(Expr::Bool(false), span), Ty::Err)
                }
            },
            _ => {
                self.emit(
                    Diagnostic::error(
                        "edgeward::type_mismatch",
                        root.span,
                        "`has` tests `claims` or `request`",
                    )
                    .label("not `claims` or `request`")
                    .help("write `claims has NAME` or `request has ip`/`request has country`"),
                );
                (self.push(Expr::Bool(false), span), Ty::Err)
            }
        }
    }

    pub(crate) fn unknown_claim(&mut self, name: &str, span: Span) {
        let known: Vec<String> = self.schema.names().map(str::to_string).collect();
        let help = match suggest(name, known.iter().map(String::as_str)) {
            Some(s) => format!("did you mean `{s}`?"),
            None => "declare it in a `claims { ... }` block, or `use` the stdlib module of your identity provider".to_string(),
        };
        self.emit(
            Diagnostic::error(
                "edgeward::unknown_claim",
                span,
                format!("no claim `{name}` in the claims schema"),
            )
            .label("not declared")
            .help(help),
        );
    }

    fn unknown_request_field(&mut self, name: &str, span: Span) {
        const FIELDS: &[&str] = &["method", "path", "host", "ip", "country", "time"];
        self.emit(
            Diagnostic::error(
                "edgeward::unknown_field",
                span,
                format!("requests have no field `{name}`"),
            )
            .label("not a request field")
            .help(match suggest(name, FIELDS.iter().copied()) {
                Some(s) => format!("did you mean `request.{s}`?"),
                None => "requests have `method`, `path`, `host`, `ip`, `country` and `time`".into(),
            }),
        );
    }

    /// The lowercase kind of an entity ref literal, or an error naming the nearest kind.
    pub(crate) fn ref_kind(&mut self, r: &ast::EntityRefLit) -> Option<String> {
        let kind = r.kind.to_lowercase();
        if KINDS.contains(&kind.as_str()) {
            return Some(kind);
        }
        self.emit(
            Diagnostic::error(
                "edgeward::bad_ref",
                r.span,
                format!("`{}` is not an entity kind", r.kind),
            )
            .label("unknown kind")
            .help(match suggest(&kind, KINDS.iter().copied()) {
                Some(s) => format!("did you mean `{s}:`?"),
                None => format!("kinds are {}", KINDS.join(", ")),
            }),
        );
        None
    }

    fn entity_ref(&mut self, r: &ast::EntityRefLit, span: Span) -> (ExprId, Ty) {
        let Some(kind) = self.ref_kind(r) else {
            return (self.push(Expr::Bool(false), span), Ty::Err);
        };
        if r.name.contains('{') {
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_ref",
                    r.span,
                    "a `{param}` template is only allowed in a route's target",
                )
                .label("template outside `-> ENTITY`"),
            );
            return (self.push(Expr::Bool(false), span), Ty::Err);
        }
        let ns = r.namespace.clone().unwrap_or_else(|| "default".to_string());
        let er = EntityRef::new(&kind, &ns, &r.name);
        let Some(catalog) = self.catalog else {
            return (
                self.push(Expr::Entity(crate::ir::EntityIdx(0)), span),
                Ty::Entity(Some(kind)),
            );
        };
        match catalog.lookup(&er) {
            Some(id) => {
                let idx = self.entity(id);
                (self.push(Expr::Entity(idx), span), Ty::Entity(Some(kind)))
            }
            None => {
                let help = catalog
                    .suggest(&er)
                    .map(|s| format!("did you mean `{s}`?"))
                    .unwrap_or_else(|| "add the entity to the catalog, or fix the ref".to_string());
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_ref",
                        r.span,
                        format!("the catalog has no `{er}`"),
                    )
                    .label("not in the catalog")
                    .help(help),
                );
                (self.push(Expr::Bool(false), span), Ty::Err)
            }
        }
    }

    fn path(
        &mut self,
        root: &ast::Ident,
        segs: &[PathSeg],
        ctx: &Ctx,
        facts: &Facts,
        span: Span,
    ) -> (ExprId, Ty) {
        let name = root.name.as_str();
        if let Some((pname, arg, ty)) = &ctx.role_param
            && pname == name
        {
            let (arg, ty) = (*arg, ty.clone());
            return self.entity_path(arg, ty, segs, ctx, span, false);
        }
        match name {
            "claims" => self.claims_path(segs, facts, span),
            "request" => {
                let Some(PathSeg::Field(f)) = segs.first() else {
                    return self.bad_path(
                        root,
                        segs,
                        "read a field of `request`, e.g. `request.method`",
                    );
                };
                let Some((slot, ty)) = self.request_slot(&f.name) else {
                    self.unknown_request_field(&f.name, f.span);
                    return (self.push(Expr::Bool(false), span), Ty::Err);
                };
                if let Some(extra) = segs.get(1) {
                    return self.no_more_fields(extra, &ty, span);
                }
                if matches!(f.name.as_str(), "ip" | "country") && !facts.present.contains(&slot) {
                    self.unguarded(
                        &format!("request.{}", f.name),
                        &format!("request has {}", f.name),
                        span,
                    );
                }
                (self.push(Expr::Slot(slot), span), ty)
            }
            "params" => {
                let Some(PathSeg::Field(f)) = segs.first() else {
                    return self.bad_path(root, segs, "name a path parameter, e.g. `params.id`");
                };
                let idx = match &ctx.params {
                    Some(ps) => match ps.iter().position(|p| *p == f.name) {
                        Some(i) => i as u32,
                        None => {
                            let help = match suggest(&f.name, ps.iter().map(String::as_str)) {
                                Some(s) => format!("did you mean `params.{s}`?"),
                                None if ps.is_empty() => {
                                    "this route's path has no `{param}` segments".to_string()
                                }
                                None => format!(
                                    "this route's params are {}",
                                    ps.iter()
                                        .map(|p| format!("`{p}`"))
                                        .collect::<Vec<_>>()
                                        .join(", ")
                                ),
                            };
                            self.emit(
                                Diagnostic::error(
                                    "edgeward::unknown_param",
                                    f.span,
                                    format!("the route's path has no `{{{}}}`", f.name),
                                )
                                .label("not a param of this route")
                                .help(help),
                            );
                            return (self.push(Expr::Bool(false), span), Ty::Err);
                        }
                    },
                    None if ctx.permissive => 0,
                    None => {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::unknown_param",
                                span,
                                "`params` outside a route",
                            )
                            .label("no route here, so no params")
                            .help(
                                "top-level rules apply to every route: read `request.path` instead",
                            ),
                        );
                        return (self.push(Expr::Bool(false), span), Ty::Err);
                    }
                };
                if let Some(extra) = segs.get(1) {
                    return self.no_more_fields(extra, &Ty::Str, span);
                }
                (self.push(Expr::Param(idx), span), Ty::Str)
            }
            "target" => {
                let kind = match &ctx.target {
                    Some(k) => k.clone(),
                    None if ctx.permissive => None,
                    None => {
                        let msg = if ctx.in_route {
                            "this route has no target"
                        } else {
                            "`target` outside a route"
                        };
                        self.emit(
                            Diagnostic::error("edgeward::no_target", span, msg)
                                .label("no `-> ENTITY` here")
                                .help("key the route to an entity with `route GET \"/path\" -> component:default/name { ... }`"),
                        );
                        return (self.push(Expr::Bool(false), span), Ty::Err);
                    }
                };
                let id = self.push(Expr::Target, root.span);
                self.entity_path(id, Ty::Entity(kind), segs, ctx, span, true)
            }
            "principal" => {
                if self.principal_read.is_none() {
                    self.principal_read = Some(root.span);
                }
                let kind = match (self.principal_ast, self.service_ast) {
                    (Some(p), None) => Some(p.kind.name.to_lowercase()),
                    _ => None,
                };
                let id = self.push(Expr::Principal, root.span);
                self.entity_path(id, Ty::Entity(kind), segs, ctx, span, false)
            }
            _ => {
                if segs.is_empty() && self.roles.contains_key(name) {
                    return self.role_call(root, &[], ctx, facts, span);
                }
                let mut known: Vec<String> = vec![
                    "claims".into(),
                    "request".into(),
                    "params".into(),
                    "target".into(),
                    "principal".into(),
                ];
                known.extend(self.roles.keys().cloned());
                if let Some((p, _, _)) = &ctx.role_param {
                    known.push(p.clone());
                }
                let help = match suggest(name, known.iter().map(String::as_str)) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => "names are roles, a role's parameter, or `claims`, `request`, `params`, `target`, `principal`".to_string(),
                };
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_name",
                        root.span,
                        format!("unknown name `{name}`"),
                    )
                    .label("not a role or a root")
                    .help(help),
                );
                (self.push(Expr::Bool(false), span), Ty::Err)
            }
        }
    }

    fn bad_path(&mut self, root: &ast::Ident, segs: &[PathSeg], help: &str) -> (ExprId, Ty) {
        let span = segs.iter().fold(root.span, |s, seg| s.join(seg.span()));
        self.emit(
            Diagnostic::error(
                "edgeward::unknown_field",
                span,
                format!("`{}` needs a field", root.name),
            )
            .label("incomplete")
            .help(help.to_string()),
        );
        (self.push(Expr::Bool(false), span), Ty::Err)
    }

    fn no_more_fields(&mut self, seg: &PathSeg, ty: &Ty, span: Span) -> (ExprId, Ty) {
        self.emit(
            Diagnostic::error(
                "edgeward::unknown_field",
                seg.span(),
                format!("{} has no fields", ty.describe()),
            )
            .label("no such field"),
        );
        (self.push(Expr::Bool(false), span), Ty::Err)
    }

    fn unguarded(&mut self, what: &str, guard: &str, span: Span) {
        self.emit(
            Diagnostic::error(
                "edgeward::unguarded_optional",
                span,
                format!("`{what}` is optional and may be absent"),
            )
            .label("read without a `has` guard")
            .help(format!(
                "guard it in the same conjunction: `{guard} and ...`"
            )),
        );
    }

    fn claims_path(&mut self, segs: &[PathSeg], facts: &Facts, span: Span) -> (ExprId, Ty) {
        let Some(PathSeg::Field(f)) = segs.first() else {
            self.emit(
                Diagnostic::error(
                    "edgeward::unknown_field",
                    span,
                    "`claims` needs a claim name",
                )
                .label("incomplete")
                .help("write `claims.NAME`"),
            );
            return (self.push(Expr::Bool(false), span), Ty::Err);
        };
        let Some((slot, cty, optional)) = self.claim_slot(&f.name) else {
            self.unknown_claim(&f.name, f.span);
            return (self.push(Expr::Bool(false), span), Ty::Err);
        };
        let ty = match cty {
            ClaimType::String => Ty::Str,
            ClaimType::Int => Ty::Int,
            ClaimType::Bool => Ty::Bool,
            ClaimType::Time => Ty::Time,
            ClaimType::Set => Ty::Set,
        };
        if let Some(extra) = segs.get(1) {
            return self.no_more_fields(extra, &ty, span);
        }
        if optional && !facts.present.contains(&slot) {
            self.unguarded(
                &format!("claims.{}", f.name),
                &format!("claims has {}", f.name),
                span,
            );
        }
        (self.push(Expr::Slot(slot), span), ty)
    }

    /// Fields of an entity value: `.kind .namespace .name .ref .owner .system .spec.X .metadata.X`.
    fn entity_path(
        &mut self,
        mut id: ExprId,
        mut ty: Ty,
        segs: &[PathSeg],
        ctx: &Ctx,
        span: Span,
        is_target: bool,
    ) -> (ExprId, Ty) {
        let mut i = 0;
        let mut direct_target = is_target;
        while let Some(seg) = segs.get(i) {
            if ty == Ty::Err {
                return (id, ty);
            }
            let PathSeg::Field(f) = seg else {
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_field",
                        seg.span(),
                        "entities are read with `.field`",
                    )
                    .label("`[...]` only after `labels` or `annotations`"),
                );
                return (self.push(Expr::Bool(false), span), Ty::Err);
            };
            let sub_span = Span::new(span.start, f.span.end);
            match f.name.as_str() {
                "kind" | "namespace" | "name" | "ref" => {
                    let key = match f.name.as_str() {
                        "kind" => FieldKey::Kind,
                        "namespace" => FieldKey::Namespace,
                        "name" => FieldKey::Name,
                        _ => FieldKey::Ref,
                    };
                    let fi = self.field(key);
                    id = self.push(Expr::Field(id, fi), sub_span);
                    ty = Ty::Str;
                    i += 1;
                    if let Some(extra) = segs.get(i) {
                        return self.no_more_fields(extra, &ty, span);
                    }
                }
                "owner" | "system" => {
                    let (rel, kind) = if f.name == "owner" {
                        (Rel::Owner, None)
                    } else {
                        (Rel::System, Some("system".to_string()))
                    };
                    id = self.push(Expr::Related(id, rel), sub_span);
                    ty = Ty::Entity(kind);
                    direct_target = false;
                    i += 1;
                }
                "spec" | "metadata" => {
                    let mut path = vec![f.name.clone()];
                    let mut end = f.span.end;
                    i += 1;
                    while let Some(s) = segs.get(i) {
                        match s {
                            PathSeg::Field(x) => path.push(x.name.clone()),
                            PathSeg::Index(k) => path.push(k.value.clone()),
                        }
                        end = s.span().end;
                        i += 1;
                    }
                    if path.len() < 2 {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::unknown_field",
                                f.span,
                                format!("`{}` is an object: read one of its fields", f.name),
                            )
                            .label("needs a field")
                            .help(format!(
                                "e.g. `{}`",
                                if f.name == "spec" {
                                    "target.spec.lifecycle"
                                } else {
                                    "target.metadata.labels[\"key\"]"
                                }
                            )),
                        );
                        return (self.push(Expr::Bool(false), span), Ty::Err);
                    }
                    // `end` is the last segment's; the path's own span also takes a closing `]`.
                    let full = Span::new(span.start, end.max(span.end));
                    if direct_target {
                        self.check_candidates_have(&path, ctx, full);
                    }
                    let fi = self.field(FieldKey::Doc(path));
                    id = self.push(Expr::Field(id, fi), full);
                    ty = Ty::Str;
                }
                other => {
                    const FIELDS: &[&str] = &[
                        "kind",
                        "namespace",
                        "name",
                        "ref",
                        "owner",
                        "system",
                        "spec",
                        "metadata",
                    ];
                    self.emit(
                        Diagnostic::error("edgeward::unknown_field", f.span, format!("entities have no field `{other}`"))
                            .label("not an entity field")
                            .help(match suggest(other, FIELDS.iter().copied()) {
                                Some(s) => format!("did you mean `.{s}`?"),
                                None => "entities have `kind`, `namespace`, `name`, `ref`, `owner`, `system`, `spec.*` and `metadata.*`".into(),
                            }),
                    );
                    return (self.push(Expr::Bool(false), span), Ty::Err);
                }
            }
        }
        (id, ty)
    }

    fn role_call(
        &mut self,
        name: &ast::Ident,
        args: &[ast::Expr],
        ctx: &Ctx,
        facts: &Facts,
        span: Span,
    ) -> (ExprId, Ty) {
        let Some(def) = self.roles.get(&name.name) else {
            let known: Vec<String> = self.roles.keys().cloned().collect();
            self.emit(
                Diagnostic::error(
                    "edgeward::unknown_name",
                    name.span,
                    format!("no role `{}`", name.name),
                )
                .label("not a role")
                .help(
                    match suggest(&name.name, known.iter().map(String::as_str)) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => "define it with `role NAME = EXPR`".to_string(),
                    },
                ),
            );
            return (self.push(Expr::Bool(false), span), Ty::Err);
        };
        let decl = def.decl;
        let module = def.module;
        self.used_roles.insert(name.name.clone());
        if self.oversized_roles.contains(&name.name) {
            // Reported where it is defined; expanding it would only take time and stack. What it
            // names is used all the same.
            let mut todo = vec![name.name.clone()];
            while let Some(role) = todo.pop() {
                for n in self.role_graph.get(&role).into_iter().flatten() {
                    if self.used_roles.insert(n.clone()) {
                        todo.push(n.clone());
                    }
                }
            }
            return (self.push(Expr::Bool(false), span), Ty::Err);
        }
        if self.program.exprs.len() > super::MAX_EXPRS {
            if !self.too_large_reported {
                self.too_large_reported = true;
                self.emit(
                    Diagnostic::error(
                        "edgeward::role_too_large",
                        name.span,
                        format!(
                            "the policy expands to more than {} expressions here",
                            super::MAX_EXPRS
                        ),
                    )
                    .label("expanded from here on")
                    .help("roles are expanded where they are used: use large roles in fewer rules"),
                );
            }
            return (self.push(Expr::Bool(false), span), Ty::Err);
        }
        if self.role_stack.contains(&name.name) {
            self.emit(
                Diagnostic::error(
                    "edgeward::recursive_role",
                    name.span,
                    format!("role `{}` uses itself", name.name),
                )
                .label("recursive use")
                .help(format!(
                    "roles are expanded where they are used: `{}` must not depend on itself",
                    self.role_stack.join("` → `")
                )),
            );
            return (self.push(Expr::Bool(false), span), Ty::Err);
        }
        let mut inner = Ctx {
            role_param: None,
            ..ctx.clone()
        };
        match (&decl.param, args) {
            (None, []) => {}
            (Some(p), [arg]) => {
                let (aid, aty) = self.lower(arg, ctx, facts);
                let want = p.kind.name.to_lowercase();
                let ok = match &aty {
                    Ty::Entity(Some(k)) => *k == want,
                    Ty::Entity(None) | Ty::Err => true,
                    _ => false,
                };
                if !ok {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::role_arity",
                            arg.span,
                            format!("role `{}` takes a `{}`", name.name, p.kind.name),
                        )
                        .label(format!("this is {}", aty.describe()))
                        .help(format!(
                            "pass a `{}` entity: `target` in a route keyed to one, or a ref like `{}:NAME`",
                            p.kind.name,
                            p.kind.name.to_lowercase()
                        )),
                    );
                }
                // a wrong argument was reported: the body must not report it again
                let aty = if ok { aty } else { Ty::Err };
                inner.role_param = Some((p.name.name.clone(), aid, aty));
            }
            (None, _) => {
                self.emit(
                    Diagnostic::error(
                        "edgeward::role_arity",
                        span,
                        format!("role `{}` takes no arguments", name.name),
                    )
                    .label("arguments given")
                    .help(format!("write `{}` alone", name.name)),
                );
                return (self.push(Expr::Bool(false), span), Ty::Err);
            }
            (Some(p), _) => {
                self.emit(
                    Diagnostic::error(
                        "edgeward::role_arity",
                        span,
                        format!("role `{}` takes one `{}` argument", name.name, p.kind.name),
                    )
                    .label("wrong number of arguments")
                    .help(format!(
                        "write `{}(target)` or another `{}` value",
                        name.name, p.kind.name
                    )),
                );
                return (self.push(Expr::Bool(false), span), Ty::Err);
            }
        }
        self.role_stack.push(name.name.clone());
        let before = self.diags.len();
        let (id, ty) = self.lower(&decl.body, &inner, facts);
        self.role_stack.pop();
        if let Some(m) = module {
            // Problems inside a stdlib role are shown where the policy uses it.
            for d in self.diags.iter_mut().skip(before) {
                d.message = format!("in `std::{m}` role `{}`: {}", name.name, d.message);
                d.span = span;
                d.related.clear();
            }
            if let Some(s) = self.program.spans.get_mut(id.0 as usize) {
                *s = span;
            }
        }
        self.expect_bool(&ty, span, "a role");
        (id, Ty::Bool)
    }

    fn binary(
        &mut self,
        op: BinOp,
        l: &ast::Expr,
        r: &ast::Expr,
        ctx: &Ctx,
        facts: &Facts,
        span: Span,
    ) -> (ExprId, Ty) {
        let (li, lt) = self.lower(l, ctx, facts);
        let (ri, rt) = self.lower(r, ctx, facts);
        if lt == Ty::Err || rt == Ty::Err {
            return (
                self.push(Expr::Bool(false), span),
                if matches!(op, BinOp::Add | BinOp::Sub) {
                    Ty::Err
                } else {
                    Ty::Bool
                },
            );
        }
        let result = match op {
            BinOp::Eq | BinOp::Ne => {
                let same = match (&lt, &rt) {
                    (Ty::Entity(_), Ty::Entity(_)) => true,
                    (a, b) => a == b && !matches!(a, Ty::Set | Ty::Cidr),
                };
                same.then(|| {
                    (
                        if op == BinOp::Eq {
                            Expr::Eq(li, ri)
                        } else {
                            Expr::Ne(li, ri)
                        },
                        Ty::Bool,
                    )
                })
            }
            BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => {
                (lt == rt && matches!(lt, Ty::Int | Ty::Time | Ty::Duration)).then(|| {
                    let e = match op {
                        BinOp::Lt => Expr::Lt(li, ri),
                        BinOp::Le => Expr::Le(li, ri),
                        BinOp::Gt => Expr::Gt(li, ri),
                        _ => Expr::Ge(li, ri),
                    };
                    (e, Ty::Bool)
                })
            }
            BinOp::In => match (&lt, &rt) {
                (Ty::Str, Ty::Set) => Some((Expr::SetHas { set: ri, elem: li }, Ty::Bool)),
                (Ty::Ip, Ty::Cidr) => Some((Expr::IpIn(li, ri), Ty::Bool)),
                (Ty::Entity(_), Ty::Entity(k)) if k.as_deref().is_none_or(|k| k == "group") => {
                    Some((
                        Expr::InGroup {
                            member: li,
                            group: ri,
                        },
                        Ty::Bool,
                    ))
                }
                _ => None,
            },
            BinOp::Contains => match (&lt, &rt) {
                (Ty::Set, Ty::Str) => Some((Expr::SetHas { set: li, elem: ri }, Ty::Bool)),
                (Ty::Str, Ty::Str) => Some((
                    Expr::StrContains {
                        haystack: li,
                        needle: ri,
                    },
                    Ty::Bool,
                )),
                _ => None,
            },
            BinOp::StartsWith | BinOp::EndsWith | BinOp::Matches => {
                (lt == Ty::Str && rt == Ty::Str).then(|| {
                    let e = match op {
                        BinOp::StartsWith => Expr::StartsWith(li, ri),
                        BinOp::EndsWith => Expr::EndsWith(li, ri),
                        _ => Expr::Matches(li, ri),
                    };
                    (e, Ty::Bool)
                })
            }
            BinOp::Owns => matches!((&lt, &rt), (Ty::Entity(_), Ty::Entity(_))).then_some((
                Expr::Owns {
                    owner: li,
                    owned: ri,
                },
                Ty::Bool,
            )),
            BinOp::PartOf => match (&lt, &rt) {
                (Ty::Entity(_), Ty::Entity(_)) => Some((
                    Expr::PartOf {
                        part: li,
                        whole: ri,
                    },
                    Ty::Bool,
                )),
                _ => None,
            },
            BinOp::Add => match (&lt, &rt) {
                (Ty::Time, Ty::Duration) | (Ty::Duration, Ty::Time) => {
                    Some((Expr::Add(li, ri), Ty::Time))
                }
                (Ty::Duration, Ty::Duration) => Some((Expr::Add(li, ri), Ty::Duration)),
                (Ty::Int, Ty::Int) => Some((Expr::Add(li, ri), Ty::Int)),
                _ => None,
            },
            BinOp::Sub => match (&lt, &rt) {
                (Ty::Time, Ty::Time) => Some((Expr::Sub(li, ri), Ty::Duration)),
                (Ty::Time, Ty::Duration) => Some((Expr::Sub(li, ri), Ty::Time)),
                (Ty::Duration, Ty::Duration) => Some((Expr::Sub(li, ri), Ty::Duration)),
                (Ty::Int, Ty::Int) => Some((Expr::Sub(li, ri), Ty::Int)),
                _ => None,
            },
        };
        match result {
            Some((e, ty)) => (self.push(e, span), ty),
            None => {
                let help = op_help(op);
                self.emit(
                    Diagnostic::error(
                        "edgeward::type_mismatch",
                        span,
                        format!(
                            "`{}` cannot take {} and {}",
                            op.as_str(),
                            lt.describe(),
                            rt.describe()
                        ),
                    )
                    .label(format!(
                        "{} `{}` {}",
                        lt.describe(),
                        op.as_str(),
                        rt.describe()
                    ))
                    .help(help),
                );
                (
                    self.push(Expr::Bool(false), span),
                    if matches!(op, BinOp::Add | BinOp::Sub) {
                        Ty::Err
                    } else {
                        Ty::Bool
                    },
                )
            }
        }
    }

    /// Warns when some candidates of a templated target lack a field a rule reads (§7.8).
    fn check_candidates_have(&mut self, path: &[String], ctx: &Ctx, span: Span) {
        let _ = ctx;
        let Some(catalog) = self.catalog else { return };
        let Some(route) = self.current_route_candidates.as_ref() else {
            return;
        };
        let keys: Vec<&str> = path.iter().map(String::as_str).collect();
        let lacking: Vec<String> = route
            .iter()
            .filter(|id| {
                catalog
                    .field(**id, &keys)
                    .and_then(|v| v.as_str())
                    .is_none()
            })
            .filter_map(|id| catalog.entity(*id).map(|e| e.name.clone()))
            .collect();
        if lacking.is_empty() {
            return;
        }
        let total = route.len();
        let shown: Vec<String> = lacking.iter().take(5).map(|n| format!("`{n}`")).collect();
        let more = if lacking.len() > 5 {
            format!(" and {} more", lacking.len() - 5)
        } else {
            String::new()
        };
        let key = crate::ir::FieldKey::Doc(path.to_vec()).describe();
        self.emit(
            Diagnostic::warning(
                "edgeward::missing_field",
                span,
                format!("{} of the {total} possible targets have no `{key}`", lacking.len()),
            )
            .label("reading it errs for them")
            .help(format!(
                "lacking it: {}{more}; an erring allow does not allow and an erring deny or require denies",
                shown.join(", ")
            )),
        );
    }
}

fn op_help(op: BinOp) -> String {
    match op {
        BinOp::Eq | BinOp::Ne => "compare values of one type: strings, ints, times, durations, bools or entities".into(),
        BinOp::Lt | BinOp::Le | BinOp::Gt | BinOp::Ge => "order ints, times or durations of one type".into(),
        BinOp::In => "`in` takes a string and a list or set, an ip and an `ip \"CIDR\"`, or an entity and a group".into(),
        BinOp::Contains => "`contains` takes a set and a string, or two strings".into(),
        BinOp::StartsWith | BinOp::EndsWith | BinOp::Matches => format!("`{}` takes two strings", op.as_str()),
        BinOp::Owns => "`owns` takes two entities: `principal owns target`".into(),
        BinOp::PartOf => "`part_of` takes two entities: `target part_of system:default/payments`".into(),
        BinOp::Add => "add a duration to a time, or two durations or ints".into(),
        BinOp::Sub => "subtract times, a duration from a time, or durations or ints".into(),
    }
}

/// Parses `ADDR` or `ADDR/PREFIX` to a network address (IPv4 as mapped IPv6) and a prefix over 128 bits.
pub(crate) fn parse_cidr(s: &str) -> Option<(std::net::IpAddr, u8)> {
    use std::net::IpAddr;
    let (addr, prefix) = match s.split_once('/') {
        Some((a, p)) => (a, Some(p)),
        None => (s, None),
    };
    let ip: IpAddr = addr.parse().ok()?;
    let (max, offset) = match ip {
        IpAddr::V4(_) => (32u8, 96u8),
        IpAddr::V6(_) => (128u8, 0u8),
    };
    let prefix = match prefix {
        Some(p) => {
            if p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()) || p.len() > 3 {
                return None;
            }
            p.parse::<u8>().ok().filter(|p| *p <= max)?
        }
        None => max,
    };
    let v6 = crate::wasm::abi::ip16(ip);
    let bits = u128::from(v6);
    let total = prefix + offset;
    let mask = if total == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(total))
    };
    Some((IpAddr::V6(std::net::Ipv6Addr::from(bits & mask)), total))
}
