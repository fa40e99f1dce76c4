//! Tests of virtual paths: normalisation and confinement.

use ferry_proto::path::{quote_257, PathError, VirtualPath, MAX_COMPONENT, MAX_PATH};
use proptest::prelude::*;

fn at(p: &str) -> VirtualPath {
    VirtualPath::root().join(p).expect("valid path")
}

fn j(base: &str, arg: &str) -> String {
    at(base).join(arg).expect("valid path").as_str().to_string()
}

#[test]
fn root() {
    let r = VirtualPath::root();
    assert_eq!(r.as_str(), "/");
    assert!(r.is_root());
    assert_eq!(r.parent(), r);
    assert_eq!(r.file_name(), None);
    assert_eq!(r.components().count(), 0);
    assert_eq!(r.relative(), ".");
    assert_eq!(r.to_string(), "/");
}

#[test]
fn join_relative_and_absolute() {
    assert_eq!(j("/", "pub"), "/pub");
    assert_eq!(j("/pub", "incoming"), "/pub/incoming");
    assert_eq!(j("/pub", "/etc"), "/etc");
    assert_eq!(j("/pub", ""), "/pub");
    assert_eq!(j("/pub", "."), "/pub");
    assert_eq!(j("/pub", "./"), "/pub");
    assert_eq!(j("/pub", "/"), "/");
    assert_eq!(j("/pub", "//"), "/");
    assert_eq!(j("/a/b", "c/"), "/a/b/c");
    assert_eq!(j("/", "a/./b//c/"), "/a/b/c");
    assert_eq!(j("/", "///a///b///"), "/a/b");
}

#[test]
fn dot_dot_never_escapes() {
    assert_eq!(j("/", ".."), "/");
    assert_eq!(j("/", "../../.."), "/");
    assert_eq!(j("/", "/../../etc"), "/etc");
    assert_eq!(j("/", "/../../etc/passwd"), "/etc/passwd");
    assert_eq!(j("/a/b", ".."), "/a");
    assert_eq!(j("/a/b", "../.."), "/");
    assert_eq!(j("/a/b", "../../../../x"), "/x");
    assert_eq!(j("/a/b", "../c/../d"), "/a/d");
    assert_eq!(j("/a/b", "c/../../.."), "/");
    assert_eq!(j("/a", "..."), "/a/...");
    assert_eq!(j("/a", "..a"), "/a/..a");
    assert_eq!(j("/a", ".hidden"), "/a/.hidden");
}

#[test]
fn tilde() {
    assert_eq!(j("/a/b", "~"), "/");
    assert_eq!(j("/a/b", "~/"), "/");
    assert_eq!(j("/a/b", "~/x"), "/x");
    assert_eq!(j("/a/b", "~/../.."), "/");
    assert_eq!(j("/a", "~user"), "/a/~user");
    assert_eq!(j("/a", "x/~"), "/a/x/~");
    assert_eq!(j("/a", "./~"), "/a/~");
}

#[test]
fn backslashes_are_ordinary() {
    assert_eq!(j("/", "C:\\Users\\me"), "/C:\\Users\\me");
    assert_eq!(j("/a", "..\\..\\etc"), "/a/..\\..\\etc");
    assert_eq!(
        at("/dir\\x").components().collect::<Vec<_>>(),
        vec!["dir\\x"]
    );
}

#[test]
fn spaces_and_unicode_kept() {
    assert_eq!(j("/", " lead/trail "), "/ lead/trail ");
    assert_eq!(j("/", "naïve/日本"), "/naïve/日本");
}

#[test]
fn errors() {
    let r = VirtualPath::root();
    assert_eq!(r.join("a\0b"), Err(PathError::Nul));
    assert_eq!(r.join("\0"), Err(PathError::Nul));
    let long = "x".repeat(MAX_COMPONENT);
    assert!(r.join(&long).is_ok());
    assert_eq!(
        r.join(&format!("{long}y")),
        Err(PathError::ComponentTooLong)
    );
    // Long components are refused even if `..` would remove them.
    assert_eq!(
        r.join(&format!("{long}y/..")),
        Err(PathError::ComponentTooLong)
    );
    // Total length: "/" + 200 bytes per level.
    let comp = "y".repeat(199);
    let deep = vec![comp.as_str(); 20].join("/");
    assert_eq!(r.join(&deep).unwrap().as_str().len(), 4000);
    let deeper = vec![comp.as_str(); 21].join("/");
    assert_eq!(r.join(&deeper), Err(PathError::TooLong));
    // A path exactly MAX_PATH long is fine.
    let exact = format!("{}/{}", deep, "z".repeat(MAX_PATH - 4000 - 2));
    assert_eq!(r.join(&exact).unwrap().as_str().len(), MAX_PATH - 1);
    let exact = format!("{}/{}", deep, "z".repeat(MAX_PATH - 4000 - 1));
    assert_eq!(r.join(&exact).unwrap().as_str().len(), MAX_PATH);
    // Relative to a deep directory.
    let d = r.join(&deep).unwrap();
    assert_eq!(d.join(&"w".repeat(100)), Err(PathError::TooLong));
    assert!(d.join(&format!("../{}", "w".repeat(100))).is_ok());
}

