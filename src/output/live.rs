//! Progress on a terminal: a block redrawn in place on stderr, in the shape of
//! `kubectl argo rollouts get rollout` but exiting with the result. The block is a pure
//! function of the snapshot ([`render`]); [`Live`] draws it with indicatif, one bar per line
//! so each line is cut to the terminal's width (never wrapped, so the redraw never drifts),
//! frames are written in one buffered write (no flicker) and notes print above the block.
//! `finish` leaves the last frame on screen. Where indicatif would draw nothing (`TERM=dumb`)
//! the view falls back to the line log.

use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressState, ProgressStyle};

use super::model::{self, PodView, RsView};
use super::style::{Line, Tone};
use crate::engine::assess::Verdict;
use crate::engine::snapshot::Snapshot;

/// Pods listed per ReplicaSet; the rest are counted on one line. Failing and not-ready pods
/// are listed first, so a 50-replica rollout still shows what is wrong.
const MAX_PODS: usize = 10;
/// Cells of the progress bar.
const BAR: usize = 20;
/// The width passed to `render` by the live view: indicatif cuts each line to the terminal.
const UNCUT: usize = 4096;

/// The block as plain text, each line cut to `width` characters.
#[cfg(test)]
pub fn render(snap: &Snapshot, verdict: &Verdict, width: usize) -> Vec<String> {
    render_styled(snap, verdict, width, false)
}

/// The block, painted when `color` is on.
pub fn render_styled(snap: &Snapshot, verdict: &Verdict, width: usize, color: bool) -> Vec<String> {
    block(snap, verdict)
        .iter()
        .map(|l| l.render(width, color))
        .collect()
}

fn block(snap: &Snapshot, verdict: &Verdict) -> Vec<Line> {
    let mut out = vec![header(snap)];
    out.extend(
        model::image_changes(snap)
            .into_iter()
            .map(|i| Line::plain(format!("  {i}"))),
    );
    out.push(counts(snap));
    out.push(state(verdict));
    let groups = model::replica_sets(snap);
    let views: Vec<(RsView, Vec<PodView>)> = groups
        .iter()
        .map(|(rs, pods)| (rs.clone(), pods.iter().map(|p| PodView::of(p)).collect()))
        .collect();
    let name_w = views
        .iter()
        .flat_map(|(_, pods)| pods.iter().map(|p| p.name.chars().count()))
        .max()
        .unwrap_or(0);
    let status_w = views
        .iter()
        .flat_map(|(_, pods)| pods.iter().map(|p| p.status.len()))
        .max()
        .unwrap_or(0);
    for (rs, pods) in &views {
        out.push(rs_line(rs));
        let (shown, rest) = pick(pods);
        for p in shown {
            out.push(pod_line(p, name_w, status_w));
        }
        if !rest.is_empty() {
            let ready = rest.iter().filter(|p| p.ready).count();
            out.push(Line::plain(format!(
                "    ... and {} more ({ready} ready)",
                rest.len()
            )));
        }
    }
    out
}

fn header(snap: &Snapshot) -> Line {
    let meta = &snap.deployment.metadata;
    let name = meta.name.as_deref().unwrap_or("<unnamed>");
    let target = match meta.namespace.as_deref() {
        Some(ns) => format!("{ns}/{name}"),
        None => name.to_string(),
    };
    let from = model::previous_rs(snap).and_then(model::revision_of);
    let revision = match (from, snap.revision()) {
        (Some(f), Some(t)) if f != t => format!("  revision {f} -> {t}"),
        (_, Some(t)) => format!("  revision {t}"),
        _ => String::new(),
    };
    let mut line = Line::default();
    line.push(format!("deployment {target}"), Tone::Strong)
        .push(revision, Tone::Plain);
    line
}

fn counts(snap: &Snapshot) -> Line {
    let d = &snap.deployment;
    let desired = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let st = d.status.as_ref();
    let updated = st.and_then(|s| s.updated_replicas).unwrap_or(0);
    let ready = st.and_then(|s| s.ready_replicas).unwrap_or(0);
    let available = st.and_then(|s| s.available_replicas).unwrap_or(0);
    // Updated and available: the new ReplicaSet's available pods.
    let done = snap
        .new_rs()
        .and_then(|rs| rs.status.as_ref())
        .and_then(|s| s.available_replicas)
        .unwrap_or(0)
        .min(updated.max(0));
    let cells = if desired > 0 {
        (done.clamp(0, desired) as usize * BAR) / desired as usize
    } else {
        BAR
    };
    let tone = if desired > 0 && done < desired {
        Tone::Busy
    } else {
        Tone::Good
    };
    let mut line = Line::plain(format!(
        "  desired {desired}  updated {updated}  ready {ready}  available {available}  ["
    ));
    line.push("#".repeat(cells), tone)
        .push("-".repeat(BAR - cells), Tone::Faint)
        .push(format!("] {done}/{desired}"), Tone::Plain);
    line
}

