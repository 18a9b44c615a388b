//! The launch settings (`NODELAB_PRESET`, `NODELAB_START`, …) handed to the rooms once, after
//! every room exists: each of the preset and the start goes to the room that claims it most
//! strongly ([`Room::claim`]); every room then sees the settings in [`Room::launch`].
//!
//! [`Room::claim`]: crate::app::room::Room::claim
//! [`Room::launch`]: crate::app::room::Room::launch

use super::super::room::{Claim, Launch};
use super::super::rooms::Workspace;
use super::NodelabApp;

impl NodelabApp {
    /// Hands the launch settings to the rooms: the preset (`NODELAB_PRESET`) and the start
    /// (`NODELAB_START`) each go to the room that claims them most strongly.
    pub(super) fn launch(&mut self) {
        let options = self.options.clone();
        let text = options
            .preset
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok());
        let launch = |w: Workspace| Launch {
            options: &options,
            opened: w == self.current,
            preset_text: text.as_deref(),
        };
        let winner = |what: Claim, asked: bool| {
            let claims = Workspace::ALL.iter().filter_map(|&w| {
                let claim = self.rooms.get(w).claim(what, &launch(w))?;
                Some((claim, w))
            });
            // The first of the strongest claims.
            asked
                .then(|| {
                    claims.fold(None, |best: Option<(u8, Workspace)>, c| match best {
                        Some(b) if b.0 >= c.0 => Some(b),
                        _ => Some(c),
                    })
                })
                .flatten()
                .map(|(_, w)| w)
        };
        let preset_to = winner(Claim::Preset, options.preset.is_some());
        let start_to = winner(Claim::Start, options.start_training);
        for &w in Workspace::ALL {
            let l = launch(w);
            let preset = options.preset.as_deref().filter(|_| preset_to == Some(w));
            self.rooms.with(w, &mut self.shared, |room, cx| {
                room.launch(&l, preset, start_to == Some(w), cx);
            });
        }
        self.deliver_mail();
    }
}
