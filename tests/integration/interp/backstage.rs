//! Decisions over the Backstage project's own example catalog: ownership, transitive membership and containment, worked out by hand.
//!
//! The catalog is /work/shared/data/backstage-examples/ (found beside the conformance kit): real
//! entities from github.com/backstage/backstage, `packages/catalog-model/examples/`, Apache-2.0,
//! "Copyright The Backstage Authors"; see its README.md for the commit of each file. Read only.

use std::sync::OnceLock;

use edgeward::catalog::{Catalog, Loaded};

use super::{Req, compile_with, verdict};

fn examples() -> &'static Loaded {
    static L: OnceLock<Loaded> = OnceLock::new();
    L.get_or_init(|| {
        let dir = crate::check::shared_dir().join("data/backstage-examples");
        Catalog::load(&dir).unwrap()
    })
}

/// Routes keyed to the examples' components; rules by ownership, membership and containment.
const POLICY: &str = r#"
policy backstage_examples

use std::cloudflare_access

principal = user where spec.profile.email == claims.email

role owner(e: Component) = principal owns e

route GET "/read/{name}" -> component:default/{name} {
  allow owners when owner(target)
  allow backstage_dept when principal in group:default/backstage
}

route POST "/deploy/{name}" -> component:default/{name} {
  require target.spec.lifecycle == "production"
  allow owners when owner(target)
}

route GET "/org/{name}" -> component:default/{name} {
  allow staff when principal in group:default/acme-corp
}

route GET "/audio/{name}" -> component:default/{name} {
  allow audio when target part_of domain:default/audio and principal in group:acme-corp
}
"#;

/// The group tree (each `spec.parent`): acme-corp ← infrastructure ← {backstage ← {team-a, team-b},
/// boxoffice ← {team-c, team-d, team-e}}. `guest@example.com` is the email of `user:default/guest`
/// and `user:development/guest`, so it binds no one.
const CASES: &[(&str, &str, &str, &str)] = &[
    // (method path, email, expected, why)
    (
        "GET /read/artist-lookup",
        "breanna-davison@example.com",
        "allow by owners",
        "artist-lookup's spec.owner is team-a; breanna.davison's memberOf is [team-a]: a direct member owns",
    ),
    (
        "GET /read/artist-lookup",
        "amelia-park@example.com",
        "allow by backstage_dept",
        "amelia.park is in team-b, not the owner team-a; team-b's parent is backstage, so she is in group backstage",
    ),
    (
        "GET /read/petstore",
        "calum-leavy@example.com",
        "allow by owners",
        "petstore's owner is team-c, calum.leavy's group",
    ),
    (
        "GET /read/petstore",
        "amelia-park@example.com",
        "allow by backstage_dept",
        "team-c owns petstore; amelia (team-b ⊂ backstage) reads through the department",
    ),
    (
        "GET /read/wayback-search",
        "calum-leavy@example.com",
        "default",
        "team-a owns wayback-search; team-c's parent is boxoffice, not backstage: no rule holds",
    ),
    (
        "GET /read/playback-order",
        "eva-macdowell@example.com",
        "default",
        "playback-order's owner `guest` defaults to group:default/guest, which does not exist (dangling: owns is false, no error); team-d is under boxoffice",
    ),
    (
        "GET /read/playback-order",
        "breanna-davison@example.com",
        "allow by backstage_dept",
        "the dangling owner makes `owners` false, not an error; team-a ⊂ backstage",
    ),
    (
        "GET /read/searcher",
        "guest@example.com",
        "default",
        "searcher is owned by user:guest, but guest@example.com is shared by two users: unbound, both allows err",
    ),
    (
        "GET /read/SHUFFLE-API",
        "breanna-davison@example.com",
        "allow by backstage_dept",
        "refs compare case-insensitively; shuffle-api is owned by user:guest, not breanna; team-a ⊂ backstage",
    ),
    (
        "GET /read/no-such-component",
        "breanna-davison@example.com",
        "unknown_target",
        "not in the catalog: denied before any rule",
    ),
    (
        "POST /deploy/queue-proxy",
        "amelia-park@example.com",
        "allow by owners",
        "queue-proxy: lifecycle production, owner team-b, amelia's group",
    ),
    (
        "POST /deploy/podcast-api",
        "amelia-park@example.com",
        "require by require#1",
        "podcast-api is owned by team-b but its lifecycle is experimental",
    ),
    (
        "POST /deploy/wayback-archive-ingestion",
        "lucy-sheehan@example.com",
        "allow by owners",
        "wayback-archive-ingestion: production, owner team-d; lucy.sheehan's memberOf is [team-d]",
    ),
    (
        "POST /deploy/www-artist",
        "calum-leavy@example.com",
        "default",
        "www-artist is production but owned by team-a; calum is in team-c",
    ),
    (
        "POST /deploy/www-artist",
        "JANELLE-DAWE@EXAMPLE.COM",
        "allow by owners",
        "emails compare ASCII case-insensitively: janelle.dawe, team-a, owns www-artist",
    ),
    (
        "GET /org/wayback-search",
        "eva-macdowell@example.com",
        "allow by staff",
        "team-d → boxoffice → infrastructure → acme-corp: membership is transitive through spec.parent",
    ),
    (
        "GET /org/wayback-search",
        "nobody@example.com",
        "default",
        "no user has this email: unbound, the allow errs",
    ),
    (
        "GET /audio/artist-lookup",
        "eva-macdowell@example.com",
        "allow by audio",
        "artist-lookup → system artist-engagement-portal → domain artists, subdomainOf audio; eva is in acme-corp",
    ),
    (
        "GET /audio/playback-sdk",
        "eva-macdowell@example.com",
        "default",
        "playback-sdk → system audio-playback → domain playback, which is not part of audio",
    ),
];

#[test]
fn decisions_over_the_backstage_examples() {
    let loaded = examples();
    let p = compile_with(POLICY, &loaded.catalog);
    let mut wrong = Vec::new();
    for (request, email, want, why) in CASES {
        let (method, path) = request.split_once(' ').unwrap();
        let r = Req::new(method, &format!("https://backstage.example.com{path}")).email(email);
        let got = verdict(&p, &r);
        if got != *want {
            wrong.push(format!(
                "{request} as {email}: expected {want}, got {got}\n    ({why})"
            ));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_examples_warn_about_what_the_table_relies_on() {
    let loaded = examples();
    let codes: Vec<String> = loaded.warnings.iter().map(|w| w.code_str()).collect();
    assert!(codes.contains(&"edgeward::catalog::dangling_ref".to_string()));
    assert!(codes.contains(&"edgeward::catalog::shared_email".to_string()));
    let diags = edgeward::check_source("policy.ward", POLICY, Some(&loaded.catalog)).diagnostics;
    assert!(diags.iter().all(|d| !d.is_error()), "{diags:#?}");
    assert!(
        diags
            .iter()
            .any(|d| d.code == "edgeward::ambiguous_binding"
                && d.message.contains("guest@example.com")),
        "{diags:#?}"
    );
}
