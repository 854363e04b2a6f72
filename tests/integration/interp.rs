//! The reference interpreter against DESIGN §7: small inline policies over an inline catalog, one topic per file.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod backstage;
mod cli;
mod errors;
mod operators;
mod order;
mod routing;

use std::sync::OnceLock;

use edgeward::catalog::Catalog;
use edgeward::input::{ClaimValue, Request};
use edgeward::interp::{self, Truth};
use edgeward::ir::Program;

/// The catalog of these tests. Groups: `org` → `eng` → `payments`, `eng` → `admins` → `oncall`,
/// `org` → `contractors`. Users: `jane` (payments), `raj` (oncall), `carl` (payments, contractors),
/// `kim` (`Kim.Lee@Acme.dev`), `dana` and `dana2` sharing `dana@acme.dev`, `nina` (no group), `jurgen` (`jürgen@acme.dev`),
/// `ann` in namespace `ops` (admins). Domain `finance` ⊃ system `payments` ⊃ `payments-api`,
/// `ledger`; system `web`. Components: `payments-api` (payments, label tier gold), `ledger`
/// (payments, no labels), `status` (owned by `user:jane`), `orphan` (dangling owner `ghost`),
/// `runner` (admins; client id `runner.access`), `batches` (owned by `component:runner`), `dup-a`
/// and `dup-b` (one client id), `invoice` in namespace `billing`.
pub const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: org }
spec: { type: organization, children: [eng, contractors] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: eng }
spec: { type: department, parent: org, children: [payments, admins] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: payments }
spec: { type: team, parent: eng, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: admins }
spec: { type: team, parent: eng, children: [oncall] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: oncall }
spec: { type: team, parent: admins, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: contractors }
spec: { type: team, parent: org, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: jane }
spec: { profile: { email: jane@acme.dev }, memberOf: [payments] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: raj }
spec: { profile: { email: raj@acme.dev }, memberOf: [oncall] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: carl }
spec: { profile: { email: carl@acme.dev }, memberOf: [payments, contractors] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: kim }
spec: { profile: { email: Kim.Lee@Acme.dev }, memberOf: [payments] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: dana }
spec: { profile: { email: dana@acme.dev }, memberOf: [admins] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: dana2 }
spec: { profile: { email: dana@acme.dev }, memberOf: [admins] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: nina }
spec: { profile: { email: nina@acme.dev }, memberOf: [] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: jurgen }
spec: { profile: { email: jürgen@acme.dev }, memberOf: [] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: ann, namespace: ops }
spec: { profile: { email: ann@acme.dev }, memberOf: [group:default/admins] }
---
apiVersion: backstage.io/v1alpha1
kind: Domain
metadata: { name: finance }
spec: { owner: payments }
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: { name: payments }
spec: { owner: payments, domain: finance }
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: { name: web }
spec: { owner: eng }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: payments-api, labels: { tier: gold } }
spec: { type: service, lifecycle: production, owner: payments, system: payments }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: ledger }
spec: { type: service, lifecycle: experimental, owner: payments, system: payments }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: status, labels: { tier: bronze } }
spec: { type: website, lifecycle: production, owner: user:jane, system: web }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: orphan, labels: { tier: none } }
spec: { type: service, lifecycle: production, owner: ghost }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: runner
  labels: { tier: silver }
  annotations: { cloudflare.com/access-client-id: runner.access }
spec: { type: service, lifecycle: production, owner: admins }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: batches, labels: { tier: silver } }
spec: { type: service, lifecycle: production, owner: component:runner }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: dup-a
  annotations: { cloudflare.com/access-client-id: dup.access }
spec: { type: service, lifecycle: production, owner: eng }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata:
  name: dup-b
  annotations: { cloudflare.com/access-client-id: dup.access }
spec: { type: service, lifecycle: production, owner: eng }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: invoice, namespace: billing }
spec: { type: service, lifecycle: production, owner: group:default/payments }
"#;

/// The schema and bindings every inline policy starts with.
pub const HEADER: &str = r#"
use std::cloudflare_access
use std::okta
claims {
  department: string?,
  level: int,
  mail: string,
}
principal = user where spec.profile.email == claims.email
service = component where metadata.annotations["cloudflare.com/access-client-id"] == claims.common_name
"#;

pub fn catalog() -> &'static Catalog {
    static C: OnceLock<Catalog> = OnceLock::new();
    C.get_or_init(|| {
        Catalog::from_yaml_str("catalog.yaml", CATALOG)
            .unwrap()
            .catalog
    })
}

