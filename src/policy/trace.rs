//! Where the decision's stages report each check: the [`Tracer`] a stage is handed, and the
//! filter's [`Untraced`], which records nothing. `edge-auth explain` records the steps
//! ([`crate::policy::explain::Trace`]); this leaf sits below the decision so that explaining
//! depends on deciding, never the reverse.

/// How a step ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(target_arch = "wasm32"), derive(serde::Serialize))]
#[cfg_attr(not(target_arch = "wasm32"), serde(rename_all = "snake_case"))]
pub enum Status {
    /// The check passed.
    Passed,
    /// The check refused the request (the decision's reason).
    Failed,
    /// A fact the decision used (the rule that matched, the mode, a wait).
    Info,
}

/// Where a decision reports its steps. `detail` builds the text only if it is wanted.
pub trait Tracer {
    /// Records one step.
    fn step<F: FnOnce() -> String>(&mut self, check: &'static str, status: Status, detail: F);

    /// A check that passed.
    fn pass<F: FnOnce() -> String>(&mut self, check: &'static str, detail: F) {
        self.step(check, Status::Passed, detail);
    }

    /// A check that refused the request.
    fn fail<F: FnOnce() -> String>(&mut self, check: &'static str, detail: F) {
        self.step(check, Status::Failed, detail);
    }

    /// A fact the decision used.
    fn info<F: FnOnce() -> String>(&mut self, check: &'static str, detail: F) {
        self.step(check, Status::Info, detail);
    }
}

/// Records nothing: what the filter decides with.
#[derive(Debug, Default, Clone, Copy)]
pub struct Untraced;

impl Tracer for Untraced {
    #[inline(always)]
    fn step<F: FnOnce() -> String>(&mut self, _check: &'static str, _status: Status, _detail: F) {}
}
