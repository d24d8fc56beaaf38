"""Name -> function tables for what a task file names: answer extractors (`extraction`), per-answer metrics
(`metrics`) and data layouts (`dataset.reader`). A new one is one decorated function in one place; the task spec
validates names against these tables, so its error messages list exactly what exists."""

from __future__ import annotations

from typing import Callable, Generic, Iterator, TypeVar

from harness.errors import did_you_mean

F = TypeVar("F", bound=Callable[..., object])


class Registry(Generic[F]):
    """Functions by name, for one task-file field (`field` is how errors name it)."""

    def __init__(self, field: str) -> None:
        self.field = field
        self._table: dict[str, F] = {}

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: `@EXTRACTORS.register("choice")`. A name is registered once (a second is a programming error)."""

        def add(fn: F) -> F:
            if name in self._table:
                raise ValueError(f"{self.field} {name!r} is registered twice")
            self._table[name] = fn
            return fn

        return add

    def __getitem__(self, name: str) -> F:
        try:
            return self._table[name]
        except KeyError:
            raise ValueError(self.unknown(name)) from None

    def __contains__(self, name: object) -> bool:
        return name in self._table

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._table))

    def unknown(self, name: str, also: tuple[str, ...] = ()) -> str:
        """The one-line message for a name that is not here: what exists, or the close match."""
        known = [*self, *also]
        return f"unknown {self.field} '{name}'" + (did_you_mean(name, known) or f"; known: {', '.join(sorted(known))}")
