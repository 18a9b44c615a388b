//! The Experiments room as the shell sees it: its saved setup, its panels, and its one apply
//! point (selection, settings, run and cancel, cache loads and exports through the shared jobs).

use std::any::Any;

use super::{CacheLoad, ExpAction, Experiments, ExperimentsSetup, Shown, list, view};
use crate::app::jobs::JobResult;
use crate::app::room::{Restore, Room, RoomCx, RoomInfo};
use crate::experiment::{self, Availability};

const EXPERIMENTS_KEY: &str = "nodelab-experiments";

impl Room for Experiments {
    fn info() -> RoomInfo {
        RoomInfo {
            name: "experiments",
            label: "Experiments",
            help: "the papers' experiments, one click each: claim, measurement, verdict",
        }
    }

    /// `NODELAB_EXPERIMENT=name` (screenshots) opens that experiment's page.
    fn restore(from: Restore<'_>) -> Self {
        let mut setup = (from.stored)(EXPERIMENTS_KEY)
            .map(|t| ExperimentsSetup::from_json(&t))
            .unwrap_or_default();
        if let Some(spec) = std::env::var("NODELAB_EXPERIMENT")
            .ok()
            .and_then(|name| experiment::find(&name))
        {
            setup.selected = spec.name.to_string();
        }
        Experiments::new(setup)
    }

    fn save(&self, put: &mut dyn FnMut(&'static str, String)) {
        if let Some(s) = self.setup.to_json() {
            put(EXPERIMENTS_KEY, s);
        }
    }

    fn busy(&self) -> bool {
        self.is_running()
    }

    fn workers(&self) -> usize {
        usize::from(self.is_running())
    }

    fn points(&self) -> usize {
        self.results
            .values()
            .flat_map(|s| &s.figures)
            .map(|f| f.points())
            .sum()
    }

    fn poll(&mut self, ctx: &egui::Context, cx: &mut RoomCx<'_>) {
        if let Some(message) = self.poll_job() {
            cx.shared.toasts.error(message);
        }
        if self.is_running() {
            // The elapsed time in the progress line moves even between progress reports.
            ctx.request_repaint_after(std::time::Duration::from_millis(100));
        }
    }

    fn panels(&mut self, ui: &mut egui::Ui, _cx: &mut RoomCx<'_>) {
        let width = crate::app::layout::left(ui.ctx().content_rect().width());
        egui::Panel::left("experiments-list")
            .resizable(true)
            .default_size(width.default.min(300.0))
            .min_size(width.range.min)
            .max_size(width.range.max)
            .show(ui, |ui| {
                egui::ScrollArea::vertical()
                    .id_salt("experiments-list-scroll")
                    .show(ui, |ui| {
                        let mut actions = std::mem::take(&mut self.actions);
                        list::ui(ui, self, &mut actions);
                        self.actions = actions;
                    });
            });
        let mut view = std::mem::take(&mut self.view);
        let mut actions = std::mem::take(&mut self.actions);
        egui::CentralPanel::default().show(ui, |ui| view::ui(ui, self, &mut view, &mut actions));
        self.view = view;
        self.actions = actions;
    }

    fn apply(&mut self, cx: &mut RoomCx<'_>) {
        for action in std::mem::take(&mut self.actions) {
            self.act(action, cx);
        }
        if let Some((spec, settings)) = self.lookup_wanted()
            && let Some(cache) = self.cache.clone()
        {
            cx.shared.jobs.spawn("experiment-cache", move || {
                let result = cache.load(spec, &settings);
                JobResult::room(CacheLoad {
                    name: spec.name,
                    settings,
                    result,
                })
            });
        }
    }

    fn settle(&mut self, cx: &mut RoomCx<'_>) -> bool {
        self.apply(cx);
        let ran = self.is_running();
        if let Some(message) = self.wait() {
            cx.shared.toasts.error(message);
        }
        ran
    }

    fn on_job(
        &mut self,
        result: Box<dyn Any + Send>,
        _cx: &mut RoomCx<'_>,
    ) -> Option<Box<dyn Any + Send>> {
        let load = match result.downcast::<CacheLoad>() {
            Ok(load) => load,
            Err(other) => return Some(other),
        };
        let CacheLoad {
            name,
            settings,
            result,
        } = *load;
        // Taken only if nothing newer arrived meanwhile (a run, or another setting's load).
        if let Some(result) = result
            && let Some(spec) = experiment::find(name)
            && self
                .results
                .get(name)
                .is_none_or(|s| s.is_stale(spec, &settings))
        {
            self.results
                .insert(name.to_string(), Shown::new(result, true));
        }
        None
    }

    fn as_any(&self) -> &dyn Any {
        self
    }
}

impl Experiments {
    fn act(&mut self, action: ExpAction, cx: &mut RoomCx<'_>) {
        let spec = self.setup.spec();
        match action {
            ExpAction::Select(name) => {
                if let Some(spec) = experiment::find(&name) {
                    self.setup.selected = spec.name.to_string();
                }
            }
            ExpAction::Set { key, text } => {
                let id = format!("{}/{key}", spec.name);
                let mut settings = self.setup.settings_of(spec);
                match settings.set(spec, &key, &text) {
                    Ok(()) => {
                        self.view.errors.remove(&id);
                        self.setup.settings.insert(spec.name.to_string(), settings);
                    }
                    Err(e) => {
                        self.view.errors.insert(id.clone(), e);
                    }
                }
                self.view.texts.insert(id, text);
            }
            ExpAction::Preset(preset) => {
                self.setup
                    .settings
                    .insert(spec.name.to_string(), spec.settings(preset));
                let prefix = format!("{}/", spec.name);
                self.view.texts.retain(|k, _| !k.starts_with(&prefix));
                self.view.errors.retain(|k, _| !k.starts_with(&prefix));
            }
            ExpAction::Run => {
                if matches!(spec.availability, Availability::Implemented) {
                    self.start(spec, cx.shared.repaint.clone());
                }
            }
            ExpAction::Cancel => self.cancel(),
            ExpAction::SetExportDir(dir) => self.setup.export_dir = dir,
            ExpAction::Export => {
                let Some(shown) = self.shown() else {
                    cx.shared
                        .toasts
                        .info("nothing to export: run the experiment first");
                    return;
                };
                let result = shown.result.clone();
                let dir =
                    std::path::PathBuf::from(self.setup.export_dir.trim()).join(&result.experiment);
                cx.shared.jobs.spawn("experiment-export", move || {
                    JobResult::Exported(result.write_all(&dir).map(|_| dir.clone()))
                });
            }
        }
    }
}
