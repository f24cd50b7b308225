"""Visual checks of training: the train.log dashboard (dashboard) and GT-vs-prediction videos (matching, render)."""
