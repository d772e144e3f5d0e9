"""Secret redaction: rb-mcp's redact() against the PyPI scanners, side by side on one corpus.

Data, written by the rb-mcp developers for this benchmark:
- benchmarks/data/secrets_corpus.txt: snippets of logs, shell sessions, config files, code and error
  messages, each holding one or two fake secrets.  The file holds templates; every secret value is
  generated here from a seeded RNG in the vendor's format (prefix, alphabet, length), so the
  repository never holds a live-shaped credential.  Formats follow the public rule lists of gitleaks,
  trufflehog and detect-secrets.
- benchmarks/data/benign_snippets.txt: code-like text that names passwords, tokens and keys without
  holding one (env-var references, CI templates, user:group pairs, prompts, hashes, public keys).

Systems (each is skipped, with a note, when its package is not installed):
- rb-mcp: ``rb_mcp.redact.redact``; a leak is a secret still present in the output, a false
  positive a benign snippet that comes out changed.
- detect-secrets (default plugins), trufflehog3 (default rules), whispers (default config) and
  credsweeper (default ML threshold): detectors, run on each snippet written to a file whose name
  fits its context (they choose rules by file type); a leak is a secret on no flagged line, a false
  positive a benign snippet with any finding.
- rb-mcp + X: rb-mcp's output with every value X reports also removed (what a combined redactor would
  store).

Printed: per system, leaks and false positives (count and %), time per KB of corpus text, and the
import and first-call cost of each package (measured in a fresh interpreter), then the machine.

    python benchmarks/secret_scan.py [--seed 12] [--show-leaks] [--json benchmarks/results/secrets.json]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import re
import string
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks._common import cpu_model  # noqa: E402

DATA = Path(__file__).parent / "data"
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
B64 = ALNUM + "+/"
BECH32 = "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L"
PW_PUNCT = "!*-_=+.~^"
DJANGO = string.ascii_lowercase + string.digits + "!@#$%^&*(-_=+)"
WORDS = (
    "summer winter falcon orange harbor piano rocket silver tiger maple coffee ocean quartz velvet".split()
)
EXTENSIONS = {
    "shell": ".sh",
    "python": ".py",
    "yaml": ".yaml",
    "json": ".json",
    "env": ".env",
    "config": ".conf",
    "xml": ".xml",
    "javascript": ".js",
    "typescript": ".ts",
    "go": ".go",
    "java": ".java",
    "csharp": ".cs",
    "php": ".php",
    "ruby": ".rb",
    "toml": ".toml",
    "hcl": ".tf",
    "sql": ".sql",
    "rust": ".rs",
    "kotlin": ".kt",
    "swift": ".swift",
    "ini": ".ini",
    "html": ".html",
    "dockerfile": "Dockerfile",
    "npm": ".json",
}


# ---- Corpus.


@dataclass
class Snippet:
    kind: str
    context: str
    text: str
    secrets: list[str] = field(default_factory=list)

    def fragments(self) -> list[str]:
        """What must not survive: each secret, or each line of a multi-line one (a PEM body)."""
        out = []
        for s in self.secrets:
            lines = [ln.strip() for ln in s.replace("\\n", "\n").splitlines() if len(ln.strip()) >= 16]
            out += [ln for ln in lines if not ln.startswith("-----")] if len(lines) > 1 else [s]
        return out


class Generator:
    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def chars(self, n: int, alphabet: str) -> str:
        body = [self.rng.choice(alphabet) for _ in range(n)]
        # Real random tokens of this length hold a digit and both cases; force them so that a fake never
        # degenerates into a word (a 6-letter lowercase run is a word to any scanner).
        pools = [
            p
            for p in (string.digits, string.ascii_uppercase, string.ascii_lowercase)
            if set(p) & set(alphabet)
        ]
        for i, pool in enumerate(pools[: max(0, n - 2)] if n >= 6 else []):
            body[i] = self.rng.choice([c for c in pool if c in alphabet])
        self.rng.shuffle(body)
        return "".join(body)

    def human(self) -> str:
        w1, w2 = self.rng.sample(WORDS, 2)
        year = self.rng.randint(1970, 2030)
        forms = (
            f"{w1.capitalize()}{year}!",
            f"{w1}-{w2}-{self.rng.randint(10, 99)}",
            f"{w1.capitalize()}{w2}{year % 100}#",
            f"{w1[0].upper()}{w1[1:].replace('o', '0').replace('a', '@')}{self.rng.randint(1, 9)}",
        )
        return self.rng.choice(forms)

    def pem(self, label: str) -> str:
        lines = [self.chars(64, B64) for _ in range(8)] + [self.chars(20, B64) + "=="]
        return f"-----BEGIN {label}-----\n" + "\n".join(lines) + f"\n-----END {label}-----"

    def jwt(self) -> str:
        def b64url(obj: dict[str, object]) -> str:
            return base64.urlsafe_b64encode(json.dumps(obj).encode()).decode().rstrip("=")

        header = b64url({"alg": "HS256", "typ": "JWT"})
        payload = b64url(
            {"sub": self.chars(12, ALNUM), "iat": 1714000000 + self.rng.randint(0, 10**6), "role": "service"}
        )
        return f"{header}.{payload}.{self.chars(43, URLSAFE)}"

    def slot(self, name: str, arg: str | None) -> str:
        n = int(arg) if arg and arg.isdigit() else 0
        simple = {
            "alnum": ALNUM,
            "hex": "0123456789abcdef",
            "HEX": "0123456789ABCDEF",
            "upper": string.ascii_uppercase + string.digits,
            "lower": string.ascii_lowercase + string.digits,
            "digits": string.digits,
            "b64": B64,
            "url": URLSAFE,
            "b32": string.ascii_lowercase + "234567",
            "bech32": BECH32,
            "pw": ALNUM + PW_PUNCT,
            "django": DJANGO,
        }
        if name in simple:
            value = self.chars(n, simple[name])
            if name == "pw" and not any(c in PW_PUNCT for c in value):
                value = value[:-1] + self.rng.choice(PW_PUNCT)
            return value
        if name == "uuid":
            return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        if name == "jwt":
            return self.jwt()
        if name == "human":
            return self.human()
        if name == "basic":
            return base64.b64encode(f"{arg}:{self.chars(16, ALNUM)}".encode()).decode()
        if name == "pem":
            return self.pem(arg or "PRIVATE KEY")
        if name == "b64pem":
            return base64.b64encode(self.pem("RSA PRIVATE KEY").encode()).decode()
        raise ValueError(f"unknown slot {{{name}}}")

    def fill(self, spec: str) -> str:
        return re.sub(r"\{(\w+)(?::([^}]*))?\}", lambda m: self.slot(m.group(1), m.group(2)), spec)


def _blocks(path: Path) -> list[tuple[dict[str, str], str]]:
    blocks: list[tuple[dict[str, str], list[str]]] = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("=== "):
            header = dict(part.strip().split(": ", 1) for part in line[4:].split(" | "))
            blocks.append((header, []))
        elif blocks:
            blocks[-1][1].append(line)
    return [(h, "\n".join(body).strip("\n")) for h, body in blocks]


def _place(template: str, slot: str, value: str, context: str) -> str:
    if "\n" in value:
        if context == "json":
            value = json.dumps(value)[1:-1]
        else:  # a multi-line value keeps the indentation of the line it is placed on
            for line in template.splitlines():
                if slot in line:
                    indent = line[: len(line) - len(line.lstrip())]
                    value = value.replace("\n", "\n" + indent)
                    break
    return template.replace(slot, value)


def load_corpus(seed: int) -> tuple[list[Snippet], list[Snippet]]:
    gen = Generator(seed)
    secrets = []
    for header, template in _blocks(DATA / "secrets_corpus.txt"):
        text, values = template, []
        for key in ("secret", "secret2"):
            if key in header:
                value = gen.fill(header[key])
                values.append(value)
                text = _place(text, "{" + key + "}", value, header["context"])
        secrets.append(Snippet(header["kind"], header["context"], text, values))
    benign = [Snippet("benign", h["context"], body) for h, body in _blocks(DATA / "benign_snippets.txt")]
    return secrets, benign


# ---- Systems.  A redactor maps text to text; a detector maps a file to flagged (line, value) pairs.

Finding = tuple[int, str]


def rb_mcp_redactor() -> Callable[[str], str]:
    from rb_mcp.redact import redact

    return redact


def detect_secrets_detector() -> Callable[[Path], list[Finding]]:
    from detect_secrets import SecretsCollection
    from detect_secrets.settings import default_settings

    def detect(path: Path) -> list[Finding]:
        collection = SecretsCollection()
        with default_settings():
            collection.scan_file(str(path))
        return [(s.line_number, s.secret_value or "") for f in collection.files for s in collection[f]]

    return detect


def trufflehog3_detector() -> Callable[[Path], list[Finding]]:
    from trufflehog3 import core, models, search

    rules = list(core.load_rules(core.DEFAULT_RULES_FILE))

    def detect(path: Path) -> list[Finding]:
        content = path.read_text(encoding="utf-8")
        issues = search.search(models.File(path=str(path), content=content), rules)
        lines = content.splitlines()
        out = []
        for issue in issues:
            line_no = next((i + 1 for i, ln in enumerate(lines) if issue.secret and issue.secret in ln), 0)
            out.append((line_no, issue.secret or ""))
        return out

    return detect


def whispers_detector() -> Callable[[Path], list[Finding]]:
    import logging

    import whispers

    logging.getLogger("whispers").setLevel(logging.CRITICAL)

    def detect(path: Path) -> list[Finding]:
        return [
            (int(getattr(s, "line", 0) or 0), str(getattr(s, "value", "") or ""))
            for s in whispers.secrets(str(path))
        ]

    return detect


def credsweeper_detector() -> Callable[[Path], list[Finding]]:
    import logging

    from credsweeper.app import CredSweeper
    from credsweeper.file_handler.files_provider import FilesProvider

    logging.getLogger("credsweeper").setLevel(logging.CRITICAL)
    sweeper = CredSweeper()

    def detect(path: Path) -> list[Finding]:
        sweeper.credential_manager.candidates.clear()
        sweeper.run(FilesProvider([str(path)]))
        return [
            (ld.line_num, ld.value or "")
            for c in sweeper.credential_manager.get_credentials()
            for ld in c.line_data_list
        ]

    return detect


DETECTORS: dict[str, tuple[str, Callable[[], Callable[[Path], list[Finding]]], str]] = {
    "detect-secrets": (
        "detect_secrets",
        detect_secrets_detector,
        "from detect_secrets.core.scan import scan_line; from detect_secrets.settings import default_settings\nwith default_settings(): list(scan_line('password = \"x1\"'))",
    ),
    "trufflehog3": (
        "trufflehog3",
        trufflehog3_detector,
        "from trufflehog3 import core; core.load_rules(core.DEFAULT_RULES_FILE)",
    ),
    "whispers": ("whispers", whispers_detector, "import whispers"),
    "credsweeper": (
        "credsweeper",
        credsweeper_detector,
        "from credsweeper.app import CredSweeper; CredSweeper()",
    ),
}


# ---- Scoring.


@dataclass
class Score:
    leaks: list[str] = field(default_factory=list)
    false_positives: list[str] = field(default_factory=list)
    seconds: float = 0.0


def _secret_lines(snippet: Snippet) -> set[int]:
    lines = snippet.text.splitlines()
    return {i + 1 for i, ln in enumerate(lines) if any(f in ln for f in snippet.fragments())}


def score_redactor(redact: Callable[[str], str], secrets: list[Snippet], benign: list[Snippet]) -> Score:
    score = Score()
    start = time.perf_counter()
    outputs = [redact(s.text) for s in secrets]
    benign_out = [redact(b.text) for b in benign]
    score.seconds = time.perf_counter() - start
    for snippet, out in zip(secrets, outputs):
        if any(f in out for f in snippet.fragments()):
            score.leaks.append(f"{snippet.kind}: {out[:300]!r}")
    for snippet, out in zip(benign, benign_out):
        if out != snippet.text:
            score.false_positives.append(f"{snippet.context}: {out[:300]!r}")
    return score


def run_detector(
    detect: Callable[[Path], list[Finding]], snippets: list[Snippet], workdir: Path
) -> tuple[list[list[Finding]], float]:
    paths = []
    for i, s in enumerate(snippets):
        ext = EXTENSIONS.get(s.context, ".txt")
        path = workdir / (f"{i:04d}/{ext}" if not ext.startswith(".") else f"{i:04d}/snippet{ext}")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(s.text + "\n", encoding="utf-8")
        paths.append(path)
    start = time.perf_counter()
    results = []
    for path in paths:
        try:
            results.append(detect(path))
        except Exception as exc:  # noqa: BLE001 - a scanner crash on one file counts as no finding
            print(f"  note: {path.name}: {type(exc).__name__}: {exc}", file=sys.stderr)
            results.append([])
    return results, time.perf_counter() - start


def score_detector(
    findings: list[list[Finding]], secrets: list[Snippet], benign: list[Snippet], seconds: float
) -> Score:
    score = Score(seconds=seconds)
    for snippet, found in zip(secrets, findings[: len(secrets)]):
        lines = _secret_lines(snippet)
        if not any(
            line in lines
            or (value and any(value in f or f in value for f in snippet.fragments() if len(value) >= 6))
            for line, value in found
        ):
            score.leaks.append(f"{snippet.kind}: {snippet.text[:200]!r}")
    for snippet, found in zip(benign, findings[len(secrets) :]):
        if found:
            score.false_positives.append(f"{snippet.context}: {found[:3]!r} in {snippet.text[:160]!r}")
    return score


def combine(
    redact: Callable[[str], str], snippets: list[Snippet], findings: list[list[Finding]]
) -> list[str]:
    """rb-mcp's output with every value the detector reported also removed."""
    outputs = []
    for snippet, found in zip(snippets, findings):
        out = redact(snippet.text)
        for _, value in found:
            value = value.strip("'\"")
            if len(value) >= 4 and value in out:
                out = out.replace(value, "[REDACTED:detector]")
        outputs.append(out)
    return outputs


