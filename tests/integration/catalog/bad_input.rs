//! Bad catalog input: each a clear error with file and line, never a panic.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

use std::path::Path;

use edgeward::catalog::{Catalog, CatalogError};

fn yaml_err(text: &str) -> CatalogError {
    Catalog::from_yaml_str("bad.yaml", text).expect_err("the catalog should not load")
}

#[test]
fn malformed_yaml() {
    let e =
        yaml_err("apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: [unclosed\n");
    assert_eq!(e.code_str(), "edgeward::catalog::yaml_syntax");
    let (file, line, _) = e.site().unwrap();
    assert_eq!(file, "bad.yaml");
    assert!((4..=5).contains(&line), "line {line}");
}

#[test]
fn document_that_is_not_a_mapping() {
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata: {name: a}\n---\n- just\n- a list\n",
    );
    assert_eq!(e.code_str(), "edgeward::catalog::not_a_mapping");
    assert_eq!(e.site().unwrap().1, 5);
    assert!(e.to_string().contains("found a list"));
}

#[test]
fn missing_metadata_name() {
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  namespace: default\nspec: {}\n",
    );
    assert_eq!(e.code_str(), "edgeward::catalog::missing_field");
    assert_eq!(e.to_string(), "missing required field `metadata.name`");
    assert_eq!(e.site().unwrap().1, 4);
}

#[test]
fn illegal_name_characters() {
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jane doe!\nspec: {}\n",
    );
    assert_eq!(e.code_str(), "edgeward::catalog::invalid_name");
    assert!(
        e.to_string().starts_with("`jane doe!` is not a valid name"),
        "{e}"
    );
    let (file, line, entity) = e.site().unwrap();
    assert_eq!(
        (file, line, entity),
        ("bad.yaml", 4, Some("user:default/jane doe!"))
    );
    let edgeward::catalog::CatalogError::InvalidName(d) = &e else {
        panic!()
    };
    let span = d.span.unwrap();
    assert_eq!(
        &"apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jane doe!\n"
            [span.offset()..span.offset() + span.len()],
        "jane doe!"
    );
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jane\n  namespace: Team_A\nspec: {}\n",
    );
    assert_eq!(e.code_str(), "edgeward::catalog::invalid_name");
    assert_eq!(e.site().unwrap().1, 5);
}

#[test]
fn duplicate_entity_refs() {
    let doc = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jane\nspec: {}\n";
    let e = yaml_err(&format!("{doc}---\n{}", doc.replace("jane", "Jane")));
    assert_eq!(e.code_str(), "edgeward::catalog::duplicate_entity");
    assert_eq!(e.to_string(), "duplicate entity `user:default/jane`");
    assert_eq!(e.site().unwrap().1, 10);
    let edgeward::catalog::CatalogError::DuplicateEntity(d) = &e else {
        panic!()
    };
    // where the first one's name is, as the error shows the second's
    assert_eq!(d.first, "bad.yaml:4");
}

#[test]
fn missing_spec_fields_are_all_reported() {
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: a}\nspec: {type: service}\n---\napiVersion: backstage.io/v1beta2\nkind: Group\nmetadata: {name: g}\nspec: {type: team, children: []}\n",
    );
    let all: Vec<String> = e.all().iter().map(|e| e.to_string()).collect();
    assert_eq!(
        all,
        [
            "missing required field `spec.lifecycle`",
            "missing required field `spec.owner`",
            "unsupported apiVersion `backstage.io/v1beta2` for kind `Group`"
        ]
    );
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, text).unwrap();
}

fn location(name: &str, targets: &[&str]) -> String {
    let list: String = targets.iter().map(|t| format!("    - {t}\n")).collect();
    format!(
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata:\n  name: {name}\nspec:\n  targets:\n{list}"
    )
}

#[test]
fn location_loop() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &location("a", &["./sub/b.yaml"]));
    write(dir.path(), "sub/b.yaml", &location("b", &["./c.yaml"]));
    write(dir.path(), "sub/c.yaml", &location("c", &["../a.yaml"]));
    for start in [dir.path().join("a.yaml"), dir.path().to_path_buf()] {
        let e = Catalog::load(&start).unwrap_err();
        assert_eq!(e.code_str(), "edgeward::catalog::location_loop");
        let (file, line, _) = e.site().unwrap();
        assert!(file.ends_with("c.yaml"), "{file}");
        assert_eq!(line, 7);
        assert!(e.to_string().contains("a.yaml` -> `"), "{e}");
    }
}

