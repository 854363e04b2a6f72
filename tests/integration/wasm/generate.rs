//! Random valid programs and requests (deterministic per seed), for codegen and differential tests.

use edgeward::input::{ClaimType, ClaimValue, Request};
use edgeward::ir::entities::Related;
use edgeward::ir::{
    EntityIdx, Expr, ExprId, FieldKey, Methods, Program, Rel, SlotIdx, Target, TemplatePart,
};
use edgeward::syntax::ast::Effect;

use super::build::{B, req};

/// A small deterministic generator (splitmix64).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    pub fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    pub fn pick<'a, T>(&mut self, xs: &'a [T]) -> &'a T {
        &xs[self.below(xs.len())]
    }
}

const WORDS: [&str; 6] = ["a", "b", "api", "Deploy", "x-1", "\u{e9}t\u{e9}"];
const HOSTS: [&str; 3] = ["a.dev", "b.dev", "c.dev"];
const STRS: [&str; 8] = [
    "",
    "a",
    "api",
    "Support",
    "support",
    "pay*",
    "*a?i",
    "jane@acme.dev",
];

/// The slots every generated program has, by role.
struct Slots {
    email: SlotIdx,
    groups: SlotIdx,
    admin: SlotIdx,
    level: SlotIdx,
    time: SlotIdx,
    ip: SlotIdx,
    country: SlotIdx,
}

struct Ctx {
    s: Slots,
    #[allow(dead_code)]
    users: Vec<EntityIdx>,
    groups: Vec<EntityIdx>,
    comps: Vec<EntityIdx>,
    all: usize,
    fields: Vec<edgeward::ir::FieldIdx>,
    params: usize,
    has_target: bool,
}

fn entity(b: &mut B, g: &mut Rng, cx: &Ctx) -> ExprId {
    match g.below(5) {
        0 if cx.has_target => b.e(Expr::Target),
        1 => b.e(Expr::Principal),
        2 => {
            let inner = entity(b, g, cx);
            let rel = if g.chance(50) {
                Rel::Owner
            } else {
                Rel::System
            };
            b.e(Expr::Related(inner, rel))
        }
        _ => {
            let e = EntityIdx(g.below(cx.all) as u32);
            b.e(Expr::Entity(e))
        }
    }
}

fn string(b: &mut B, g: &mut Rng, cx: &Ctx) -> ExprId {
    match g.below(6) {
        0 => b.e(Expr::Slot(cx.s.email)),
        1 => b.e(Expr::Slot(cx.s.country)),
        2 if cx.params > 0 => {
            let i = g.below(cx.params) as u32;
            b.e(Expr::Param(i))
        }
        3 => {
            let e = entity(b, g, cx);
            let f = *g.pick(&cx.fields);
            b.e(Expr::Field(e, f))
        }
        _ => {
            let s = *g.pick(&STRS);
            b.s(s)
        }
    }
}

fn int(b: &mut B, g: &mut Rng, cx: &Ctx, depth: u32) -> ExprId {
    match g.below(5) {
        0 => b.e(Expr::Slot(cx.s.level)),
        1 => b.e(Expr::Slot(cx.s.time)),
        2 if depth > 0 => {
            let l = int(b, g, cx, depth - 1);
            let r = int(b, g, cx, depth - 1);
            if g.chance(50) {
                b.e(Expr::Add(l, r))
            } else {
                b.e(Expr::Sub(l, r))
            }
        }
        _ => {
            let v = *g.pick(&[-1i64, 0, 1, 5, 1_800_000_000, i64::MAX]);
            b.e(Expr::Int(v))
        }
    }
}

