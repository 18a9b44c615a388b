//! The menu bar and the room bar. The shell draws the menus; each room adds its entries
//! ([`Room::menu`]); Edit (undo, redo) acts on the room on screen.

use super::super::room::Menu;
use super::super::rooms::Workspace;
use super::NodelabApp;

impl NodelabApp {
    pub(super) fn menu_bar(&mut self, ui: &mut egui::Ui) {
        egui::MenuBar::new().ui(ui, |ui| {
            ui.menu_button("File", |ui| self.room_entries(Menu::File, ui));
            ui.menu_button("Edit", |ui| {
                let room = self.rooms.get_mut(self.current);
                if ui
                    .add(egui::Button::new("Undo").shortcut_text("Ctrl+Z"))
                    .clicked()
                {
                    room.undo();
                }
                if ui
                    .add(egui::Button::new("Redo").shortcut_text("Ctrl+Shift+Z"))
                    .clicked()
                {
                    room.redo();
                }
            });
            ui.menu_button("Presets", |ui| self.room_entries(Menu::Presets, ui));
            ui.menu_button("Export", |ui| self.room_entries(Menu::Export, ui));
            ui.menu_button("View", |ui| {
                let mut dark = self.shared.dark;
                if ui.checkbox(&mut dark, "Dark theme").changed() {
                    // Applied at the start of the next frame.
                    self.shared.dark = dark;
                    (self.shared.repaint)();
                }
                self.room_entries(Menu::View, ui);
                ui.checkbox(&mut self.shared.debug_overlay, "Debug overlay (frame time)");
            });
        });
    }

    /// Every room's entries of `menu`, in list order.
    fn room_entries(&mut self, menu: Menu, ui: &mut egui::Ui) {
        self.rooms
            .for_each(&mut self.shared, |room, cx| room.menu(menu, ui, cx));
    }

    /// The bar that switches rooms; a room with work going on shows a dot.
    pub(super) fn room_bar(&mut self, ui: &mut egui::Ui) {
        ui.horizontal(|ui| {
            for &w in Workspace::ALL {
                let info = w.info();
                let label = if self.rooms.get(w).busy() {
                    format!("{} ●", info.label)
                } else {
                    info.label.to_string()
                };
                ui.selectable_value(&mut self.current, w, label)
                    .on_hover_text(info.help);
            }
        });
    }
}
