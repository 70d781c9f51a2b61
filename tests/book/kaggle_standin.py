"""A small stand-in for the Kaggle house-price files (section 4.10), same shape of columns.

The real files come from the book's server (tests have no network): these have an Id, numeric
columns with gaps, text (categorical) columns, and a SalePrice that depends on them.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

N_TEXT = 40


def write_standin(folder: Path, n_train: int = 300, n_test: int = 100, seed: int = 0) -> str:
    """Write the two CSV files into ``folder``; the JSON for ``SOFTREG_BOOK_KAGGLE``."""
    rng = np.random.default_rng(seed)
    n = n_train + n_test
    area = rng.normal(1500, 400, n).clip(400)
    rooms = rng.integers(2, 10, n)
    year = rng.integers(1900, 2010, n)
    frontage = rng.normal(70, 20, n).round(0)
    frontage[rng.random(n) < 0.15] = np.nan
    # text columns, as many as the real files have about, some values missing
    text = rng.choice(["a", "b", "c", "d", ""], size=(n, N_TEXT), p=[0.3, 0.3, 0.2, 0.15, 0.05])
    # a twentieth of the real prices' scale: the quick run's few Adam steps can reach it
    price = (1500 + 4.5 * area + 200 * rooms + 15 * (year - 1900)
             + np.where(text[:, 0] == "a", 1000, 0)) * np.exp(rng.normal(0, 0.1, n))
    header = ",".join(["Id", "LotArea", "Rooms", "YearBuilt", "LotFrontage",
                       *(f"Text{j}" for j in range(N_TEXT))])
    rows = [",".join([str(i + 1), f"{area[i]:.0f}", str(rooms[i]), str(year[i]),
                      "" if np.isnan(frontage[i]) else str(int(frontage[i])), *text[i]])
            for i in range(n)]
    folder.mkdir(parents=True, exist_ok=True)
    train = folder / "kaggle_house_pred_train.csv"
    test = folder / "kaggle_house_pred_test.csv"
    train.write_text("\n".join([header + ",SalePrice"]
                               + [f"{r},{price[i]:.0f}" for i, r in enumerate(rows[:n_train])])
                     + "\n")
    test.write_text("\n".join([header, *rows[n_train:]]) + "\n")
    hub = {name: (path.as_uri(), hashlib.sha1(path.read_bytes()).hexdigest())
           for name, path in (("kaggle_house_train", train), ("kaggle_house_test", test))}
    return json.dumps(hub)
