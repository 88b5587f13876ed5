"""Cost estimates from a small editable price table (``prices.csv``); batch jobs cost half of online."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

BATCH_DISCOUNT = 0.5
PRICES_FILE = Path(__file__).with_name("prices.csv")
CHARS_PER_TOKEN = 4.0


@dataclass(frozen=True)
class Price:
    """Online USD per 1M input and output tokens."""

    input_per_million: float
    output_per_million: float

    def batch_cost(self, input_tokens: int, output_tokens: int) -> float:
        online = (input_tokens * self.input_per_million + output_tokens * self.output_per_million) / 1e6
        return online * BATCH_DISCOUNT


def load_prices(path: Path = PRICES_FILE) -> dict[str, Price]:
    lines = [line for line in path.read_text().splitlines() if line and not line.startswith("#")]
    return {
        row["model"]: Price(float(row["input_per_million_usd"]), float(row["output_per_million_usd"]))
        for row in csv.DictReader(lines)
    }


def price_for(model: str, prices: dict[str, Price] | None = None) -> Price:
    """The price of ``model`` (``publishers/google/models/`` prefixes ignored), else the default row."""
    table = prices or load_prices()
    name = model.rsplit("/", 1)[-1]
    return table.get(name) or table["default"]


def estimate_input_tokens(request_bytes: int) -> int:
    """A rough token count from serialised request size (about 4 characters a token)."""
    return int(request_bytes / CHARS_PER_TOKEN)
