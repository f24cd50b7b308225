"""End-to-end tests (marked slow, still run in CI): the whole demo pipeline, full tiny trainings, and DDP."""
