//! Custom problems typed as formulas: one expression per component in `t`, the named state
//! variables and named parameters, e.g. `x' = v`, `v' = mu*(1 - x^2)*v - x`.
//!
//! Expressions are parsed and evaluated by [`exmex`]. Before handing a formula to exmex we run a
//! small lexical check of our own so that the common mistakes (unknown names, unbalanced
//! parentheses, stray characters) are reported with the column of the offending text.

use std::fmt;

use exmex::{Express, FlatEx, FloatOpsFactory, MatchLiteral, literal_matcher_from_pattern};

// Number literals with an optional exponent (`1.5e-3`, `2E+4`); exmex's default matcher has no
// exponent part.
literal_matcher_from_pattern!(
    NumberWithExponent,
    r"^(\.?[0-9]+(\.[0-9]*)?([eE][+-]?[0-9]+)?)"
);

/// The expression type: exmex's float operators with our number literals.
type Expr = FlatEx<f64, FloatOpsFactory<f64>, NumberWithExponent>;

use super::OdeSystem;

/// Functions and constants understood by exmex's float operators, as they may appear in a
/// formula. Names in this list cannot be used for state variables or parameters.
pub const FUNCTIONS: &[&str] = &[
    "abs", "signum", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "tanh", "asinh",
    "acosh", "atanh", "floor", "round", "ceil", "trunc", "fract", "exp", "sqrt", "cbrt", "ln",
    "log2", "log10", "log", "atan2", "min", "max",
];
/// Constants understood by exmex: π, τ and Euler's number.
pub const CONSTANTS: &[&str] = &["PI", "π", "E", "e", "TAU", "τ"];

/// Largest number of distinct names one expression may use (a stack buffer holds them).
const MAX_NAMES_PER_EXPRESSION: usize = 64;

/// The user's description of a custom system (what a preset stores).
#[derive(Clone, Debug, PartialEq)]
pub struct FormulaSpec {
    /// State variable names, one per component (`x`, `v`).
    pub variables: Vec<String>,
    /// Right-hand side of each component, same order as `variables`.
    pub expressions: Vec<String>,
    /// Named parameters and their values.
    pub params: Vec<(String, f64)>,
}

/// A formula error, located in the text where possible.
#[derive(Clone, Debug, PartialEq)]
pub struct FormulaError {
    /// Component whose expression is wrong (`None` for errors about names and counts).
    pub component: Option<usize>,
    /// The offending expression.
    pub text: String,
    /// Character range `[start, end)` of the offending text within `text`.
    pub span: Option<(usize, usize)>,
    pub message: String,
}

impl FormulaError {
    fn general(message: impl Into<String>) -> Self {
        Self {
            component: None,
            text: String::new(),
            span: None,
            message: message.into(),
        }
    }

