//! The explorer's short-lived view state: selection, hover, playback, view toggles. Never saved.

use super::playback::Playback;

/// A step of a run: `record` indexes the run's attempted steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct StepRef {
    pub run: usize,
    pub record: usize,
}

/// The central views.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tab {
    TimePlots,
    Phase,
    WorkPrecision,
}

/// Every exportable plot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PlotKind {
    Solution,
    StepSize,
    ErrorRatio,
    Coefficients,
    Phase,
    WorkPrecision,
}

impl PlotKind {
    pub const ALL: [PlotKind; 6] = [
        PlotKind::Solution,
        PlotKind::StepSize,
        PlotKind::ErrorRatio,
        PlotKind::Coefficients,
        PlotKind::Phase,
        PlotKind::WorkPrecision,
    ];

    pub fn title(self) -> &'static str {
        match self {
            PlotKind::Solution => "Solution y(t)",
            PlotKind::StepSize => "Step size h",
            PlotKind::ErrorRatio => "Error estimate / tolerance",
            PlotKind::Coefficients => "Coefficients a0, a1, a2",
            PlotKind::Phase => "Phase portrait",
            PlotKind::WorkPrecision => "Work–precision",
        }
    }

    /// File name stem for exports.
    pub fn stem(self) -> &'static str {
        match self {
            PlotKind::Solution => "solution",
            PlotKind::StepSize => "step-size",
            PlotKind::ErrorRatio => "error-ratio",
            PlotKind::Coefficients => "coefficients",
            PlotKind::Phase => "phase",
            PlotKind::WorkPrecision => "work-precision",
        }
    }
}

/// Step table columns (sortable).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortColumn {
    Index,
    T,
    H,
    Err,
    Accepted,
    Nfev,
}

/// The explorer's view state.
#[derive(Clone, Debug)]
pub struct ViewState {
    pub tab: Tab,
    pub selected: Option<StepRef>,
    /// Hovered step, as found in the previous frame (what the views highlight).
    pub hovered: Option<StepRef>,
    /// Hovered step found so far in this frame.
    pub hovered_next: Option<StepRef>,
    /// The selection changed: the table scrolls to it once.
    pub scroll_to_selection: bool,
    pub playback: Playback,
    pub coeff_component: usize,
    pub show_p_vs_f: bool,
    pub show_dense: bool,
    pub show_exact: bool,
    pub phase_axes: (usize, usize),
    pub show_field: bool,
    pub sort: (SortColumn, bool),
    pub table_run: usize,
    pub show_table: bool,
    /// Re-solve automatically (debounced) after an edit of the problem or the solvers.
    pub auto_solve: bool,
    /// Why the shown results no longer match the session (set each frame by the app; `None`:
    /// the results are current). Stale plots are greyed and labelled.
    pub stale: Option<String>,
    /// The pointer is over the initial-state handle of the phase portrait (last frame).
    pub y0_hot: bool,
    /// The problem the phase portrait was drawn for last (kept while a re-solve starts).
    pub phase_problem: Option<super::protocol::ProblemInfo>,
    /// Where the initial-state handle was drawn (screen), last frame.
    pub y0_handle_at: Option<egui::Pos2>,
    /// The initial state is being dragged in the phase portrait: where it is now.
    pub y0_drag: Option<[f64; 2]>,
    /// Where each plot was drawn in this frame (tests).
    pub plot_rects: Vec<(&'static str, egui::Rect)>,
    /// Where the panels were drawn in the last frame.
    pub layout: crate::app::layout::Layout,
}

impl Default for ViewState {
    fn default() -> Self {
        Self {
            tab: Tab::TimePlots,
            selected: None,
            hovered: None,
            hovered_next: None,
            scroll_to_selection: false,
            playback: Playback::default(),
            coeff_component: 0,
            show_p_vs_f: false,
            show_dense: true,
            show_exact: true,
            phase_axes: (0, 1),
            show_field: true,
            sort: (SortColumn::Index, true),
            table_run: 0,
            show_table: true,
            auto_solve: true,
            stale: None,
            plot_rects: Vec::new(),
            y0_hot: false,
            y0_handle_at: None,
            phase_problem: None,
            y0_drag: None,
            layout: crate::app::layout::Layout::default(),
        }
    }
}
