//! Unit tests of the passwd planner against temporary roots.
