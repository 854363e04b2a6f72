//! One catalog entity and the checks of its envelope (apiVersion, kind, metadata, spec) against Backstage's rules.

use std::sync::Arc;

use serde_json::Value;

use super::diagnostics::{
    BadApiVersion, CatalogError, CatalogWarning, InvalidField, InvalidName, MissingField,
    NotAMapping, UnknownKind,
};
use super::entity_ref::EntityRef;
use super::kinds::{self, Kind};
use super::load::{DocPos, RawDoc, Sources};
use super::yaml::Seg;

/// Where an entity was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceLoc {
    /// The file as reached (the given path joined with Location targets), or the name given to text.
    pub file: Arc<str>,
    /// 1-based line where the entity's document starts.
    pub line: usize,
}

/// A catalog entity: its identity as written, the whole document as JSON, and where it came from.
#[derive(Debug, Clone)]
pub struct Entity {
    /// As written, e.g. `Component`.
    pub kind: String,
    /// As written; `default` when left out.
    pub namespace: String,
    /// As written.
    pub name: String,
    /// The whole document; for API JSON without the server's `relations`, `status`, `uid`, `etag`, `generation`.
    pub raw: Value,
    pub source: SourceLoc,
    /// The built-in kind, `None` for kinds Backstage does not define.
    pub builtin: Option<Kind>,
    pub(crate) file: usize,
    pub(crate) pos: DocPos,
}

impl Entity {
    /// `kind:namespace/name`, lowercase.
    pub fn entity_ref(&self) -> EntityRef {
        EntityRef::new(&self.kind, &self.namespace, &self.name)
    }

    /// The value at `path` (`["spec", "profile", "email"]`), if present.
    pub fn field(&self, path: &[&str]) -> Option<&Value> {
        path.iter().try_fold(&self.raw, |v, k| v.get(k))
    }
}

const ACCEPTED_API_VERSIONS: [&str; 2] = ["backstage.io/v1alpha1", "backstage.io/v1beta1"];

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

struct Check<'a> {
    sources: &'a Sources,
    file: usize,
    pos: DocPos,
    entity: Option<String>,
    errors: Vec<CatalogError>,
}

