"""Experiment CLIs: ``python -m experiments.<name> --help``."""