    /// Column (1-based, in characters) where the offending text starts.
    pub fn column(&self) -> Option<usize> {
        self.span.map(|(s, _)| s + 1)
    }
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.component, self.span) {
            (Some(c), Some((start, end))) => {
                let width = (end - start).max(1);
                write!(
                    f,
                    "formula {} column {}: {}\n  {}\n  {}{}",
                    c + 1,
                    start + 1,
                    self.message,
                    self.text,
                    " ".repeat(start),
                    "^".repeat(width)
                )
            }
            (Some(c), None) => write!(f, "formula {}: {}: {}", c + 1, self.message, self.text),
            _ => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for FormulaError {}

/// One compiled component expression.
#[derive(Clone, Debug)]
struct Compiled {
    expr: Expr,
    /// For each of exmex's variables (alphabetical order), its index in the evaluation context
    /// `[t, y_0, …, y_{d-1}, p_0, …]`.
    slots: Vec<usize>,
}

/// A parsed and checked custom system, ready to integrate.
#[derive(Clone, Debug)]
pub struct FormulaSystem {
    spec: FormulaSpec,
    compiled: Vec<Compiled>,
}

fn is_name_start(c: char) -> bool {
    c.is_alphabetic() || c == '_'
}

fn is_name_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Checks that `name` can be used for a variable or parameter.
fn check_name(name: &str, what: &str) -> Result<(), FormulaError> {
    let mut chars = name.chars();
    let valid = match chars.next() {
        Some(c) => is_name_start(c) && chars.all(is_name_char),
        None => false,
    };
    if !valid {
        return Err(FormulaError::general(format!(
            "'{name}' is not a valid {what} name (use letters, digits and _, starting with a letter)"
        )));
    }
    if name == "t" {
        return Err(FormulaError::general(format!(
            "'t' is the time variable and cannot be a {what} name"
        )));
    }
    if FUNCTIONS.contains(&name) || CONSTANTS.contains(&name) {
        return Err(FormulaError::general(format!(
            "'{name}' is a built-in function or constant and cannot be a {what} name"
        )));
    }
    Ok(())
}

/// Lexical check of one expression: known names, balanced parentheses, allowed characters.
fn lex_check(component: usize, text: &str, known: &[&str]) -> Result<(), FormulaError> {
    let err = |start: usize, end: usize, message: String| FormulaError {
        component: Some(component),
        text: text.to_string(),
        span: Some((start, end)),
        message,
    };
    let chars: Vec<char> = text.chars().collect();
    if chars.iter().all(|c| c.is_whitespace()) {
        return Err(FormulaError {
            component: Some(component),
            text: text.to_string(),
            span: None,
            message: "the expression is empty".into(),
        });
    }
    let mut depth: Vec<usize> = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if is_name_start(c) {
            let start = i;
            while i < chars.len() && is_name_char(chars[i]) {
                i += 1;
            }
            let name: String = chars[start..i].iter().collect();
            let is_function = FUNCTIONS.contains(&name.as_str());
            if !(is_function
                || CONSTANTS.contains(&name.as_str())
                || known.contains(&name.as_str()))
            {
                return Err(err(
                    start,
                    i,
                    format!("unknown name '{name}' (known: {})", known.join(", ")),
                ));
            }
            if is_function {
                let mut j = i;
                while j < chars.len() && chars[j].is_whitespace() {
                    j += 1;
                }
                if j >= chars.len() || chars[j] != '(' {
                    return Err(err(
                        start,
                        i,
                        format!("function '{name}' needs its argument in parentheses: {name}(…)"),
                    ));
                }
            }
            continue;
        }
        if c.is_ascii_digit() || c == '.' {
            let start = i;
            while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                i += 1;
            }
            // Exponent part: 1e-3, 2.5E+4.
            if i < chars.len() && (chars[i] == 'e' || chars[i] == 'E') {
                let mut j = i + 1;
                if j < chars.len() && (chars[j] == '+' || chars[j] == '-') {
                    j += 1;
                }
                if j < chars.len() && chars[j].is_ascii_digit() {
                    i = j;
                    while i < chars.len() && chars[i].is_ascii_digit() {
                        i += 1;
                    }
                }
            }
            let number: String = chars[start..i].iter().collect();
            if number.parse::<f64>().is_err() {
                return Err(err(start, i, format!("'{number}' is not a number")));
            }
            continue;
        }
        match c {
            '(' => depth.push(i),
            ')' => {
                if depth.pop().is_none() {
                    return Err(err(i, i + 1, "this ')' has no matching '('".into()));
                }
            }
            '+' | '-' | '*' | '/' | '^' | ',' => {}
            c if c.is_whitespace() => {}
            other => {
                return Err(err(i, i + 1, format!("unexpected character '{other}'")));
            }
        }
        i += 1;
    }
    if let Some(open) = depth.pop() {
        return Err(err(open, open + 1, "this '(' is never closed".into()));
    }
    Ok(())
}

/// Finds where an exmex error message points in the text: exmex quotes the offending
/// fragment (`don't know how to parse …`, `… violated by '…'`).
fn locate_exmex_error(text: &str, message: &str) -> Option<(usize, usize)> {
    let candidates: Vec<&str> = message
        .split('\'')
        .skip(1)
        .step_by(2)
        .chain(message.rsplit("parse ").next())
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    for fragment in candidates {
        if let Some(byte) = text.find(fragment) {
            let start = text[..byte].chars().count();
            return Some((start, start + fragment.chars().count()));
        }
    }
    None
}

