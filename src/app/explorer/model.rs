//! Data produced by the solve workers, as the UI holds it: the exact step records (never
//! decimated) plus append-only point buffers prepared for plotting as records arrive.

use egui_plot::PlotPoint;

use super::protocol::{FieldGrid, ProbeResult, ProblemInfo};
use crate::export::Rgb;
use crate::solver::{Solution, SolveError, SolverConfig, StepRecord};

/// A state a loss wants sample `sample` to reach at time `t`.
#[derive(Clone, Debug, PartialEq)]
pub struct LossTarget {
    pub sample: usize,
    pub t: f64,
    pub state: Vec<f64>,
}

/// The targets of a `[loss]` table on the span ending at `t_end`: `mse` and `half-sse` want the
/// final states, `trajectory-mse` the states at its times; `cross-entropy` has no target state.
pub fn loss_targets(loss: &crate::preset::LossSpec, t_end: f64) -> Vec<LossTarget> {
    use crate::preset::TargetSpec;
    let at_end = |sample: usize, state: &Vec<f64>| LossTarget {
        sample,
        t: t_end,
        state: state.clone(),
    };
    match &loss.target {
        None => Vec::new(),
        Some(TargetSpec::One(v)) => vec![at_end(0, v)],
        Some(TargetSpec::Batch(b)) if loss.times.is_empty() => {
            b.iter().enumerate().map(|(s, v)| at_end(s, v)).collect()
        }
        // trajectory-mse with one sample: one state per time.
        Some(TargetSpec::Batch(b)) => loss
            .times
            .iter()
            .zip(b)
            .map(|(t, v)| LossTarget {
                sample: 0,
                t: *t,
                state: v.clone(),
            })
            .collect(),
        Some(TargetSpec::Trajectory(per_time)) => loss
            .times
            .iter()
            .zip(per_time)
            .flat_map(|(t, states)| {
                states.iter().enumerate().map(|(s, v)| LossTarget {
                    sample: s,
                    t: *t,
                    state: v.clone(),
                })
            })
            .collect(),
    }
}

/// A run's lifecycle.
#[derive(Clone, Debug, PartialEq)]
pub enum RunStatus {
    /// The worker is building the problem.
    Starting,
    Running,
    Done,
    /// The problem could not be built or the settings are invalid.
    Invalid(String),
    /// The solve stopped early (e.g. a blow-up).
    Failed(SolveError),
    /// The user stopped the solve.
    Stopped,
}

/// A point buffer with the index of the record each point comes from.
#[derive(Clone, Debug, Default)]
pub struct Series {
    pub points: Vec<PlotPoint>,
    pub record: Vec<u32>,
}

impl Series {
    fn push(&mut self, x: f64, y: f64, record: usize) {
        self.points.push(PlotPoint::new(x, y));
        self.record.push(record as u32);
    }

    /// The points coming from the first `shown` records.
    pub fn revealed(&self, shown: usize) -> &[PlotPoint] {
        let n = self.record.partition_point(|&r| (r as usize) < shown);
        &self.points[..n]
    }
}

/// Plot buffers of one run, appended as records arrive.
#[derive(Clone, Debug, Default)]
pub struct RunSeries {
    /// Per component: (t, y) at the step boundaries, starting with (t0, y0) (record index 0).
    pub boundaries: Vec<Series>,
    /// Per component: (t + h, candidate y) of rejected attempts.
    pub rejected: Vec<Series>,
    /// (t, h) of accepted and rejected attempts.
    pub h_accepted: Series,
    pub h_rejected: Series,
    /// (t, err/tol) of accepted and rejected attempts with an estimate.
    pub err_accepted: Series,
    pub err_rejected: Series,
    /// Coefficient `a_k` of component `c` at index `k·d + c`: the staircase `(t, a)`,
    /// `(t + h, a)` of the accepted steps (empty for methods without coefficients).
    pub coeffs: Vec<Series>,
}

