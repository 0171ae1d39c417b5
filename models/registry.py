"""A strict registry of model families: `register`, `get`, `names`.

Families register themselves by decorator when `models` imports their module by name; nothing is
discovered by scanning files. A duplicate or an unknown name raises, listing the names it knows.
`registered` is for tests that define a family of their own: it is there for the block only.
"""
from collections.abc import Iterator
from contextlib import contextmanager

_FAMILIES: dict[str, type] = {}


def register(name: str):
    """Class decorator: `@register("classifier")` makes the class reachable as `get("classifier")`."""

    def decorate(cls: type) -> type:
        if name in _FAMILIES:
            raise ValueError(f"model family {name!r} is registered twice ({_FAMILIES[name].__name__} and {cls.__name__})")
        cls.family = name
        _FAMILIES[name] = cls
        return cls

    return decorate


def get(name: str) -> type:
    if name not in _FAMILIES:
        raise KeyError(f"unknown model family {name!r}; known families: {', '.join(names()) or '(none)'}")
    return _FAMILIES[name]


def names() -> list[str]:
    return sorted(_FAMILIES)


@contextmanager
def registered(name: str, cls: type) -> Iterator[type]:
    """Register `cls` as `name` within the block, then remove it. For tests only (tests/test_new_family.py): a
    family defined inside a test must not outlive it, or a later test that goes over `names()` would meet a
    family with no tiny config (tests/test_models.py's test_every_family_has_a_tiny_config)."""
    register(name)(cls)
    try:
        yield cls
    finally:
        del _FAMILIES[name]
