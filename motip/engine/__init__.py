"""Training and tracking engine: the train loop (train.py), optimiser and LR schedule (optim.py), run folders and
checkpoints (runs.py), the runtime tracker (tracking.py), per-epoch validation (validate.py), DDP setup (ddp.py).
See docs/training.md."""
