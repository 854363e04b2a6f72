//! A concise builder of IR programs (and requests) for codegen tests, reusable by differential tests.

use std::collections::BTreeMap;
use std::net::IpAddr;

use edgeward::input::{ClaimDecl, ClaimType, ClaimValue, Request};
use edgeward::ir::TemplatePart;
use edgeward::ir::entities::{EntityInfo, Related};
use edgeward::ir::{
    Binding, EntityIdx, Expr, ExprId, FieldIdx, FieldKey, Methods, Program, Route, Rule, RuleIdx,
    Seg, Slot, SlotIdx, SlotSource, SlotType, Target,
};
use edgeward::syntax::ast::{Effect, Span};

/// Builds a [`Program`] step by step.
pub struct B {
    pub p: Program,
}

impl Default for B {
    fn default() -> Self {
        Self::new()
    }
}

fn slot(name: &str, source: SlotSource, ty: SlotType, optional: bool) -> Slot {
    Slot {
        name: name.into(),
        source,
        ty,
        optional,
    }
}

impl B {
    /// An empty program with the three request slots.
    pub fn new() -> B {
        B {
            p: Program {
                name: "test".into(),
                version: Some(1),
                source_hash: "sha256:00".into(),
                catalog_hash: "sha256:00".into(),
                claims: Vec::new(),
                slots: vec![
                    slot(
                        "request.method",
                        SlotSource::Method,
                        SlotType::String,
                        false,
                    ),
                    slot("request.host", SlotSource::Host, SlotType::String, false),
                    slot("request.path", SlotSource::Path, SlotType::String, false),
                ],
                routes: Vec::new(),
                route_order: Vec::new(),
                rules: Vec::new(),
                top_denies: Vec::new(),
                exprs: Vec::new(),
                spans: Vec::new(),
                entities: Default::default(),
                principal: None,
                service: None,
                tests: Vec::new(),
            },
        }
    }

    fn push_slot(&mut self, s: Slot) -> SlotIdx {
        self.p.slots.push(s);
        SlotIdx(self.p.slots.len() as u32 - 1)
    }

    pub fn time(&mut self) -> SlotIdx {
        self.push_slot(slot("request.time", SlotSource::Time, SlotType::Int, false))
    }

    pub fn ip(&mut self) -> SlotIdx {
        self.push_slot(slot("request.ip", SlotSource::Ip, SlotType::Ip, true))
    }

    pub fn country(&mut self) -> SlotIdx {
        self.push_slot(slot(
            "request.country",
            SlotSource::Country,
            SlotType::String,
            true,
        ))
    }

    /// Declares a claim and gives it a slot.
    pub fn claim(&mut self, name: &str, ty: ClaimType, optional: bool) -> SlotIdx {
        self.p.claims.push(ClaimDecl {
            name: name.into(),
            ty,
            optional,
        });
        let sty = match ty {
            ClaimType::String => SlotType::String,
            ClaimType::Int | ClaimType::Time => SlotType::Int,
            ClaimType::Bool => SlotType::Bool,
            ClaimType::Set => SlotType::Set,
        };
        self.push_slot(slot(
            &format!("claims.{name}"),
            SlotSource::Claim(name.into()),
            sty,
            optional,
        ))
    }

    pub fn e(&mut self, e: Expr) -> ExprId {
        self.p.push(e, Span::default())
    }

    pub fn s(&mut self, s: &str) -> ExprId {
        self.e(Expr::Str(s.into()))
    }

