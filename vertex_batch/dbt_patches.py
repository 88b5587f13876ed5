"""A patch of dbt-common that keeps dbt's adapter set-up cheap in a process that has loaded many modules."""

from __future__ import annotations

import sys


def cheap_behavior_flag_source() -> None:
    """Make dbt's adapter set-up cheap again. dbt-common (1.39.0, the newest) names the module that declared
    each behavior flag with ``inspect.stack()`` and ``inspect.getmodule`` for every frame, evaluated even when
    the flag names its source; ``getmodule`` scans ``sys.modules``, so the cost grows with every module
    loaded (aiplatform brings thousands): 0.07-0.28 s a flag, several flags each time dbt registers its
    adapter (every invocation). The replacement returns the same name, read from the frames' globals."""
    from dbt_common import behavior_flags

    rendered = behavior_flags.BehaviorFlagRendered
    if getattr(rendered, "_vertex_batch_cheap_source", False):
        return

    def default_source() -> str:
        frame = sys._getframe(1)
        while frame is not None:
            name = frame.f_globals.get("__name__")
            if name and name != behavior_flags.__name__:
                return name
            frame = frame.f_back
        return "Unknown"

    rendered._default_source = staticmethod(default_source)  # type: ignore[method-assign]
    rendered._vertex_batch_cheap_source = True  # type: ignore[attr-defined]
