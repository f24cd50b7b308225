"""Evaluation: MOTChallenge files (mot_files), TrackEval metrics per class (metrics), val-set fingerprint check."""
