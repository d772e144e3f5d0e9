"""Secret scrubbing applied to every piece of text before it is stored.

Memory items outlive the task that produced them and may be shown to other agents, so anything
that looks like a credential is replaced by a ``[REDACTED:<kind>]`` marker while the surrounding
context (variable names, URL hosts, header names) is kept, because that context is what makes a
lesson readable later.

Design constraints that shape the code below:

* Every regex starts at a token boundary (a negative lookbehind on the token's own alphabet) and
  uses bounded repetition, so scanning stays linear on multi-megabyte adversarial input.  Python
  3.10 has neither possessive quantifiers nor atomic groups, hence the bounds (and one emulated
  atomic group).
* Deciding whether ``name = value`` holds a secret needs judgement (is the name secret-sounding,
  is the value a literal or code?), so those rules match broadly and decide in Python.
* Rules are scanned independently and their hits are merged as a union of spans: a secret that
  several rules see is removed entirely even if the rules disagree on where it ends.
* Existing markers are never re-redacted, and :func:`redact` repeats until nothing changes, which
  makes it idempotent by construction.
"""

from __future__ import annotations

import bisect
import functools
import re
from collections.abc import Callable, Iterator
from typing import Any

__all__ = ["find_secrets", "redact", "redact_obj"]

_MARKER_RE = re.compile(r"\[REDACTED:[a-z0-9-]{1,40}\]")
_MAX_PASSES = 6
# Placed in front of value groups so already-redacted values are skipped inside the regex engine;
# that keeps redact()'s verification pass cheap on text that is full of markers.
_NO_MARKER = r"(?!\[REDACTED:)"
_NO_QUOTED_MARKER = r"(?!\[REDACTED:[a-z0-9-]{1,40}\][\"'])"

# (start, end, priority, kind); a lower priority number means a more specific rule, whose kind
# wins when overlapping hits are merged.
_Hit = tuple[int, int, int, str]
# Finders get the text and its lowercase copy (for cheap needle checks).
_Finder = Callable[[str, str], Iterator[tuple[int, int, str]]]


def _marker(kind: str) -> str:
    return f"[REDACTED:{kind}]"


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


# ---- Fixed-shape tokens issued by well-known services.

_B = r"(?<![A-Za-z0-9_])"  # token boundary for alphabets without '-'
_BD = r"(?<![A-Za-z0-9_-])"  # token boundary for alphabets that include '-'


def _tok(
    kind: str, needles: str, rx: str, group: int = 0
) -> tuple[str, tuple[str, ...], re.Pattern[str], int]:
    # needles: lowercase substrings one of which must occur for the regex to be worth running
    return kind, tuple(needles.split()), re.compile(rx), group


