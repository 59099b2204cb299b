"""Engine: models, backbones, readouts, the learner, precision and training observers.
"""
