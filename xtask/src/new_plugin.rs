//! `cargo xtask new-plugin NAME`, which creates a connector crate from `xtask/template/`, and
//! the discovery of plugin crates that `cargo xtask build-plugins` builds.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};

/// Template files as (path inside the new crate, text). They are compiled into xtask, so the
/// template needs no path at run time.
const TEMPLATE_FILES: &[(&str, &str)] = &[
    ("Cargo.toml", include_str!("../template/Cargo.toml.tmpl")),
    ("plugin.toml", include_str!("../template/plugin.toml.tmpl")),
    ("src/lib.rs", include_str!("../template/src/lib.rs.tmpl")),
];

/// Folders, relative to the workspace root, whose subfolders [`plugin_packages`] searches.
const PLUGIN_PARENTS: &[&str] = &["plugins", "tests/plugins"];

/// Maximum length of a plugin name, which is also the manifest `id` (the host allows 64).
const MAX_NAME_CHARS: usize = 64;

/// Creates the connector crate `plugins/<name>/` under `root` from the template and adds it to
/// the workspace `members` of `root/Cargo.toml`. Returns the new folder.
///
/// The package is `shopkeeper-plugin-<name>` and the manifest id is `<name>`.
///
/// # Errors
///
/// Fails when `name` is not a valid plugin name, when the folder, the package name or the
/// manifest id already exists, or when a file cannot be read or written. Nothing is written
/// when a check fails.
pub fn new_plugin(root: &Path, name: &str) -> anyhow::Result<PathBuf> {
    validate_name(name)?;
    let relative = format!("plugins/{name}");
    let folder = root.join(&relative);
    if folder.exists() {
        bail!(
            "plugin folder {} already exists; pick another name or remove that folder",
            folder.display()
        );
    }
    let package = package_name(name);
    for (existing, existing_folder) in plugin_packages(root) {
        if existing == package {
            bail!(
                "package {package:?} already exists in {}; pick another plugin name",
                existing_folder.display()
            );
        }
        if manifest_id_in(&existing_folder).as_deref() == Some(name) {
            bail!(
                "plugin id {name:?} is already used by {}; pick another plugin name",
                existing_folder.join("plugin.toml").display()
            );
        }
    }

    let workspace_manifest = root.join("Cargo.toml");
    let workspace_text = std::fs::read_to_string(&workspace_manifest)
        .with_context(|| format!("failed to read {}", workspace_manifest.display()))?;
    let updated = add_workspace_member(&workspace_text, &relative).with_context(|| {
        format!(
            "failed to add {relative:?} to {}",
            workspace_manifest.display()
        )
    })?;

    for (path, template) in TEMPLATE_FILES {
        let target = folder.join(path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("failed to create {}", parent.display()))?;
        }
        std::fs::write(&target, render(template, name))
            .with_context(|| format!("failed to write {}", target.display()))?;
    }
    std::fs::write(&workspace_manifest, updated)
        .with_context(|| format!("failed to write {}", workspace_manifest.display()))?;
    Ok(folder)
}

/// Finds every plugin crate: each folder directly under `plugins/` or `tests/plugins/` that has
/// both a `plugin.toml` and a `Cargo.toml`. Returns (package name, folder under `root`), sorted
/// by folder.
///
/// A folder whose `Cargo.toml` cannot be read or names no package is skipped with a warning on
/// standard error.
pub fn plugin_packages(root: &Path) -> Vec<(String, PathBuf)> {
    let mut packages = Vec::new();
    for parent in PLUGIN_PARENTS {
        let Ok(entries) = std::fs::read_dir(root.join(parent)) else {
            continue;
        };
        for entry in entries.flatten() {
            let folder = entry.path();
            if !folder.join("plugin.toml").is_file() || !folder.join("Cargo.toml").is_file() {
                continue;
            }
            let cargo_toml = folder.join("Cargo.toml");
            match std::fs::read_to_string(&cargo_toml) {
                Ok(text) => match package_name_in(&text) {
                    Some(package) => packages.push((package, folder)),
                    None => eprintln!(
                        "xtask: skipping {}: it has no [package] name",
                        cargo_toml.display()
                    ),
                },
                Err(error) => {
                    eprintln!(
                        "xtask: skipping {}: failed to read it: {error}",
                        cargo_toml.display()
                    )
                }
            }
        }
    }
    packages.sort_by(|left, right| left.1.cmp(&right.1));
    packages
}

