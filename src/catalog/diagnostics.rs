//! Catalog errors and warnings: one small diagnostic struct per problem, each with file, line, entity and snippet.

use std::sync::Arc;

use miette::{NamedSource, SourceSpan};

/// Where a problem is: the file, the 1-based line, the entity (when known) and the source snippet.
#[derive(Debug, Clone, Default)]
pub struct Site {
    pub file: String,
    /// 1-based; 0 when the problem is about the file as a whole.
    pub line: usize,
    /// `kind:namespace/name` of the entity concerned, when known.
    pub entity: Option<String>,
    pub src: Option<NamedSource<Arc<String>>>,
    pub span: Option<SourceSpan>,
}

macro_rules! diagnostic {
    (
        $(#[doc = $doc:literal])*
        $name:ident { $($field:ident : $ty:ty),* $(,)? }
        code = $code:literal, message = $msg:literal, label = $label:literal $(, help = $help:literal)?
        $(, severity = $severity:ident)?
    ) => {
        $(#[doc = $doc])*
        #[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
        #[error($msg)]
        #[diagnostic(code($code) $(, help($help))? $(, severity($severity))?)]
        pub struct $name {
            $(pub $field: $ty,)*
            pub file: String,
            pub line: usize,
            pub entity: Option<String>,
            #[source_code]
            pub src: Option<NamedSource<Arc<String>>>,
            #[label($label)]
            pub span: Option<SourceSpan>,
        }

        impl $name {
            pub(crate) fn at(site: Site, $($field: $ty),*) -> Self {
                $name { $($field,)* file: site.file, line: site.line, entity: site.entity, src: site.src, span: site.span }
            }
        }
    };
}

diagnostic! {
    /// A file or folder could not be read.
    Io { path: String, reason: String }
    code = "edgeward::catalog::io", message = "cannot read `{path}`: {reason}", label = "here"
}
diagnostic! {
    /// A YAML file does not parse.
    YamlSyntax { reason: String }
    code = "edgeward::catalog::yaml_syntax", message = "invalid yaml: {reason}", label = "here"
}
diagnostic! {
    /// A JSON file does not parse, or is not an array of entities.
    JsonSyntax { reason: String }
    code = "edgeward::catalog::json_syntax", message = "invalid catalog json: {reason}", label = "here"
}
diagnostic! {
    /// A document is not a mapping.
    NotAMapping { found: String }
    code = "edgeward::catalog::not_a_mapping", message = "a catalog entity must be a mapping, found {found}",
    label = "this document", help = "each YAML document (between `---` lines) is one entity with `apiVersion`, `kind`, `metadata` and `spec`"
}
diagnostic! {
    /// A required field is absent.
    MissingField { field: String }
    code = "edgeward::catalog::missing_field", message = "missing required field `{field}`", label = "in this entity"
}
diagnostic! {
    /// A field has the wrong type or an empty value.
    InvalidField { field: String, reason: String }
    code = "edgeward::catalog::invalid_field", message = "`{field}` {reason}", label = "this value"
}
diagnostic! {
    /// A name, namespace or kind breaks Backstage's character rules.
    InvalidName { what: String, value: String, reason: String }
    code = "edgeward::catalog::invalid_name", message = "`{value}` is not a valid {what}: {reason}", label = "this {what}"
}
diagnostic! {
    /// An apiVersion that the kind does not accept.
    BadApiVersion { value: String, kind: String }
    code = "edgeward::catalog::api_version", message = "unsupported apiVersion `{value}` for kind `{kind}`",
    label = "this apiVersion", help = "use `backstage.io/v1alpha1` or `backstage.io/v1beta1`"
}
diagnostic! {
    /// A relation field whose value is not an entity reference.
    InvalidRef { field: String, value: String, reason: String }
    code = "edgeward::catalog::invalid_ref", message = "`{field}` value `{value}` is not an entity reference: {reason}", label = "this reference"
}
diagnostic! {
    /// Two entities with the same `kind:namespace/name`.
    DuplicateEntity { reference: String, first: String }
    code = "edgeward::catalog::duplicate_entity", message = "duplicate entity `{reference}`", label = "defined again here",
    help = "first defined at {first}"
}
diagnostic! {
    /// A Location that leads back to itself.
    LocationLoop { chain: String }
    code = "edgeward::catalog::location_loop", message = "location loop: {chain}", label = "this target closes the loop"
}
diagnostic! {
    /// A relative Location target that leaves the catalog folder.
    TargetOutsideRoot { target: String, root: String }
    code = "edgeward::catalog::target_outside_root", message = "location target `{target}` is outside the catalog folder `{root}`",
    label = "this target"
}
diagnostic! {
    /// A relative Location target that names no file.
    TargetNotFound { target: String }
    code = "edgeward::catalog::target_not_found", message = "location target `{target}` does not exist", label = "this target"
}
diagnostic! {
    /// A relative Location target that names a folder: a target names a file, as in Backstage.
    TargetIsFolder { target: String }
    code = "edgeward::catalog::target_is_folder", message = "location target `{target}` is a folder, not a file",
    label = "this target", help = "name each file of the folder as a target of its own"
}

/// Why a catalog could not be loaded. `Multiple` holds every error when there are several.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum CatalogError {
    #[error(transparent)]
    #[diagnostic(transparent)]
    Io(Box<Io>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    YamlSyntax(Box<YamlSyntax>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    JsonSyntax(Box<JsonSyntax>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    NotAMapping(Box<NotAMapping>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    MissingField(Box<MissingField>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidField(Box<InvalidField>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidName(Box<InvalidName>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    BadApiVersion(Box<BadApiVersion>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    InvalidRef(Box<InvalidRef>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DuplicateEntity(Box<DuplicateEntity>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    LocationLoop(Box<LocationLoop>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TargetOutsideRoot(Box<TargetOutsideRoot>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TargetNotFound(Box<TargetNotFound>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TargetIsFolder(Box<TargetIsFolder>),
    #[error("the catalog has {} errors", .0.len())]
    #[diagnostic(code(edgeward::catalog::errors))]
    Multiple(#[related] Vec<CatalogError>),
}

diagnostic! {
    /// An entity of a kind Backstage does not define; it loads without a schema.
    UnknownKind { kind: String }
    code = "edgeward::catalog::unknown_kind", message = "unknown kind `{kind}`: loaded without a schema", label = "this kind",
    severity = Warning
}
/// A relation naming an entity the catalog does not hold; it resolves to nothing (DESIGN §7.7).
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
#[error("`{field}` names `{reference}`, which is not in the catalog")]
#[diagnostic(code("edgeward::catalog::dangling_ref"), severity(Warning))]
pub struct DanglingRef {
    pub field: String,
    pub reference: String,
    #[help]
    pub suggestion: Option<String>,
    pub file: String,
    pub line: usize,
    pub entity: Option<String>,
    #[source_code]
    pub src: Option<NamedSource<Arc<String>>>,
    #[label("this reference")]
    pub span: Option<SourceSpan>,
}
diagnostic! {
    /// A Location target that is not followed (a URL, an absolute path, a glob, or text input).
    TargetNotFollowed { target: String, reason: String }
    code = "edgeward::catalog::target_not_followed", message = "location target `{target}` is not followed: {reason}", label = "this target",
    severity = Warning
}
diagnostic! {
    /// A file in a catalog folder that is not read: it holds no entities (an OpenAPI definition,
    /// say), it is no regular file, or it is a link out of the folder.
    SkippedFile { reason: String }
    code = "edgeward::catalog::skipped_file", message = "skipped a file: {reason}", label = "here",
    severity = Warning
}
diagnostic! {
    /// An email written on several users: a token with it binds no principal (DESIGN §7.6).
    SharedEmail { email: String, users: String }
    code = "edgeward::catalog::shared_email", message = "`{email}` is the email of several users: {users}",
    label = "one of them", help = "a token with this email binds no principal",
    severity = Warning
}
diagnostic! {
    /// Groups whose parents lead back to themselves: a member of any of them is a member of all.
    GroupCycle { groups: String }
    code = "edgeward::catalog::group_cycle", message = "group parents form a cycle through {groups}",
    label = "one link of the cycle",
    help = "a member of any of these groups is a member of all of them (`principal in group` follows parents); break the cycle unless that is meant",
    severity = Warning
}

/// Something worth knowing about a catalog that still loads.
#[derive(Debug, Clone, thiserror::Error, miette::Diagnostic)]
pub enum CatalogWarning {
    #[error(transparent)]
    #[diagnostic(transparent)]
    UnknownKind(Box<UnknownKind>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    DanglingRef(Box<DanglingRef>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    TargetNotFollowed(Box<TargetNotFollowed>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    SkippedFile(Box<SkippedFile>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    SharedEmail(Box<SharedEmail>),
    #[error(transparent)]
    #[diagnostic(transparent)]
    GroupCycle(Box<GroupCycle>),
}

macro_rules! site_of {
    ($e:expr, $enum:ident { $($v:ident),* }) => {
        {
            #[allow(unreachable_patterns)]
            let site = match $e {
                $($enum::$v(d) => Some((d.file.as_str(), d.line, d.entity.as_deref())),)*
                _ => None,
            };
            site
        }
    };
}

impl CatalogError {
    /// Every error, `Multiple` flattened.
    pub fn all(&self) -> Vec<&CatalogError> {
        match self {
            CatalogError::Multiple(v) => v.iter().flat_map(CatalogError::all).collect(),
            e => vec![e],
        }
    }

    /// The diagnostic code, e.g. `edgeward::catalog::duplicate_entity`.
    pub fn code_str(&self) -> String {
        miette::Diagnostic::code(self)
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// `(file, line, entity)` of a single error; `None` for `Multiple`.
    pub fn site(&self) -> Option<(&str, usize, Option<&str>)> {
        use CatalogError as E;
        site_of!(
            self,
            E {
                Io,
                YamlSyntax,
                JsonSyntax,
                NotAMapping,
                MissingField,
                InvalidField,
                InvalidName,
                BadApiVersion,
                InvalidRef,
                DuplicateEntity,
                LocationLoop,
                TargetOutsideRoot,
                TargetNotFound,
                TargetIsFolder
            }
        )
    }

    pub(crate) fn from_list(mut errors: Vec<CatalogError>) -> CatalogError {
        if errors.len() == 1
            && let Some(e) = errors.pop()
        {
            return e;
        }
        CatalogError::Multiple(errors)
    }
}

impl CatalogWarning {
    /// The diagnostic code, e.g. `edgeward::catalog::dangling_ref`.
    pub fn code_str(&self) -> String {
        miette::Diagnostic::code(self)
            .map(|c| c.to_string())
            .unwrap_or_default()
    }

    /// `(file, line, entity)` of the warning.
    pub fn site(&self) -> (&str, usize, Option<&str>) {
        use CatalogWarning as W;
        let s = site_of!(
            self,
            W {
                UnknownKind,
                DanglingRef,
                TargetNotFollowed,
                SkippedFile,
                SharedEmail,
                GroupCycle
            }
        );
        s.unwrap_or(("", 0, None))
    }
}