impl FormulaSystem {
    /// Parses and checks every expression.
    pub fn new(spec: FormulaSpec) -> Result<Self, FormulaError> {
        if spec.variables.is_empty() {
            return Err(FormulaError::general(
                "a custom problem needs at least one state variable",
            ));
        }
        if spec.variables.len() != spec.expressions.len() {
            return Err(FormulaError::general(format!(
                "{} state variables but {} formulas: give one formula per variable",
                spec.variables.len(),
                spec.expressions.len()
            )));
        }
        let mut names: Vec<&str> = vec!["t"];
        for v in &spec.variables {
            check_name(v, "state variable")?;
            names.push(v);
        }
        for (p, value) in &spec.params {
            check_name(p, "parameter")?;
            if !value.is_finite() {
                return Err(FormulaError::general(format!(
                    "parameter {p} must be finite"
                )));
            }
            names.push(p);
        }
        for (i, a) in names.iter().enumerate() {
            if names[..i].contains(a) {
                return Err(FormulaError::general(format!(
                    "the name '{a}' is used twice"
                )));
            }
        }
        let mut compiled = Vec::with_capacity(spec.expressions.len());
        for (c, text) in spec.expressions.iter().enumerate() {
            lex_check(c, text, &names[..])?;
            let expr = Expr::parse(text).map_err(|e| FormulaError {
                component: Some(c),
                text: text.clone(),
                span: locate_exmex_error(text, e.msg()),
                message: e.msg().to_string(),
            })?;
            let slots = expr
                .var_names()
                .iter()
                .map(|v| {
                    names
                        .iter()
                        .position(|n| n == v)
                        .ok_or_else(|| FormulaError {
                            component: Some(c),
                            text: text.clone(),
                            span: locate_exmex_error(text, &format!("'{v}'")),
                            message: format!("unknown name '{v}'"),
                        })
                })
                .collect::<Result<Vec<_>, _>>()?;
            if slots.len() > MAX_NAMES_PER_EXPRESSION {
                return Err(FormulaError {
                    component: Some(c),
                    text: text.clone(),
                    span: None,
                    message: format!("more than {MAX_NAMES_PER_EXPRESSION} distinct names"),
                });
            }
            compiled.push(Compiled { expr, slots });
        }
        Ok(Self { spec, compiled })
    }

    pub fn spec(&self) -> &FormulaSpec {
        &self.spec
    }

    /// Evaluates component `c` at `(t, y)`.
    fn eval_component(&self, c: usize, t: f64, y: &[f64]) -> f64 {
        let compiled = &self.compiled[c];
        let mut args = [0.0f64; MAX_NAMES_PER_EXPRESSION];
        let d = y.len();
        for (arg, &slot) in args.iter_mut().zip(&compiled.slots) {
            *arg = if slot == 0 {
                t
            } else if slot <= d {
                y[slot - 1]
            } else {
                self.spec.params[slot - 1 - d].1
            };
        }
        compiled
            .expr
            .eval(&args[..compiled.slots.len()])
            .unwrap_or(f64::NAN)
    }
}

impl OdeSystem for FormulaSystem {
    fn dim(&self) -> usize {
        self.spec.variables.len()
    }

    fn rhs(&self, t: f64, y: &[f64], dydt: &mut [f64]) {
        for (c, out) in dydt.iter_mut().enumerate() {
            *out = self.eval_component(c, t, y);
        }
    }

    fn diagnose(&self, t: f64, y: &[f64]) -> Option<String> {
        let state = self
            .spec
            .variables
            .iter()
            .zip(y)
            .map(|(n, v)| format!("{n} = {v:.6e}"))
            .collect::<Vec<_>>()
            .join(", ");
        (0..self.dim()).find_map(|c| {
            let value = self.eval_component(c, t, y);
            (!value.is_finite()).then(|| {
                format!(
                    "{}' = {} evaluated to {value} at t = {t:.6e} ({state})",
                    self.spec.variables[c], self.spec.expressions[c]
                )
            })
        })
    }
}

