"""``python -m motip`` (also what ``torchrun -m motip train ...`` runs)."""

from motip.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