def score_outputs(outputs: list[str], secrets: list[Snippet], benign: list[Snippet], seconds: float) -> Score:
    score = Score(seconds=seconds)
    for snippet, out in zip(secrets, outputs):
        if any(f in out for f in snippet.fragments()):
            score.leaks.append(f"{snippet.kind}: {out[:300]!r}")
    for snippet, out in zip(benign, outputs[len(secrets) :]):
        if out != snippet.text:
            score.false_positives.append(f"{snippet.context}: {out[:300]!r}")
    return score


def startup_cost(code: str) -> float | None:
    """Seconds for a fresh interpreter to import a package and make its first call, minus bare start."""

    def timed(snippet: str) -> float:
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-c", snippet],
            check=True,
            capture_output=True,
            env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        )
        return time.perf_counter() - start

    try:
        bare = min(timed("pass") for _ in range(3))
        return min(timed(code) for _ in range(3)) - bare
    except subprocess.CalledProcessError:
        return None


# ---- Report.


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--seed", type=int, default=12)
    parser.add_argument("--show-leaks", action="store_true", help="print every leak and false positive")
    parser.add_argument("--json", type=Path, default=Path(__file__).parent / "results" / "secrets.json")
    args = parser.parse_args()

    secrets, benign = load_corpus(args.seed)
    kinds = {s.kind for s in secrets}
    n_secrets = sum(len(s.secrets) for s in secrets)
    kb = (sum(len(s.text) for s in secrets) + sum(len(b.text) for b in benign)) / 1024
    print(
        f"corpus: {n_secrets} secrets of {len(kinds)} kinds in {len(secrets)} snippets, {len(benign)} benign snippets, {kb:.1f} KB (seed {args.seed})"
    )

    scores: dict[str, Score] = {}
    redact = rb_mcp_redactor()
    redact("warm up")
    scores["rb-mcp"] = score_redactor(redact, secrets, benign)
    startup = {"rb-mcp": startup_cost("from rb_mcp.redact import redact; redact('password = \"x1\"')")}
    everything = secrets + benign
    with tempfile.TemporaryDirectory() as tmp:
        for name, (_module, factory, first_call) in DETECTORS.items():
            try:
                detect = factory()
            except ImportError as exc:
                print(f"note: {name} skipped ({exc}); pip install {name} to include it")
                continue
            findings, seconds = run_detector(detect, everything, Path(tmp) / name)
            scores[name] = score_detector(findings, secrets, benign, seconds)
            start = time.perf_counter()
            outputs = combine(redact, everything, findings)
            scores[f"rb-mcp + {name}"] = score_outputs(
                outputs, secrets, benign, seconds + time.perf_counter() - start
            )
            startup[name] = startup_cost(first_call)

    header = f"{'system':<28} {'leaks':>12} {'false positives':>17} {'ms per KB':>10} {'import+1st call':>16}"
    print(header)
    print("-" * len(header))
    for name, s in scores.items():
        base = name.split(" + ")[-1]
        cost = startup.get(base)
        cost_txt = "" if " + " in name else (f"{cost * 1000:.0f} ms" if cost is not None else "?")
        print(
            f"{name:<28} {len(s.leaks):>4} ({100 * len(s.leaks) / len(secrets):4.1f}%) "
            f"{len(s.false_positives):>6} ({100 * len(s.false_positives) / len(benign):4.1f}%) "
            f"{1000 * s.seconds / kb:>10.2f} {cost_txt:>16}"
        )
    print(
        f"machine: {cpu_model()}, {os.cpu_count()} cores, python {sys.version.split()[0]}; leaks are % of "
        f"{len(secrets)} secret snippets, false positives % of {len(benign)} benign snippets"
    )
    if args.show_leaks:
        for name, s in scores.items():
            for leak in s.leaks:
                print(f"LEAK [{name}] {leak}")
            for fp in s.false_positives:
                print(f"FP   [{name}] {fp}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps(
            {
                "machine": {"cpu": cpu_model(), "cores": os.cpu_count(), "python": sys.version.split()[0]},
                "corpus": {
                    "secrets": n_secrets,
                    "kinds": len(kinds),
                    "snippets": len(secrets),
                    "benign": len(benign),
                    "kb": round(kb, 1),
                    "seed": args.seed,
                },
                "systems": {
                    name: {
                        "leaks": len(s.leaks),
                        "false_positives": len(s.false_positives),
                        "ms_per_kb": round(1000 * s.seconds / kb, 3),
                        "startup_ms": None if startup.get(name) is None else round(1000 * startup[name], 1),
                        "leaked_kinds": [leak.split(":", 1)[0] for leak in s.leaks],
                        "false_positive_snippets": s.false_positives,
                    }
                    for name, s in scores.items()
                },
            },
            indent=2,
        )
        + "\n",
        encoding="utf-8",
    )


if __name__ == "__main__":
    main()
