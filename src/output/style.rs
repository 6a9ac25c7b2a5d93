//! Colour for people, and only when asked: every styled piece of text goes through [`paint`],
//! which returns the text untouched when colour is off (`NO_COLOR`, `--no-color`, no terminal).

/// What a piece of text means, which decides its colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    Plain,
    /// Done, ready, healthy.
    Good,
    /// Still going.
    Busy,
    /// Failing or failed.
    Bad,
    /// Going away, or secondary.
    Faint,
    /// A label that leads a line (`next:`).
    Strong,
    /// The `hint:` label, as uv prints it.
    Hint,
}

impl Tone {
    fn code(self) -> Option<&'static str> {
        match self {
            Tone::Plain => None,
            Tone::Good => Some("32"),
            Tone::Busy => Some("33"),
            Tone::Bad => Some("31"),
            Tone::Faint => Some("2"),
            Tone::Strong => Some("1"),
            Tone::Hint => Some("1;36"),
        }
    }
}

/// `text` in the colour of `tone` when `color` is on.
pub fn paint(text: &str, tone: Tone, color: bool) -> String {
    match tone.code() {
        Some(code) if color && !text.is_empty() => format!("\x1b[{code}m{text}\x1b[0m"),
        _ => text.to_string(),
    }
}

/// A label in bold and the tone's colour (`error:` red, `warning:` yellow), as uv does.
pub fn label(text: &str, tone: Tone, color: bool) -> String {
    match tone.code() {
        Some(code) if color && tone != Tone::Strong && tone != Tone::Hint => {
            format!("\x1b[1;{code}m{text}\x1b[0m")
        }
        _ => paint(text, tone, color),
    }
}

/// A styled line: pieces of text, each with its tone.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Line(pub Vec<(String, Tone)>);

impl Line {
    pub fn plain(text: impl Into<String>) -> Self {
        Line(vec![(text.into(), Tone::Plain)])
    }

    pub fn push(&mut self, text: impl Into<String>, tone: Tone) -> &mut Self {
        self.0.push((text.into(), tone));
        self
    }

    /// The line cut to `width` characters (the last one an ellipsis when cut), painted when
    /// `color` is on. Cutting happens before painting, so escape codes are never split.
    pub fn render(&self, width: usize, color: bool) -> String {
        let total: usize = self.0.iter().map(|(t, _)| t.chars().count()).sum();
        let limit = if total > width {
            width.saturating_sub(1)
        } else {
            usize::MAX
        };
        let mut out = String::new();
        let mut used = 0usize;
        for (text, tone) in &self.0 {
            if used >= limit {
                break;
            }
            let room = limit - used;
            // A stray newline would break the redraw's line count.
            let piece: String = text
                .chars()
                .map(|c| if c == '\n' || c == '\r' { ' ' } else { c })
                .take(room)
                .collect();
            used += piece.chars().count();
            out.push_str(&paint(&piece, *tone, color));
        }
        if total > width && width > 0 {
            out.push('…');
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_left_alone_when_colour_is_off() {
        assert_eq!(paint("ready", Tone::Good, false), "ready");
        assert_eq!(label("error:", Tone::Bad, false), "error:");
    }

    #[test]
    fn colour_wraps_the_text_and_resets() {
        assert_eq!(paint("ready", Tone::Good, true), "\x1b[32mready\x1b[0m");
        assert_eq!(label("error:", Tone::Bad, true), "\x1b[1;31merror:\x1b[0m");
    }

    #[test]
    fn a_long_line_is_cut_to_the_width_with_an_ellipsis_and_never_inside_an_escape() {
        let mut line = Line::plain("pod ");
        line.push("Waiting: ImagePullBackOff", Tone::Bad);
        assert_eq!(line.render(12, false), "pod Waiting…");
        assert_eq!(line.render(12, true), "pod \x1b[31mWaiting\x1b[0m…");
        assert_eq!(line.render(100, false), "pod Waiting: ImagePullBackOff");
        assert_eq!(line.render(0, false), "");
        assert_eq!(Line::plain("a\nb").render(10, false), "a b");
    }
}
