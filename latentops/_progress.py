"""A rich progress bar that can be switched off (flows run headless under deployments)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


class _Bar:
    def __init__(self, progress: Progress | None, task_id: int | None) -> None:
        self._progress, self._task = progress, task_id

    def advance(self, n: int, description: str | None = None) -> None:
        """Advance the bar by ``n`` units, optionally replacing its description."""
        if self._progress is not None:
            self._progress.update(self._task, advance=n, description=description)


@contextmanager
def progress_bar(description: str, total: int, enabled: bool) -> Iterator[_Bar]:
    """Yield a bar with ``advance(n)``; a no-op when ``enabled`` is False."""
    if not enabled:
        yield _Bar(None, None)
        return
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, transient=False) as progress:
        yield _Bar(progress, progress.add_task(description, total=total))