/// Returns the Cargo package name of plugin `name`.
fn package_name(name: &str) -> String {
    format!("shopkeeper-plugin-{name}")
}

/// Checks that `name` is 1 to 64 characters of a-z, 0-9 and `-`, starting with a letter and
/// with no dash at the end or next to another dash.
fn validate_name(name: &str) -> anyhow::Result<()> {
    let fix = "use lowercase letters, digits and single dashes, starting with a letter, such as `my-shop`";
    if name.is_empty() {
        bail!("plugin name is empty; {fix}");
    }
    if name.chars().count() > MAX_NAME_CHARS {
        bail!(
            "plugin name {name:?} is longer than {MAX_NAME_CHARS} characters; use a shorter name"
        );
    }
    if let Some(bad) = name
        .chars()
        .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-'))
    {
        bail!("plugin name {name:?} contains {bad:?}; {fix}");
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!("plugin name {name:?} does not start with a letter; {fix}");
    }
    if name.ends_with('-') || name.contains("--") {
        bail!("plugin name {name:?} has a dash at the end or two dashes in a row; {fix}");
    }
    Ok(())
}

/// Fills in the template placeholders: `{{name}}` is the plugin name and `{{crate_name}}` the
/// Rust crate name of its package (dashes become underscores).
fn render(template: &str, name: &str) -> String {
    let crate_name = package_name(name).replace('-', "_");
    template
        .replace("{{name}}", name)
        .replace("{{crate_name}}", &crate_name)
}

/// Reads the package name from the `[package]` table of a Cargo.toml.
fn package_name_in(cargo_toml: &str) -> Option<String> {
    let mut in_package = false;
    for line in cargo_toml.lines() {
        let line = line.trim();
        if line.starts_with('[') {
            in_package = line == "[package]";
            continue;
        }
        if in_package && let Some(value) = string_value(line, "name") {
            return Some(value);
        }
    }
    None
}

/// Reads the top-level `id` of the plugin.toml in `folder`, if there is one.
fn manifest_id_in(folder: &Path) -> Option<String> {
    let text = std::fs::read_to_string(folder.join("plugin.toml")).ok()?;
    text.lines()
        .map(str::trim)
        .take_while(|line| !line.starts_with('['))
        .find_map(|line| string_value(line, "id"))
}

/// Returns the value of a `key = "value"` line, or `None` for any other line.
fn string_value(line: &str, key: &str) -> Option<String> {
    let (name, value) = line.split_once('=')?;
    if name.trim() != key {
        return None;
    }
    let value = value.trim();
    let value = value.strip_prefix('"')?;
    let end = value.find('"')?;
    Some(value[..end].to_owned())
}

