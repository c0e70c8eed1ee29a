"""Print the README's conformance table: one row per OCA test case, from the tests in
tests/conformance (their docstrings name "TC_… — title") and tests/conformance/catalogue.py.

    .venv/bin/python tools/conformance_table.py > /tmp/table.md

A case is "pass" when a test names it: CI runs them all, so a failing case fails the build.
"""

import ast
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.conformance.catalogue import NOT_COVERED  # noqa: E402

FILES = {"1.6": ROOT / "tests/conformance/test_ocpp16.py", "2.0.1": ROOT / "tests/conformance/test_ocpp201.py"}
CASE = re.compile(r"(TC_[A-Z0-9_]+?_CSMS) — (.+?)(?=;\s*TC_|\.\s|\.$|;$|:\s|$)", re.S)


def tested(version: str) -> dict[str, tuple[str, str]]:
    """id -> (title, test function) for every case a test's docstring names."""
    cases = {}
    tree = ast.parse(FILES[version].read_text())
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)) and node.name.startswith("test_"):
            doc = " ".join((ast.get_docstring(node) or "").split())
            for case_id, title in CASE.findall(doc):
                cases[case_id] = (title.strip(), node.name)
    return cases


def order(case_id: str) -> tuple:
    return tuple(int(p) if p.isdigit() else p for p in case_id.split("_"))


def main() -> None:
    for version in ("1.6", "2.0.1"):
        rows = {case_id: (title, "pass", f"`{test}`") for case_id, (title, test) in tested(version).items()}
        for v, case_id, title, status, reason in NOT_COVERED:
            if v == version:
                assert case_id not in rows, f"{case_id} is tested and listed as not covered"
                rows[case_id] = (title, status, reason)
        passed = sum(1 for row in rows.values() if row[1] == "pass")
        print(f"**OCPP {version}** — {passed} of {len(rows)} test cases pass\n")
        print("| test case | title | status | test / reason |")
        print("|---|---|---|---|")
        for case_id in sorted(rows, key=order):
            title, status, note = rows[case_id]
            print(f"| {case_id} | {title} | {status} | {note} |")
        print()


if __name__ == "__main__":
    main()