_AWS_PREFIXES = "AKIA ASIA ABIA ACCA AGPA AIDA AIPA AKPA ANPA ANVA AROA APKA"
_TOKEN_PATTERNS = [
    _tok(
        "aws-access-key",
        _AWS_PREFIXES.lower(),
        r"(?<![A-Za-z0-9])(?:" + _AWS_PREFIXES.replace(" ", "|") + r")[A-Z0-9]{16}(?![A-Za-z0-9])",
    ),
    _tok(
        "aws-secret-key",
        "aws",
        r"(?i)" + _B + r"aws_?secret_?(?:access_?)?key[\"']?[ \t]{0,8}(?:=>|=|:)[ \t]{0,8}[\"']?"
        r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        1,
    ),
    _tok("github-token", "ghp_ gho_ ghu_ ghs_ ghr_", _B + r"gh[pousr]_[A-Za-z0-9]{36,255}"),
    _tok("github-token", "github_pat_", _B + r"github_pat_[A-Za-z0-9_]{22,255}"),
    _tok("gitlab-token", "gl", _BD + r"gl(?:pat|dt|rt|ptt|soat)-[A-Za-z0-9_-]{20,255}"),
    _tok("slack-token", "xox", _BD + r"xox[abposr]-[A-Za-z0-9-]{10,255}"),
    _tok("slack-token", "xapp-", _BD + r"xapp-[0-9]-[A-Za-z0-9-]{10,255}"),
    _tok(
        "slack-webhook",
        "hooks.slack.com",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/([\w/-]{8,300})",
        1,
    ),
    _tok(
        "discord-webhook",
        "/api/webhooks/",
        r"discord(?:app)?\.com/api/webhooks/([0-9]{5,30}/[\w-]{20,200})",
        1,
    ),
    _tok("anthropic-key", "sk-ant-", _BD + r"sk-ant-[A-Za-z0-9_-]{20,400}"),
    _tok("google-api-key", "aiza", _BD + r"AIza[0-9A-Za-z_-]{35}"),
    _tok("stripe-key", "_live_ _test_", _B + r"(?:sk|rk|pk)_(?:live|test)_[0-9A-Za-z]{10,255}"),
    _tok("stripe-key", "whsec_", _B + r"whsec_[0-9A-Za-z]{20,255}"),
    _tok("twilio-key", "sk ac", r"(?<![A-Za-z0-9])(?:SK|AC)[0-9a-f]{32}(?![A-Za-z0-9])"),
    _tok("sendgrid-key", "sg.", _BD + r"SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,128}"),
    _tok("npm-token", "npm_", _B + r"npm_[A-Za-z0-9]{36,255}"),
    _tok("pypi-token", "pypi-age", _BD + r"pypi-AgE[A-Za-z0-9_-]{20,2000}"),
    _tok("huggingface-token", "hf_", _B + r"hf_[A-Za-z0-9]{30,255}"),
    _tok("shopify-token", "shp", _B + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    _tok("digitalocean-token", "_v1_", _B + r"do[opr]_v1_[a-f0-9]{64}"),
    _tok("telegram-bot-token", ":aa", r"(?<![\w:])[0-9]{8,10}:AA[A-Za-z0-9_-]{33}(?![A-Za-z0-9_-])"),
    _tok("jwt", "eyj", _BD + r"eyJ[\w-]{5,8000}\.eyJ[\w-]{5,8000}\.[\w-]{0,8000}"),
]

# OpenAI keys share the bare "sk-" prefix with many harmless slugs, so a digit is required too.
_OPENAI_RE = re.compile(_BD + r"sk-(?:proj-|svcacct-|admin-)?([A-Za-z0-9_-]{20,400})")


def _find_tokens(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for kind, needles, rx, group in _TOKEN_PATTERNS:
        if not any(n in low for n in needles):
            continue
        for m in rx.finditer(text):
            yield m.start(group), m.end(group), kind


def _find_openai(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _OPENAI_RE.finditer(text):
        body = m.group(1)
        if any(c.isdigit() for c in body) and any(c.isalpha() for c in body):
            yield m.start(), m.end(), "openai-key"


# ---- PEM private keys.

_PEM_BEGIN = re.compile(r"-----BEGIN[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_PEM_END = re.compile(r"-----END[ A-Z0-9]{0,40}PRIVATE KEY(?: BLOCK)?-----")
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{24,}")
_PEM_WINDOW = 1024


def _looks_like_key_material(chunk: str) -> bool:
    # Prose that merely mentions a PEM header ("the file starts with -----BEGIN ...") must survive,
    # so only redact when base64 key material actually follows.
    for m in _B64_RUN.finditer(chunk):
        run = m.group()
        mixed_case = any(c.isupper() for c in run) and any(c.islower() for c in run)
        if mixed_case and any(c.isdigit() or c in "+/" for c in run):
            return True
    return False


def _find_pem(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    pos = 0
    end_match: re.Match[str] | None = None
    end_exhausted = False
    while True:
        begin = _PEM_BEGIN.search(text, pos)
        if begin is None:
            return
        # The END search result is cached so a run of BEGIN headers costs one scan, not one each.
        if not end_exhausted and (end_match is None or end_match.start() < begin.end()):
            end_match = _PEM_END.search(text, begin.end())
            end_exhausted = end_match is None
        stop = end_match.start() if end_match is not None and not end_exhausted else len(text)
        window = text[begin.end() : min(stop, begin.end() + _PEM_WINDOW)]
        if not _looks_like_key_material(window):
            pos = begin.end()
            continue
        if end_match is not None and not end_exhausted:
            yield begin.start(), end_match.end(), "private-key"
            pos = end_match.end()
        else:
            # A truncated key (no END line) is still a key: everything after BEGIN goes.
            yield begin.start(), len(text), "private-key"
            return


# ---- Credentials embedded in URLs, connection strings and HTTP headers.

_DB_SCHEMES = _wordset(
    "postgres postgresql mysql mariadb mongodb mongodb+srv redis rediss amqp amqps mssql sqlserver oracle "
    "cockroachdb clickhouse neo4j couchdb memcached cassandra nats kafka"
)
_URL_CRED_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,30})://"
    r"(?P<user>[^\s:/?#@\"'<>]{0,256}):" + _NO_MARKER + r"(?P<pw>[^\s/?#\"'<>]{1,512})@"
)
# A long random-looking user part with no password is a token used as the username.
_URL_TOKEN_USER_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}://(?P<user>[A-Za-z0-9_.~-]{20,256})@"
)


