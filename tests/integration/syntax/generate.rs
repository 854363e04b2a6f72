//! Proptest strategies for well-formed ASTs (spans zeroed, parentheses where the
//! grammar needs them), for the format → parse round trip.

use edgeward::syntax::ast::*;
use proptest::prelude::*;

fn sp() -> Span {
    Span::default()
}

fn id(name: &str) -> Ident {
    Ident {
        name: name.to_string(),
        span: sp(),
    }
}

fn lit(value: String) -> StrLit {
    StrLit { value, span: sp() }
}

fn name() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "a",
        "admin",
        "owner",
        "x_1",
        "claims",
        "request",
        "target",
        "principal",
        "_p",
        "Team",
    ])
    .prop_map(str::to_string)
}

/// Field names may be keywords.
fn field() -> impl Strategy<Value = String> {
    prop::sample::select(vec![
        "email", "spec", "in", "time", "ip", "and", "x9", "owner",
    ])
    .prop_map(str::to_string)
}

fn text() -> impl Strategy<Value = String> {
    prop::collection::vec(
        prop::sample::select(vec![
            'a', 'Z', ' ', '"', '\\', '\n', '\t', 'é', '\u{1}', '/', '{',
        ]),
        0..6,
    )
    .prop_map(|cs| cs.into_iter().collect())
}

fn path_seg() -> impl Strategy<Value = PathSeg> {
    prop_oneof![
        field().prop_map(|f| PathSeg::Field(id(&f))),
        text().prop_map(|t| PathSeg::Index(lit(t))),
    ]
}

fn entity_ref() -> impl Strategy<Value = EntityRefLit> {
    (
        prop::sample::select(vec!["group", "component", "User"]),
        prop::option::of(prop::sample::select(vec!["default", "ops-1"])),
        prop::sample::select(vec!["platform-admins", "a.b_c", "{name}", "x{id}y"]),
    )
        .prop_map(|(k, ns, n)| EntityRefLit {
            kind: k.to_string(),
            namespace: ns.map(str::to_string),
            name: n.to_string(),
            span: sp(),
        })
}

fn e(kind: ExprKind) -> Expr {
    Expr { kind, span: sp() }
}

fn leaf() -> impl Strategy<Value = Expr> {
    prop_oneof![
        text().prop_map(|t| e(ExprKind::Str(t))),
        (0i64..1_000_000).prop_map(|n| e(ExprKind::Int(n))),
        any::<bool>().prop_map(|b| e(ExprKind::Bool(b))),
        (
            0i64..10_000,
            prop::sample::select(vec![("s", 1), ("m", 60), ("h", 3600), ("d", 86400)])
        )
            .prop_map(|(n, (u, m))| e(ExprKind::Duration(n * m, format!("{n}{u}")))),
        text().prop_map(|t| e(ExprKind::Time(lit(t)))),
        text().prop_map(|t| e(ExprKind::Ip(lit(t)))),
        entity_ref().prop_map(|r| e(ExprKind::EntityRef(r))),
        (name(), prop::collection::vec(path_seg(), 0..3))
            .prop_map(|(r, segs)| e(ExprKind::Path(id(&r), segs))),
    ]
}

/// How tightly an expression binds (as the grammar has it).
fn prec(x: &Expr) -> u8 {
    match &x.kind {
        ExprKind::Or(..) => 1,
        ExprKind::And(..) => 2,
        ExprKind::Not(..) => 3,
        ExprKind::Has(..) => 4,
        ExprKind::Binary(BinOp::Add | BinOp::Sub, ..) => 5,
        ExprKind::Binary(..) => 4,
        _ => 6,
    }
}

/// `x` in parentheses when it binds more loosely than `min`.
fn at(x: Expr, min: u8) -> Box<Expr> {
    Box::new(if prec(&x) < min {
        e(ExprKind::Paren(Box::new(x)))
    } else {
        x
    })
}

const BINOPS: [BinOp; 15] = [
    BinOp::Eq,
    BinOp::Ne,
    BinOp::Lt,
    BinOp::Le,
    BinOp::Gt,
    BinOp::Ge,
    BinOp::In,
    BinOp::Contains,
    BinOp::StartsWith,
    BinOp::EndsWith,
    BinOp::Matches,
    BinOp::Owns,
    BinOp::PartOf,
    BinOp::Add,
    BinOp::Sub,
];

pub fn expr() -> impl Strategy<Value = Expr> {
    leaf().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(|xs| e(ExprKind::List(xs))),
            (name(), prop::collection::vec(inner.clone(), 0..3))
                .prop_map(|(n, xs)| e(ExprKind::Call(id(&n), xs))),
            (
                prop::sample::select(BINOPS.to_vec()),
                inner.clone(),
                inner.clone()
            )
                .prop_map(|(op, l, r)| {
                    let (lmin, rmin) = match op {
                        BinOp::Add | BinOp::Sub => (5, 6),
                        _ => (5, 5),
                    };
                    e(ExprKind::Binary(op, at(l, lmin), at(r, rmin)))
                }),
            (inner.clone(), field()).prop_map(|(x, f)| e(ExprKind::Has(at(x, 5), id(&f)))),
            inner.clone().prop_map(|x| e(ExprKind::Not(at(x, 3)))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| e(ExprKind::And(at(l, 2), at(r, 3)))),
            (inner.clone(), inner.clone()).prop_map(|(l, r)| e(ExprKind::Or(at(l, 1), at(r, 2)))),
            inner.prop_map(|x| e(ExprKind::Paren(Box::new(x)))),
        ]
    })
}

