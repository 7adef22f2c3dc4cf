"""One solver: the status of an answer, the solution object, certificates, and the back ends
(symmetric interior point, gap-coordinate Newton, active set, linear program) that compute it."""

__all__: list[str] = []