def _find_url_credentials(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _URL_CRED_RE.finditer(text):
        pw = m.group("pw")
        if _is_stand_in(pw):
            continue
        scheme = m.group("scheme").lower()
        kind = "connection-string" if scheme in _DB_SCHEMES else "password"
        yield m.start("pw"), m.end("pw"), kind
    for m in _URL_TOKEN_USER_RE.finditer(text):
        user = m.group("user")
        if any(c.isdigit() for c in user) and any(c.isalpha() for c in user):
            yield m.start("user"), m.end("user"), "token"


# ODBC / ADO.NET / Azure style "Key=Value;" strings.  A ';' must show that format, because
# "password = getPassword();" in C-like code has one too, hence the extra shape checks below.
_ODBC_RE = re.compile(
    r"(?i)(?<![\w-])(?:password|pwd|accountkey|sharedaccesskey|sharedaccesssignature)(?P<sp>[ \t]{0,8})="
    r"[ \t]{0,8}" + _NO_MARKER + r"(?P<v>\{[^}\r\n]{0,1024}\}|[^;\r\n\"']{1,1024})"
)
_ODBC_NEXT_RE = re.compile(r"[ \t]*(?:[A-Za-z][A-Za-z0-9 _]{0,40}=|[\"'\r\n]|$)")


def _find_odbc(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _ODBC_RE.finditer(text):
        value = m.group("v").strip()
        if not value or "(" in value or _is_stand_in(value):
            continue
        before = text[max(0, m.start() - 64) : m.start()].rstrip(" \t")
        after_pair = (
            not m.group("sp")
            and m.end() < len(text)
            and text[m.end()] == ";"
            and _ODBC_NEXT_RE.match(text, m.end() + 1) is not None
        )
        if before.endswith(";") or after_pair:
            yield m.start("v"), m.end("v"), "connection-string"


_AUTH_HEADER_RE = re.compile(
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?"
    r"(?:(?P<scheme>bearer|basic|token|digest|bot|apikey|sso-key)[ \t]{1,8})?"
    + _NO_MARKER
    + r"(?P<v>[^\s\"',;]{1,4096})"
)
_BEARER_RE = re.compile(r"(?<![\w-])[Bb]earer[ \t]{1,8}(?P<v>[A-Za-z0-9._~+/=-]{16,4096})")


def _find_auth_headers(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _AUTH_HEADER_RE.finditer(text):
        value = m.group("v")
        if _is_stand_in(value):
            continue
        scheme = (m.group("scheme") or "").lower()
        if not scheme and not (len(value) >= 8 and any(c.isdigit() for c in value)):
            continue  # "Authorization: missing" is prose, not a credential
        kind = {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")
        yield m.start("v"), m.end("v"), kind
    for m in _BEARER_RE.finditer(text):
        if any(c.isdigit() for c in m.group("v")):
            yield m.start("v"), m.end("v"), "bearer-token"


_NETRC_RE = re.compile(
    r"(?i)(?<![\w-])login[ \t]{1,8}\S{1,256}[ \t]{1,8}password[ \t]{1,8}" + _NO_MARKER + r"(?P<v>\S{1,1024})"
)
_CURL_USER_RE = re.compile(
    r"(?<![\w-])(?:-u|--user)[ \t]{1,8}[\"']?(?P<user>[^\s:\"'$]{1,256}):"
    + _NO_MARKER
    + r"(?P<v>[^\s\"']{1,1024})"
)


def _find_login_pairs(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _NETRC_RE.finditer(text):
        if not _is_stand_in(m.group("v")):
            yield m.start("v"), m.end("v"), "password"
    for m in _CURL_USER_RE.finditer(text):
        value = m.group("v")
        # "docker run -u 1000:1000" and "-u app:app" are user:group pairs, not credentials.
        if value == m.group("user") or value.isdigit() or len(value) < 4 or _is_stand_in(value):
            continue
        yield m.start("v"), m.end("v"), "password"


# CREATE USER ... IDENTIFIED BY '...' (MySQL/Oracle) and ... WITH [ENCRYPTED] PASSWORD '...' (Postgres).
_SQL_PASSWORD_RE = re.compile(
    r"(?i)\b(?:identified[ \t]{1,8}by|with[ \t]{1,8}(?:encrypted[ \t]{1,8})?password)[ \t]{1,8}"
    r"(?:'(?P<sq>[^'\r\n]{1,256})'|\"(?P<dq>[^\"\r\n]{1,256})\")"
)


def _find_sql_passwords(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _SQL_PASSWORD_RE.finditer(text):
        group = "sq" if m.group("sq") is not None else "dq"
        if not _is_stand_in(m.group(group)):
            yield m.start(group), m.end(group), "password"


# ---- Generic "secret-sounding name = literal value" assignments (env files, configs, code, CLIs).

_KEY_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_STRONG_SUBSTRINGS = ("password", "passwd", "passphrase", "secret", "credential")
_KEY_COMPOUNDS = _wordset(
    "apikey accesskey privatekey secretkey accountkey signingkey encryptionkey masterkey authkey clientkey "
    "sessionkey"
)
# Names that mention a secret but hold metadata about it (a hash, a path, a length...).
_NEGATIVE_WORDS = _wordset(
    "hash hashed hasher digest length len count num max min limit limits size type kind name names file "
    "files path paths dir url uri urls endpoint env var field header prompt policy expiry expires "
    "expiration expire expired ttl timeout id ids stdin format regex pattern label hint placeholder "
    "rotation version strength validator validation manager required enabled help description message "
    "msg error index idx position pos budget usage used cost rate provider backend class cls model "
    "service input output form page view mode scope scopes audience issuer algorithm alg template schema "
    "source location ref reference at lifetime store cache policy helper prefix offset start end"
)


@functools.lru_cache(maxsize=4096)
def _key_kind(key: str) -> str | None:
    """Kind of secret a variable/flag name suggests, or None when it is not secret-sounding."""
    words = [w.lower() for w in _KEY_WORD_RE.findall(key)]
    if not words or any(w in _NEGATIVE_WORDS for w in words):
        return None
    joined = "".join(words)
    if any(s in w for w in words for s in ("password", "passwd", "passphrase")) or any(
        w in ("pass", "pwd") for w in words
    ):
        return "password"
    if any(c in joined for c in _KEY_COMPOUNDS):
        return "api-key" if "apikey" in joined else "secret"
    if any(w.endswith("token") or w == "bearer" for w in words):
        return "token"
    if any(w in ("signature", "sig") for w in words):
        return "signature"
    if any(s in w for w in words for s in _STRONG_SUBSTRINGS):
        return "secret"
    return None


_REFERENCE_FULL = re.compile(
    r"\$\{[^{}]*\}?|\$[A-Z_][A-Z0-9_]*|\$\(.*|\$\{\{.*|\{\{.*|%[A-Za-z_][\w]*%|<[^<>]{0,80}>"
    r"|\{[A-Za-z_][\w.]*\}?|%\(\w+\)s|%[sdr]|\*+|[xX•.\-]{3,}|REDACTED|\[REDACTED.*",
    re.DOTALL,
)
_REFERENCE_PART = re.compile(
    r"\$\{\{[^{}]*\}\}|\$\{[^{}]*\}|\$[A-Z_][A-Z0-9_]*\b|\{\{[^{}]*\}\}|\{[A-Za-z_][\w.]*\}|<[^<>\n]{1,80}>"
)
_AUTH_SCHEME_WORDS = re.compile(r"(?i)\b(?:bearer|basic|token|digest)\b")
# Values that only name the concept ("user:pass@host", api_key="your-api-key") are documentation.
_EXAMPLE_WORDS = _wordset(
    "pass password passwd pwd pw secret secrets token key api apikey access client my your the value here "
    "example dummy placeholder fake sample test"
)
_EXAMPLE_SPLIT_RE = re.compile(r"[-_.\s]+")


def _is_stand_in(value: str) -> bool:
    """True for env-var references, template slots, masks and example values: not secrets themselves."""
    v = value.strip()
    if not v or _REFERENCE_FULL.fullmatch(v):
        return True
    if "..." in v or "***" in v or "…" in v:  # already masked or elided ("sk-...", "hf_***")
        return True
    if all(p in _EXAMPLE_WORDS for p in _EXAMPLE_SPLIT_RE.split(v.lower()) if p):
        return True
    if "$" in v or "{" in v or "<" in v or "%" in v:
        rest = _AUTH_SCHEME_WORDS.sub("", _REFERENCE_PART.sub("", v)).strip(" :@/\"'")
        return len(rest) < 3 and rest != v
    return False


_CODE_WORDS = _wordset(
    "none null nil true false undefined self this str string bytes int integer bool boolean number any "
    "unknown object optional dict list required yes no on off env os"
)
_IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")
_CALL_RE = re.compile(r"\w[(\[]")
_SNAKE_RE = re.compile(r"[a-z_][a-z0-9_]*_[a-z0-9_]*")
# Words that follow a flag in prose ("use the --token flag instead") rather than a real value.
_PROSE_WORDS = _wordset(
    "a an and are as at be but by flag flags for from if in instead into is it not of on option options or "
    "argument arguments arg args parameter param switch the then this that to value was when which while "
    "with without you your must should can will requires required"
)


_RANDOMISH_RE = re.compile(r"[A-Za-z0-9_\-.+/=:~%!#$&*@^]{8,}")


def _looks_random(v: str) -> bool:
    if not _RANDOMISH_RE.fullmatch(v) or _DOTTED_RE.fullmatch(v):
        return False
    mixed_case = any(c.isupper() for c in v) and any(c.islower() for c in v)
    return any(c.isdigit() for c in v) or len(v) >= 24 or (mixed_case and len(v) >= 16)


def _looks_like_path(v: str) -> bool:
    # A path has several segments of readable names; a base64 secret may start with "/" (1 in 64) but
    # its segments are random, and treating it as a path would store it in clear.
    if not v.startswith(("/", "./", "../", "~/")):
        return False
    segments = [seg for seg in v.split("/") if seg not in ("", ".", "..", "~")]
    return len(segments) >= 2 and not any(_looks_random(seg) for seg in segments)


def _value_is_secret(value: str, style: str, kind: str) -> bool:
    """Whether an assigned value looks like a literal credential rather than code or prose.

    ``style`` is ``quoted``, ``env`` (``UPPER_NAME=value``), ``cli`` (``--flag value``) or ``code``
    (every other unquoted form, where identifiers and calls are common).  "token" and "signature"
    names are common in lexers, tokenizers and numpy, so their values must also look random.
    """
    v = value.strip()
    min_len = {"quoted": 3 if kind == "password" else 6, "env": 3, "cli": 1}.get(style, 6)
    if len(v) < min_len or _is_stand_in(v):
        return False
    if kind in ("token", "signature") and style != "env" and not _looks_random(v):
        return False
    if style == "quoted":
        return kind == "password" or not any(c.isspace() for c in v)
    if style == "cli":
        # An upper-case name after a flag ("--secrets HF_TOKEN") names an env var, not a value.
        return not v.startswith("-") and v.lower() not in _PROSE_WORDS and not _ENV_NAME_RE.fullmatch(v)
    if v[0] in "([{<" or v.lower() in _CODE_WORDS or "://" in v or _looks_like_path(v):
        return False
    if _CALL_RE.search(v) or _DOTTED_RE.fullmatch(v):
        return False
    if style == "env":
        return True
    if _SNAKE_RE.fullmatch(v):
        return False
    # Bare words and identifiers without digits ("response", "accessToken") are almost always code.
    return not (_IDENT_RE.fullmatch(v) and not any(c.isdigit() for c in v))


_QUOTED_VALUE = (
    r"(?:[rRbBuUfF]{1,2})?(?:(?P<dq>\")" + _NO_QUOTED_MARKER + r"(?P<dqv>(?:[^\"\\\r\n]|\\.){0,4096})\"?"
    r"|(?P<sq>')" + _NO_QUOTED_MARKER + r"(?P<sqv>(?:[^'\\\r\n]|\\.){0,4096})'?)"
)
# The key is matched atomically (lookahead + backreference, since Python 3.10 lacks atomic groups)
# and judged in Python: trying keywords at every offset inside the regex was several times slower.
_GENERIC_RE = re.compile(
    r"(?<![\w.-])(?!REDACTED:)(?=(?P<key>[A-Za-z_][\w.-]{0,80}))(?P=key)"
    r"(?P<kq>[\"']?)(?P<sp1>[ \t]{0,8})(?P<op>:=|=>|=|:)(?![=:])(?P<sp2>[ \t]{0,16})"
    r"(?:" + _QUOTED_VALUE + "|" + _NO_MARKER + r"(?P<uv>[^\s\"'`,;&)}\]]{1,4096}))"
)
_CLI_RE = re.compile(
    r"(?<![\w-])--(?P<key>[A-Za-z][A-Za-z0-9_-]{0,60})(?:[ \t]{1,8}|=)"
    r"(?:" + _QUOTED_VALUE + "|" + _NO_MARKER + r"(?P<uv>[^\s\"'`;&|)]{1,4096}))"
)
_ENV_KEY_RE = re.compile(r"[A-Z0-9_]*[A-Z][A-Z0-9_]*")
_ENV_NAME_RE = re.compile(r"[A-Z][A-Z_]*|[A-Z][A-Z0-9]*_[A-Z0-9_]*")


def _value_span(m: re.Match[str]) -> tuple[int, int, str, bool]:
    for group in ("dqv", "sqv", "uv"):
        value = m.group(group)
        if value is not None:
            start, end = m.span(group)
            return start, end, value, group != "uv"
    return m.end(), m.end(), "", False


def _find_generic(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    pos = 0
    while (m := _GENERIC_RE.search(text, pos)) is not None:
        # Unless this value is a secret, look again right after the operator: in "Error: PASSWORD=x"
        # the value of "Error" holds the real assignment, which finditer would skip over.
        pos = m.end("op")
        kind = _key_kind(m.group("key"))
        if kind is None:
            continue
        start, end, value, quoted = _value_span(m)
        if quoted:
            style = "quoted"
        elif (
            m.group("op") == "="
            and not (m.group("kq") or m.group("sp1") or m.group("sp2"))
            and _ENV_KEY_RE.fullmatch(m.group("key"))
        ):
            style = "env"
        else:
            style = "code"
        if _value_is_secret(value, style, kind):
            yield start, end, kind
            pos = max(pos, end)


def _find_cli_flags(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _CLI_RE.finditer(text):
        kind = _key_kind(m.group("key"))
        if kind is None:
            continue
        start, end, value, quoted = _value_span(m)
        if _value_is_secret(value, "quoted" if quoted else "cli", kind):
            yield start, end, kind


# <password>...</password> in Maven settings.xml, .NET configs and the like.
_XML_ELEMENT_RE = re.compile(
    r"<(?P<key>[A-Za-z_][\w.:-]{0,60})>" + _NO_MARKER + r"(?P<v>[^<>\r\n]{1,1024})</(?P=key)>"
)


def _find_xml_elements(text: str, low: str) -> Iterator[tuple[int, int, str]]:
    for m in _XML_ELEMENT_RE.finditer(text):
        kind = _key_kind(m.group("key"))
        if kind is not None and _value_is_secret(m.group("v"), "quoted", kind):
            yield m.start("v"), m.end("v"), kind


# ---- Orchestration.

# Order is priority: specific token formats name the kind when they overlap a generic hit.  Each
# finder is skipped unless one of its lowercase needles occurs, which keeps clean text cheap.
_FINDERS: tuple[tuple[tuple[str, ...], _Finder], ...] = (
    (("-----begin",), _find_pem),
    ((), _find_tokens),
    (("sk-",), _find_openai),
    (("://",), _find_url_credentials),
    (("password", "pwd", "accountkey", "sharedaccess"), _find_odbc),
    (("authorization", "bearer"), _find_auth_headers),
    (("login", "-u"), _find_login_pairs),
    (("identified", "password"), _find_sql_passwords),
    (("</",), _find_xml_elements),
    (("--",), _find_cli_flags),
    (("pass", "pwd", "secret", "token", "key", "sig", "bearer", "credential"), _find_generic),
)


def _subtract_markers(
    start: int, end: int, markers: list[tuple[int, int]], starts: list[int]
) -> list[tuple[int, int]]:
    """Split [start, end) around existing markers so a marker is never redacted again."""
    pieces: list[tuple[int, int]] = []
    cursor = start
    i = max(0, bisect.bisect_right(starts, start) - 1)
    while i < len(markers) and markers[i][0] < end:
        m_start, m_end = markers[i]
        if m_end > cursor:
            if m_start > cursor:
                pieces.append((cursor, m_start))
            cursor = max(cursor, m_end)
        i += 1
    if cursor < end:
        pieces.append((cursor, end))
    return pieces


def _scan(text: str) -> list[_Hit]:
    markers = [(m.start(), m.end()) for m in _MARKER_RE.finditer(text)]
    starts = [s for s, _ in markers]
    low = text.lower()
    hits: list[_Hit] = []
    for priority, (needles, finder) in enumerate(_FINDERS):
        if needles and not any(n in low for n in needles):
            continue
        for start, end, kind in finder(text, low):
            if end <= start:
                continue
            for p_start, p_end in _subtract_markers(start, end, markers, starts):
                # Slivers left between markers (a quote, a space) carry no secret.
                if any(c.isalnum() for c in text[p_start:p_end]):
                    hits.append((p_start, p_end, priority, kind))
    hits.sort(key=lambda h: (h[0], -h[1]))
    merged: list[_Hit] = []
    for start, end, priority, kind in hits:
        if merged and start < merged[-1][1]:
            m_start, m_end, m_priority, m_kind = merged[-1]
            if priority < m_priority:
                m_priority, m_kind = priority, kind
            merged[-1] = (m_start, max(m_end, end), m_priority, m_kind)
        else:
            merged.append((start, end, priority, kind))
    return merged


def _apply(text: str, hits: list[_Hit]) -> str:
    parts: list[str] = []
    cursor = 0
    for start, end, _, kind in hits:
        parts.append(text[cursor:start])
        parts.append(_marker(kind))
        cursor = end
    parts.append(text[cursor:])
    return "".join(parts)


def find_secrets(text: str) -> list[tuple[str, int, int]]:
    """Return ``(kind, start, end)`` for every secret found in ``text``, sorted and non-overlapping."""
    if not isinstance(text, str):
        return []
    try:
        return [(kind, start, end) for start, end, _, kind in _scan(text)]
    except Exception:  # noqa: BLE001 - a scanner bug must not break callers; redact() fails closed
        return []


def redact(text: str) -> str:
    """Return ``text`` with every detected secret replaced by ``[REDACTED:<kind>]``.

    Idempotent and total: it never raises on a ``str``.  If scanning fails unexpectedly the whole
    text is withheld, because storing an unscanned secret is worse than losing one memory.
    """
    try:
        out = text if isinstance(text, str) else str(text)
        for _ in range(_MAX_PASSES):
            hits = _scan(out)
            if not hits:
                break
            out = _apply(out, hits)
        return out
    except Exception:  # noqa: BLE001 - fail closed, see docstring
        return _marker("unscannable")


def _redact_keyed(key: Any, value: Any) -> Any:
    # Inside a mapping the key carries the context a bare value lacks: {"password": "hunter2"}.
    if isinstance(key, str) and isinstance(value, str):
        kind = _key_kind(key)
        already = _MARKER_RE.fullmatch(value.strip()) is not None
        if kind is not None and not already and _value_is_secret(value, "quoted", kind):
            return _marker(kind)
    return redact_obj(value)


def redact_obj(obj: Any) -> Any:
    """Recursively redact strings inside dicts, lists, tuples and sets; other values pass through.

    Returns a new container; string keys are redacted too.  A string value under a secret-sounding
    key (``password``, ``api_key``...) is replaced entirely.
    """
    if isinstance(obj, str):
        return redact(obj)
    if isinstance(obj, dict):
        return {(redact(k) if isinstance(k, str) else k): _redact_keyed(k, v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [redact_obj(v) for v in obj]
    if isinstance(obj, tuple):
        items = [redact_obj(v) for v in obj]
        if hasattr(obj, "_fields"):  # namedtuple: rebuild positionally to keep the type
            return type(obj)(*items)
        return tuple(items)
    if isinstance(obj, (set, frozenset)):
        return type(obj)(redact_obj(v) for v in obj)
    return obj