/// Returns `workspace_toml` with `"<member>"` added to the `members` array of `[workspace]`.
///
/// Only that array changes. In an array written one entry per line, the new line copies the
/// indentation of the entries, and [`insert_after`] picks its place. A single-line array gets
/// the entry appended before `]`.
fn add_workspace_member(workspace_toml: &str, member: &str) -> anyhow::Result<String> {
    let array = find_members_array(workspace_toml)?;
    let body = &workspace_toml[array.open + 1..array.close];
    let entries = array_entries(body, array.open + 1);
    if entries.iter().any(|entry| entry.value == member) {
        bail!("{member:?} is already a workspace member");
    }
    let quoted = format!("\"{member}\"");

    let multi_line = body.contains('\n');
    if !multi_line {
        let mut updated = String::with_capacity(workspace_toml.len() + quoted.len() + 2);
        let insert_at = match entries.last() {
            Some(last) => {
                updated.push_str(&workspace_toml[..last.end]);
                updated.push_str(", ");
                last.end
            }
            None => {
                updated.push_str(&workspace_toml[..array.open + 1]);
                array.open + 1
            }
        };
        updated.push_str(&quoted);
        // A trailing comma of the last entry stays after the new one.
        updated.push_str(&workspace_toml[insert_at..]);
        return Ok(updated);
    }

    let after = insert_after(&entries, member).map(|index| &entries[index]);

    let indent = entries
        .first()
        .map(|entry| line_indent(workspace_toml, entry.start))
        .unwrap_or("    ");
    let (insert_at, needs_comma) = match after {
        // Insert on the line after `after`, past its comma and any trailing comment.
        Some(entry) => {
            let line_end = workspace_toml[entry.end..]
                .find('\n')
                .map_or(workspace_toml.len(), |offset| entry.end + offset);
            let has_comma = workspace_toml[entry.end..line_end]
                .trim_start()
                .starts_with(',');
            (line_end + 1, !has_comma)
        }
        None => {
            let line_end = workspace_toml[array.open..]
                .find('\n')
                .map_or(workspace_toml.len(), |offset| array.open + offset);
            (line_end + 1, false)
        }
    };
    let mut updated = String::with_capacity(workspace_toml.len() + quoted.len() + indent.len() + 2);
    match (after, needs_comma) {
        (Some(entry), true) => {
            updated.push_str(&workspace_toml[..entry.end]);
            updated.push(',');
            updated.push_str(&workspace_toml[entry.end..insert_at]);
        }
        _ => updated.push_str(&workspace_toml[..insert_at]),
    }
    updated.push_str(indent);
    updated.push_str(&quoted);
    updated.push_str(",\n");
    updated.push_str(&workspace_toml[insert_at..]);
    Ok(updated)
}

/// Returns the index of the entry that `member` goes after, or `None` for the top of the array.
///
/// The entry joins its siblings in the same folder, such as `plugins/`, in sorted order. An
/// entry with no siblings goes last.
fn insert_after(entries: &[ArrayEntry], member: &str) -> Option<usize> {
    let parent_of = |value: &str| {
        value
            .rsplit_once('/')
            .map_or("", |(parent, _)| parent)
            .to_owned()
    };
    let parent = parent_of(member);
    let is_sibling = |entry: &ArrayEntry| parent_of(&entry.value) == parent;
    let earlier_sibling = entries
        .iter()
        .rposition(|entry| is_sibling(entry) && entry.value.as_str() < member);
    if earlier_sibling.is_some() {
        return earlier_sibling;
    }
    match entries.iter().position(is_sibling) {
        Some(first_later_sibling) => first_later_sibling.checked_sub(1),
        None => entries.len().checked_sub(1),
    }
}

/// Byte offsets of the `[` and `]` of the workspace `members` array.
struct ArraySpan {
    open: usize,
    close: usize,
}

/// One string entry of a TOML array: its unquoted value and the byte span of the quoted text.
///
/// NOTE: escapes inside basic strings are not decoded, which is enough for workspace paths.
struct ArrayEntry {
    value: String,
    start: usize,
    end: usize,
}

fn find_members_array(toml: &str) -> anyhow::Result<ArraySpan> {
    let mut offset = 0;
    let mut in_workspace = false;
    for line in toml.split_inclusive('\n') {
        let code = line.split('#').next().unwrap_or("").trim();
        if code.starts_with('[') {
            in_workspace = code == "[workspace]";
        } else if in_workspace
            && let Some((key, _)) = code.split_once('=')
            && key.trim() == "members"
        {
            let equals = line.find('=').expect("the line contains `=`");
            let Some(bracket) = line[equals..].find('[') else {
                bail!("the workspace `members` value is not an array");
            };
            let open = offset + equals + bracket;
            let close = closing_bracket(toml, open)
                .context("the workspace `members` array has no closing `]`")?;
            return Ok(ArraySpan { open, close });
        }
        offset += line.len();
    }
    bail!("Cargo.toml has no `members = [...]` in its [workspace] table; add one")
}

/// Returns the offset of the `]` that closes the array opened at `open`, skipping strings and
/// comments.
fn closing_bracket(toml: &str, open: usize) -> Option<usize> {
    let bytes = toml.as_bytes();
    let mut index = open + 1;
    while index < bytes.len() {
        match bytes[index] {
            quote @ (b'"' | b'\'') => index += toml[index + 1..].find(char::from(quote))? + 1,
            b'#' => index += toml[index..].find('\n').unwrap_or(toml.len() - index),
            b']' => return Some(index),
            _ => {}
        }
        index += 1;
    }
    None
}