/// A boolean expression of bounded depth.
fn cond(b: &mut B, g: &mut Rng, cx: &Ctx, depth: u32) -> ExprId {
    let leaf = depth == 0;
    match g.below(if leaf { 12 } else { 15 }) {
        0 => {
            let v = g.chance(50);
            b.e(Expr::Bool(v))
        }
        1 => {
            let s = *g.pick(&[cx.s.email, cx.s.groups, cx.s.ip, cx.s.country, cx.s.admin]);
            b.e(Expr::Has(s))
        }
        2 => b.e(Expr::Slot(cx.s.admin)),
        3 => {
            let (l, r) = (string(b, g, cx), string(b, g, cx));
            match g.below(6) {
                0 => b.e(Expr::Eq(l, r)),
                1 => b.e(Expr::Ne(l, r)),
                2 => b.e(Expr::StrContains {
                    haystack: l,
                    needle: r,
                }),
                3 => b.e(Expr::StartsWith(l, r)),
                4 => b.e(Expr::EndsWith(l, r)),
                _ => b.e(Expr::Matches(l, r)),
            }
        }
        4 => {
            let set = if g.chance(50) {
                b.e(Expr::Slot(cx.s.groups))
            } else {
                b.e(Expr::StrList(vec!["support".into(), "a".into()]))
            };
            let elem = string(b, g, cx);
            b.e(Expr::SetHas { set, elem })
        }
        5 => {
            let (l, r) = (int(b, g, cx, 1), int(b, g, cx, 1));
            match g.below(4) {
                0 => b.e(Expr::Lt(l, r)),
                1 => b.e(Expr::Le(l, r)),
                2 => b.e(Expr::Gt(l, r)),
                _ => b.e(Expr::Ge(l, r)),
            }
        }
        6 => {
            let ip = b.e(Expr::Slot(cx.s.ip));
            let (net, len) = *g.pick(&[("10.0.0.0", 8u8), ("2001:db8::", 32), ("0.0.0.0", 0)]);
            let c = b.e(Expr::Cidr(
                net.parse().unwrap_or(std::net::IpAddr::from([0u8; 4])),
                len,
            ));
            b.e(Expr::IpIn(ip, c))
        }
        7 => {
            let (l, r) = (entity(b, g, cx), entity(b, g, cx));
            b.e(Expr::Eq(l, r))
        }
        8 => {
            let m = entity(b, g, cx);
            let grp = EntityIdx(g.pick(&cx.groups).0);
            let grp = b.e(Expr::Entity(grp));
            b.e(Expr::InGroup {
                member: m,
                group: grp,
            })
        }
        9 => {
            let (o, x) = (entity(b, g, cx), entity(b, g, cx));
            b.e(Expr::Owns { owner: o, owned: x })
        }
        10 => {
            let (x, w) = (entity(b, g, cx), entity(b, g, cx));
            b.e(Expr::PartOf { part: x, whole: w })
        }
        11 => {
            let (l, r) = (b.e(Expr::Slot(cx.s.admin)), b.e(Expr::Bool(true)));
            b.e(Expr::Eq(l, r))
        }
        12 => {
            let x = cond(b, g, cx, depth - 1);
            b.e(Expr::Not(x))
        }
        13 => {
            let (l, r) = (cond(b, g, cx, depth - 1), cond(b, g, cx, depth - 1));
            b.e(Expr::And(l, r))
        }
        _ => {
            let (l, r) = (cond(b, g, cx, depth - 1), cond(b, g, cx, depth - 1));
            b.e(Expr::Or(l, r))
        }
    }
}

fn rank(p: &Program, r: usize) -> (Vec<u8>, bool) {
    let r = &p.routes[r];
    let mut k: Vec<u8> = r
        .segments
        .iter()
        .map(|s| match s {
            edgeward::ir::Seg::Lit(_) => 0,
            edgeward::ir::Seg::Param(_) => 1,
        })
        .collect();
    k.push(if r.star { 3 } else { 2 });
    (k, r.host.is_some())
}

fn overlap(a: &Methods, b: &Methods) -> bool {
    match (a, b) {
        (Methods::List(x), Methods::List(y)) => x.iter().any(|m| y.contains(m)),
        _ => true,
    }
}