    /// A route; `path` like `/a/{x}/*`. Returns its index.
    pub fn route(&mut self, methods: &str, host: Option<&str>, path: &str) -> u32 {
        let mut segments = Vec::new();
        let mut params = Vec::new();
        let mut star = false;
        let body = path.strip_prefix('/').unwrap_or(path);
        if !body.is_empty() {
            for s in body.split('/') {
                if s == "*" {
                    star = true;
                } else if let Some(n) = s.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                    segments.push(Seg::Param(params.len() as u32));
                    params.push(n.to_string());
                } else {
                    segments.push(Seg::Lit(s.into()));
                }
            }
        }
        let methods_v = if methods == "ANY" {
            Methods::Any
        } else {
            Methods::List(methods.split('|').map(String::from).collect())
        };
        self.p.routes.push(Route {
            methods: methods_v,
            methods_text: methods.into(),
            host: host.map(String::from),
            path_text: path.into(),
            segments,
            star,
            params,
            target: None,
            target_text: None,
            denies: Vec::new(),
            requires: Vec::new(),
            allows: Vec::new(),
            span: Span::default(),
        });
        self.p.routes.len() as u32 - 1
    }

    pub fn target(&mut self, route: u32, t: Target, text: &str) {
        let r = &mut self.p.routes[route as usize];
        r.target = Some(t);
        r.target_text = Some(text.into());
    }

    /// A rule of a route (or top-level deny when `route` is `None`).
    pub fn rule(
        &mut self,
        route: Option<u32>,
        effect: Effect,
        name: &str,
        cond: Option<ExprId>,
    ) -> RuleIdx {
        let idx = RuleIdx(self.p.rules.len() as u32);
        self.p.rules.push(Rule {
            name: name.into(),
            effect,
            route,
            source: format!("policy.ward:{}:1", idx.0 + 1),
            cond,
            span: Span::default(),
        });
        match route {
            None => self.p.top_denies.push(idx),
            Some(r) => {
                let r = &mut self.p.routes[r as usize];
                match effect {
                    Effect::Allow => r.allows.push(idx),
                    Effect::Deny => r.denies.push(idx),
                    Effect::Require => r.requires.push(idx),
                }
            }
        }
        idx
    }

    pub fn allow(&mut self, route: u32, name: &str, cond: Option<ExprId>) -> RuleIdx {
        self.rule(Some(route), Effect::Allow, name, cond)
    }

    /// An entity `kind:default/name`.
    pub fn entity(&mut self, kind: &str, name: &str) -> EntityIdx {
        let ents = &mut self.p.entities;
        ents.list.push(EntityInfo {
            r#ref: format!("{kind}:default/{name}"),
            is_user: kind == "user",
            owner: Related::Absent,
            system: Related::Absent,
            direct_groups: Vec::new(),
            groups: Vec::new(),
            part_of: Vec::new(),
        });
        for col in &mut ents.values {
            col.push(None);
        }
        EntityIdx(ents.list.len() as u32 - 1)
    }

    pub fn info(&mut self, e: EntityIdx) -> &mut EntityInfo {
        &mut self.p.entities.list[e.0 as usize]
    }

    /// A string field; returns its index.
    pub fn field(&mut self, key: FieldKey) -> FieldIdx {
        let ents = &mut self.p.entities;
        if let Some(i) = ents.fields.iter().position(|f| *f == key) {
            return FieldIdx(i as u32);
        }
        ents.fields.push(key);
        ents.values.push(vec![None; ents.list.len()]);
        FieldIdx(ents.fields.len() as u32 - 1)
    }

    pub fn set_field(&mut self, f: FieldIdx, e: EntityIdx, v: &str) {
        self.p.entities.values[f.0 as usize][e.0 as usize] = Some(v.into());
    }

    /// `principal = kind where ... == claims.<slot>`, with `(key, entity)` entries.
    pub fn binding(&mut self, claim: SlotIdx, ci: bool, entries: &[(&str, EntityIdx)]) -> Binding {
        Binding {
            kind: "user".into(),
            field_text: "spec.profile.email".into(),
            claim,
            ascii_case_insensitive: ci,
            table: entries
                .iter()
                .map(|(k, e)| {
                    (
                        if ci {
                            k.to_ascii_lowercase()
                        } else {
                            k.to_string()
                        },
                        *e,
                    )
                })
                .collect::<BTreeMap<_, _>>(),
            ambiguous: Vec::new(),
        }
    }

    pub fn build(mut self) -> Program {
        self.p.route_order = edgeward::ir::optimise::route_order(&self.p.routes);
        self.p
    }
}

/// A request with no claims, at time 0.
pub fn req(method: &str, host: &str, path: &str) -> Request {
    Request {
        method: method.into(),
        host: host.into(),
        path: path.into(),
        time: 0,
        ip: None,
        country: None,
        claims: Default::default(),
    }
}

/// Adds a claim to a request.
pub fn with(mut r: Request, name: &str, v: ClaimValue) -> Request {
    r.claims_mut().insert(name.into(), v);
    r
}

/// Sets the request's ip.
pub fn with_ip(mut r: Request, ip: &str) -> Request {
    r.ip = ip.parse::<IpAddr>().ok();
    r
}

