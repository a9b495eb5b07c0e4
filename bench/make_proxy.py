"""A project-sized data set from BANKING77-OOS, for timing the project's config.

20 training examples for each of the 50 in-scope intents (1,000 in all); every
fifth intent (sorted by name) becomes a retrieval intent ``faq/<name>``, so a
config with ResponseSelector (retrieval_intent: faq) has work to do. The test
set is the full in-scope test set with the same labels.

    python -m bench.make_proxy --out /tmp/proxy
"""

from __future__ import annotations

import argparse
import csv
import random
from collections import defaultdict
from pathlib import Path
from typing import Dict, List


def main() -> None:
    """Writes train.csv and test.csv."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--src", type=Path, default=Path("../shared/data/banking77_oos"))
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--per-intent", type=int, default=20)
    a = p.parse_args()
    random.seed(0)

    def rows(name: str) -> List[List[str]]:
        with open(a.src / name, newline="", encoding="utf-8") as f:
            return list(csv.reader(f))[1:]

    train, test = rows("train.csv"), rows("test.csv")
    intents = sorted({r[1] for r in train})
    faq = set(intents[::5])

    def label(y: str) -> str:
        return f"faq/{y}" if y in faq else y

    by_intent: Dict[str, List[str]] = defaultdict(list)
    for text, y in train:
        by_intent[y].append(text)
    picked = [(t, label(y)) for y in intents for t in random.sample(by_intent[y], a.per_intent)]
    a.out.mkdir(parents=True, exist_ok=True)
    for name, data in (("train.csv", picked), ("test.csv", [(t, label(y)) for t, y in test])):
        with open(a.out / name, "w", newline="", encoding="utf-8") as f:
            w = csv.writer(f)
            w.writerow(["text", "label"])
            w.writerows(data)


if __name__ == "__main__":
    main()
