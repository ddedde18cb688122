//! The spec: its parser under fuzzing, and presets finding what they run.

mod fuzz;
mod preset_locate;