#[test]
fn parent_file_name_relative() {
    let p = at("/a/b/c.txt");
    assert_eq!(p.parent().as_str(), "/a/b");
    assert_eq!(p.parent().parent().as_str(), "/a");
    assert_eq!(p.parent().parent().parent().as_str(), "/");
    assert_eq!(p.file_name(), Some("c.txt"));
    assert_eq!(at("/a").parent(), VirtualPath::root());
    assert_eq!(at("/a").file_name(), Some("a"));
    assert_eq!(p.relative(), "a/b/c.txt");
    assert_eq!(p.components().collect::<Vec<_>>(), vec!["a", "b", "c.txt"]);
}

#[test]
fn quote() {
    assert_eq!(quote_257("/"), "\"/\"");
    assert_eq!(quote_257("/usr/dm"), "\"/usr/dm\"");
    assert_eq!(quote_257("/a \"b\""), "\"/a \"\"b\"\"\"");
    assert_eq!(quote_257("\""), "\"\"\"\"");
}

fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("..".to_string()),
        Just(".".to_string()),
        Just(String::new()),
        Just("~".to_string()),
        "[a-z.~\\\\ ]{1,6}",
        "\\PC{1,8}",
    ]
}

fn arg() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(segment(), 0..10)).prop_map(|(abs, segs)| {
        let s = segs.join("/");
        if abs {
            format!("/{s}")
        } else {
            s
        }
    })
}

fn assert_normalised(p: &VirtualPath) -> Result<(), TestCaseError> {
    let s = p.as_str();
    prop_assert!(s.starts_with('/'));
    prop_assert!(s.len() <= MAX_PATH);
    if s != "/" {
        prop_assert!(!s.ends_with('/'));
        for c in s[1..].split('/') {
            prop_assert!(
                !c.is_empty() && c != "." && c != "..",
                "bad component in {:?}",
                s
            );
            prop_assert!(c.len() <= MAX_COMPONENT);
        }
    }
    prop_assert!(!s.contains('\0'));
    Ok(())
}

proptest! {
    #[test]
    fn join_is_always_normalised(base in arg(), a in arg()) {
        let Ok(b) = VirtualPath::root().join(&base) else { return Ok(()) };
        assert_normalised(&b)?;
        if let Ok(p) = b.join(&a) {
            assert_normalised(&p)?;
            // Joining the result again as an absolute path is the identity.
            prop_assert_eq!(VirtualPath::root().join(p.as_str()), Ok(p.clone()));
            prop_assert_eq!(b.join(p.as_str()), Ok(p.clone()));
            // Parent is a normalised prefix.
            let parent = p.parent();
            assert_normalised(&parent)?;
            prop_assert!(p.as_str().starts_with(parent.as_str()));
            if let Some(name) = p.file_name() {
                // (`./` so that a file named `~` stays a file name.)
                prop_assert_eq!(parent.join(&format!("./{name}")), Ok(p.clone()));
            } else {
                prop_assert!(p.is_root());
            }
        }
    }

    #[test]
    fn join_never_panics(a in proptest::collection::vec(any::<u8>(), 0..300)) {
        let s = String::from_utf8_lossy(&a);
        let _ = VirtualPath::root().join(&s);
    }

    #[test]
    fn dot_dot_chains_stay_at_root(n in 0usize..50, tail in "[a-z]{0,5}") {
        let a = format!("{}{}", "../".repeat(n), tail);
        let p = VirtualPath::root().join(&a).unwrap();
        let expected = if tail.is_empty() { "/".to_string() } else { format!("/{tail}") };
        prop_assert_eq!(p.as_str(), expected.as_str());
    }

    #[test]
    fn quote_257_round_trips(s in "\\PC{0,30}") {
        let q = quote_257(&s);
        prop_assert!(q.starts_with('"') && q.ends_with('"') && q.len() >= 2);
        prop_assert_eq!(q[1..q.len() - 1].replace("\"\"", "\""), s);
    }
}
