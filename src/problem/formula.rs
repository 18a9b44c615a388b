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

/// Longest expression accepted, in characters. exmex's parser is superlinear in the number of
/// terms (a 200 000-term formula took 25 s), and no hand-typed right-hand side comes near this.
pub const MAX_FORMULA_CHARS: usize = 10_000;

/// Functions of two arguments, written `name(a, b)`; every other function takes one.
const BINARY_FUNCTIONS: &[&str] = &["atan2", "min", "max"];

/// Characters of context shown on each side of an error in a long formula.
const EXCERPT_CONTEXT: usize = 30;

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

/// The part of `text` around characters `[start, end)`: at most [`EXCERPT_CONTEXT`] characters
/// each side, `…` where cut. Returns the excerpt and where `start` falls in it (characters).
fn excerpt(text: &str, start: usize, end: usize) -> (String, usize) {
    let chars: Vec<char> = text.chars().collect();
    let from = start.saturating_sub(EXCERPT_CONTEXT);
    let to = (end + EXCERPT_CONTEXT).min(chars.len());
    let mut out = String::new();
    let mut offset = start - from;
    if from > 0 {
        out.push('…');
        offset += 1;
    }
    out.extend(&chars[from..to.max(from)]);
    if to < chars.len() {
        out.push('…');
    }
    (out, offset)
}

impl fmt::Display for FormulaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.component, self.span) {
            (Some(c), Some((start, end))) => {
                // Never the whole formula: a long one would fill the screen.
                let (shown, at) = excerpt(&self.text, start, end.min(start + EXCERPT_CONTEXT));
                let width = (end - start).clamp(1, EXCERPT_CONTEXT);
                write!(
                    f,
                    "formula {} column {}: {}\n  {}\n  {}{}",
                    c + 1,
                    start + 1,
                    self.message,
                    shown,
                    " ".repeat(at),
                    "^".repeat(width)
                )
            }
            (Some(c), None) => {
                let (shown, _) = excerpt(&self.text, 0, 0);
                write!(f, "formula {}: {}: {}", c + 1, self.message, shown)
            }
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

/// An open parenthesis: where, and the function it calls (name and span) with its commas so far.
struct Open {
    at: usize,
    function: Option<(String, usize, usize)>,
    commas: usize,
}

/// Checks the parenthesis `open` closed at `close`: a function's arguments are present and as
/// many as it takes. Returns the span and message of a problem.
fn check_close(open: Open, chars: &[char], close: usize) -> Option<(usize, usize, String)> {
    let empty = chars[open.at + 1..close].iter().all(|c| c.is_whitespace());
    let Some((name, s, e)) = open.function else {
        return empty.then(|| (open.at, close + 1, "empty parentheses".to_string()));
    };
    let binary = BINARY_FUNCTIONS.contains(&name.as_str());
    let usage = if binary {
        format!("{name}(a, b)")
    } else {
        format!("{name}(x)")
    };
    if empty {
        return Some((s, e, format!("{name} needs an argument: {usage}")));
    }
    (binary && open.commas == 0).then(|| {
        (
            s,
            e,
            format!("{name} takes two arguments separated by a comma: {usage}"),
        )
    })
}

/// Checks a comma at `at` inside the innermost open parenthesis: only the two-argument
/// functions take one, and only one.
fn check_comma(open: Option<&mut Open>, at: usize) -> Option<(usize, usize, String)> {
    match open {
        Some(Open {
            function: Some((name, s, e)),
            commas,
            ..
        }) => {
            *commas += 1;
            let binary = BINARY_FUNCTIONS.contains(&name.as_str());
            if binary && *commas == 1 {
                None
            } else if binary {
                Some((*s, *e, format!("{name} takes two arguments: {name}(a, b)")))
            } else {
                Some((
                    *s,
                    *e,
                    format!(
                        "{name} takes one argument: {name}(x) (only {} take two)",
                        BINARY_FUNCTIONS.join(", ")
                    ),
                ))
            }
        }
        _ => Some((
            at,
            at + 1,
            format!(
                "a comma only separates the two arguments of {}",
                BINARY_FUNCTIONS.join(", ")
            ),
        )),
    }
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
    let n_chars = chars.len();
    if n_chars > MAX_FORMULA_CHARS {
        return Err(FormulaError {
            component: Some(component),
            text: text.to_string(),
            span: None,
            message: format!(
                "the expression is {n_chars} characters long; the limit is {MAX_FORMULA_CHARS}"
            ),
        });
    }
    let mut depth: Vec<Open> = Vec::new();
    let mut pending_function: Option<(String, usize, usize)> = None;
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
                pending_function = Some((name, start, i));
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
            '(' => depth.push(Open {
                at: i,
                function: pending_function.take(),
                commas: 0,
            }),
            ')' => {
                let Some(open) = depth.pop() else {
                    return Err(err(i, i + 1, "this ')' has no matching '('".into()));
                };
                if let Some((s, e, message)) = check_close(open, &chars, i) {
                    return Err(err(s, e, message));
                }
            }
            ',' => {
                if let Some((s, e, message)) = check_comma(depth.last_mut(), i) {
                    return Err(err(s, e, message));
                }
            }
            '+' | '-' | '*' | '/' | '^' => {}
            c if c.is_whitespace() => {}
            other => {
                return Err(err(i, i + 1, format!("unexpected character '{other}'")));
            }
        }
        i += 1;
    }
    if let Some(open) = depth.pop() {
        return Err(err(open.at, open.at + 1, "this '(' is never closed".into()));
    }
    Ok(())
}