/// Compiles `HEADER` + `body` against [`CATALOG`], or fails with the diagnostics.
pub fn compile(body: &str) -> Program {
    compile_with(&format!("{HEADER}{body}"), catalog())
}

pub fn compile_with(source: &str, catalog: &Catalog) -> Program {
    match edgeward::compile("inline.ward", source, Some(catalog)) {
        Ok(c) => c.program,
        Err(r) => panic!(
            "does not compile:\n{source}\n{:#?}{:#?}",
            r.syntax, r.diagnostics
        ),
    }
}

pub fn time(s: &str) -> i64 {
    edgeward::input::parse_rfc3339(s).unwrap()
}

/// A request under construction: by default jane's token (`sub`, `email`, `level: 3`, `mail` (a required copy of the email), `iat`) at
/// 2026-11-28T10:00:00Z, no ip, no country.
#[derive(Clone)]
pub struct Req(pub Request);

impl Req {
    pub fn new(method: &str, url: &str) -> Req {
        let u = url::Url::parse(url).unwrap();
        let mut claims = edgeward::input::Claims::new();
        claims.insert("sub".into(), ClaimValue::String("jane".into()));
        claims.insert("email".into(), ClaimValue::String("jane@acme.dev".into()));
        claims.insert("level".into(), ClaimValue::Int(3));
        claims.insert("mail".into(), ClaimValue::String("jane@acme.dev".into()));
        claims.insert("iat".into(), ClaimValue::Time(time("2026-11-28T09:55:00Z")));
        Req(Request {
            method: method.into(),
            host: u.host_str().unwrap().to_ascii_lowercase(),
            path: u.path().into(),
            time: time("2026-11-28T10:00:00Z"),
            ip: None,
            country: None,
            claims: claims.into(),
        })
    }

    pub fn claim(mut self, name: &str, v: ClaimValue) -> Req {
        self.0.claims_mut().insert(name.into(), v);
        self
    }

    pub fn string(self, name: &str, v: &str) -> Req {
        self.claim(name, ClaimValue::String(v.into()))
    }

    pub fn set(self, name: &str, v: &[&str]) -> Req {
        self.claim(
            name,
            ClaimValue::Set(v.iter().map(|s| s.to_string()).collect()),
        )
    }

    pub fn email(self, e: &str) -> Req {
        self.string("email", e)
    }

    pub fn without(mut self, name: &str) -> Req {
        self.0.claims_mut().remove(name);
        self
    }

    pub fn at(mut self, t: &str) -> Req {
        self.0.time = time(t);
        self
    }

    pub fn ip(mut self, ip: &str) -> Req {
        self.0.ip = Some(ip.parse().unwrap());
        self
    }

    pub fn country(mut self, c: &str) -> Req {
        self.0.country = Some(c.into());
        self
    }
}

pub fn get(url: &str) -> Req {
    Req::new("GET", url)
}

/// `allow by NAME`, `deny by NAME`, `require by NAME`, or the outcome alone when no rule is reported.
pub fn verdict(p: &Program, r: &Req) -> String {
    let d = interp::decide(p, &r.0);
    match d.rule {
        Some(i) => format!("{} by {}", d.outcome.as_str(), p.rules[i as usize].name),
        None => d.outcome.as_str().to_string(),
    }
}

/// The value of `expr` as the condition of the one rule of `ANY "/t/{name}" -> component:{name}`,
/// for a request to `/t/COMPONENT`: `true`, `false` or `error`.
pub fn truth_on(expr: &str, component: &str, r: Req) -> &'static str {
    let p = compile(&format!(
        "route ANY \"/t/{{name}}\" -> component:{{name}} {{\n  allow probe when {expr}\n}}\n"
    ));
    let mut r = r;
    r.0.path = format!("/t/{component}");
    let (_, ex) = interp::explain(&p, &r.0);
    assert_eq!(ex.steps.len(), 1, "{expr}: {ex:?}");
    match ex.steps[0].truth {
        Truth::True => "true",
        Truth::False => "false",
        Truth::Err(..) => "error",
    }
}

/// [`truth_on`] with `payments-api` as the target.
pub fn truth(expr: &str, r: Req) -> &'static str {
    truth_on(expr, "payments-api", r)
}

pub fn jane() -> Req {
    get("https://acme.dev/t/payments-api")
}
