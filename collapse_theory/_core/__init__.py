"""Private infrastructure shared by every part: input checks, float64 scope, strict JSON, atomic files,
compilation and exported-program caches, exact spec numbers, the jaxopt bridge and the version."""

__all__: list[str] = []