/// Returns the string entries of an array body that starts at byte `base` of the file.
fn array_entries(body: &str, base: usize) -> Vec<ArrayEntry> {
    let mut entries = Vec::new();
    let mut index = 0;
    while index < body.len() {
        let rest = &body[index..];
        if rest.starts_with('#') {
            index += rest.find('\n').unwrap_or(rest.len());
        } else if let Some(quote) = rest.chars().next().filter(|c| *c == '"' || *c == '\'') {
            let Some(length) = rest[1..].find(quote) else {
                break;
            };
            entries.push(ArrayEntry {
                value: rest[1..1 + length].to_owned(),
                start: base + index,
                end: base + index + length + 2,
            });
            index += length + 2;
        } else {
            index += rest.chars().next().map_or(1, char::len_utf8);
        }
    }
    entries
}

/// Returns the whitespace before the text at byte `at` on its line.
fn line_indent(text: &str, at: usize) -> &str {
    let line_start = text[..at].rfind('\n').map_or(0, |index| index + 1);
    let prefix = &text[line_start..at];
    if prefix.trim().is_empty() {
        prefix
    } else {
        "    "
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE: &str = r#"[workspace]
resolver = "3"
members = [
    "core",
    "sdk/connector",
    "plugins/taobao",
    "tests",
    "tests/plugins/hostile",
    "xtask",
]
# Plugin crates are built by `cargo xtask`.
default-members = ["core", "xtask"]

[workspace.package]
edition = "2024"
"#;

    /// A temporary folder that is removed when the test ends.
    struct TempRoot(PathBuf);

    impl TempRoot {
        fn new(test: &str) -> TempRoot {
            let path = std::env::temp_dir()
                .join(format!("xtask-new-plugin-{}-{test}", std::process::id()));
            let _ = std::fs::remove_dir_all(&path);
            std::fs::create_dir_all(&path).expect("create temp root");
            TempRoot(path)
        }

        /// Creates a fake workspace with the root Cargo.toml and the taobao and hostile plugins.
        fn workspace(test: &str) -> TempRoot {
            let root = TempRoot::new(test);
            root.write("Cargo.toml", WORKSPACE);
            root.write(
                "plugins/taobao/Cargo.toml",
                "[package]\nname = \"shopkeeper-plugin-taobao\"\n",
            );
            root.write(
                "plugins/taobao/plugin.toml",
                "id = \"taobao\"\nname = \"Taobao\"\n",
            );
            root.write(
                "tests/plugins/hostile/Cargo.toml",
                "[package]\nname = \"shopkeeper-plugin-hostile\"\n\n[lib]\nname = \"other\"\n",
            );
            root.write("tests/plugins/hostile/plugin.toml", "id = \"hostile\"\n");
            root
        }

        fn write(&self, path: &str, text: &str) {
            let path = self.0.join(path);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, text).unwrap();
        }

        fn read(&self, path: &str) -> String {
            std::fs::read_to_string(self.0.join(path)).unwrap()
        }
    }

    impl Drop for TempRoot {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn new_plugin_creates_crate() {
        let root = TempRoot::workspace("creates");
        let folder = new_plugin(&root.0, "demo-shop").unwrap();
        assert_eq!(folder, root.0.join("plugins/demo-shop"));

        let cargo_toml = root.read("plugins/demo-shop/Cargo.toml");
        assert!(
            cargo_toml.contains("name = \"shopkeeper-plugin-demo-shop\""),
            "{cargo_toml}"
        );
        assert!(
            cargo_toml.contains("shopkeeper_plugin_demo_shop.wasm"),
            "{cargo_toml}"
        );
        let manifest = root.read("plugins/demo-shop/plugin.toml");
        assert!(manifest.contains("id = \"demo-shop\""), "{manifest}");
        let lib = root.read("plugins/demo-shop/src/lib.rs");
        assert!(lib.contains("cargo xtask new-plugin demo-shop"));
        for (path, text) in [
            ("Cargo.toml", &cargo_toml),
            ("plugin.toml", &manifest),
            ("src/lib.rs", &lib),
        ] {
            assert!(!text.contains("{{"), "{path} keeps a placeholder");
        }
    }

    #[test]
    fn new_plugin_adds_sorted_member() {
        let root = TempRoot::workspace("member");
        new_plugin(&root.0, "demo-shop").unwrap();
        let expected = WORKSPACE.replace(
            "    \"plugins/taobao\",\n",
            "    \"plugins/demo-shop\",\n    \"plugins/taobao\",\n",
        );
        assert_eq!(root.read("Cargo.toml"), expected);

        new_plugin(&root.0, "zz-shop").unwrap();
        let expected = expected.replace(
            "    \"plugins/taobao\",\n",
            "    \"plugins/taobao\",\n    \"plugins/zz-shop\",\n",
        );
        assert_eq!(root.read("Cargo.toml"), expected);
    }

    #[test]
    fn new_plugin_rejects_existing_folder() {
        let root = TempRoot::workspace("exists");
        let error = new_plugin(&root.0, "taobao").unwrap_err().to_string();
        assert!(error.contains("already exists"), "{error}");
        assert!(error.contains("plugins/taobao"), "{error}");
        assert_eq!(root.read("Cargo.toml"), WORKSPACE);
    }

    #[test]
    fn new_plugin_rejects_used_id() {
        let root = TempRoot::workspace("used-id");
        let error = new_plugin(&root.0, "hostile").unwrap_err().to_string();
        assert!(error.contains("\"shopkeeper-plugin-hostile\""), "{error}");
        assert!(!root.0.join("plugins/hostile").exists());
        assert_eq!(root.read("Cargo.toml"), WORKSPACE);
    }

    #[test]
    fn new_plugin_rejects_used_manifest_id() {
        let root = TempRoot::workspace("manifest-id");
        root.write(
            "tests/plugins/other/Cargo.toml",
            "[package]\nname = \"other-crate\"\n",
        );
        root.write("tests/plugins/other/plugin.toml", "id = \"amazon\"\n");
        let error = new_plugin(&root.0, "amazon").unwrap_err().to_string();
        assert!(error.contains("plugin id \"amazon\""), "{error}");
        assert!(!root.0.join("plugins/amazon").exists());
    }

    #[test]
    fn new_plugin_rejects_invalid_names() {
        let root = TempRoot::workspace("invalid");
        let cases = [
            ("", "is empty"),
            ("Demo", "contains 'D'"),
            ("demo_shop", "contains '_'"),
            ("demo shop", "contains ' '"),
            ("../evil", "contains '.'"),
            ("shop/x", "contains '/'"),
            ("1shop", "does not start with a letter"),
            ("-shop", "does not start with a letter"),
            ("shop-", "dash at the end"),
            ("my--shop", "two dashes"),
            ("ä", "contains 'ä'"),
        ];
        for (name, expected) in cases {
            let error = new_plugin(&root.0, name).unwrap_err().to_string();
            assert!(error.contains(expected), "{name:?}: {error}");
            assert!(
                error.contains(&format!("{name:?}")) || name.is_empty(),
                "{name:?}: {error}"
            );
        }
        let long = "a".repeat(65);
        let error = new_plugin(&root.0, &long).unwrap_err().to_string();
        assert!(error.contains("longer than 64"), "{error}");
        assert!(validate_name(&"a".repeat(64)).is_ok());
        assert_eq!(root.read("Cargo.toml"), WORKSPACE);
    }

    #[test]
    fn new_plugin_without_members_fails_cleanly() {
        let root = TempRoot::new("no-members");
        root.write("Cargo.toml", "[package]\nname = \"x\"\n");
        let error = format!("{:#}", new_plugin(&root.0, "demo").unwrap_err());
        assert!(error.contains("no `members = [...]`"), "{error}");
        assert!(!root.0.join("plugins/demo").exists());
    }

    #[test]
    fn plugin_packages_finds_both_folders() {
        let root = TempRoot::workspace("discover");
        // Neither a crate without a manifest nor a manifest without a crate is a plugin.
        root.write("plugins/notes/Cargo.toml", "[package]\nname = \"notes\"\n");
        root.write("plugins/half/plugin.toml", "id = \"half\"\n");
        root.write("plugins/README.md", "plugins\n");
        let packages = plugin_packages(&root.0);
        assert_eq!(
            packages,
            vec![
                (
                    "shopkeeper-plugin-taobao".to_owned(),
                    root.0.join("plugins/taobao")
                ),
                (
                    "shopkeeper-plugin-hostile".to_owned(),
                    root.0.join("tests/plugins/hostile")
                ),
            ]
        );
    }

    #[test]
    fn plugin_packages_includes_new_plugin() {
        let root = TempRoot::workspace("discover-new");
        new_plugin(&root.0, "demo-shop").unwrap();
        let names: Vec<String> = plugin_packages(&root.0)
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "shopkeeper-plugin-demo-shop",
                "shopkeeper-plugin-taobao",
                "shopkeeper-plugin-hostile"
            ]
        );
    }

    #[test]
    fn plugin_packages_of_empty_root() {
        let root = TempRoot::new("empty");
        assert!(plugin_packages(&root.0).is_empty());
    }

    #[test]
    fn package_name_comes_from_package_table() {
        let text =
            "[lib]\nname = \"lib_name\"\n\n[package]\n# comment\nname = \"real\" # trailing\n";
        assert_eq!(package_name_in(text).as_deref(), Some("real"));
        assert_eq!(package_name_in("[workspace]\nmembers = []\n"), None);
    }

    #[test]
    fn member_added_to_single_line_array() {
        let text = "[workspace]\nmembers = [\"core\", \"xtask\"]\n";
        let updated = add_workspace_member(text, "plugins/demo").unwrap();
        assert_eq!(
            updated,
            "[workspace]\nmembers = [\"core\", \"xtask\", \"plugins/demo\"]\n"
        );

        let empty = "[workspace]\nmembers = []\n";
        assert_eq!(
            add_workspace_member(empty, "plugins/demo").unwrap(),
            "[workspace]\nmembers = [\"plugins/demo\"]\n"
        );
    }

    #[test]
    fn member_added_without_siblings_goes_last() {
        let text = "[workspace]\nmembers = [\n  \"core\",\n  \"xtask\" # tools\n]\n";
        let updated = add_workspace_member(text, "plugins/demo").unwrap();
        assert_eq!(
            updated,
            "[workspace]\nmembers = [\n  \"core\",\n  \"xtask\", # tools\n  \"plugins/demo\",\n]\n"
        );
    }

    #[test]
    fn member_added_before_later_sibling() {
        let text = "[workspace]\nmembers = [\n    \"core\",\n    \"plugins/b\",\n]\n";
        let updated = add_workspace_member(text, "plugins/a").unwrap();
        assert_eq!(
            updated,
            "[workspace]\nmembers = [\n    \"core\",\n    \"plugins/a\",\n    \"plugins/b\",\n]\n"
        );
    }

    #[test]
    fn member_added_before_first_entry() {
        let text = "[workspace]\nmembers = [\n    'plugins/b',\n    \"xtask\",\n]\n";
        let updated = add_workspace_member(text, "plugins/a").unwrap();
        assert_eq!(
            updated,
            "[workspace]\nmembers = [\n    \"plugins/a\",\n    'plugins/b',\n    \"xtask\",\n]\n"
        );
        let error = add_workspace_member(text, "plugins/b")
            .unwrap_err()
            .to_string();
        assert!(error.contains("already a workspace member"), "{error}");
    }

    #[test]
    fn member_lists_elsewhere_are_untouched() {
        let text = "[package]\nmembers = [\"decoy\"]\n\n[workspace]\n# members = [\"commented\"]\nmembers = [\n    \"core\", # has ] in a comment\n]\n";
        let updated = add_workspace_member(text, "plugins/demo").unwrap();
        assert_eq!(
            updated,
            "[package]\nmembers = [\"decoy\"]\n\n[workspace]\n# members = [\"commented\"]\nmembers = [\n    \"core\", # has ] in a comment\n    \"plugins/demo\",\n]\n"
        );
    }

    #[test]
    fn member_already_listed_is_rejected() {
        let text = "[workspace]\nmembers = [\"plugins/demo\"]\n";
        let error = add_workspace_member(text, "plugins/demo")
            .unwrap_err()
            .to_string();
        assert!(error.contains("already a workspace member"), "{error}");
    }
}
