//! Generated inputs shared by the front-end and interpreter benches: a small catalog and policies of any size.

use std::fmt::Write as _;

/// Rules per generated route.
pub const RULES_PER_ROUTE: usize = 10;

/// A small catalog every generated policy's refs resolve in.
pub const CATALOG: &str = r#"
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: eng }
spec: { type: department, children: [admins, payments] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: admins }
spec: { type: team, parent: eng, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: Group
metadata: { name: payments }
spec: { type: team, parent: eng, children: [] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: jane }
spec: { profile: { email: jane@acme.dev }, memberOf: [payments] }
---
apiVersion: backstage.io/v1alpha1
kind: User
metadata: { name: raj }
spec: { profile: { email: raj@acme.dev }, memberOf: [admins] }
---
apiVersion: backstage.io/v1alpha1
kind: System
metadata: { name: legacy }
spec: { owner: eng }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: pay-a }
spec: { type: service, lifecycle: production, owner: payments }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: pay-b }
spec: { type: service, lifecycle: experimental, owner: payments }
---
apiVersion: backstage.io/v1alpha1
kind: Component
metadata: { name: old }
spec: { type: service, lifecycle: production, owner: admins, system: legacy }
"#;

/// The catalog names a generated policy refers to.
pub struct Refs {
    /// A group of administrators.
    pub admins: &'static str,
    /// A group with nested groups under it.
    pub eng: &'static str,
    /// A system.
    pub legacy: &'static str,
}

/// The names in [`CATALOG`].
pub const SMALL: Refs = Refs {
    admins: "admins",
    eng: "eng",
    legacy: "legacy",
};

/// Names in Backstage's example catalog (`examples/backstage/catalog`).
pub const BACKSTAGE: Refs = Refs {
    admins: "team-a",
    eng: "acme-corp",
    legacy: "audio-playback",
};

/// A policy of `rules` rules over [`CATALOG`].
pub fn policy(rules: usize) -> String {
    policy_over(rules, &SMALL)
}

/// A policy of `rules` rules (plus one top-level deny) naming `refs`: routes of ten rules each,
/// keyed to templated components, mixing ownership, membership, claims, ip ranges, times and
/// params.
pub fn policy_over(rules: usize, refs: &Refs) -> String {
    let Refs {
        admins,
        eng,
        legacy,
    } = refs;
    let routes = rules.div_ceil(RULES_PER_ROUTE);
    let mut s = String::with_capacity(rules * 90);
    let _ = write!(
        s,
        "policy generated version 1\n\
         use std::cloudflare_access\n\
         use std::okta\n\
         claims {{\n  department: string?,\n}}\n\
         principal = user where spec.profile.email == claims.email\n\
         role admin = principal in group:{admins}\n\
         role owner(e: Component) = principal owns e\n\
         deny embargo when request has country and request.country in [\"KP\", \"IR\"]\n",
    );
    for r in 0..routes {
        let _ = writeln!(
            s,
            "route GET|POST \"/svc{r}/{{id}}/*\" -> component:{{id}} {{"
        );
        let _ = writeln!(s, "  allow a{r}_0 when owner(target)");
        let _ = writeln!(
            s,
            "  allow a{r}_1 when admin and claims has groups and claims.groups contains \"g{r}\""
        );
        let _ = writeln!(
            s,
            "  deny d{r}_2 when request.time > time \"2027-01-01T00:00:00Z\""
        );
        let _ = writeln!(
            s,
            "  require claims has amr and claims.amr contains \"mfa\""
        );
        let _ = writeln!(
            s,
            "  allow a{r}_4 when target.spec.lifecycle == \"production\" and principal in group:{eng} and claims.sub == \"s{r}\""
        );
        let _ = writeln!(
            s,
            "  allow a{r}_5 when claims has email and claims.email ends_with \"@r{r}.acme.dev\""
        );
        let _ = writeln!(
            s,
            "  allow a{r}_6 when request has ip and request.ip in ip \"10.{}.0.0/16\"",
            r % 256
        );
        let _ = writeln!(
            s,
            "  allow a{r}_7 when params.id starts_with \"pay\" and request.method == \"GET\" and request.path ends_with \"/x{r}\""
        );
        let _ = writeln!(s, "  deny d{r}_8 when target part_of system:{legacy}");
        let _ = writeln!(
            s,
            "  allow a{r}_9 when claims has department and claims.department == \"d{r}\""
        );
        s.push_str("}\n");
    }
    s
}
