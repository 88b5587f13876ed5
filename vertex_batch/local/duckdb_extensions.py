"""Install DuckDB's extensions from the ``duckdb-extension-*`` wheels, so DuckDB never downloads them."""

from __future__ import annotations

EXTENSIONS = ("icu", "ducklake", "spatial", "httpfs")


def install() -> None:
    """Copy the bundled extensions into DuckDB's extension folder (idempotent, well under a second)."""
    import duckdb
    import duckdb_extensions

    connection = duckdb.connect()
    try:
        for name in EXTENSIONS:
            duckdb_extensions.import_extension(name, con=connection)
    finally:
        connection.close()


if __name__ == "__main__":
    install()