/// A random program the checker would accept: no two routes equally specific with the same host
/// binding and overlapping methods.
pub fn program(seed: u64) -> Program {
    let mut g = Rng::new(seed);
    let mut b = B::new();
    let time = b.time();
    let ip = b.ip();
    let country = b.country();
    let email = b.claim("email", ClaimType::String, true);
    let groups = b.claim("groups", ClaimType::Set, true);
    let admin = b.claim("admin", ClaimType::Bool, true);
    let level = b.claim("level", ClaimType::Int, true);
    b.p.claims.push(edgeward::input::ClaimDecl {
        name: "exp".into(),
        ty: ClaimType::Time,
        optional: false,
    });
    let users: Vec<EntityIdx> = (0..3).map(|i| b.entity("user", &format!("u{i}"))).collect();
    let groups_e: Vec<EntityIdx> = (0..3)
        .map(|i| b.entity("group", &format!("g{i}")))
        .collect();
    let comps: Vec<EntityIdx> = ["api", "web", "deploy"]
        .iter()
        .map(|n| b.entity("component", n))
        .collect();
    let sys = b.entity("system", "pay");
    for &u in &users {
        let d: Vec<EntityIdx> = groups_e.iter().copied().filter(|_| g.chance(40)).collect();
        let mut all = d.clone();
        if d.contains(&groups_e[0]) && !all.contains(&groups_e[1]) {
            all.push(groups_e[1]);
            all.sort();
        }
        b.info(u).direct_groups = d;
        b.info(u).groups = all;
    }
    for &c in &comps {
        b.info(c).owner = match g.below(4) {
            0 => Related::Absent,
            1 => Related::Dangling,
            2 => Related::To(*g.pick(&users)),
            _ => Related::To(*g.pick(&groups_e)),
        };
        if g.chance(60) {
            b.info(c).system = Related::To(sys);
            b.info(c).part_of = vec![sys];
        }
    }
    let name = b.field(FieldKey::Name);
    let lc = b.field(FieldKey::Doc(vec!["spec".into(), "lifecycle".into()]));
    let all = b.p.entities.list.len();
    for e in 0..all {
        let n = b.p.entities.list[e]
            .r#ref
            .rsplit('/')
            .next()
            .unwrap_or("")
            .to_string();
        b.set_field(name, EntityIdx(e as u32), &n);
        if g.chance(50) {
            let v = *g.pick(&["production", "experimental"]);
            b.set_field(lc, EntityIdx(e as u32), v);
        }
    }
    let entries: Vec<(String, EntityIdx)> = users
        .iter()
        .enumerate()
        .map(|(i, u)| (format!("U{i}@acme.dev"), *u))
        .collect();
    let refs: Vec<(&str, EntityIdx)> = entries.iter().map(|(k, e)| (k.as_str(), *e)).collect();
    b.p.principal = Some(b.binding(email, true, &refs));

    let mut cx = Ctx {
        s: Slots {
            email,
            groups,
            admin,
            level,
            time,
            ip,
            country,
        },
        users,
        groups: groups_e,
        comps,
        all,
        fields: vec![name, lc],
        params: 0,
        has_target: false,
    };
    for _ in 0..g.below(2) {
        let c = cond(&mut b, &mut g, &cx, 2);
        b.rule(
            None,
            Effect::Deny,
            &format!("top{}", b.p.rules.len()),
            Some(c),
        );
    }
    let nroutes = 1 + g.below(6);
    let mut tries = 0;
    while b.p.routes.len() < nroutes && tries < 50 {
        tries += 1;
        let nseg = g.below(3);
        let mut path = String::new();
        for _ in 0..nseg {
            path.push('/');
            if g.chance(35) {
                path.push_str(&format!("{{p{}}}", path.len()));
            } else {
                path.push_str(g.pick::<&str>(&WORDS));
            }
        }
        if g.chance(30) {
            path.push_str("/*");
        }
        if path.is_empty() {
            path.push('/');
        }
        let methods = *g.pick(&["ANY", "GET", "GET|HEAD", "POST"]);
        let host = if g.chance(40) {
            Some(*g.pick(&HOSTS))
        } else {
            None
        };
        let r = b.route(methods, host, &path) as usize;
        let clash = (0..r).any(|o| {
            rank(&b.p, o) == rank(&b.p, r)
                && overlap(&b.p.routes[o].methods, &b.p.routes[r].methods)
        });
        if clash {
            b.p.routes.pop();
            continue;
        }
        let r = r as u32;
        cx.params = b.p.routes[r as usize].params.len();
        cx.has_target = true;
        match g.below(3) {
            0 => cx.has_target = false,
            1 => {
                let c = *g.pick(&cx.comps);
                b.target(r, Target::Fixed(c), "component:default/x");
            }
            _ if cx.params > 0 => {
                let mut cands: Vec<(String, EntityIdx)> = cx
                    .comps
                    .iter()
                    .map(|&c| {
                        let n = b.p.entities.list[c.0 as usize]
                            .r#ref
                            .rsplit('/')
                            .next()
                            .unwrap_or("")
                            .to_string();
                        (n, c)
                    })
                    .collect();
                cands.sort();
                b.target(
                    r,
                    Target::Template {
                        kind: "component".into(),
                        namespace: "default".into(),
                        parts: vec![TemplatePart::Param(0)],
                        candidates: cands,
                    },
                    "component:default/{p}",
                );
            }
            _ => cx.has_target = false,
        }
        let nrules = g.below(5);
        let mut nreq = 0;
        for _ in 0..nrules {
            let effect = *g.pick(&[Effect::Allow, Effect::Allow, Effect::Deny, Effect::Require]);
            let c = if g.chance(15) {
                None
            } else {
                Some(cond(&mut b, &mut g, &cx, 3))
            };
            let name = if effect == Effect::Require {
                nreq += 1;
                format!("require#{nreq}")
            } else {
                format!("r{}", b.p.rules.len())
            };
            let c = if effect == Effect::Require && c.is_none() {
                Some(b.e(Expr::Bool(true)))
            } else {
                c
            };
            b.rule(Some(r), effect, &name, c);
        }
    }
    b.build()
}