fn state(verdict: &Verdict) -> Line {
    let (text, tone) = match verdict {
        Verdict::Progressing(m) => (m.clone(), Tone::Busy),
        Verdict::Complete(m) => (m.clone(), Tone::Good),
        Verdict::Paused(m) => (m.clone(), Tone::Busy),
        Verdict::Failed(d) => (format!("failed: {}", d.summary), Tone::Bad),
    };
    let mut line = Line::plain("  ");
    line.push(text, tone);
    line
}

fn rs_line(rs: &RsView) -> Line {
    let tone = if rs.ready >= rs.desired {
        Tone::Good
    } else {
        Tone::Busy
    };
    let mut line = Line::plain(format!("  {} ({})  ", rs.name, rs.age_word()));
    line.push(format!("{}/{} ready", rs.ready, rs.desired), tone);
    line
}

fn pick(pods: &[PodView]) -> (Vec<&PodView>, Vec<&PodView>) {
    if pods.len() <= MAX_PODS {
        return (pods.iter().collect(), Vec::new());
    }
    let rank = |p: &PodView| match (p.failing(), p.ready, p.terminating()) {
        (true, _, _) => 0,
        (_, false, false) => 1,
        (_, true, false) => 2,
        _ => 3,
    };
    let mut order: Vec<&PodView> = pods.iter().collect();
    order.sort_by_key(|p| rank(p));
    let rest = order.split_off(MAX_PODS);
    order.sort_by(|a, b| a.name.cmp(&b.name));
    (order, rest)
}

fn pod_line(p: &PodView, name_w: usize, status_w: usize) -> Line {
    let tone = if p.terminating() {
        Tone::Faint
    } else if p.failing() {
        Tone::Bad
    } else if p.ready {
        Tone::Good
    } else {
        Tone::Busy
    };
    let mut line = Line::plain(format!("    {:<name_w$}  ", p.name));
    line.push(format!("{:<status_w$}", p.status), tone).push(
        format!(
            "  {}/{}  restarts {}",
            p.ready_containers, p.containers, p.restarts
        ),
        Tone::Plain,
    );
    if let Some(reason) = p.reason() {
        line.push("  ", Tone::Plain).push(reason, tone);
    }
    line
}

/// The live view of one rollout: its block on the command's board.
pub struct Live {
    board: Board,
}

struct Board {
    multi: MultiProgress,
    bars: Vec<ProgressBar>,
    shown: Vec<String>,
    color: bool,
    finished: bool,
}

impl Live {
    /// The view as one block of `multi`, the board every rollout of the command shares
    /// (`-l` follows several at once: each gets its block, none overwrites another).
    pub fn joining(target: &str, color: bool, multi: MultiProgress) -> Self {
        let mut board = Board {
            multi,
            bars: Vec::new(),
            shown: Vec::new(),
            color,
            finished: false,
        };
        board.show(vec![format!("deployment {target}")]);
        if let Some(head) = board.bars.first() {
            // Redraws the block (and its clock) even when no event arrives, so a frame that
            // indicatif's rate limit skipped is drawn within a tick.
            head.enable_steady_tick(Duration::from_millis(250));
        }
        Live { board }
    }
}

fn line_style(head: bool) -> ProgressStyle {
    let template = if head {
        "{wide_msg} {clock}"
    } else {
        "{wide_msg}"
    };
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_spinner())
        .with_key("clock", |s: &ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = w.write_str(&super::report::duration(s.elapsed().as_secs_f64()));
        })
}

impl Board {
    fn show(&mut self, lines: Vec<String>) {
        while self.bars.len() < lines.len() {
            let head = self.bars.is_empty();
            let new = ProgressBar::new_spinner().with_style(line_style(head));
            // Below this block's last line, not at the end of a board other blocks share.
            let bar = match self.bars.last() {
                Some(last) => self.multi.insert_after(last, new),
                None => self.multi.add(new),
            };
            self.bars.push(bar);
            self.shown.push(String::new());
        }
        while self.bars.len() > lines.len().max(1) {
            if let Some(bar) = self.bars.pop() {
                bar.finish_and_clear();
                self.multi.remove(&bar);
            }
            self.shown.pop();
        }
        for ((bar, shown), line) in self.bars.iter().zip(self.shown.iter_mut()).zip(lines) {
            if *shown != line {
                bar.set_message(line.clone());
                *shown = line;
            }
        }
    }

    fn finish(&mut self) {
        if self.finished {
            return;
        }
        self.finished = true;
        for bar in &self.bars {
            bar.finish();
        }
    }
}

