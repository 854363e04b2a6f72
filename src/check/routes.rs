//! Routes (methods, paths, hosts, targets, rules), route ambiguity, principal bindings and role lints.

use super::diag::Diagnostic;
use super::expr::{Ctx, Facts, KINDS};
use super::{BindingSpec, Cx};
use crate::catalog::EntityRef;
use crate::ir::{self, Expr, Methods, Seg, Target, TemplatePart};
use crate::syntax::ast::{self, Effect, ExprKind, PathSeg, Span};
use crate::syntax::fuzzy::suggest;

/// The HTTP methods a route may name.
pub(crate) const METHODS: &[&str] = &[
    "GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE",
];

/// A parsed route path.
pub(crate) struct PathPattern {
    pub segments: Vec<Seg>,
    pub star: bool,
    pub params: Vec<String>,
}

impl<'a, 'f> Cx<'a, 'f> {
    fn methods(&mut self, route: &ast::Route) -> Methods {
        let mut list: Vec<String> = Vec::new();
        let mut any = false;
        for m in &route.methods {
            if m.name == "ANY" {
                any = true;
                if route.methods.len() > 1 {
                    self.emit(
                        Diagnostic::error("edgeward::unknown_method", m.span, "`ANY` stands alone")
                            .label("`ANY` already includes every method")
                            .help("write `ANY` or a list like `GET|HEAD`, not both"),
                    );
                }
                continue;
            }
            if !METHODS.contains(&m.name.as_str()) {
                let upper = m.name.to_uppercase();
                let help = if METHODS.contains(&upper.as_str()) {
                    format!("methods are uppercase: `{upper}`")
                } else {
                    match suggest(&upper, METHODS.iter().copied()) {
                        Some(s) => format!("did you mean `{s}`?"),
                        None => format!("methods are {} or `ANY`", METHODS.join(", ")),
                    }
                };
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_method",
                        m.span,
                        format!("`{}` is not an HTTP method", m.name),
                    )
                    .label("unknown method")
                    .help(help),
                );
                continue;
            }
            if list.contains(&m.name) {
                self.emit(
                    Diagnostic::error(
                        "edgeward::unknown_method",
                        m.span,
                        format!("`{}` is listed twice", m.name),
                    )
                    .label("again"),
                );
                continue;
            }
            list.push(m.name.clone());
        }
        if any {
            Methods::Any
        } else {
            Methods::List(list)
        }
    }

    fn path_pattern(&mut self, lit: &ast::StrLit) -> PathPattern {
        let mut pat = PathPattern {
            segments: Vec::new(),
            star: false,
            params: Vec::new(),
        };
        let Some(rest) = lit.value.strip_prefix('/') else {
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_path",
                    lit.span,
                    "a route path starts with `/`",
                )
                .label("no leading `/`")
                .help(format!("write `\"/{}\"`", lit.value)),
            );
            return pat;
        };
        if rest.is_empty() {
            return pat;
        }
        let parts: Vec<&str> = rest.split('/').collect();
        let last = parts.len().saturating_sub(1);
        for (i, part) in parts.iter().enumerate() {
            if *part == "*" {
                if i == last {
                    pat.star = true;
                } else {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::bad_path",
                            lit.span,
                            "`*` may only end a route path",
                        )
                        .label("`*` before the end")
                        .help("`*` matches the rest of the path; use `{param}` for one segment"),
                    );
                }
            } else if let Some(name) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) {
                let valid =
                    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
                if !valid {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::bad_path",
                            lit.span,
                            format!("`{{{name}}}` is not a valid param"),
                        )
                        .label("bad param name"),
                    );
                } else if pat.params.iter().any(|p| p == name) {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::bad_path",
                            lit.span,
                            format!("param `{name}` appears twice"),
                        )
                        .label("repeated param"),
                    );
                }
                pat.segments.push(Seg::Param(pat.params.len() as u32));
                pat.params.push(name.to_string());
            } else if part.contains(['{', '}', '*']) {
                self.emit(
                    Diagnostic::error(
                        "edgeward::bad_path",
                        lit.span,
                        format!("`{part}` mixes a literal with `{{}}` or `*`"),
                    )
                    .label("a segment is a literal, a whole `{param}`, or a final `*`"),
                );
            } else {
                self.unmatchable_segment(lit, part);
                pat.segments.push(Seg::Lit((*part).to_string()));
            }
        }
        pat
    }

    /// Warns about a literal segment that no request's path holds: URL parsing resolves dot
    /// segments away and percent-encodes what the path percent-encode set names (a space, `^`,
    /// non-ASCII, …), and a literal matches the path as parsed (§7.2).
    fn unmatchable_segment(&mut self, lit: &ast::StrLit, part: &str) {
        use crate::input::{encode_path_segment, is_double_dot, is_single_dot};
        if is_single_dot(part) || is_double_dot(part) {
            self.emit(
                Diagnostic::warning(
                    "edgeward::unmatchable_path",
                    lit.span,
                    format!("no request's path holds a `{part}` segment"),
                )
                .label("never matches")
                .help("URL parsing resolves `.` and `..` segments before the policy sees the path"),
            );
            return;
        }
        let encoded = encode_path_segment(part);
        if encoded != part || part.contains('\\') {
            let help = if part.contains('\\') {
                "URL parsing reads `\\` as `/` in http and https URLs".to_string()
            } else {
                format!("the path holds it percent-encoded: write `{encoded}`")
            };
            self.emit(
                Diagnostic::warning(
                    "edgeward::unmatchable_path",
                    lit.span,
                    format!("no request's path holds the segment `{part}` as written"),
                )
                .label("never matches")
                .help(help),
            );
        }
    }

    fn host_name(&mut self, lit: &ast::StrLit) -> String {
        let h = lit.value.to_ascii_lowercase();
        let ok = !h.is_empty()
            && h.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'));
        if !ok {
            self.emit(
                Diagnostic::error("edgeward::bad_path", lit.span, format!("`{}` is not a host name", lit.value))
                    .label("not a host")
                    .help("write the host alone, without scheme, port or path: `host \"payments.acme.dev\"`"),
            );
        }
        h
    }

    fn target(
        &mut self,
        r: &ast::EntityRefLit,
        pat: &PathPattern,
    ) -> (Option<Target>, Option<String>, Option<String>) {
        let Some(kind) = self.ref_kind(r) else {
            return (None, None, None);
        };
        let ns = r
            .namespace
            .clone()
            .unwrap_or_else(|| "default".into())
            .to_lowercase();
        let text = format!("{kind}:{ns}/{}", r.name.to_lowercase_keep_params());
        // Split the name into literal parts and `{param}`s.
        let mut parts = Vec::new();
        let mut bad_template = false;
        let mut rest = r.name.as_str();
        while !rest.is_empty() {
            match rest.find('{') {
                Some(0) => {
                    let Some(close) = rest.find('}') else {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_ref",
                                r.span,
                                "an unclosed `{` in the target",
                            )
                            .label("no `}`"),
                        );
                        return (None, Some(kind), Some(text));
                    };
                    let name = rest.get(1..close).unwrap_or_default();
                    match pat.params.iter().position(|p| p == name) {
                        Some(i) => parts.push(TemplatePart::Param(i as u32)),
                        None => {
                            let help = match suggest(name, pat.params.iter().map(String::as_str)) {
                                Some(s) => format!("did you mean `{{{s}}}`?"),
                                None => "the name can use the path's `{param}` segments only"
                                    .to_string(),
                            };
                            bad_template = true;
                            self.emit(
                                Diagnostic::error(
                                    "edgeward::template_param",
                                    r.span,
                                    format!("the path has no `{{{name}}}`"),
                                )
                                .label("param not in the route path")
                                .help(help),
                            );
                        }
                    }
                    rest = rest.get(close + 1..).unwrap_or_default();
                }
                Some(i) => {
                    parts.push(TemplatePart::Lit(
                        rest.get(..i).unwrap_or_default().to_ascii_lowercase(),
                    ));
                    rest = rest.get(i..).unwrap_or_default();
                }
                None => {
                    parts.push(TemplatePart::Lit(rest.to_ascii_lowercase()));
                    rest = "";
                }
            }
        }
        if bad_template {
            // reported: looking the name up as a fixed ref would only add an `unknown_ref`
            return (None, Some(kind), Some(text));
        }
        let templated = parts.iter().any(|p| matches!(p, TemplatePart::Param(_)));
        let Some(catalog) = self.catalog else {
            return (
                Some(Target::Fixed(ir::EntityIdx(0))),
                Some(kind),
                Some(text),
            );
        };
        if templated {
            let mut candidates: Vec<(String, crate::catalog::EntityId)> = catalog
                .of_kind(&kind)
                .filter_map(|id| {
                    let e = catalog.entity(id)?;
                    (e.namespace.to_lowercase() == ns).then(|| (e.name.to_lowercase(), id))
                })
                .collect();
            candidates.sort();
            self.current_route_candidates = Some(candidates.iter().map(|(_, id)| *id).collect());
            let cands = candidates
                .into_iter()
                .map(|(n, id)| (n, self.entity(id)))
                .collect();
            (
                Some(Target::Template {
                    kind: kind.clone(),
                    namespace: ns,
                    parts,
                    candidates: cands,
                }),
                Some(kind),
                Some(text),
            )
        } else {
            let er = EntityRef::new(&kind, &ns, &r.name);
            match catalog.lookup(&er) {
                Some(id) => (Some(Target::Fixed(self.entity(id))), Some(kind), Some(text)),
                None => {
                    let help = catalog.suggest(&er).map_or_else(
                        || "add the entity to the catalog, or fix the ref".into(),
                        |s| format!("did you mean `{s}`?"),
                    );
                    self.emit(
                        Diagnostic::error(
                            "edgeward::unknown_ref",
                            r.span,
                            format!("the catalog has no `{er}`"),
                        )
                        .label("not in the catalog")
                        .help(help),
                    );
                    (None, Some(kind), Some(text))
                }
            }
        }
    }

    pub(crate) fn route(&mut self, host: Option<&ast::StrLit>, route: &ast::Route) {
        let route_idx = self.program.routes.len() as u32;
        let methods = self.methods(route);
        let methods_text = route
            .methods
            .iter()
            .map(|m| m.name.as_str())
            .collect::<Vec<_>>()
            .join("|");
        let host = host.map(|h| self.host_name(h));
        let pat = self.path_pattern(&route.path);
        self.current_route_candidates = None;
        let (target, target_kind, target_text) = match &route.target {
            Some(t) => self.target(t, &pat),
            None => (None, None, None),
        };
        let ctx = Ctx {
            params: Some(pat.params.clone()),
            target: route.target.as_ref().map(|_| target_kind.clone()),
            in_route: true,
            role_param: None,
            permissive: false,
        };
        let mut r = ir::Route {
            methods,
            methods_text,
            host,
            path_text: route.path.value.clone(),
            segments: pat.segments,
            star: pat.star,
            params: pat.params,
            target,
            target_text,
            denies: Vec::new(),
            requires: Vec::new(),
            allows: Vec::new(),
            span: route.span,
        };
        let mut names: Vec<(String, Span)> = Vec::new();
        let mut n_requires = 0;
        for rule in &route.rules {
            let name = match (&rule.name, rule.effect) {
                (Some(n), _) => n.name.clone(),
                (None, _) => format!("require#{}", n_requires + 1),
            };
            if rule.effect == Effect::Require {
                n_requires += 1;
            }
            if let Some((_, prev)) = names.iter().find(|(n, _)| *n == name) {
                let span = rule.name.as_ref().map_or(rule.span, |n| n.span);
                self.emit(
                    Diagnostic::error("edgeward::duplicate_rule", span, format!("two rules of this route are named `{name}`"))
                        .label("second rule with this name")
                        .related(*prev, "first here")
                        .help("rule names are unique per route: they name the rule in every decision, log line and report"),
                );
            }
            names.push((
                name.clone(),
                rule.name.as_ref().map_or(rule.span, |n| n.span),
            ));
            let cond = rule.cond.as_ref().map(|c| self.lower_rule_cond(c, &ctx));
            let idx = self.push_rule(name, rule.effect, Some(route_idx), rule.span, cond);
            match rule.effect {
                Effect::Allow => r.allows.push(idx),
                Effect::Deny => r.denies.push(idx),
                Effect::Require => r.requires.push(idx),
            }
        }
        self.current_route_candidates = None;
        let head_end = route
            .target
            .as_ref()
            .map_or(route.path.span.end, |t| t.span.end);
        self.route_heads.push(Span::new(route.span.start, head_end));
        self.program.routes.push(r);
    }

    /// Route-level lints and the ambiguity check (§2).
    pub(crate) fn route_checks(&mut self) {
        let routes = self.program.routes.clone();
        let heads = self.route_heads.clone();
        let head = |i: usize| heads.get(i).copied();
        for (i, a) in routes.iter().enumerate() {
            let a_head = head(i).unwrap_or(a.span);
            for (j, b) in routes.iter().enumerate().take(i) {
                if a.host == b.host
                    && same_requests(a, b)
                    && methods_overlap(&a.methods, &b.methods)
                {
                    self.emit(
                        Diagnostic::error(
                            "edgeward::ambiguous_route",
                            a_head,
                            format!("this route and an earlier one match the same `{}` requests equally specifically", a.path_text),
                        )
                        .label("matches the same requests")
                        .related(head(j).unwrap_or(b.span), "as this route")
                        .help("merge their rules into one route, or make their methods disjoint"),
                    );
                }
            }
            // An allow whose condition erred at check time may well hold once fixed.
            let allows_possible = a.allows.iter().any(|r| {
                self.program.rule(*r).is_some_and(|r| {
                    self.erred_within(r.span)
                        || r.cond.is_none_or(|c| {
                            !matches!(self.program.expr(c), Some(Expr::Bool(false)))
                        })
                })
            });
            if a.allows.is_empty() {
                let msg = if a.denies.is_empty() && a.requires.is_empty() {
                    "this route has no rules: it denies every request (`default`)"
                } else {
                    "this route has no `allow`: it denies every request"
                };
                self.emit(
                    Diagnostic::warning("edgeward::no_allow", a_head, msg)
                        .label("only denies")
                        .help("add an `allow NAME when ...`, or remove the route if every request should be denied"),
                );
            } else if !allows_possible {
                self.emit(
                    Diagnostic::warning(
                        "edgeward::no_allow",
                        a_head,
                        "no `allow` of this route can hold",
                    )
                    .label("only denies"),
                );
            }
            // An unconditional deny shadows every allow of the route.
            let unconditional = a
                .denies
                .iter()
                .chain(self.program.top_denies.iter())
                .filter_map(|d| self.program.rule(*d))
                .find(|d| {
                    d.cond
                        .is_none_or(|c| matches!(self.program.expr(c), Some(Expr::Bool(true))))
                })
                .map(|d| (d.name.clone(), d.span));
            if let Some((deny, deny_span)) = unconditional {
                for allow in &a.allows {
                    if let Some(rule) = self.program.rule(*allow) {
                        let span = rule.span;
                        let name = rule.name.clone();
                        self.emit(
                            Diagnostic::warning(
                                "edgeward::shadowed_allow",
                                span,
                                format!("`allow {name}` can never decide"),
                            )
                            .label("always beaten")
                            .related(deny_span, format!("`deny {deny}` holds for every request"))
                            .help("give the deny a `when` condition, or remove the allow"),
                        );
                    }
                }
            }
        }
        for rule in self.program.rules.clone() {
            if let Some(c) = rule.cond
                && crate::ir::optimise::folds_to(&self.program, c) == Some(false)
                && !self.erred_within(rule.span)
            {
                self.emit(
                    Diagnostic::warning(
                        "edgeward::never_holds",
                        rule.span,
                        format!("`{} {}` can never hold", rule.effect.as_str(), rule.name),
                    )
                    .label("its condition is always false")
                    .help("fix the condition or remove the rule"),
                );
            }
        }
    }

    /// `principal = ...` and `service = ...`.
    pub(crate) fn bindings(&mut self) {
        if let Some(b) = self.principal_ast {
            self.principal_spec = self.binding(b, "principal");
        }
        if let Some(b) = self.service_ast {
            self.service_spec = self.binding(b, "service");
        }
    }

    fn binding(&mut self, b: &ast::Binding, what: &str) -> Option<BindingSpec> {
        let kind = b.kind.name.to_lowercase();
        if !KINDS.contains(&kind.as_str()) {
            self.emit(
                Diagnostic::error(
                    "edgeward::bad_binding",
                    b.kind.span,
                    format!("`{}` is not an entity kind", b.kind.name),
                )
                .label("unknown kind")
                .help(match suggest(&kind, KINDS.iter().copied()) {
                    Some(s) => format!("did you mean `{s}`?"),
                    None => format!("kinds are {}", KINDS.join(", ")),
                }),
            );
            return None;
        }
        let field: Vec<String> = b
            .field
            .iter()
            .map(|s| match s {
                PathSeg::Field(i) => i.name.clone(),
                PathSeg::Index(k) => k.value.clone(),
            })
            .collect();
        if !matches!(field.first().map(String::as_str), Some("spec" | "metadata"))
            || field.len() < 2
        {
            self.emit(
                Diagnostic::error("edgeward::bad_binding", b.field_span, format!("a {what} binding compares a `spec.*` or `metadata.*` field"))
                    .label("not an entity field")
                    .help("e.g. `spec.profile.email` or `metadata.annotations[\"cloudflare.com/access-client-id\"]`"),
            );
            return None;
        }
        let claim = match &b.value.kind {
            ExprKind::Path(root, segs) if root.name == "claims" => match segs.as_slice() {
                [PathSeg::Field(f)] => match self.claim_slot(&f.name) {
                    Some((slot, crate::input::ClaimType::String, _)) => Some(slot),
                    Some(_) => {
                        self.emit(
                            Diagnostic::error(
                                "edgeward::bad_binding",
                                b.value.span,
                                format!("claim `{}` is not a string", f.name),
                            )
                            .label("bindings compare a string claim"),
                        );
                        None
                    }
                    None => {
                        self.unknown_claim(&f.name, f.span);
                        None
                    }
                },
                _ => None,
            },
            _ => None,
        };
        let Some(claim) = claim else {
            if !self
                .diags
                .iter()
                .any(|d| d.span.start >= b.value.span.start && d.span.end <= b.value.span.end)
            {
                self.emit(
                    Diagnostic::error(
                        "edgeward::bad_binding",
                        b.value.span,
                        format!("a {what} binding compares with a claim"),
                    )
                    .label("not `claims.NAME`")
                    .help("e.g. `== claims.email`"),
                );
            }
            return None;
        };
        let spec = BindingSpec {
            kind,
            field_text: ir::FieldKey::Doc(field.clone()).describe(),
            field,
            claim,
        };
        self.shared_binding_values(b, &spec, what);
        Some(spec)
    }

    /// Warns about catalog values that several entities of the binding's kind share (§7.6): a token
    /// carrying one binds no one.
    fn shared_binding_values(&mut self, b: &ast::Binding, spec: &BindingSpec, what: &str) {
        let Some(catalog) = self.catalog else { return };
        // The principal binding compares emails ASCII case-insensitively (§7.6), the service one exactly.
        let fold = what == "principal";
        let keys: Vec<&str> = spec.field.iter().map(String::as_str).collect();
        let mut by_value: std::collections::BTreeMap<String, (String, Vec<String>)> =
            std::collections::BTreeMap::new();
        for id in catalog.of_kind(&spec.kind) {
            let (Some(v), Some(e)) = (
                catalog.field(id, &keys).and_then(|v| v.as_str()),
                catalog.entity(id),
            ) else {
                continue;
            };
            let key = if fold {
                v.to_ascii_lowercase()
            } else {
                v.to_string()
            };
            by_value
                .entry(key)
                .or_insert_with(|| (v.to_string(), Vec::new()))
                .1
                .push(format!("`{}`", e.entity_ref()));
        }
        for (written, entities) in by_value.into_values() {
            if entities.len() < 2 {
                continue;
            }
            self.emit(
                Diagnostic::warning(
                    "edgeward::ambiguous_binding",
                    b.span,
                    format!(
                        "`{written}` is the `{}` of {} entities: {}",
                        spec.field_text,
                        entities.len(),
                        entities.join(", ")
                    ),
                )
                .label(format!("a token with `{written}` binds no {what}"))
                .help("give each entity its own value in the catalog, or remove the duplicates"),
            );
        }
    }

    /// Warns about the policy's own roles that no rule uses, and checks their bodies on their own.
    pub(crate) fn unused_roles(&mut self) {
        let unused: Vec<(&'f ast::RoleDecl, Option<&'static str>)> = self
            .roles
            .iter()
            .filter(|(name, def)| !self.used_roles.contains(*name) && def.module.is_none())
            .map(|(_, def)| (def.decl, def.module))
            .collect();
        for (decl, _) in unused {
            self.emit(
                Diagnostic::warning(
                    "edgeward::unused_role",
                    decl.name.span,
                    format!("role `{}` is never used", decl.name.name),
                )
                .label("unused")
                .help("use it in a rule, or remove it"),
            );
            let ctx = Ctx {
                permissive: true,
                in_route: true,
                ..Ctx::default()
            };
            let ctx = match &decl.param {
                Some(p) => {
                    let kind = p.kind.name.to_lowercase();
                    let id = self.program.push(Expr::Target, p.name.span);
                    Ctx {
                        role_param: Some((
                            p.name.name.clone(),
                            id,
                            super::expr::Ty::Entity(Some(kind)),
                        )),
                        ..ctx
                    }
                }
                None => ctx,
            };
            let _ = self.lower(&decl.body, &ctx, &Facts::default());
            self.used_roles.remove(&decl.name.name);
        }
    }
}