/// One solver run: settings, exact records and prepared plot data.
#[derive(Clone, Debug)]
pub struct RunData {
    /// Unique per run created in this process (caches key on it).
    pub generation: u64,
    /// The problem this run solves, as the session described it when the run started (the
    /// run's results are stale once the session describes another).
    pub spec: crate::preset::ProblemSpec,
    pub config: SolverConfig,
    pub color: Rgb,
    pub status: RunStatus,
    pub problem: Option<ProblemInfo>,
    pub records: Vec<StepRecord>,
    /// For each record, the index of the last accepted record before it (`None`: y0).
    pub prev_accepted: Vec<Option<u32>>,
    /// Indices of the accepted records, in order.
    pub accepted: Vec<u32>,
    /// For each record, the max-norm error of its end state against the exact solution.
    pub exact_error: Vec<Option<f64>>,
    pub warnings: Vec<String>,
    pub nfev: u64,
    /// Per component, the exact solution sampled over the span (empty when unknown).
    pub exact_curve: Vec<Vec<PlotPoint>>,
    pub series: RunSeries,
    /// The worker's answer for the selected step (p(τ) against the true f).
    pub probe: Option<ProbeResult>,
    /// The vector field of the phase portrait.
    pub field: Option<FieldGrid>,
    /// The other initial states of a batch: per sample, per component, (t, y) at the accepted
    /// step boundaries (empty for a single initial state).
    pub batch: Vec<Vec<Vec<PlotPoint>>>,
    /// The loss targets of a gradient preset, drawn with the solution.
    pub targets: Vec<LossTarget>,
    /// Statistics of the last (shown, records) asked for: recomputed only when those change.
    stats_cache: std::cell::RefCell<Option<((usize, usize), RunStats)>>,
}

impl RunData {
    pub fn new(config: SolverConfig, color: Rgb) -> Self {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        Self {
            generation: NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            spec: crate::preset::ProblemSpec::default(),
            config,
            color,
            status: RunStatus::Starting,
            problem: None,
            records: Vec::new(),
            prev_accepted: Vec::new(),
            accepted: Vec::new(),
            exact_error: Vec::new(),
            warnings: Vec::new(),
            nfev: 0,
            exact_curve: Vec::new(),
            series: RunSeries::default(),
            probe: None,
            field: None,
            batch: Vec::new(),
            targets: Vec::new(),
            stats_cache: std::cell::RefCell::new(None),
        }
    }

    /// Legend label: method and tolerance.
    pub fn label(&self) -> String {
        if self.config.method.is_adaptive() {
            format!("{} (ε = {:e})", self.config.method, self.config.tol)
        } else {
            format!("{}", self.config.method)
        }
    }

    pub fn is_finished(&self) -> bool {
        !matches!(self.status, RunStatus::Starting | RunStatus::Running)
    }

    /// The problem is known: set up the per-component buffers.
    pub fn start(&mut self, info: ProblemInfo) {
        let d = info.dim();
        self.series.boundaries = (0..d)
            .map(|c| {
                let mut s = Series::default();
                s.push(info.t0, info.y0[c], 0);
                s
            })
            .collect();
        self.series.rejected = vec![Series::default(); d];
        self.problem = Some(info);
        self.status = RunStatus::Running;
    }

