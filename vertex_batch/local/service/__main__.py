"""Command line of the local batch-prediction service: ``python -m vertex_batch.local.service --port P …``.

The flags, their ``VERTEX_LOCAL_*`` environment variables and defaults are ``config.ServiceConfig``'s fields.
"""

from __future__ import annotations

import logging
import sys

from pydantic import ValidationError

from vertex_batch.local.service.config import ENV_PREFIX, PROGRAM, settings_from_command_line


def one_line(error: ValidationError) -> str:
    """A settings error as one line naming the flag and its variable: ``--chunk-rows (VERTEX_LOCAL_CHUNK_ROWS):
    Input should be greater than or equal to 1``."""
    names = ["_".join(map(str, problem["loc"])) for problem in error.errors()]
    problems = [
        f"--{name.replace('_', '-')} ({ENV_PREFIX}{name.upper()}): {problem['msg']}"
        for name, problem in zip(names, error.errors(), strict=True)
    ]
    return f"{PROGRAM}: {'; '.join(problems)}"


def main(argv: list[str] | None = None) -> None:
    """Parse the command line and serve until stopped."""
    try:
        config = settings_from_command_line(sys.argv[1:] if argv is None else argv)
    except ValidationError as error:
        raise SystemExit(one_line(error)) from None
    import uvicorn

    from vertex_batch.local.service.app import create_app

    logging.basicConfig(level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    uvicorn.run(
        create_app(config),
        host=config.host,
        port=config.port,
        log_level="warning",
        timeout_graceful_shutdown=5,
    )


if __name__ == "__main__":
    main()