/// Checks that operators and operands alternate (`x * * y`, `x +`, `2 x`, `* x` are refused
/// here with their column, instead of by exmex in words about its internals). Runs after
/// [`lex_check`], so every name and number is valid.
fn sequence_check(component: usize, text: &str) -> Result<(), FormulaError> {
    #[derive(Clone, Copy, PartialEq)]
    enum Prev {
        /// Start of the expression, `(` or `,`: a value (or a unary sign) must follow.
        Start,
        /// A number, a name or `)`.
        Value,
        /// A function name: `(` follows (lex_check made sure).
        Function,
        /// An operator.
        Operator,
    }
    let err = |start: usize, end: usize, message: String| FormulaError {
        component: Some(component),
        text: text.to_string(),
        span: Some((start, end)),
        message,
    };
    let chars: Vec<char> = text.chars().collect();
    let mut prev = Prev::Start;
    let mut last_op = (0, ' ');
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if is_name_start(c) || c.is_ascii_digit() || c == '.' {
            let is_name = is_name_start(c);
            if is_name {
                while i < chars.len() && is_name_char(chars[i]) {
                    i += 1;
                }
            } else {
                while i < chars.len() && (chars[i].is_ascii_digit() || chars[i] == '.') {
                    i += 1;
                }
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
            }
            if prev == Prev::Value {
                let word: String = chars[start..i].iter().collect();
                return Err(err(
                    start,
                    i,
                    format!("missing an operator before '{word}' (write 2*x, not 2 x)"),
                ));
            }
            let name: String = chars[start..i].iter().collect();
            prev = if is_name && FUNCTIONS.contains(&name.as_str()) {
                Prev::Function
            } else {
                Prev::Value
            };
            continue;
        }
        match c {
            '(' => {
                if prev == Prev::Value {
                    return Err(err(
                        i,
                        i + 1,
                        "missing an operator before '(' (write 2*(x + 1))".into(),
                    ));
                }
                prev = Prev::Start;
            }
            ')' | ',' => {
                if prev == Prev::Operator {
                    let (at, op) = last_op;
                    return Err(err(
                        at,
                        at + 1,
                        format!("'{op}' needs a value on its right"),
                    ));
                }
                prev = if c == ')' { Prev::Value } else { Prev::Start };
            }
            '+' | '-' => {
                // Also unary: `-x`, `x * -y`.
                prev = Prev::Operator;
                last_op = (i, c);
            }
            '*' | '/' | '^' => {
                if prev != Prev::Value {
                    return Err(err(i, i + 1, format!("'{c}' needs a value on its left")));
                }
                prev = Prev::Operator;
                last_op = (i, c);
            }
            _ => {}
        }
        i += 1;
    }
    if prev == Prev::Operator {
        let (at, op) = last_op;
        return Err(err(
            at,
            at + 1,
            format!("'{op}' needs a value on its right"),
        ));
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
            sequence_check(c, text)?;
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
    fn arity_and_operators_are_checked_before_exmex() {
        let cases = [
            ("atan2(x)", "atan2 takes two arguments", (0, 5)),
            ("sin(x, t)", "sin takes one argument", (0, 3)),
            ("1 + max(x, x, x)", "max takes two arguments", (4, 7)),
            ("x * * x", "'*' needs a value on its left", (4, 5)),
            ("x +", "'+' needs a value on its right", (2, 3)),
            ("2 x", "missing an operator", (2, 3)),
            ("x, x", "a comma only separates", (1, 2)),
            ("cos()", "cos needs an argument", (0, 3)),
        ];
        for (text, message, span) in cases {
            let err = FormulaSystem::new(spec(&["x"], &[text], &[])).unwrap_err();
            assert!(err.message.contains(message), "{text}: {err}");
            assert_eq!(err.span, Some(span), "{text}: {err}");
        }
        // Valid uses stay valid.
        for ok in [
            "atan2(x, 1)",
            "min(x, 2) + max(1, x)",
            "-x^2 * -3",
            "x * (-x)",
            "sin(cos(x))",
        ] {
            FormulaSystem::new(spec(&["x"], &[ok], &[])).unwrap_or_else(|e| panic!("{ok}: {e}"));
        }
    }

    #[test]
    fn long_formulas_are_capped_and_errors_show_an_excerpt() {
        let long = format!("{} + q", vec!["x"; 3000].join(" + "));
        let err = FormulaSystem::new(spec(&["x"], &[long.as_str()], &[])).unwrap_err();
        assert!(err.message.contains("characters long"), "{}", err.message);
        let medium = format!("{} + q", vec!["x"; 1000].join(" + "));
        let err = FormulaSystem::new(spec(&["x"], &[medium.as_str()], &[])).unwrap_err();
        let shown = err.to_string();
        assert!(shown.contains("unknown name 'q'"), "{shown}");
        assert!(shown.len() < 300, "{} bytes: {shown}", shown.len());
        // The caret still points at q in the excerpt.
        let lines: Vec<&str> = shown.lines().collect();
        let caret = lines[2].find('^').unwrap();
        assert_eq!(lines[1].chars().nth(caret), Some('q'), "{shown}");
    }

    #[test]
    fn scientific_notation_and_constants_parse() {
        let sys = FormulaSystem::new(spec(&["x"], &["1.5e-3*x + PI + 2E+1"], &[])).unwrap();
        let mut out = [0.0];
        sys.rhs(0.0, &[1000.0], &mut out);
        assert!((out[0] - (1.5 + std::f64::consts::PI + 20.0)).abs() < 1e-12);
    }
}
