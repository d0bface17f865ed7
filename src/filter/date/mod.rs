//! Date detection: strptime-style field codes, date templates, and the
//! detector that picks a template for each line.

pub mod detector;
mod memo;
mod quick;
pub mod strptime;
pub mod template;

pub use detector::{DateDetector, DateMatch, DefaultTemplates};
pub use template::{DatePatternError, DateTemplate};
