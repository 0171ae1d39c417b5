"""A strict registry of model families: `register`, `get`, `names`.

Families register themselves by decorator when `models` imports their module by name; nothing is
discovered by scanning files. A duplicate or an unknown name raises, listing the names it knows.
"""

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