#[test]
fn a_file_reached_twice_loads_once() {
    let dir = tempfile::tempdir().unwrap();
    let user = "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: u\nspec: {}\n";
    write(dir.path(), "u.yaml", user);
    write(
        dir.path(),
        "a.yaml",
        &location("a", &["./u.yaml", "./b.yaml", "u.yaml"]),
    );
    write(dir.path(), "b.yaml", &location("b", &["./u.yaml"]));
    let l = Catalog::load(&dir.path().join("a.yaml")).unwrap();
    assert_eq!(l.catalog.len(), 3);
    assert_eq!(Catalog::load(dir.path()).unwrap().catalog.len(), 3);
}

#[test]
fn relative_target_outside_the_folder() {
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "outside.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: u\nspec: {}\n",
    );
    write(
        dir.path(),
        "cat/all.yaml",
        &location("all", &["./ok.yaml", "../outside.yaml"]),
    );
    write(
        dir.path(),
        "cat/ok.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: v\nspec: {}\n",
    );
    for start in [dir.path().join("cat/all.yaml"), dir.path().join("cat")] {
        let e = Catalog::load(&start).unwrap_err();
        assert_eq!(e.code_str(), "edgeward::catalog::target_outside_root");
        let (file, line, _) = e.site().unwrap();
        assert!(file.ends_with("all.yaml"), "{file}");
        assert_eq!(line, 8);
        assert!(e.to_string().contains("`../outside.yaml`"));
    }
    // a target that does not exist
    write(
        dir.path(),
        "cat/all.yaml",
        &location("all", &["./missing.yaml"]),
    );
    let e = Catalog::load(&dir.path().join("cat/all.yaml")).unwrap_err();
    assert_eq!(e.code_str(), "edgeward::catalog::target_not_found");
    // a target that is a folder: named at the target, not as a failed read of the folder
    write(
        dir.path(),
        "cat/all.yaml",
        &location("all", &["./ok.yaml", "."]),
    );
    let e = Catalog::load(&dir.path().join("cat/all.yaml")).unwrap_err();
    assert_eq!(e.code_str(), "edgeward::catalog::target_is_folder");
    let (file, line, _) = e.site().unwrap();
    assert!(file.ends_with("all.yaml"), "{file}");
    assert_eq!(line, 8);
    assert!(e.to_string().contains("`.`"), "{e}");
}

#[test]
fn odd_input_never_panics() {
    let inputs = [
        "",
        "---\n---\n",
        "[]",
        "42",
        "~",
        "a: &x [*x]",
        "a: *nope",
        "{a: 1, a: 2}",
        "? [a]\n: b\n",
        "\t- x",
        "kind: 7",
        "apiVersion: backstage.io/v1alpha1\nkind: Location\nmetadata: {name: l}\nspec: {targets: [1, 2]}",
        "apiVersion: backstage.io/v1alpha1\nkind: 'A B'\nmetadata: {name: l}\n",
        "apiVersion: backstage.io/v1alpha1\nkind: Component\nmetadata: {name: c, labels: {a: [1]}}\nspec: {type: s, lifecycle: l, owner: ':'}\n",
        "a: &a [1,1,1,1,1,1,1,1,1,1]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]\nd: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]\ne: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]\nf: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]\n",
    ];
    for text in inputs {
        let _ = Catalog::from_yaml_str("odd.yaml", text);
        let _ = Catalog::from_api_json("odd.json", text);
    }
    assert!(Catalog::from_api_json("x.json", "{\"a\": 1}").is_err());
    assert_eq!(
        Catalog::from_yaml_str("empty.yaml", "")
            .unwrap()
            .catalog
            .len(),
        0
    );
}

