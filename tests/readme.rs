//! The README's spec reference is a spec: every ```toml block in it parses, so the
//! documentation can't drift from the format.

use respawn::spec::Spec;
use std::path::Path;

#[test]
fn every_toml_block_in_the_readme_is_a_valid_spec() {
    let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md"))
        .expect("README.md");
    let mut blocks = 0;
    let mut rest = readme.as_str();
    while let Some(start) = rest.find("```toml\n") {
        let body = &rest[start + "```toml\n".len()..];
        let end = body.find("```").expect("closed code block");
        let spec = Spec::parse(&body[..end], None, Path::new("/"))
            .unwrap_or_else(|e| panic!("README spec block {blocks}: {e}\n{}", &body[..end]));
        assert!(!spec.name.is_empty());
        blocks += 1;
        rest = &body[end..];
    }
    assert!(blocks >= 1, "the README has a spec reference block");
}
