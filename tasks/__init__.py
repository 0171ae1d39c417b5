"""The tasks a model family trains by (see tasks/base.py for the `Task` and its labelled-image default)."""