impl Check<'_> {
    fn site(&self, path: &[Seg<'_>]) -> super::diagnostics::Site {
        self.sources
            .site(self.file, self.pos, path, self.entity.clone())
    }
    fn missing(&mut self, field: &str, at: &[Seg<'_>]) {
        let e = MissingField::at(self.site(at), field.to_string());
        self.errors.push(CatalogError::MissingField(Box::new(e)));
    }
    fn invalid(&mut self, field: &str, reason: String, at: &[Seg<'_>]) {
        let e = InvalidField::at(self.site(at), field.to_string(), reason);
        self.errors.push(CatalogError::InvalidField(Box::new(e)));
    }
    fn bad_name(&mut self, what: &str, value: &str, reason: &str, at: &[Seg<'_>]) {
        let e = InvalidName::at(
            self.site(at),
            what.to_string(),
            value.to_string(),
            reason.to_string(),
        );
        self.errors.push(CatalogError::InvalidName(Box::new(e)));
    }
    /// A required string field of a mapping; reports and returns `None` when absent or not a string.
    fn string<'v>(
        &mut self,
        obj: &'v Value,
        key: &str,
        field: &str,
        at: &[Seg<'_>],
    ) -> Option<&'v str> {
        match obj.get(key) {
            None | Some(Value::Null) => {
                self.missing(field, at.split_last().map_or(at, |(_, parent)| parent));
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(other) => {
                self.invalid(
                    field,
                    format!("must be a string, found {}", type_name(other)),
                    at,
                );
                None
            }
        }
    }
}

/// Validates one document; returns the entity, or records why it is not one.
pub(crate) fn validate(
    doc: RawDoc,
    sources: &Sources,
    errors: &mut Vec<CatalogError>,
    warnings: &mut Vec<CatalogWarning>,
) -> Option<Entity> {
    let mut c = Check {
        sources,
        file: doc.file,
        pos: doc.pos,
        entity: None,
        errors: Vec::new(),
    };
    let v = &doc.value;
    if !v.is_object() {
        let e = NotAMapping::at(c.site(&[]), type_name(v).to_string());
        errors.push(CatalogError::NotAMapping(Box::new(e)));
        return None;
    }
    let api_version = c.string(v, "apiVersion", "apiVersion", &[Seg::Key("apiVersion")]);
    let kind = c.string(v, "kind", "kind", &[Seg::Key("kind")]);
    let meta = match v.get("metadata") {
        Some(m @ Value::Object(_)) => Some(m),
        None | Some(Value::Null) => {
            c.missing("metadata", &[]);
            None
        }
        Some(other) => {
            c.invalid(
                "metadata",
                format!("must be a mapping, found {}", type_name(other)),
                &[Seg::Key("metadata")],
            );
            None
        }
    };
    let name = meta.and_then(|m| {
        c.string(
            m,
            "name",
            "metadata.name",
            &[Seg::Key("metadata"), Seg::Key("name")],
        )
    });
    let namespace = match meta.and_then(|m| m.get("namespace")) {
        None | Some(Value::Null) => Some("default"),
        Some(Value::String(s)) => Some(s.as_str()),
        Some(other) => {
            let reason = format!("must be a string, found {}", type_name(other));
            c.invalid(
                "metadata.namespace",
                reason,
                &[Seg::Key("metadata"), Seg::Key("namespace")],
            );
            None
        }
    };
    if let (Some(k), Some(ns), Some(n)) = (kind, namespace, name) {
        c.entity = Some(EntityRef::new(k, ns, n).to_string());
    }
    if let Some(n) = name
        && let Some(reason) = kinds::name_problem(n)
    {
        c.bad_name("name", n, reason, &[Seg::Key("metadata"), Seg::Key("name")]);
    }
    if let Some(ns) = namespace
        && let Some(reason) = kinds::namespace_problem(ns)
    {
        c.bad_name(
            "namespace",
            ns,
            reason,
            &[Seg::Key("metadata"), Seg::Key("namespace")],
        );
    }
    let mut builtin = None;
    if let Some(k) = kind {
        if let Some(reason) = kinds::kind_problem(k) {
            c.bad_name("kind", k, reason, &[Seg::Key("kind")]);
        }
        builtin = Kind::from_name(k);
        match (builtin, api_version) {
            (Some(_), Some(av)) if !ACCEPTED_API_VERSIONS.contains(&av) => {
                let e = BadApiVersion::at(
                    c.site(&[Seg::Key("apiVersion")]),
                    av.to_string(),
                    k.to_string(),
                );
                c.errors.push(CatalogError::BadApiVersion(Box::new(e)));
            }
            (None, _) if kinds::kind_problem(k).is_none() => {
                let w = UnknownKind::at(c.site(&[Seg::Key("kind")]), k.to_string());
                warnings.push(CatalogWarning::UnknownKind(Box::new(w)));
            }
            _ => {}
        }
    }
    if let Some(m) = meta {
        for map in ["labels", "annotations"] {
            check_string_map(&mut c, m, map);
        }
    }
    if let Some(b) = builtin {
        check_spec(&mut c, v, b);
    }
    let ok = c.errors.is_empty();
    errors.append(&mut c.errors);
    let (Some(k), Some(ns), Some(n), true) = (kind, namespace, name, ok) else {
        return None;
    };
    let file_name = sources
        .files
        .get(doc.file)
        .map_or_else(|| Arc::from(""), |f| f.name.clone());
    Some(Entity {
        kind: k.to_string(),
        namespace: ns.to_string(),
        name: n.to_string(),
        source: SourceLoc {
            file: file_name,
            line: doc.pos.line(),
        },
        builtin,
        file: doc.file,
        pos: doc.pos,
        raw: doc.value,
    })
}

fn check_string_map(c: &mut Check<'_>, meta: &Value, map: &str) {
    let field = format!("metadata.{map}");
    match meta.get(map) {
        None | Some(Value::Null) => {}
        Some(Value::Object(m)) => {
            for (k, v) in m {
                if !v.is_string() {
                    let reason = format!("must be a string, found {}", type_name(v));
                    c.invalid(
                        &format!("{field}.{k}"),
                        reason,
                        &[Seg::Key("metadata"), Seg::Key(map), Seg::Key(k)],
                    );
                }
            }
        }
        Some(other) => {
            let reason = format!("must be a mapping, found {}", type_name(other));
            c.invalid(&field, reason, &[Seg::Key("metadata"), Seg::Key(map)]);
        }
    }
}

fn check_spec(c: &mut Check<'_>, v: &Value, kind: Kind) {
    let spec = match v.get("spec") {
        Some(s @ Value::Object(_)) => s,
        None | Some(Value::Null) if !kind.needs_spec() => return,
        None | Some(Value::Null) => return c.missing("spec", &[]),
        Some(other) => {
            return c.invalid(
                "spec",
                format!("must be a mapping, found {}", type_name(other)),
                &[Seg::Key("spec")],
            );
        }
    };
    for key in kind.required_strings() {
        let field = format!("spec.{key}");
        if let Some(s) = c.string(spec, key, &field, &[Seg::Key("spec"), Seg::Key(key)])
            && s.trim().is_empty()
        {
            c.invalid(
                &field,
                "must not be empty".into(),
                &[Seg::Key("spec"), Seg::Key(key)],
            );
        }
    }
    for key in kind.required_present() {
        if spec.get(key).is_none_or(Value::is_null) {
            c.missing(&format!("spec.{key}"), &[Seg::Key("spec")]);
        }
    }
    for f in kinds::ref_fields(Some(kind)) {
        let field = format!("spec.{}", f.field);
        match (spec.get(f.field), f.many) {
            (None | Some(Value::Null), _) | (Some(Value::String(_)), false) => {}
            (Some(Value::Array(items)), true) => {
                for (i, item) in items.iter().enumerate() {
                    if !item.is_string() {
                        let reason = format!("must list strings, found {}", type_name(item));
                        c.invalid(
                            &field,
                            reason,
                            &[Seg::Key("spec"), Seg::Key(f.field), Seg::Item(i)],
                        );
                    }
                }
            }
            (Some(other), many) => {
                let want = if many {
                    "a list of entity references"
                } else {
                    "an entity reference string"
                };
                c.invalid(
                    &field,
                    format!("must be {want}, found {}", type_name(other)),
                    &[Seg::Key("spec"), Seg::Key(f.field)],
                );
            }
        }
    }
    if kind == Kind::Location {
        match spec.get("target") {
            None | Some(Value::Null) | Some(Value::String(_)) => {}
            Some(other) => {
                let reason = format!("must be a string, found {}", type_name(other));
                c.invalid(
                    "spec.target",
                    reason,
                    &[Seg::Key("spec"), Seg::Key("target")],
                );
            }
        }
        match spec.get("targets") {
            None | Some(Value::Null) => {}
            Some(Value::Array(items)) if items.iter().all(Value::is_string) => {}
            Some(_) => c.invalid(
                "spec.targets",
                "must be a list of strings".into(),
                &[Seg::Key("spec"), Seg::Key("targets")],
            ),
        }
    }
}
