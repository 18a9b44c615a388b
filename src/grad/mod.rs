//! Gradient methods for neural ODEs, measured side by side (CPU, f64 reference path).