    /// Appends records (with their error against the exact solution) and their plot points.
    pub fn push(&mut self, records: Vec<StepRecord>, exact_error: Vec<Option<f64>>) {
        for (r, e) in records.into_iter().zip(exact_error) {
            let i = self.records.len();
            let prev = self.accepted.last().copied();
            let s = &mut self.series;
            let h_val = r.h;
            let ratio = r.err_ratio;
            if r.accepted {
                for (c, v) in r.y.iter().enumerate() {
                    if let Some(b) = s.boundaries.get_mut(c) {
                        b.push(r.t + r.h, *v, i);
                    }
                }
                if let Some(a) = r.dense.coefficients() {
                    if s.coeffs.len() != a.len() {
                        s.coeffs = vec![Series::default(); a.len()];
                    }
                    for (series, v) in s.coeffs.iter_mut().zip(a) {
                        series.push(r.t, *v, i);
                        series.push(r.t + r.h, *v, i);
                    }
                }
                s.h_accepted.push(r.t, h_val, i);
                if let Some(le) = ratio {
                    s.err_accepted.push(r.t, le, i);
                }
                self.accepted.push(i as u32);
            } else {
                for (c, v) in r.y.iter().enumerate() {
                    if let Some(b) = s.rejected.get_mut(c) {
                        b.push(r.t + r.h, *v, i);
                    }
                }
                s.h_rejected.push(r.t, h_val, i);
                if let Some(le) = ratio {
                    s.err_rejected.push(r.t, le, i);
                }
            }
            self.nfev = r.nfev;
            self.prev_accepted.push(prev);
            self.exact_error.push(e);
            self.records.push(r);
        }
    }

    /// The state a record starts from.
    pub fn start_state(&self, record: usize) -> Option<&[f64]> {
        match self.prev_accepted.get(record)? {
            Some(p) => self.records.get(*p as usize).map(|r| r.y.as_slice()),
            None => self.problem.as_ref().map(|p| p.y0.as_slice()),
        }
    }

    /// The accepted record whose interval `[t, t + h]` contains `t`, among the first `shown`.
    pub fn accepted_step_at(&self, t: f64, shown: usize) -> Option<usize> {
        let n = self.accepted.partition_point(|&i| (i as usize) < shown);
        let acc = &self.accepted[..n];
        let k =
            acc.partition_point(|&i| self.records[i as usize].t + self.records[i as usize].h < t);
        let i = *acc.get(k)? as usize;
        let r = &self.records[i];
        (t >= r.t && t <= r.t + r.h).then_some(i)
    }

    /// [`RunStats::of`] the first `shown` attempts, cached.
    pub fn stats(&self, shown: usize) -> RunStats {
        let key = (shown.min(self.records.len()), self.records.len());
        let mut cache = self.stats_cache.borrow_mut();
        match &*cache {
            Some((k, s)) if *k == key => s.clone(),
            _ => {
                let s = RunStats::of(self, shown);
                *cache = Some((key, s.clone()));
                s
            }
        }
    }

    /// The first `shown` records as a [`Solution`] (for statistics and export).
    pub fn solution_prefix(&self, shown: usize) -> Option<Solution> {
        let p = self.problem.as_ref()?;
        let shown = shown.min(self.records.len());
        let complete = shown == self.records.len();
        Some(Solution {
            method: self.config.method,
            t0: p.t0,
            t_end: p.t_end,
            y0: p.y0.clone(),
            records: self.records[..shown].to_vec(),
            nfev: self.records[..shown].last().map_or(0, |r| r.nfev),
            warnings: if complete {
                self.warnings.clone()
            } else {
                Vec::new()
            },
            error: match (&self.status, complete) {
                (RunStatus::Failed(e), true) => Some(e.clone()),
                _ => None,
            },
        })
    }
}

/// Statistics of the first `shown` attempts of a run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunStats {
    pub accepted: usize,
    pub rejected: usize,
    pub nfev: u64,
    pub h_range: Option<(f64, f64)>,
    pub max_error: Option<f64>,
}

