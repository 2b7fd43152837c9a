#!/usr/bin/env python3
"""Builds COMPATIBILITY.md from the compatibility suites' results.

    generate.py [--results DIR] [--output FILE] [--check]
        Reads tests/compat/matrix/scenarios.toml and the JUnit XML files in DIR
        (default: ${IVSCHAT_RESULTS_DIR:-${IVSCHAT_CACHE:-~/.cache/ivschat-server}/compat-results}),
        writes FILE (default: COMPATIBILITY.md at the repository root). --check: write nothing,
        fail if FILE is not what would be written.
        Exit status 1 when a mapped test failed, was skipped, did not run or does not exist, when a
        scenario does not account for every client, or (--check) when FILE is stale; the file
        is still written (with FAILED / not run cells) so that the problem is visible.

    generate.py junit-from-libtest OUT.xml BINARY=LOG [BINARY=LOG ...]
        Converts `cargo test` (libtest) output into JUnit XML (test ids "BINARY::name").

    generate.py junit-from-gotest OUT.xml LOG
        Converts `go test -json` output into JUnit XML (test ids: the test's name, subtests
        "Parent/sub"), and prints the output of every failed test.

Only the standard library (Python 3.11: tomllib).
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import os
import re
import sys
import tomllib
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import quoteattr

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent.parent

PASS, FAIL, SKIP = "pass", "fail", "skip"


# ----------------------------------------------------------------------------- results


def read_junit(path: Path) -> dict[str, str]:
    """Test id -> pass/fail/skip for one JUnit XML file (pytest, node --test, QtTest, ours)."""
    root = ET.parse(path).getroot()
    cases = list(root.iter("testcase"))
    qt_style = any("result" in tc.attrib for tc in cases)
    out: dict[str, str] = {}
    for tc in cases:
        name = tc.get("name", "")
        classname = tc.get("classname", "")
        # pytest: "<module>::<name>"; ours (rust): "<binary>::<name>"; node/Qt: the name alone.
        test_id = f"{classname}::{name}" if classname and classname != "test" else name
        children = {child.tag for child in tc}
        if children & {"failure", "error"}:
            status = FAIL
        elif "skipped" in children:
            status = SKIP
        elif qt_style:
            # QtTest (5.15) marks passes with result="pass"; a skip has no result attribute.
            result = tc.get("result")
            status = PASS if result == "pass" else FAIL if result in ("fail", "xpass") else SKIP
        else:
            status = PASS
        if test_id in out and out[test_id] != status:
            status = FAIL if FAIL in (status, out[test_id]) else SKIP
        out[test_id] = status
    return out


def junit_from_libtest(out_path: Path, pairs: list[str]) -> int:
    line_re = re.compile(r"^test (\S+) \.\.\. (ok|FAILED|ignored)\b")
    cases = []
    for pair in pairs:
        binary, _, log = pair.partition("=")
        text = Path(log).read_text(encoding="utf-8", errors="replace")
        for line in text.splitlines():
            m = line_re.match(line.strip())
            if m:
                cases.append((binary, m.group(1), m.group(2)))
    with open(out_path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="cargo test">\n')
        for binary, name, outcome in cases:
            attrs = f"classname={quoteattr(binary)} name={quoteattr(name)}"
            if outcome == "ok":
                f.write(f"  <testcase {attrs}/>\n")
            elif outcome == "ignored":
                f.write(f"  <testcase {attrs}><skipped/></testcase>\n")
            else:
                f.write(f'  <testcase {attrs}><failure message="FAILED"/></testcase>\n')
        f.write("</testsuite>\n")
    print(f"junit-from-libtest: {len(cases)} tests -> {out_path}", file=sys.stderr)
    return 0 if cases else 1


def junit_from_gotest(out_path: Path, log: Path) -> int:
    outcomes: dict[str, str] = {}
    output: dict[str, list[str]] = {}
    build_output: list[str] = []
    for line in log.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            build_output.append(line)  # compiler errors are not JSON
            continue
        test = event.get("Test")
        action = event.get("Action")
        if not test:
            if action == "output":
                build_output.append(event.get("Output", "").rstrip("\n"))
            continue
        if action == "output":
            output.setdefault(test, []).append(event.get("Output", ""))
        elif action in ("pass", "fail", "skip"):
            outcomes[test] = action
    with open(out_path, "w", encoding="utf-8") as f:
        f.write('<?xml version="1.0" encoding="UTF-8"?>\n<testsuite name="go test">\n')
        for name, outcome in outcomes.items():
            attrs = f"name={quoteattr(name)}"
            if outcome == "pass":
                f.write(f"  <testcase {attrs}/>\n")
            elif outcome == "skip":
                f.write(f"  <testcase {attrs}><skipped/></testcase>\n")
            else:
                f.write(f'  <testcase {attrs}><failure message="FAILED"/></testcase>\n')
                print(f"--- FAIL: {name}\n{''.join(output.get(name, []))}", file=sys.stderr)
        f.write("</testsuite>\n")
    failed = sum(1 for o in outcomes.values() if o == "fail")
    print(f"junit-from-gotest: {len(outcomes)} tests, {failed} failed -> {out_path}", file=sys.stderr)
    if not outcomes:
        print("\n".join(build_output[-40:]), file=sys.stderr)
    return 0 if outcomes and not failed else 1


# ----------------------------------------------------------------------------- versions


def pypi_pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        m = re.match(r"^\s*([A-Za-z0-9_.\-\[\]]+)==([^\s#]+)", line)
        if m:
            pins[re.sub(r"\[.*\]", "", m.group(1)).lower()] = m.group(2)
    return pins


def npm_locked(path: Path, name: str) -> str:
    lock = json.loads(path.read_text())
    return lock["packages"][f"node_modules/{name}"]["version"]


def cargo_locked(name: str) -> str:
    lock = tomllib.loads((REPO / "Cargo.lock").read_text())
    versions = sorted({p["version"] for p in lock["package"] if p["name"] == name})
    return ", ".join(versions)


def maven_pinned(name: str) -> str:
    """The version tests/compat/java/pom.xml pins for `group:artifact` (a property named in
    its <version>, or the BOM's for software.amazon.awssdk artifacts)."""
    pom = ET.parse(REPO / "tests/compat/java/pom.xml").getroot()
    ns = {"m": "http://maven.apache.org/POM/4.0.0"}
    props = {child.tag.split("}")[1]: (child.text or "") for child in pom.find("m:properties", ns)}
    group, artifact = name.split(":")
    for dep in pom.iterfind(".//m:dependency", ns):
        if dep.findtext("m:groupId", namespaces=ns) == group and dep.findtext("m:artifactId", namespaces=ns) in (artifact, "bom"):
            version = dep.findtext("m:version", namespaces=ns)
            if version:
                return re.sub(r"\$\{([^}]+)\}", lambda m: props[m.group(1)], version)
    raise KeyError(f"{name} is not pinned in tests/compat/java/pom.xml")


def go_required(module: str) -> str:
    text = (REPO / "tests/compat/go/go.mod").read_text()
    m = re.search(rf"^\s*(?:require\s+)?{re.escape(module)}\s+(v\S+)", text, re.M)
    if not m:
        raise KeyError(f"{module} is not required in tests/compat/go/go.mod")
    return m.group(1)


def client_version(spec: dict, environment: dict) -> str:
    parts = []
    for name in spec.get("pypi", []):
        parts.append(f"{name} {pypi_pins(REPO / 'tests/compat/python/requirements.txt')[name]}")
    for name in spec.get("npm", []):
        parts.append(f"{name} {npm_locked(REPO / 'tests/compat/node/package-lock.json', name)}")
    for name in spec.get("cargo", []):
        parts.append(f"{name} {cargo_locked(name)}")
    for name in spec.get("maven", []):
        parts.append(f"{name} {maven_pinned(name)}")
    for name in spec.get("go", []):
        parts.append(f"{name} {go_required(name)}")
    if spec.get("generator"):
        pin = pypi_pins(REPO / "tests/compat/openapi/requirements.txt")["openapi-generator-cli"]
        parts.append(f"openapi-generator-cli {pin}")
    for name in spec.get("npm-openapi", []):
        parts.append(f"{name} {npm_locked(REPO / 'tests/compat/openapi/js/package-lock.json', name)}")
    if spec.get("qt"):
        parts.append(f"Qt {environment.get('qt', '?')} (Debian qtbase5-dev)")
    return ", ".join(parts)


# ----------------------------------------------------------------------------- the matrix


@dataclass
class Cell:
    kind: str  # works | limit | na | gap | failed | notrun
    note: str | None = None
    detail: list[str] = field(default_factory=list)  # problems, for the console


def evaluate(globs: list[str], results: dict[str, str]) -> tuple[str, list[str]]:
    """(pass|fail|notrun, problems) for a list of test-id globs over one client's results."""
    problems = []
    worst = PASS
    for pattern in globs:
        matched = [t for t in results if fnmatch.fnmatchcase(t, pattern)]
        if not matched:
            problems.append(f"no test matches {pattern!r}")
            worst = "notrun" if worst == PASS else worst
            continue
        for t in matched:
            if results[t] == FAIL:
                problems.append(f"{t!r} failed")
                worst = FAIL
            elif results[t] == SKIP:
                problems.append(f"{t!r} was skipped")
                worst = "notrun" if worst == PASS else worst
    return worst, problems


class Footnotes:
    def __init__(self):
        self.items: list[str] = []

    def ref(self, text: str) -> int:
        text = " ".join(text.split())
        if text not in self.items:
            self.items.append(text)
        return self.items.index(text) + 1


def render_cell(cell: Cell, notes: Footnotes) -> str:
    mark = {
        "works": "✅ works",
        "limit": "⚠️ limit",
        "na": "n/a",
        "gap": "—",
        "failed": "❌ FAILED",
        "notrun": "❓ not run",
    }[cell.kind]
    if cell.note:
        mark += f" [{notes.ref(cell.note)}]"
    return mark


def build(config: dict, results_dir: Path) -> tuple[str, list[str]]:
    errors: list[str] = []
    environment = {}
    env_file = results_dir / "openapi-environment.json"
    if env_file.exists():
        environment = json.loads(env_file.read_text())

    files: dict[str, dict[str, str] | None] = {}

    def results_of(names: list[str]) -> dict[str, str]:
        merged: dict[str, str] = {}
        for name in names:
            if name not in files:
                path = results_dir / name
                files[name] = read_junit(path) if path.exists() else None
                if files[name] is None:
                    errors.append(f"results file {path} is missing (run scripts/test.sh)")
            merged.update(files[name] or {})
        return merged

    clients = config["clients"]
    client_results = {c["id"]: results_of(c["results"]) for c in clients}
    # A client whose results file is missing: one error (above), not one per cell.
    missing = {c["id"] for c in clients if any(files.get(n) is None for n in c["results"])}
    notes = Footnotes()
    lines: list[str] = []
    out = lines.append

    out("# Client compatibility")
    out("")
    out("<!-- Generated by tests/compat/matrix/generate.py from the suites' results; do not edit. -->")
    out("")
    out("Which clients work with `ivschat-server`, scenario by scenario. **Generated** by")
    out("`tests/compat/matrix/generate.py` from the JUnit results of the compatibility suites that")
    out("`bash scripts/test.sh` runs against one server; the scenario list and the tests behind every")
    out("cell are in `tests/compat/matrix/scenarios.toml`. A cell says **works** only when every test")
    out("mapped to it passed, and each of those tests asserts on that operation's result; a **limit**")
    out("is backed by tests that assert the limit (and the work-around, where there is one).")
    out("")
    out("## Clients")
    out("")
    out("| client | versions | suite |")
    out("|---|---|---|")
    for c in clients:
        out(f"| {c['name']} | {client_version(c['version'], environment)} | {c['suite']} |")
    m = config["messaging"]
    out(f"| {m['client']} (chat WebSocket) | {client_version(m['version'], environment)} | {m['suite']} |")
    out("")
    out("Not tested here:")
    out("")
    for u in config.get("unavailable", []):
        out(f"- {u['name']}: {u['reason']}.")
    out("")
    out("The OpenAPI clients are generated at test time from `tests/compat/openapi/ivschat-openapi.yaml`")
    out("(APIs-guru's conversion of the service model) with default options by `tests/compat/run-openapi.sh`;")
    out("they do not sign requests, so the harnesses sign them with SigV4 as a user of those clients must.")
    out("")

    # --- control plane
    out("## Control plane")
    out("")
    header = "| scenario | " + " | ".join(c["name"] for c in clients) + " |"
    out(header)
    out("|---" * (len(clients) + 1) + "|")
    group = None
    for s in config["scenarios"]:
        if s["group"] != group:
            group = s["group"]
            out(f"| **{group}** |" + " |" * len(clients))
        cells = []
        for c in clients:
            cid = c["id"]
            tests = s.get("tests", {}).get(cid)
            limit = s.get("limits", {}).get(cid)
            na = s.get("na", {}).get(cid)
            gap = s.get("gaps", {}).get(cid)
            declared = [x for x in (tests, limit, na, gap) if x is not None]
            if len(declared) != 1:
                errors.append(f"scenario {s['id']}: client {cid} needs exactly one of tests/limits/na/gaps")
                cells.append(Cell("notrun"))
                continue
            if na is not None:
                cell = Cell("na")  # the reasons are listed under the table
            elif gap is not None:
                cell = Cell("gap", note=f"{s['title']}: {gap} ({c['name']}).")
            else:
                globs = tests if tests is not None else limit["tests"]
                outcome, problems = evaluate(globs, client_results[cid])
                if outcome == FAIL:
                    cell = Cell("failed", detail=problems)
                elif outcome == "notrun":
                    cell = Cell("notrun", detail=problems)
                elif limit is not None:
                    cell = Cell("limit", note=f"{c['name']}, {s['title']}: {limit['reason']}")
                else:
                    note = s.get("notes", {}).get(cid)
                    cell = Cell("works", note=f"{c['name']}: {note}" if note else None)
                if cid in missing:
                    cell = Cell("notrun")
                for p in cell.detail:
                    errors.append(f"{s['id']} × {cid}: {p}")
            cells.append(cell)
        out(f"| {s['title']} | " + " | ".join(render_cell(x, notes) for x in cells) + " |")
    out("")
    nas = [f"{s['title']}: {' / '.join(sorted(set(s['na'].values())))}" for s in config["scenarios"] if s.get("na")]
    if nas:
        out("n/a — " + "; ".join(nas) + ".")
        out("")
    out("Notes:")
    out("")
    for i, text in enumerate(notes.items, 1):
        out(f"{i}. {text}")
    out("")
    out("What each scenario checks:")
    out("")
    for s in config["scenarios"]:
        out(f"- **{s['title']}**: {' '.join(s['checks'].split())}.")
    out("")

    # --- messaging
    out("## Chat messaging (official SDK)")
    out("")
    out(f"`{m['client']}` against the chat WebSocket, with chat tokens from `@aws-sdk/client-ivschat`.")
    out("")
    out(f"| feature | {m['client']} |")
    out("|---|---|")
    mres = results_of([m["results"]])
    for feat in m["features"]:
        outcome, problems = evaluate(feat["tests"], mres)
        cell = Cell("works" if outcome == PASS else "failed" if outcome == FAIL else "notrun")
        for p in problems:
            errors.append(f"messaging {feat['title']!r}: {p}")
        out(f"| {feat['title']} | {render_cell(cell, Footnotes())} |")
    out("")

    # --- quirks
    out("## Quirks found, and what was decided")
    out("")
    for q in config.get("quirks", []):
        status = []
        for cid, globs in q.get("tests", {}).items():
            outcome, problems = evaluate(globs, client_results[cid])
            if cid in missing:
                outcome, problems = "notrun", []
            for p in problems:
                errors.append(f"quirk {q['title']!r} × {cid}: {p}")
            if outcome != PASS:
                status.append(f"{cid}: {'FAILED' if outcome == FAIL else 'not run'}")
        tested = "tested" if q.get("tests") else "not tested"
        if status:
            tested = "**" + "; ".join(status) + "**"
        out(f"- **{q['title']}** ({q['decision']}; {tested}). {' '.join(q['text'].split())}")
    out("")
    return "\n".join(lines), errors


def main(argv: list[str]) -> int:
    if argv[:1] == ["junit-from-gotest"]:
        if len(argv) != 3:
            print("usage: generate.py junit-from-gotest OUT.xml LOG", file=sys.stderr)
            return 2
        return junit_from_gotest(Path(argv[1]), Path(argv[2]))
    if argv[:1] == ["junit-from-libtest"]:
        if len(argv) < 3:
            print(__doc__, file=sys.stderr)
            return 2
        return junit_from_libtest(Path(argv[1]), argv[2:])
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    cache = Path(os.environ.get("IVSCHAT_CACHE", Path.home() / ".cache/ivschat-server"))
    parser.add_argument("--results", type=Path,
                        default=Path(os.environ.get("IVSCHAT_RESULTS_DIR", cache / "compat-results")))
    parser.add_argument("--output", type=Path, default=REPO / "COMPATIBILITY.md")
    parser.add_argument("--scenarios", type=Path, default=HERE / "scenarios.toml")
    parser.add_argument("--check", action="store_true")
    args = parser.parse_args(argv)

    config = tomllib.loads(args.scenarios.read_text(encoding="utf-8"))
    text, errors = build(config, args.results)
    text += "\n" if not text.endswith("\n") else ""
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            errors.append(f"{args.output} is not up to date: run tests/compat/matrix/generate.py")
    else:
        changed = not args.output.exists() or args.output.read_text(encoding="utf-8") != text
        args.output.write_text(text, encoding="utf-8")
        print(f"generate.py: wrote {args.output}{' (changed)' if changed else ' (unchanged)'}", file=sys.stderr)
    for e in errors:
        print(f"generate.py: error: {e}", file=sys.stderr)
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
