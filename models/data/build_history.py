"""Extract the historical tables the validation uses from the raw research files.

Run from the repository with the project's shared data beside it:
    python models/data/build_history.py ../shared/data/raw
It writes models/data/history/*.csv: only the columns and rows the hindcast and calibration
read (defence pacts with their stated term and renewal period, their member spells, threat
scores since 1940), not the full ATOP files
(model.md asks not to redistribute them; SOURCES.md cites them).
"""

import csv
import sys
from pathlib import Path

OUT = Path(__file__).parent / "history"


def main(raw: Path) -> None:
    OUT.mkdir(exist_ok=True)
    alliances = list(csv.DictReader(open(raw / "atop-alliance-level.csv", encoding="utf-8")))
    keep = {r["atopid"] for r in alliances if r["defense"] == "1"}
    with open(OUT / "atop_defence_pacts.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["atopid", "begyr", "endyr", "bilat", "length", "renewlgt"])
        for r in alliances:
            if r["atopid"] in keep:
                terms = [r["length"] or "0", r["renewlgt"] or "0"]  # months, 0: none stated
                w.writerow([r["atopid"], r["begyr"], r["endyr"], r["bilat"], *terms])
    with open(OUT / "atop_pact_members.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["atopid", "member", "yrent", "yrexit", "phase"])
        for r in csv.DictReader(open(raw / "atop-member-level.csv", encoding="utf-8")):
            if r["atopid"] in keep:
                w.writerow([r["atopid"], r["member"], r["yrent"], r["yrexit"], r["phase"]])
    with open(OUT / "leeds_savun_threat.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["ccode", "year", "lsthreat"])
        for r in csv.DictReader(open(raw / "leeds-savun-threat.csv", encoding="utf-8")):
            if r["ccode"] and int(r["year"]) >= 1940 and r["lsthreat"] not in ("", "."):
                w.writerow([r["ccode"], r["year"], r["lsthreat"]])
    print("wrote", *sorted(p.name for p in OUT.glob("*.csv")))


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "../shared/data/raw"))
