"""Plain helper functions the tests call directly (`from tests.helpers.tui import make_run`); fixtures live in
conftest.py."""