/// The DESIGN §2 example, lowered by hand as the checker would lower it.
pub fn example() -> Program {
    use edgeward::ir::Rel;
    let mut b = B::new();
    let time = b.time();
    let country = b.country();
    for (n, t, o) in [
        ("aud", ClaimType::Set, false),
        ("exp", ClaimType::Time, false),
        ("iat", ClaimType::Time, false),
        ("nbf", ClaimType::Time, true),
        ("iss", ClaimType::String, false),
        ("sub", ClaimType::String, false),
        ("type", ClaimType::String, false),
        ("identity_nonce", ClaimType::String, true),
        ("country", ClaimType::String, true),
        ("preferred_username", ClaimType::String, true),
        ("department", ClaimType::String, true),
    ] {
        b.p.claims.push(ClaimDecl {
            name: n.into(),
            ty: t,
            optional: o,
        });
    }
    let email = b.claim("email", ClaimType::String, true);
    let cn = b.claim("common_name", ClaimType::String, true);
    let amr = b.claim("amr", ClaimType::Set, true);
    let groups = b.claim("groups", ClaimType::Set, true);
    let jane = b.entity("user", "jane");
    let bob = b.entity("user", "bob");
    let team = b.entity("group", "payments-team");
    let admins = b.entity("group", "platform-admins");
    let api = b.entity("component", "payments-api");
    let web = b.entity("component", "payments-web");
    let bot = b.entity("component", "deploy-bot");
    b.info(jane).direct_groups = vec![team];
    b.info(jane).groups = vec![team];
    b.info(bob).direct_groups = vec![admins];
    b.info(bob).groups = vec![admins];
    b.info(api).owner = Related::To(team);
    b.info(web).owner = Related::To(team);
    let lc = b.field(FieldKey::Doc(vec!["spec".into(), "lifecycle".into()]));
    b.set_field(lc, api, "production");
    b.set_field(lc, web, "experimental");
    b.p.principal = Some(b.binding(
        email,
        true,
        &[("jane@acme.dev", jane), ("bob@acme.dev", bob)],
    ));
    b.p.service = Some(b.binding(cn, false, &[("abc123.access", bot)]));
    // deny embargo when request has country and request.country in ["KP", "IR"]
    let has = b.e(Expr::Has(country));
    let c = b.e(Expr::Slot(country));
    let l = b.e(Expr::StrList(vec!["KP".into(), "IR".into()]));
    let inl = b.e(Expr::SetHas { set: l, elem: c });
    let cond = b.e(Expr::And(has, inl));
    b.rule(None, Effect::Deny, "embargo", Some(cond));
    let owner = |b: &mut B| {
        let p = b.e(Expr::Principal);
        let t = b.e(Expr::Target);
        b.e(Expr::Owns { owner: p, owned: t })
    };
    let admin = |b: &mut B| {
        let p = b.e(Expr::Principal);
        let g = b.e(Expr::Entity(admins));
        b.e(Expr::InGroup {
            member: p,
            group: g,
        })
    };
    let r0 = b.route(
        "GET|HEAD",
        Some("payments.acme.dev"),
        "/api/v1/payments/{id}",
    );
    b.target(r0, Target::Fixed(api), "component:default/payments-api");
    let (o, a) = (owner(&mut b), admin(&mut b));
    let reader = b.e(Expr::Or(o, a));
    b.allow(r0, "reader", Some(reader));
    let h = b.e(Expr::Has(groups));
    let g = b.e(Expr::Slot(groups));
    let s = b.s("support");
    let c = b.e(Expr::SetHas { set: g, elem: s });
    let support = b.e(Expr::And(h, c));
    b.allow(r0, "support", Some(support));
    let r1 = b.route("POST", Some("payments.acme.dev"), "/deploy/{name}");
    b.target(
        r1,
        Target::Template {
            kind: "component".into(),
            namespace: "default".into(),
            parts: vec![TemplatePart::Param(0)],
            candidates: vec![("payments-api".into(), api), ("payments-web".into(), web)],
        },
        "component:default/{name}",
    );
    let h = b.e(Expr::Has(amr));
    let g = b.e(Expr::Slot(amr));
    let s = b.s("mfa");
    let c = b.e(Expr::SetHas { set: g, elem: s });
    let mfa = b.e(Expr::And(h, c));
    b.rule(Some(r1), Effect::Require, "require#1", Some(mfa));
    let o = owner(&mut b);
    let t = b.e(Expr::Target);
    let f = b.e(Expr::Field(t, lc));
    let x = b.s("experimental");
    let ne = b.e(Expr::Ne(f, x));
    let deploy = b.e(Expr::And(o, ne));
    b.allow(r1, "deploy", Some(deploy));
    let t1 = b.e(Expr::Slot(time));
    let from = b.e(Expr::Int(1_797_724_800));
    let ge = b.e(Expr::Ge(t1, from));
    let t2 = b.e(Expr::Slot(time));
    let to = b.e(Expr::Int(1_798_934_400));
    let lt = b.e(Expr::Lt(t2, to));
    let freeze = b.e(Expr::And(ge, lt));
    b.rule(Some(r1), Effect::Deny, "freeze", Some(freeze));
    let r2 = b.route("ANY", None, "/healthz");
    b.allow(r2, "public", None);
    let _ = Rel::Owner;
    b.p.name = "acme_edge".into();
    b.p.version = Some(3);
    b.build()
}

/// A policy with `n` rules over `n / 4` routes, for size and speed checks.
pub fn big(n: usize) -> Program {
    let mut b = B::new();
    let sub = b.claim("sub", ClaimType::String, false);
    let groups = b.claim("groups", ClaimType::Set, true);
    for i in 0..n / 4 {
        let r = b.route("GET|POST", None, &format!("/svc{i}/{{id}}/*"));
        for j in 0..4 {
            let h = b.e(Expr::Has(groups));
            let g = b.e(Expr::Slot(groups));
            let s = b.s(&format!("team-{}", (i + j) % 50));
            let c = b.e(Expr::SetHas { set: g, elem: s });
            let both = b.e(Expr::And(h, c));
            let e = b.e(Expr::Slot(sub));
            let suffix = b.s("@acme.dev");
            let ends = b.e(Expr::EndsWith(e, suffix));
            let cond = b.e(Expr::Or(both, ends));
            let effect = if j == 0 { Effect::Deny } else { Effect::Allow };
            b.rule(Some(r), effect, &format!("r{j}"), Some(cond));
        }
    }
    b.build()
}