fn type_expr() -> impl Strategy<Value = TypeExpr> {
    let named = prop::sample::select(vec!["string", "int", "time", "Component", "set"])
        .prop_map(|n| TypeExpr::Named(id(n)));
    let base = prop_oneof![
        named.clone(),
        named.prop_map(|t| TypeExpr::Set(Box::new(t), sp())),
    ];
    (base, any::<bool>()).prop_map(|(t, opt)| {
        if opt {
            TypeExpr::Optional(Box::new(t), sp())
        } else {
            t
        }
    })
}

fn doc() -> impl Strategy<Value = String> {
    prop::sample::select(vec!["", "the id", " indented", "a // b", "x  y"]).prop_map(str::to_string)
}

fn rule(effect: Effect) -> impl Strategy<Value = Rule> {
    (name(), prop::option::of(expr()), expr(), any::<bool>()).prop_map(
        move |(n, cond, req, named)| match effect {
            Effect::Require => Rule {
                effect,
                name: named.then(|| id(&n)),
                cond: Some(req),
                span: sp(),
            },
            _ => Rule {
                effect,
                name: Some(id(&n)),
                cond,
                span: sp(),
            },
        },
    )
}

fn any_rule() -> impl Strategy<Value = Rule> {
    prop_oneof![
        rule(Effect::Allow),
        rule(Effect::Deny),
        rule(Effect::Require)
    ]
}

fn route() -> impl Strategy<Value = Route> {
    (
        prop::collection::vec(
            prop::sample::select(vec!["GET", "HEAD", "POST", "ANY", "X_1"]),
            1..3,
        ),
        text(),
        prop::option::of(entity_ref()),
        prop::collection::vec(any_rule(), 0..4),
    )
        .prop_map(|(ms, path, target, rules)| Route {
            methods: ms.into_iter().map(id).collect(),
            path: lit(path),
            target,
            rules,
            span: sp(),
        })
}

fn test_line() -> impl Strategy<Value = TestLine> {
    prop_oneof![
        (prop::sample::select(vec!["GET", "POST"]), text()).prop_map(|(m, u)| TestLine::Request {
            method: id(m),
            url: lit(u),
            span: sp()
        }),
        prop::collection::vec((field(), leaf()), 0..3).prop_map(|fs| TestLine::Claims {
            fields: fs.into_iter().map(|(k, v)| (id(&k), v)).collect(),
            span: sp()
        }),
        text().prop_map(|t| TestLine::At {
            time: lit(t),
            span: sp()
        }),
        text().prop_map(|t| TestLine::Ip {
            addr: lit(t),
            span: sp()
        }),
        text().prop_map(|t| TestLine::Country {
            country: lit(t),
            span: sp()
        }),
        (
            prop::sample::select(vec!["allow", "deny", "no_route"]),
            prop::option::of(prop::sample::select(vec!["reader", "require#3"]))
        )
            .prop_map(|(o, by)| TestLine::Expect {
                outcome: id(o),
                by: by.map(id),
                span: sp()
            }),
    ]
}

fn binding() -> impl Strategy<Value = Binding> {
    (
        name(),
        field(),
        prop::collection::vec(path_seg(), 0..3),
        expr(),
    )
        .prop_map(|(kind, first, rest, value)| {
            let mut field = vec![PathSeg::Field(id(&first))];
            field.extend(rest);
            Binding {
                kind: id(&kind),
                field,
                field_span: sp(),
                value,
                span: sp(),
            }
        })
}

fn item() -> impl Strategy<Value = Item> {
    prop_oneof![
        (name(), prop::option::of(0i64..1000)).prop_map(|(n, v)| Item::Policy(PolicyDecl {
            name: id(&n),
            version: v.map(|v| (v, sp())),
            span: sp()
        })),
        prop::collection::vec(field(), 1..3).prop_map(|p| Item::Use(UseDecl {
            path: p.iter().map(|s| id(s)).collect(),
            span: sp()
        })),
        prop::collection::vec(
            (field(), type_expr(), prop::collection::vec(doc(), 0..2)),
            0..3
        )
        .prop_map(|fs| Item::Claims(ClaimsBlock {
            fields: fs
                .into_iter()
                .map(|(n, ty, doc)| ClaimField {
                    name: id(&n),
                    ty,
                    doc,
                    span: sp()
                })
                .collect(),
            span: sp()
        })),
        binding().prop_map(Item::Principal),
        binding().prop_map(Item::Service),
        (name(), prop::option::of((name(), name())), expr()).prop_map(|(n, p, body)| {
            Item::Role(RoleDecl {
                name: id(&n),
                param: p.map(|(p, k)| RoleParam {
                    name: id(&p),
                    kind: id(&k),
                }),
                body,
                span: sp(),
            })
        }),
        (name(), expr()).prop_map(|(n, c)| Item::Deny(Rule {
            effect: Effect::Deny,
            name: Some(id(&n)),
            cond: Some(c),
            span: sp()
        })),
        (text(), prop::collection::vec(route(), 0..3)).prop_map(|(h, routes)| Item::Host(
            HostBlock {
                host: lit(h),
                routes,
                span: sp()
            }
        )),
        route().prop_map(Item::Route),
        (text(), prop::collection::vec(test_line(), 0..4)).prop_map(|(n, lines)| Item::Test(
            TestBlock {
                name: lit(n),
                lines,
                span: sp()
            }
        )),
    ]
}

pub fn file() -> impl Strategy<Value = File> {
    prop::collection::vec(item(), 0..6).prop_map(|items| File { items })
}
