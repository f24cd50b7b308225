"""The reliability drill: one test per guarantee of docs/reliability.md (README.md here)."""