/// A random request shaped to hit the program's routes often.
pub fn request(p: &Program, seed: u64) -> Request {
    let mut g = Rng::new(seed ^ 0xABCD);
    let method = *g.pick(&["GET", "HEAD", "POST", "PUT"]);
    let host = match p
        .routes
        .get(g.below(p.routes.len().max(1)))
        .and_then(|r| r.host.clone())
    {
        Some(h) if g.chance(70) => {
            if g.chance(20) {
                h.to_ascii_uppercase()
            } else {
                h
            }
        }
        _ => g.pick(&HOSTS).to_string(),
    };
    let mut path = String::new();
    if let Some(r) = p.routes.get(g.below(p.routes.len().max(1)))
        && g.chance(80)
    {
        {
            for s in &r.segments {
                path.push('/');
                match s {
                    edgeward::ir::Seg::Lit(l) => path.push_str(l),
                    edgeward::ir::Seg::Param(_) => path.push_str(
                        g.pick::<&str>(&["api", "WEB", "de%70loy", "", "%zz", "a%2Fb", "nope"]),
                    ),
                }
            }
            if r.star {
                for _ in 0..g.below(3) {
                    path.push('/');
                    path.push_str(g.pick::<&str>(&WORDS));
                }
            }
        }
    }
    if path.is_empty() || g.chance(10) {
        path.push('/');
    }
    let mut r = req(method, &host, &path);
    r.time = *g.pick(&[0, 1_800_000_000, -5]);
    if g.chance(50) {
        r.ip = Some(
            g.pick(&["10.1.2.3", "192.168.0.1", "2001:db8::1"])
                .parse()
                .unwrap_or(std::net::IpAddr::from([0u8; 4])),
        );
    }
    if g.chance(40) {
        r.country = Some(g.pick(&["US", "KP", "api"]).to_string());
    }
    let claims = [
        ("email", 60u64),
        ("groups", 50),
        ("admin", 50),
        ("level", 50),
        ("exp", 100),
    ];
    for (name, pct) in claims {
        if !g.chance(pct) {
            continue;
        }
        let v = match name {
            "email" => ClaimValue::String(
                g.pick(&["u0@acme.dev", "U1@ACME.dev", "x@y", "api"])
                    .to_string(),
            ),
            "groups" => {
                ClaimValue::Set((0..g.below(3)).map(|_| g.pick(&STRS).to_string()).collect())
            }
            "admin" => ClaimValue::Bool(g.chance(50)),
            "exp" => ClaimValue::Time(1_900_000_000),
            _ => ClaimValue::Int(*g.pick(&[0i64, 5, -1])),
        };
        r.claims_mut().insert(name.into(), v);
    }
    r
}
