//! Shell-style globs for the last component of a URL (`ftp://h/dir/*.txt`), matched on the
//! client against the directory listing: `*`, `?`, `[abc]`, `[a-z]`, `[!x]`, and `\` to
//! quote the next character.

/// Whether `name` has glob metacharacters.
pub fn is_glob(name: &str) -> bool {
    name.contains(['*', '?', '['])
}

/// Whether `name` matches `pattern` (whole name, case-sensitive).
pub fn matches(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `*` (linear memory, bounded time
    // O(len(p) * len(n))).
    let (mut pi, mut ni) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let step = match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
                continue;
            }
            Some(_) => single(&p, pi, n.get(ni).copied()),
            None => None,
        };
        match step {
            Some(next_pi) => {
                pi = next_pi;
                ni += 1;
            }
            None => match star {
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p.get(pi..)
        .is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

/// Matches one non-`*` pattern item at `pi` against `c`; the index after the item on
/// success.
fn single(p: &[char], pi: usize, c: Option<char>) -> Option<usize> {
    let c = c?;
    match p.get(pi)? {
        '?' => Some(pi + 1),
        '\\' => (p.get(pi + 1) == Some(&c)).then_some(pi + 2),
        '[' => {
            let mut i = pi + 1;
            let negate = matches!(p.get(i), Some('!' | '^'));
            if negate {
                i += 1;
            }
            let mut found = false;
            let mut first = true;
            loop {
                let item = *p.get(i)?; // unterminated class: no match
                if item == ']' && !first {
                    break;
                }
                first = false;
                if p.get(i + 1) == Some(&'-') && p.get(i + 2).is_some_and(|e| *e != ']') {
                    let end = *p.get(i + 2)?;
                    if item <= c && c <= end {
                        found = true;
                    }
                    i += 3;
                } else {
                    if item == c {
                        found = true;
                    }
                    i += 1;
                }
            }
            (found != negate).then_some(i + 1)
        }
        lit => (*lit == c).then_some(pi + 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_questions() {
        assert!(matches("*.txt", "a.txt"));
        assert!(matches("*.txt", ".txt"));
        assert!(!matches("*.txt", "a.txt.gz"));
        assert!(matches("a*b*c", "aXXbYYc"));
        assert!(!matches("a*b*c", "aXXbYY"));
        assert!(matches("f?le", "file"));
        assert!(!matches("f?le", "fle"));
        assert!(matches("*", ""));
        assert!(matches("é*", "été"));
    }

    #[test]
    fn classes() {
        assert!(matches("[ab]x", "bx"));
        assert!(!matches("[ab]x", "cx"));
        assert!(matches("[a-c]*", "car"));
        assert!(matches("[!a-c]*", "dog"));
        assert!(!matches("[!a-c]*", "cat"));
        assert!(matches("[]]", "]"));
        assert!(!matches("[abc", "a"));
        assert!(matches("\\*", "*"));
        assert!(!matches("\\*", "x"));
    }

    #[test]
    fn detects_globs() {
        assert!(is_glob("*.txt"));
        assert!(!is_glob("plain.txt"));
    }
}