impl Drop for Board {
    fn drop(&mut self) {
        self.finish();
    }
}

impl super::Progress for Live {
    fn update(&mut self, snap: &Snapshot, verdict: &Verdict) {
        let lines = render_styled(snap, verdict, UNCUT, self.board.color);
        self.board.show(lines);
    }

    fn note(&mut self, line: &str) {
        if self.board.multi.println(line).is_err() || self.board.finished {
            super::err_line(line);
        }
    }

    fn finish(&mut self) {
        self.board.finish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::diagnose::{Diagnosis, FailureClass};
    use crate::output::fixture::*;

    fn progressing() -> Verdict {
        Verdict::Progressing(
            "Waiting for deployment \"web\" rollout to finish: 2 out of 4 new replicas have been updated..."
                .into(),
        )
    }

    #[test]
    fn a_rollout_half_way_shows_revisions_images_counts_and_both_replica_sets() {
        insta::assert_snapshot!(render(&mid_rollout(), &progressing(), 120).join("\n"));
    }

    #[test]
    fn a_completed_rollout_shows_a_full_bar_and_hides_the_scaled_down_replica_set() {
        let new = "web-7c7f8d7866";
        let snap = Snapshot {
            changed: None,
            memo: Default::default(),
            deployment: deployment(4, "model:v2", (2, 2, 2, 2)).into(),
            replica_sets: vec![
                replica_set("web-5d4b9c8f7", 3, "model:v1", 0, 0).into(),
                replica_set(new, 4, "model:v2", 2, 2).into(),
            ],
            pods: vec![
                running(new, "abcde", true, 0).into(),
                running(new, "fghij", true, 1).into(),
            ],
            events: Vec::new(),
        };
        let done = Verdict::Complete("deployment \"web\" successfully rolled out".into());
        insta::assert_snapshot!(render(&snap, &done, 120).join("\n"));
    }

    #[test]
    fn a_failed_rollout_shows_the_diagnosis_and_the_unschedulable_pod() {
        let new = "web-7c7f8d7866";
        let mut snap = mid_rollout();
        snap.deployment = deployment(4, "model:v2", (4, 1, 2, 2)).into();
        snap.replica_sets[1] = replica_set(new, 4, "model:v2", 1, 0).into();
        snap.pods = vec![
            unschedulable(
                new,
                "abcde",
                "0/3 nodes are available: 3 Insufficient nvidia.com/gpu.",
            )
            .into(),
        ];
        let failed = Verdict::Failed(Box::new(Diagnosis {
            class: FailureClass::Unschedulable,
            summary:
                "pod \"web-7c7f8d7866-abcde\" cannot be scheduled: 3 Insufficient nvidia.com/gpu"
                    .into(),
            pod: None,
            container: None,
            evidence: Vec::new(),
            hint: None,
            wants_logs: false,
            reason: String::new(),
            first_seen: None,
        }));
        insta::assert_snapshot!(render(&snap, &failed, 120).join("\n"));
    }

    #[test]
    fn lines_are_cut_to_the_width() {
        let lines = render(&mid_rollout(), &progressing(), 40);
        assert!(lines.iter().all(|l| l.chars().count() <= 40), "{lines:#?}");
        assert!(lines.iter().any(|l| l.ends_with('…')));
    }

    #[test]
    fn a_large_replica_set_lists_failing_pods_first_and_counts_the_rest() {
        let new = "web-7c7f8d7866";
        let mut pods: Vec<_> = (0..14)
            .map(|i| running(new, &format!("p{i:02}"), true, 0))
            .collect();
        pods.push(waiting(new, "zzzzz", "CrashLoopBackOff"));
        let snap = Snapshot {
            changed: None,
            memo: Default::default(),
            deployment: deployment(4, "model:v2", (15, 15, 14, 14)).into(),
            replica_sets: vec![replica_set(new, 4, "model:v2", 15, 14).into()],
            pods: pods.into_iter().map(Into::into).collect(),
            events: Vec::new(),
        };
        let lines = render(&snap, &progressing(), 120);
        assert!(lines.iter().any(|l| l.contains("zzzzz")), "{lines:#?}");
        assert!(
            lines.iter().any(|l| l.trim() == "... and 5 more (5 ready)"),
            "{lines:#?}"
        );
        let pod_lines = lines.iter().filter(|l| l.starts_with("    web-")).count();
        assert_eq!(pod_lines, MAX_PODS);
    }

    #[test]
    fn an_empty_snapshot_renders_without_panicking() {
        let lines = render(&Snapshot::default(), &progressing(), 80);
        assert_eq!(lines[0], "deployment <unnamed>");
    }

    #[test]
    fn colour_marks_ready_pods_green_and_failing_pods_red_only_when_asked() {
        let plain = render_styled(&mid_rollout(), &progressing(), 200, false).join("\n");
        assert!(!plain.contains('\x1b'));
        let painted = render_styled(&mid_rollout(), &progressing(), 200, true).join("\n");
        assert!(painted.contains("\x1b[32mRunning"), "{painted}");
        assert!(
            painted.contains("\x1b[31mWaiting: ImagePullBackOff"),
            "{painted}"
        );
        assert!(
            painted.contains("\x1b[33mWaiting for deployment"),
            "{painted}"
        );
    }

    /// A terminal screen good enough for indicatif: auto-wrap with a pending wrap at the
    /// right margin, cursor moves, line clears.
    #[derive(Debug, Default)]
    struct Screen {
        rows: Vec<Vec<char>>,
        row: usize,
        col: usize,
    }

    const W: usize = 100;

    impl Screen {
        fn put(&mut self, c: char) {
            match c {
                '\r' => self.col = 0,
                '\n' => {
                    self.row += 1;
                    self.col = 0;
                }
                c => {
                    if self.col >= W {
                        self.row += 1;
                        self.col = 0;
                    }
                    while self.rows.len() <= self.row {
                        self.rows.push(Vec::new());
                    }
                    let line = &mut self.rows[self.row];
                    while line.len() <= self.col {
                        line.push(' ');
                    }
                    line[self.col] = c;
                    self.col += 1;
                }
            }
        }

        fn text(&self) -> String {
            let lines: Vec<String> = self
                .rows
                .iter()
                .map(|r| r.iter().collect::<String>().trim_end().to_string())
                .collect();
            lines.join("\n").trim_end().to_string()
        }
    }

    #[derive(Debug, Clone, Default)]
    struct FakeTerm(std::sync::Arc<std::sync::Mutex<Screen>>);

    impl FakeTerm {
        fn with<R>(&self, f: impl FnOnce(&mut Screen) -> R) -> std::io::Result<R> {
            let mut screen = self.0.lock().map_err(|_| std::io::ErrorKind::Other)?;
            Ok(f(&mut screen))
        }
    }

    impl indicatif::TermLike for FakeTerm {
        fn width(&self) -> u16 {
            W as u16
        }
        fn height(&self) -> u16 {
            50
        }
        fn move_cursor_up(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row = s.row.saturating_sub(n))
        }
        fn move_cursor_down(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.row += n)
        }
        fn move_cursor_right(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.col += n)
        }
        fn move_cursor_left(&self, n: usize) -> std::io::Result<()> {
            self.with(|s| s.col = s.col.saturating_sub(n))
        }
        fn write_line(&self, line: &str) -> std::io::Result<()> {
            self.with(|s| line.chars().chain(['\n']).for_each(|c| s.put(c)))
        }
        fn write_str(&self, text: &str) -> std::io::Result<()> {
            self.with(|s| text.chars().for_each(|c| s.put(c)))
        }
        fn clear_line(&self) -> std::io::Result<()> {
            self.with(|s| {
                if let Some(r) = s.rows.get_mut(s.row) {
                    r.clear();
                }
                s.col = 0;
            })
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn the_live_view_redraws_in_place_keeps_notes_above_and_leaves_the_last_frame() {
        use crate::output::Progress;
        let term = FakeTerm::default();
        let draw = indicatif::ProgressDrawTarget::term_like_with_hz(Box::new(term.clone()), 20);
        let mut live = Live::joining("default/web", false, MultiProgress::with_draw_target(draw));
        live.update(&mid_rollout(), &progressing());
        live.note("scaled web-7c7f8d7866 up");
        let new = "web-7c7f8d7866";
        let done = Snapshot {
            changed: None,
            memo: Default::default(),
            deployment: deployment(4, "model:v2", (1, 1, 1, 1)).into(),
            replica_sets: vec![
                replica_set("web-5d4b9c8f7", 3, "model:v1", 0, 0).into(),
                replica_set(new, 4, "model:v2", 1, 1).into(),
            ],
            pods: vec![running(new, "abcde", true, 0).into()],
            events: Vec::new(),
        };
        live.update(
            &done,
            &Verdict::Complete("deployment \"web\" successfully rolled out".into()),
        );
        live.finish();
        // The clock at the end of the header depends on time.
        let text = term.with(|s| s.text()).expect("screen");
        let cleaned: Vec<String> = text
            .lines()
            .map(|l| {
                if l.starts_with("deployment ") {
                    l.rsplit_once(' ')
                        .map(|(head, _)| head.trim_end().to_string())
                        .unwrap_or_default()
                } else {
                    l.to_string()
                }
            })
            .collect();
        insta::assert_snapshot!(cleaned.join("\n"));
    }
}
