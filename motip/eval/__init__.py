"""Evaluation: TrackEval metrics per class (metrics), val-set fingerprint check. The MOTChallenge files are read and
written by ``motip.data.mot_files`` (the data layer owns the dataset format)."""

# Defaults shared by `motip eval` (argparse must not import the metrics module: numpy, scipy) and motip.eval.metrics.
IGNORE_COVER = 0.5  # an unmatched tracker box at least this fraction inside an ignore box is dropped
MAX_DENSE_BYTES = 1 << 30  # 1 GiB per dense metric matrix set
