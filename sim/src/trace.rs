//! The readable trace of one run: what happened, in order, at which simulated time. Only a
//! replay collects it (`--seed N`); a sweep of thousands of seeds formats nothing.

/// The trace's lines, when collecting.
#[derive(Debug, Default)]
pub struct Trace {
    lines: Option<Vec<String>>,
}

/// Most lines one trace keeps: a run is bounded, and so is its trace.
const MAX_LINES: usize = 200_000;

impl Trace {
    pub fn collecting() -> Trace {
        Trace {
            lines: Some(Vec::new()),
        }
    }

    pub fn is_on(&self) -> bool {
        self.lines.is_some()
    }

    /// Notes an event at `at_ms`; `line` is only called when collecting.
    pub fn note(&mut self, at_ms: u64, line: impl FnOnce() -> String) {
        if let Some(lines) = &mut self.lines
            && lines.len() < MAX_LINES
        {
            lines.push(format!(
                "{:>4}.{:03}s  {}",
                at_ms / 1000,
                at_ms % 1000,
                line()
            ));
        }
    }

    pub fn into_lines(self) -> Vec<String> {
        self.lines.unwrap_or_default()
    }
}
