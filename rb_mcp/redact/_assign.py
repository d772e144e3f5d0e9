"""``name = value`` in all its spellings: env files, configs, code, command-line flags, subscripts
(``os.environ["API_KEY"] = ...``), paired call arguments (``define('AUTH_KEY', '...')``) and the
literal arguments of login and connect calls (``HTTPBasicAuth('u', 'p')``).
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rb_mcp.redact._values import (
    ENV_NAME_RE,
    NO_MARKER,
    NO_QUOTED_MARKER,
    Span,
    is_code_name,
    is_plain_word,
    is_stand_in,
    key_kind,
    line_after,
    line_before,
    looks_like_password,
    looks_random,
    value_is_secret,
)

_QUOTED_VALUE = (
    r"(?:[rRbBuUfF]{1,2})?(?:(?P<dq>\")" + NO_QUOTED_MARKER + r"(?P<dqv>(?:[^\"\\\r\n]|\\.){0,4096})\"?"
    r"|(?P<sq>')" + NO_QUOTED_MARKER + r"(?P<sqv>(?:[^'\\\r\n]|\\.){0,4096})'?)"
)
# The key is matched atomically (lookahead + backreference, since Python 3.10 lacks atomic groups)
# and judged in Python: trying keywords at every offset inside the regex was several times slower.
_GENERIC_RE = re.compile(
    r"(?<![\w.-])(?!REDACTED:)(?=(?P<key>[A-Za-z_][\w.-]{0,80}))(?P=key)"
    r"(?P<kq>[\"']?)(?P<sp1>[ \t]{0,8})(?P<op>:=|=>|=|:)(?!:)(?P<sp2>[ \t]{0,16})"
    r"(?:" + _QUOTED_VALUE + "|" + NO_MARKER + r"(?P<uv>[^\s\"'`][^\s\"'`,;&)}\]]{0,255}))"
)
# os.environ["API_KEY"] = "...", ENV['DB_PASSWORD'] = '...', app.config['SECRET_KEY'] = '...'
_SUBSCRIPT_RE = re.compile(
    r"\[[ \t]{0,4}[\"'](?P<key>[A-Za-z_][\w.:-]{0,80})[\"'][ \t]{0,4}\][ \t]{0,8}(?P<op>:=|=|\|\|=)(?!=)[ \t]{0,8}"
    r"(?:" + _QUOTED_VALUE + "|" + NO_MARKER + r"(?P<uv>[^\s\"'`,;&)}\]]{1,4096}))"
)
# define('AUTH_KEY', '...'), setdefault("SECRET_KEY", "..."), headers.set("X-Api-Key", "...")
_PAIR_ARGS_RE = re.compile(
    r"[\"'](?P<key>[A-Za-z_][\w.:-]{0,80})[\"'][ \t]{0,8},[ \t\r\n]{0,40}" + _QUOTED_VALUE
)
# Long flags (--password x, --token=x), Go-style single-dash ones (-token x) and Java/Gradle properties.
_CLI_RE = re.compile(
    r"(?<![\w-])(?:--(?P<key>[A-Za-z][A-Za-z0-9_.-]{0,60})|-(?P<gokey>[A-Za-z][A-Za-z0-9_-]{2,40})"
    r"|-[DP](?P<prop>[A-Za-z][\w.-]{0,80})(?==))(?:[ \t]{1,8}|=)"
    r"(?:" + _QUOTED_VALUE + "|" + NO_MARKER + r"(?P<uv>[^\s\"'`;&|)]{1,4096}))"
)
_OWNER_FLAG_RE = re.compile(r"(?:^|[ \t])(?:-u|--user|--group|-g|--chown|chown|chgrp)[ \t=]{1,4}$")
_ENV_KEY_RE = re.compile(r"[A-Z0-9_]*[A-Z][A-Z0-9_]*")
_CALL_START_RE = re.compile(r"[\w.\[\]<>:]{1,60}\(")
# Characters that end an unquoted value in code; a secret may contain them, see _extend.
_TAIL_RE = re.compile(r"[^\s\"'`]{1,512}")
# The same run, stopped before the next "&key=" / ";Key=" (a query string or connection string goes on).
_QUERY_TAIL_RE = re.compile(r"(?:(?![;&,][A-Za-z][\w.-]{1,40}=)[^\s\"'`]){1,512}")
_PAIRS_TAIL_RE = re.compile(r"(?:(?![;&,][A-Za-z]{3}[A-Za-z_.-]{0,40}=)[^\s\"'`]){1,512}")
# PostgreSQL's tools take --password as a switch (prompt), so the next word is the database.
_PG_TOOL_RE = re.compile(
    r"(?<![\w-])(?:psql|pg_\w{2,20}|createdb|dropdb|createuser|dropuser|vacuumdb|reindexdb|clusterdb)\b"
)


def _value_span(m: re.Match[str]) -> tuple[int, int, str, bool]:
    for group in ("dqv", "sqv", "uv"):
        value = m.group(group)
        if value is not None:
            start, end = m.span(group)
            return start, end, value, group != "uv"
    return m.end(), m.end(), "", False


def _extend(text: str, end: int, in_query: bool = False, pairs: bool = True) -> int:
    """Carry an unquoted secret on through ``&)}],;``: ``SECRET_KEY=x(y&z...`` is one value.

    Stops before ``&next=`` (a query string) and, where `pairs` (``key=value`` runs, as in a
    connection string), before ``;Key=``; a ``key: value`` line's value runs on through both. Stops
    when only closing punctuation follows (``f(pw=abc1)``).
    """
    paired = pairs and text.startswith((";", "&", ","), end)
    rx = _QUERY_TAIL_RE if in_query else _PAIRS_TAIL_RE if paired else _TAIL_RE
    tail = rx.match(text, end)
    if tail is None:
        return end
    run = tail.group()
    if not run.strip(")]},;.:"):
        return end
    return end + len(run.rstrip(")]},;"))


def _style(m: re.Match[str], text: str, quoted: bool) -> str:
    if quoted:
        return "quoted"
    key_start = m.start("key")
    if (
        m.group("op") == "="
        and not (m.group("kq") or m.group("sp1") or m.group("sp2"))
        and _ENV_KEY_RE.fullmatch(m.group("key"))
    ):
        return "env"
    line_end = line_after(text, m.end())
    if line_end < 0 or m.group("op") not in (":", "="):
        return "code"
    lead = text[line_before(text, key_start, 200) : key_start].strip(" \t-\"'")
    if not lead and not text[m.end() : line_end].strip(" \t\r,"):
        return "line"  # YAML/INI/TOML/.properties: the key starts the line and the value ends it
    return "code"


# password = SecretStr("..."), key = []byte("..."), secret = Buffer.from('...'), pw = os.getenv("X", "...")
_WRAPPED_RE = re.compile(
    r"(?:[A-Za-z$\[]|_[A-Za-z])[\w.\[\]<>:$]{0,60}\([ \t]{0,4}(?P<args>[^()\r\n]{1,400})\)"
)
_LITERAL_RE = re.compile(
    r"(?:[rRbBuUfF]{1,2})?(?:\"(?P<dq>(?:[^\"\\\r\n]|\\.){1,1024})\"|'(?P<sq>(?:[^'\\\r\n]|\\.){1,1024})')"
)


def _is_wrapped_call(text: str, start: int) -> bool:
    m = _WRAPPED_RE.match(text, start)
    tail = _TAIL_RE.match(text, start)
    word = tail.group() if tail is not None else ""
    if m is None or set("!@#%^&*~|") & set(_LITERAL_RE.sub("", word)):
        return False
    return is_code_name(m.group().split("(", 1)[0].split("<", 1)[0])


def _wrapped_literals(text: str, start: int, kind: str) -> Iterator[Span]:
    m = _WRAPPED_RE.match(text, start)
    if m is None:
        return
    for lit in _LITERAL_RE.finditer(m.group("args")):
        group = "dq" if lit.group("dq") is not None else "sq"
        value = lit.group(group)
        if ENV_NAME_RE.fullmatch(value) or is_stand_in(value):
            continue
        if looks_random(value) or (kind == "password" and looks_like_password(value)):
            yield m.start("args") + lit.start(group), m.start("args") + lit.end(group), kind


def find_generic(text: str, low: str) -> Iterator[Span]:
    pos = 0
    while (m := _GENERIC_RE.search(text, pos)) is not None:
        # Unless this value is a secret, look again right after the operator: in "Error: PASSWORD=x"
        # the value of "Error" holds the real assignment, which finditer would skip over.
        pos = m.end("op")
        kind = key_kind(m.group("key"))
        if kind is None:
            continue
        quote = m.group("dq") or m.group("sq")
        key_start = m.start("key")
        if m.group("op") == ":" and _OWNER_FLAG_RE.search(text, max(0, key_start - 12), key_start):
            continue  # "docker run -u pass:staff", "chown pass:www": a user and a group named so
        if quote and not (m.group("kq") or m.group("sp2")) and key_start and text[key_start - 1] == quote:
            continue  # '"Password:" {send ...': the key and its colon are the text of a string literal
        start, end, value, quoted = _value_span(m)
        style = _style(m, text, quoted)
        if (
            style != "env"
            and not quoted
            and "(" in text[start : start + 64]
            and _is_wrapped_call(text, start)
        ):
            yield from _wrapped_literals(text, start, kind)
            continue
        if style == "env" and (tail := _TAIL_RE.match(text, start)) is not None:
            end = start + len(tail.group())  # a shell or .env value runs to the next blank
            value = tail.group()
        if kind == "password" and m.group("key") == "PWD" and value.startswith(("/", "~", ".")):
            continue  # the shell's working directory
        cut = not quoted and end < len(text) and text[end] in ",;&)}]"
        if cut:  # judged whole: "x(y&z..." is one value, not "x"
            end = _extend(text, end, key_start > 0 and text[key_start - 1] in "?&;", m.group("op") != ":")
            value = text[start:end]
        if value_is_secret(value, style, kind):
            if not quoted and not cut:
                end = _extend(text, end)
            yield start, end, kind
            pos = max(pos, end)


def find_subscripts(text: str, low: str) -> Iterator[Span]:
    for m in _SUBSCRIPT_RE.finditer(text):
        kind = key_kind(m.group("key"))
        if kind is None:
            continue
        start, end, value, quoted = _value_span(m)
        if value_is_secret(value, "quoted" if quoted else "code", kind):
            yield start, end, kind


def find_pair_args(text: str, low: str) -> Iterator[Span]:
    for m in _PAIR_ARGS_RE.finditer(text):
        kind = key_kind(m.group("key"))
        if kind is None:
            continue
        start, end, value, _ = _value_span(m)
        if value_is_secret(value, "quoted", kind):
            yield start, end, kind


def find_cli_flags(text: str, low: str) -> Iterator[Span]:
    pos = 0
    while (m := _CLI_RE.search(text, pos)) is not None:
        # "--prod --token X": the value of --prod is the next flag, so look again right after the name.
        key = m.group("key") or m.group("gokey") or m.group("prop")
        pos = m.end("key" if m.group("key") else "gokey" if m.group("gokey") else "prop")
        kind = key_kind(key)
        if kind is None:
            continue
        start, end, value, quoted = _value_span(m)
        if not quoted and kind == "password" and is_plain_word(value):
            line_start = line_before(text, m.start())
            if _PG_TOOL_RE.search(text, line_start, m.start()):
                continue
        attached = start > 0 and text[start - 1] == "="
        style = "quoted" if quoted else "env" if attached and ENV_NAME_RE.fullmatch(value) else "cli"
        if value_is_secret(value, style, kind):
            if not quoted:
                end = _extend(text, end)
            yield start, end, kind
            pos = max(pos, end)


# "requirepass X" in redis.conf, "password X" in a client config: name and value parted by blanks only.
_SPACED_RE = re.compile(
    r"(?m)^[ \t]{0,40}(?:[\w.:-]{1,60}>[ \t]{0,4})?(?P<key>[A-Za-z_][\w.-]{0,60})[ \t]{1,16}"
    r"(?:(?P<user>[^\s\"'=:]{1,64})[ \t]{1,8})?(?P<q>[\"']?)"
    + NO_MARKER
    + r"(?P<v>[^\s\"']{3,512})(?P=q)[ \t]{0,8}\r?$"
)
_SPACED_KEYS = frozenset(
    {"auth", "requirepass", "masterauth", "masterpass", "authpass", "auth_pass", "passwd"}
)


def find_spaced_config(text: str, low: str) -> Iterator[Span]:
    for m in _SPACED_RE.finditer(text):
        key = m.group("key")
        kind = "password" if key.lower() in _SPACED_KEYS else key_kind(key)
        if kind is None or (m.group("user") and key.lower() != "auth"):
            continue
        value = m.group("v")
        if looks_like_password(value) or (kind not in ("key", "auth") and looks_random(value)):
            yield m.start("v"), m.end("v"), kind


# ---- Literal arguments of login, auth and connect calls.

_AUTH_CALL_RE = re.compile(
    r"(?i)(?<![\w])(?P<fn>(?:http)?(?:basic|digest|plain|ntlm)_?auth(?:entication|enticator)?|setbasicauth|"
    r"withbasicauth|basic_auth_header|log_?in|sign_?in|authenticate|auth|credentials?|networkcredential|"
    r"passwordauthentication|usernamepassword(?:credentials|authenticationtoken)|passwordcredential|"
    r"getconnection|(?:mysqli?|pg|oci|sqlsrv|mssql|ibase|ftp|ldap|imap)_(?:real_)?(?:connect|login|bind|open)|"
    r"pdo|connect|bind|simple_bind_s|bind_s|smtp_login)[ \t]{0,4}(?P<open>[(\[])[ \t]{0,4}"
    r"(?P<args>[^()\[\]\r\n]{1,400})[)\]]"
)
_TUPLE_RE = re.compile(
    r"(?i)(?<![\w])(?:auth|http_auth|basic_auth|httpauth|proxy_auth|credentials)[ \t]{0,4}[=:][ \t]{0,4}"
    r"[(\[][ \t]{0,4}(?P<args>[^()\[\]\r\n]{1,400})[)\]]"
)
_ARG_PART_RE = re.compile(r"\"(?P<dq>(?:[^\"\\\r\n]|\\.){0,512})\"|'(?P<sq>(?:[^'\\\r\n]|\\.){0,512})'|,")
_HOSTISH_RE = re.compile(
    r"[a-z0-9-]{1,63}(?:\.[a-z0-9-]{1,63})*\.[a-z]{2,24}(?::\d{1,5})?|localhost(?::\d{1,5})?"
    r"|\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?"
)
_USERISH_RE = re.compile(
    r"[\w.+-]{1,64}@[\w-]{1,63}(?:\.[\w-]{1,63})+|[A-Za-z]{1,20}\\[\w.-]{1,40}|__token__|_json_key|oauth2|apikey"
)


def _literal_args(args: str, offset: int) -> Iterator[tuple[int, int, int, str]]:
    index = 0
    for part in _ARG_PART_RE.finditer(args):
        if part.group() == ",":
            index += 1
            continue
        group = "dq" if part.group("dq") is not None else "sq"
        yield index, offset + part.start(group), offset + part.end(group), part.group(group)


def _credential_literal(value: str) -> bool:
    if len(value) < 3 or is_stand_in(value) or "://" in value or (" " in value and "=" in value):
        return False
    if _HOSTISH_RE.fullmatch(value) or _USERISH_RE.fullmatch(value):
        return False
    return not is_plain_word(value) or len(value) >= 8


# Client("AC...", "<auth token>"), algoliasearch('APP', '<admin key>'), APISession("<token>"): a random
# literal handed to a client, session or SDK constructor is its credential.
_CLIENT_CALL_RE = re.compile(
    r"(?<![\w.])(?P<fn>[A-Za-z_$][\w.$]{0,60})[ \t]{0,4}\((?P<args>[^()\r\n]{1,400})\)"
)
_CLIENT_SUFFIXES = (
    "client",
    "session",
    "api",
    "search",
    "sdk",
    "connect",
    "auth",
    "login",
    "init",
    "configure",
    "credential",
    "credentials",
    "signer",
    "mailer",
    "bot",
    "service",
    "clientsync",
    "graphapi",
    "connection",
    "sign",
    "encode",
    "hmac",
)


def _random_literal(value: str) -> bool:
    return (
        len(value) >= 16 and looks_random(value) and not _HOSTISH_RE.fullmatch(value) and "://" not in value
    )


def find_client_literals(text: str, low: str) -> Iterator[Span]:
    for m in _CLIENT_CALL_RE.finditer(text):
        fn = m.group("fn").rsplit(".", 1)[-1].lower()
        if not fn.endswith(_CLIENT_SUFFIXES) and fn not in ("client", "run"):
            continue
        for _, start, end, value in _literal_args(m.group("args"), m.start("args")):
            strong = _random_literal(value) or (len(value) >= 12 and looks_like_password(value))
            if strong and not is_stand_in(value):
                yield start, end, "token"


# -t/-k/-p/-a/-w followed by a long random value: a token for some CLI no table names.
_SHORT_FLAG_RE = re.compile(r"(?<![\w-])-[tkKpPawT](?:[ \t]{1,8}|=)(?P<q>[\"']?)(?P<v>[^\s\"'|;&<>]{20,512})")


def find_short_flags(text: str, low: str) -> Iterator[Span]:
    for m in _SHORT_FLAG_RE.finditer(text):
        value = m.group("v")
        if _random_literal(value) and not is_stand_in(value) and "/" not in value.strip("/")[:1]:
            yield m.start("v"), m.end("v"), "token"


def find_call_credentials(text: str, low: str) -> Iterator[Span]:
    for rx in (_AUTH_CALL_RE, _TUPLE_RE):
        for m in rx.finditer(text):
            args = list(_literal_args(m.group("args"), m.start("args")))
            if not args:
                continue
            n_args = m.group("args").count(",") + 1
            for index, start, end, value in args:
                if index == 0 and n_args > 1:
                    continue  # the user name, host or connection handle
                if n_args == 1 and not looks_random(value):
                    continue  # client.login("token"): only a token-shaped single argument
                if _credential_literal(value):
                    yield start, end, "password"
