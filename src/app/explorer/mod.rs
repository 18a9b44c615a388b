//! The Explorer workspace's own panels: the problem and solver setup, the step table, the
//! inspector and its lens, playback, the step statistics and the work–precision sweep. The
//! explorer's plots are in [`super::plots`] (whose axis helpers the other workspaces share).

pub mod inspector;
pub mod lens;
pub mod playback;
pub mod problem_panel;
pub mod solver_panel;
pub mod stats;
pub mod step_table;
pub mod sweep;
