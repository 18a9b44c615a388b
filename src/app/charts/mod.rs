//! Plot helpers shared by the rooms: axis marks and labels ([`axes`]), export-style series
//! drawn on screen and decimated to a budget ([`series`]), legends ([`legend`]). A room's own
//! plots live in its folder (the explorer's in `explorer/plots/`).

pub mod axes;
pub mod legend;
pub mod series;