trait LowerKeepParams {
    fn to_lowercase_keep_params(&self) -> String;
}

impl LowerKeepParams for String {
    /// Lowercases a target name but keeps `{param}` names as written.
    fn to_lowercase_keep_params(&self) -> String {
        let mut out = String::new();
        let mut in_param = false;
        for c in self.chars() {
            match c {
                '{' => in_param = true,
                '}' => in_param = false,
                _ => {}
            }
            if in_param {
                out.push(c)
            } else {
                out.extend(c.to_lowercase())
            }
        }
        out
    }
}

fn methods_overlap(a: &Methods, b: &Methods) -> bool {
    match (a, b) {
        (Methods::Any, _) | (_, Methods::Any) => true,
        (Methods::List(x), Methods::List(y)) => x.iter().any(|m| y.contains(m)),
    }
}

/// Equally specific paths that match the same requests: same shape, same literals.
fn same_requests(a: &ir::Route, b: &ir::Route) -> bool {
    a.star == b.star
        && a.segments.len() == b.segments.len()
        && a.segments
            .iter()
            .zip(&b.segments)
            .all(|(x, y)| match (x, y) {
                (Seg::Lit(p), Seg::Lit(q)) => p == q,
                (Seg::Param(_), Seg::Param(_)) => true,
                _ => false,
            })
}
