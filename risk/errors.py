"""Errors of the risk package that callers catch without importing scikit-learn."""


class ModelError(ValueError):
    """Training data or a model file that cannot be used; the message says why."""