impl RunStats {
    pub fn of(run: &RunData, shown: usize) -> Self {
        let shown = shown.min(run.records.len());
        let recs = &run.records[..shown];
        let accepted = recs.iter().filter(|r| r.accepted).count();
        let h_range = recs
            .iter()
            .filter(|r| r.accepted && !r.clipped)
            .map(|r| r.h)
            .fold(None, |acc: Option<(f64, f64)>, h| {
                Some(acc.map_or((h, h), |(lo, hi)| (lo.min(h), hi.max(h))))
            });
        let max_error = run.exact_error[..shown]
            .iter()
            .zip(recs)
            .filter(|(_, r)| r.accepted)
            .filter_map(|(e, _)| *e)
            .fold(None, |acc: Option<f64>, e| {
                Some(acc.map_or(e, |a| a.max(e)))
            });
        Self {
            accepted,
            rejected: shown - accepted,
            nfev: recs.last().map_or(0, |r| r.nfev),
            h_range,
            max_error,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::problem::builtin::{self, BuiltinOverrides};
    use crate::solver::{self, Method};

    fn vdp_run() -> (RunData, Solution) {
        let problem = builtin::build("van-der-pol", &BuiltinOverrides::default()).unwrap();
        let config = SolverConfig {
            method: Method::ZcRk4,
            tol: 1e-3,
            ..SolverConfig::default()
        };
        let sol = solver::solve(&problem, &config).unwrap();
        let mut run = RunData::new(config, Rgb(0, 0, 0));
        run.start(ProblemInfo {
            name: problem.name.clone(),
            components: problem.components.clone(),
            formula: problem.formula.clone(),
            t0: problem.t0,
            t_end: problem.t_end,
            y0: problem.y0.clone(),
            has_exact: false,
        });
        let n = sol.records.len();
        run.push(sol.records.clone(), vec![None; n]);
        (run, sol)
    }

    #[test]
    fn statistics_match_the_solution() {
        let (run, sol) = vdp_run();
        assert!(sol.rejected() > 0, "the test wants rejected steps");
        let stats = RunStats::of(&run, run.records.len());
        assert_eq!(stats.accepted, sol.accepted());
        assert_eq!(stats.rejected, sol.rejected());
        assert_eq!(stats.nfev, sol.nfev);
        assert_eq!(stats.h_range, sol.h_range());
    }

    #[test]
    fn start_states_and_step_lookup_follow_accepted_steps() {
        let (run, sol) = vdp_run();
        let starts: Vec<&[f64]> = sol.accepted_steps().map(|(s, _)| s).collect();
        for (k, &i) in run.accepted.iter().enumerate() {
            assert_eq!(run.start_state(i as usize).unwrap(), starts[k]);
        }
        let r = &run.records[run.accepted[5] as usize];
        let mid = r.t + 0.5 * r.h;
        assert_eq!(
            run.accepted_step_at(mid, usize::MAX),
            Some(run.accepted[5] as usize)
        );
        // Not yet revealed: no step there.
        assert_eq!(run.accepted_step_at(mid, run.accepted[5] as usize), None);
    }

    #[test]
    fn revealed_points_stop_at_the_shown_records() {
        let (run, _) = vdp_run();
        let first_rejected = run.records.iter().position(|r| !r.accepted).unwrap();
        assert!(run.series.h_rejected.revealed(first_rejected).is_empty());
        assert_eq!(run.series.h_rejected.revealed(first_rejected + 1).len(), 1);
        // Boundaries: (t0, y0) plus one point per revealed accepted step.
        let shown = 10;
        let acc = run.records[..shown].iter().filter(|r| r.accepted).count();
        assert_eq!(run.series.boundaries[0].revealed(shown).len(), acc + 1);
    }

    #[test]
    fn coefficient_staircases_hold_each_accepted_step() {
        let (run, sol) = vdp_run();
        assert_eq!(run.series.coeffs.len(), 6);
        let a1_v = &run.series.coeffs[3];
        assert_eq!(a1_v.points.len(), 2 * sol.accepted());
        let (_, r) = sol.accepted_steps().nth(7).unwrap();
        let a = r.dense.coefficients().unwrap();
        assert_eq!(a1_v.points[14], PlotPoint::new(r.t, a[3]));
        assert_eq!(a1_v.points[15], PlotPoint::new(r.t + r.h, a[3]));
    }
}
