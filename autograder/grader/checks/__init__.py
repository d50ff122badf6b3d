"""Hidden checks: hand-written oracles, random cases and likely-mistake generators (grader only)."""
