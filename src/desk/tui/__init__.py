"""The full-screen desk an agent works in all day (Textual). Uses the core; computes nothing."""
