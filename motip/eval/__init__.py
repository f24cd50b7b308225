"""Evaluation: TrackEval metrics per class (metrics), val-set fingerprint check. The MOTChallenge files are read and
written by ``motip.data.mot_files`` (the data layer owns the dataset format)."""
