//! Echoing user input back safely: in error messages, control characters are escaped (a
//! name holding `\x1b[2J` must not clear the user's terminal, a `\n` must not forge a second
//! `error:` line) and very long input is cut; in hints that are commands to copy, input is
//! shell-quoted so the command runs as shown.

/// How many characters of one input an error message shows.
const SHOWN_CHARS: usize = 120;

/// `s` as an error message quotes it: in double quotes, control characters, quotes and
/// backslashes escaped, cut after [`SHOWN_CHARS`] characters with its full length noted.
pub fn shown(s: &str) -> String {
    let mut out = String::with_capacity(s.len().min(SHOWN_CHARS) + 2);
    out.push('"');
    let mut chars = s.chars();
    for c in chars.by_ref().take(SHOWN_CHARS) {
        push_escaped(&mut out, c);
    }
    out.push('"');
    if chars.next().is_some() {
        out.push_str(&format!("... ({} bytes)", s.len()));
    }
    out
}

/// A line for the terminal with every control character escaped (a message or hint that
/// carries text from the user or the cluster stays one line and cannot steer the terminal).
pub fn one_line(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 8);
    for c in s.chars() {
        if c.is_control() {
            push_control(&mut out, c);
        } else {
            out.push(c);
        }
    }
    out
}

fn push_escaped(out: &mut String, c: char) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if c.is_control() => push_control(out, c),
        c => out.push(c),
    }
}

fn push_control(out: &mut String, c: char) {
    match c {
        '\n' => out.push_str("\\n"),
        '\r' => out.push_str("\\r"),
        '\t' => out.push_str("\\t"),
        c if (c as u32) < 0x100 => out.push_str(&format!("\\x{:02x}", c as u32)),
        c => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
    }
}

/// `s` as one POSIX shell word: unchanged when it holds only characters no shell treats
/// specially, else in single quotes (a `'` inside becomes `'\''`).
pub fn shell_quote(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars().all(|c| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | '.' | '/' | ':' | '=' | '@' | '%' | '+' | ',')
        });
    if plain {
        return s.to_string();
    }
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_echoed_input_are_escaped() {
        assert_eq!(shown("web"), "\"web\"");
        assert_eq!(shown("a\nerror: b"), "\"a\\nerror: b\"");
        assert_eq!(shown("\x1b[2J"), "\"\\x1b[2J\"");
        assert_eq!(shown("say \"hi\""), "\"say \\\"hi\\\"\"");
        assert_eq!(shown("\u{9b}"), "\"\\x9b\"");
    }

    #[test]
    fn long_input_is_cut_with_its_length() {
        let long = "a".repeat(10_000);
        let s = shown(&long);
        assert!(s.ends_with("\"... (10000 bytes)"), "{s}");
        assert!(s.len() < 160, "{}", s.len());
    }

    #[test]
    fn a_message_line_keeps_text_and_escapes_controls() {
        assert_eq!(one_line("plain: text"), "plain: text");
        assert_eq!(one_line("two\nlines\x07"), "two\\nlines\\x07");
    }

    #[test]
    fn shell_words_are_quoted_only_when_needed() {
        assert_eq!(shell_quote("prod-1"), "prod-1");
        assert_eq!(shell_quote("/tmp/k.yaml"), "/tmp/k.yaml");
        assert_eq!(shell_quote("my ns"), "'my ns'");
        assert_eq!(shell_quote("it's"), "'it'\\''s'");
        assert_eq!(shell_quote("$(rm -rf ~)"), "'$(rm -rf ~)'");
        assert_eq!(shell_quote(""), "''");
    }
}