/// Builds the problem for a checked custom system.
pub fn build_problem(
    system: FormulaSystem,
    y0: Vec<f64>,
    t0: f64,
    t_end: f64,
) -> Result<super::Problem, super::ProblemError> {
    let spec = system.spec().clone();
    if y0.len() != spec.variables.len() {
        return Err(super::ProblemError::Invalid(format!(
            "{} state variables but y0 has {} values",
            spec.variables.len(),
            y0.len()
        )));
    }
    let problem = super::Problem {
        name: "custom".into(),
        description: format!("custom system in {}", spec.variables.join(", ")),
        formula: spec
            .variables
            .iter()
            .zip(&spec.expressions)
            .map(|(v, e)| format!("{v}' = {e}"))
            .collect(),
        components: spec.variables.clone(),
        params: spec
            .params
            .iter()
            .map(|(n, v)| super::Param {
                name: n.clone(),
                value: *v,
                meaning: String::new(),
            })
            .collect(),
        t0,
        t_end,
        y0,
        system: std::sync::Arc::new(system),
        exact: None,
    };
    problem.validate()?;
    Ok(problem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(vars: &[&str], exprs: &[&str], params: &[(&str, f64)]) -> FormulaSpec {
        FormulaSpec {
            variables: vars.iter().map(|s| s.to_string()).collect(),
            expressions: exprs.iter().map(|s| s.to_string()).collect(),
            params: params.iter().map(|(n, v)| (n.to_string(), *v)).collect(),
        }
    }

    #[test]
    fn evaluates_van_der_pol_like_a_hand_written_rhs() {
        let sys = FormulaSystem::new(spec(
            &["x", "v"],
            &["v", "mu*(1 - x^2)*v - x"],
            &[("mu", 1.5)],
        ))
        .unwrap();
        let mut out = [0.0; 2];
        sys.rhs(0.3, &[0.7, -1.2], &mut out);
        assert_eq!(out[0], -1.2);
        let expected = 1.5 * (1.0 - 0.49) * -1.2 - 0.7;
        assert!((out[1] - expected).abs() < 1e-14);
    }

    #[test]
    fn names_are_mapped_whatever_their_alphabetical_order() {
        // exmex orders variables alphabetically; our slots must undo that.
        let sys = FormulaSystem::new(spec(
            &["zeta", "alpha"],
            &["alpha - 2*zeta + t", "k*zeta"],
            &[("k", 3.0)],
        ))
        .unwrap();
        let mut out = [0.0; 2];
        sys.rhs(10.0, &[1.0, 5.0], &mut out);
        assert_eq!(out, [5.0 - 2.0 + 10.0, 3.0]);
    }

    #[test]
    fn unknown_name_points_at_its_column() {
        let err = FormulaSystem::new(spec(&["x"], &["2*x + foo"], &[])).unwrap_err();
        assert_eq!(err.component, Some(0));
        assert_eq!(err.span, Some((6, 9)));
        assert_eq!(err.column(), Some(7));
        assert!(err.to_string().contains("unknown name 'foo'"));
        assert!(err.to_string().contains("      ^^^"), "{err}");
    }

    #[test]
    fn unbalanced_parentheses_are_located() {
        let err = FormulaSystem::new(spec(&["x"], &["sin(x"], &[])).unwrap_err();
        assert_eq!(err.span, Some((3, 4)));
        let err = FormulaSystem::new(spec(&["x"], &["x)"], &[])).unwrap_err();
        assert_eq!(err.span, Some((1, 2)));
    }

    #[test]
    fn exmex_syntax_errors_are_reported_on_their_component() {
        let err = FormulaSystem::new(spec(&["x", "y"], &["x", "x * * y"], &[])).unwrap_err();
        assert_eq!(err.component, Some(1));
        let err = FormulaSystem::new(spec(&["x"], &["x +"], &[])).unwrap_err();
        assert_eq!(err.component, Some(0));
    }

    #[test]
    fn reserved_and_duplicate_names_are_rejected() {
        assert!(FormulaSystem::new(spec(&["e"], &["1"], &[])).is_err());
        assert!(FormulaSystem::new(spec(&["x", "x"], &["1", "1"], &[])).is_err());
        assert!(FormulaSystem::new(spec(&["x"], &["1"], &[("x", 1.0)])).is_err());
        assert!(FormulaSystem::new(spec(&["t"], &["1"], &[])).is_err());
        assert!(FormulaSystem::new(spec(&["x"], &["1", "2"], &[])).is_err());
    }

    #[test]
    fn non_finite_values_are_diagnosed_by_component() {
        let sys = FormulaSystem::new(spec(&["x", "y"], &["1", "sqrt(x)"], &[])).unwrap();
        let mut out = [0.0; 2];
        sys.rhs(0.0, &[-1.0, 0.0], &mut out);
        assert!(out[1].is_nan());
        let why = sys.diagnose(0.0, &[-1.0, 0.0]).unwrap();
        assert!(why.contains("y' = sqrt(x)"), "{why}");
        assert!(sys.diagnose(0.0, &[1.0, 0.0]).is_none());
    }

    #[test]
    fn scientific_notation_and_constants_parse() {
        let sys = FormulaSystem::new(spec(&["x"], &["1.5e-3*x + PI + 2E+1"], &[])).unwrap();
        let mut out = [0.0];
        sys.rhs(0.0, &[1000.0], &mut out);
        assert!((out[0] - (1.5 + std::f64::consts::PI + 20.0)).abs() < 1e-12);
    }
}
