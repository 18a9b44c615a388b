//! stub
use super::batch::Group;
use super::tableau::Tableau;
use super::{GradError, GradOptions, GradOutput};
pub enum Scheme {
    Alf,
    Heun,
    Lambda(Tableau),
}
pub fn gradient(_g: &Group<'_>, _s: Scheme, _o: &GradOptions) -> Result<GradOutput, GradError> {
    Err(GradError::Invalid("not yet".into()))
}