#[test]
fn errors_render_with_the_file_line_and_snippet() {
    let e = yaml_err(
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: jane doe!\nspec: {}\n",
    );
    let mut out = String::new();
    miette::GraphicalReportHandler::new_themed(miette::GraphicalTheme::unicode_nocolor())
        .render_report(&mut out, &e)
        .unwrap();
    assert!(out.contains("edgeward::catalog::invalid_name"), "{out}");
    assert!(out.contains("[bad.yaml:4:9]"), "{out}");
    assert!(out.contains("name: jane doe!"), "{out}");
}

/// A catalog folder with links back to itself (or above it) is walked once, not forever, and a
/// YAML name that is no regular file (a FIFO, which would block a read) is skipped with a warning.
#[cfg(unix)]
#[test]
fn folder_links_back_to_themselves_and_fifos_do_not_hang_the_walk() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let cat = dir.path().join("cat");
    write(
        dir.path(),
        "cat/team.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: Group\nmetadata:\n  name: team\nspec:\n  type: team\n  children: []\n",
    );
    write(
        dir.path(),
        "outside.yaml",
        "apiVersion: backstage.io/v1alpha1\nkind: User\nmetadata:\n  name: outsider\nspec: {}\n",
    );
    for (name, to) in [("a", "."), ("b", "."), ("c", ".."), ("d", "../cat")] {
        symlink(to, cat.join(name)).unwrap();
    }
    std::fs::create_dir(cat.join("sub")).unwrap();
    symlink("..", cat.join("sub/up")).unwrap();
    // a link to a YAML file out of the folder, and one to a folder out of it: not followed
    symlink("../outside.yaml", cat.join("olink.yaml")).unwrap();
    std::fs::create_dir(dir.path().join("elsewhere")).unwrap();
    symlink("../elsewhere", cat.join("elink")).unwrap();
    let made = std::process::Command::new("mkfifo")
        .arg(cat.join("pipe.yaml"))
        .status()
        .unwrap();
    assert!(made.success());
    // On a thread of its own, so that a walk that hangs fails the test rather than the run.
    let (tx, rx) = std::sync::mpsc::channel();
    let path = cat.clone();
    std::thread::spawn(move || {
        let _ = tx.send(Catalog::load(&path));
    });
    let l = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the walk did not end within 30 s")
        .unwrap();
    let refs: Vec<String> = l
        .catalog
        .ids()
        .map(|i| l.catalog.entity(i).unwrap().entity_ref().to_string())
        .collect();
    assert_eq!(refs, ["group:default/team"]);
    let skipped: Vec<String> = l
        .warnings
        .iter()
        .filter(|w| w.code_str() == "edgeward::catalog::skipped_file")
        .map(|w| format!("{} {w}", w.site().0))
        .collect();
    let ends: Vec<&str> = skipped
        .iter()
        .map(|s| s.rsplit_once("/cat/").map_or(s.as_str(), |(_, end)| end))
        .collect();
    assert_eq!(
        ends,
        [
            "c skipped a file: it is a link that leads out of the catalog folder",
            "elink skipped a file: it is a link that leads out of the catalog folder",
            "olink.yaml skipped a file: it is a link that leads out of the catalog folder",
            "pipe.yaml skipped a file: it is not a regular file (a FIFO, a socket or a device)",
        ]
    );
}

/// A Location target that names a FIFO is not read (it would block forever): a warning at the
/// target.
#[cfg(unix)]
#[test]
fn a_location_target_that_is_a_fifo_is_not_read() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "cat/all.yaml", &location("all", &["./pipe"]));
    let made = std::process::Command::new("mkfifo")
        .arg(dir.path().join("cat/pipe"))
        .status()
        .unwrap();
    assert!(made.success());
    let (tx, rx) = std::sync::mpsc::channel();
    let path = dir.path().join("cat/all.yaml");
    std::thread::spawn(move || {
        let _ = tx.send(Catalog::load(&path));
    });
    let l = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("the load did not end within 30 s")
        .unwrap();
    let w: Vec<String> = l
        .warnings
        .iter()
        .map(|w| format!("{} {} {w}", w.code_str(), w.site().1))
        .collect();
    assert_eq!(
        w,
        [
            "edgeward::catalog::target_not_followed 7 location target `./pipe` is not followed: it is not a regular file"
        ]
    );
}
