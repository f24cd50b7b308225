"""motip: the training core of the MOTIP control center.

Layers (see docs/architecture.md): config -> data (build) -> model -> engine (train/track) -> eval,
with train.log (``motip.trainlog``) as the contract between training and everything that watches it.
"""

__version__ = "0.1.0"
