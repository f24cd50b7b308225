"""Datasets: the builder of training data from the original releases (``motip build``) and the training dataset."""
