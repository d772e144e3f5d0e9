"""Credentials inside a known structure: PEM blocks, URLs, connection strings, HTTP headers, .netrc,
Docker and npm auth entries, .pgpass lines, SQL statements and XML settings.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterator

from rb_mcp.redact._values import (
    NO_MARKER,
    Span,
    is_plain_word,
    is_stand_in,
    key_kind,
    line_before,
    looks_random,
    value_is_secret,
    wordset,
)

# ---- PEM private keys (and PuTTY's own format).

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


def find_pem(text: str, low: str) -> Iterator[Span]:
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


_PUTTY_RE = re.compile(
    r"Private-Lines:[ \t]{0,8}[0-9]{1,3}[ \t]{0,8}\r?\n(?P<v>(?:[ \t]{0,8}[A-Za-z0-9+/=]{1,200}[ \t]{0,8}(?:\r?\n|$)){1,200})"
    r"|Private-MAC:[ \t]{0,8}(?P<mac>[0-9a-fA-F]{20,128})"
)


def find_putty(text: str, low: str) -> Iterator[Span]:
    for m in _PUTTY_RE.finditer(text):
        group = "v" if m.group("v") is not None else "mac"
        yield m.start(group), m.end(group), "private-key"


# ---- Credentials embedded in URLs and DSNs.

_DB_SCHEMES = wordset(
    "postgres postgresql mysql mariadb mongodb mongodb+srv redis rediss amqp amqps mssql sqlserver oracle "
    "cockroachdb clickhouse neo4j couchdb memcached cassandra nats kafka jdbc"
)
_URL_CRED_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])(?P<scheme>[A-Za-z][A-Za-z0-9+.-]{1,30})://"
    r"(?P<user>[^\s:/?#@\"'<>]{0,256}):" + NO_MARKER + r"(?P<pw>[^\s/?#\"'<>]{1,512})@"
)
# A long random-looking user part with no password is a token used as the username.
_URL_TOKEN_USER_RE = re.compile(
    r"(?<![A-Za-z0-9+.-])[A-Za-z][A-Za-z0-9+.-]{1,30}://(?P<user>[A-Za-z0-9_.~-]{20,256})@"
)
# Go's MySQL driver: user:pass@tcp(host:3306)/db
_GO_DSN_RE = re.compile(
    r"(?<![\w/:@.-])[\w.-]{1,64}:" + NO_MARKER + r"(?P<pw>[^\s@/\"'`]{1,256})@(?:tcp|unix)\("
)
# Oracle's user/password@service, on the command line of its tools and in thin JDBC URLs.
_ORACLE_RE = re.compile(
    r"(?i)(?:jdbc:oracle:(?:thin|oci):|(?<![\w-])(?:sqlplus|expdp|impdp|sqlldr|rman|dgmgrl)"
    r"(?:[ \t]{1,8}-\w{1,20}){0,3}[ \t]{1,8}(?:target=|userid=)?[\"']?)"
    r"[\w.$#]{1,64}/" + NO_MARKER + r"(?P<pw>[^\s@/\"']{1,256})(?=@|[\s\"']|$)"
)


def find_url_credentials(text: str, low: str) -> Iterator[Span]:
    for m in _URL_CRED_RE.finditer(text):
        pw = m.group("pw")
        if is_stand_in(pw):
            continue
        scheme = m.group("scheme").lower()
        kind = "connection-string" if scheme in _DB_SCHEMES else "password"
        yield m.start("pw"), m.end("pw"), kind
    for m in _URL_TOKEN_USER_RE.finditer(text):
        user = m.group("user")
        if any(c.isdigit() for c in user) and any(c.isalpha() for c in user):
            yield m.start("user"), m.end("user"), "token"


def find_dsn_credentials(text: str, low: str) -> Iterator[Span]:
    if "(" in text:
        for m in _GO_DSN_RE.finditer(text):
            if not is_stand_in(m.group("pw")):
                yield m.start("pw"), m.end("pw"), "connection-string"
    for m in _ORACLE_RE.finditer(text):
        if not is_stand_in(m.group("pw")):
            yield m.start("pw"), m.end("pw"), "connection-string"


# ODBC / ADO.NET / Azure style "Key=Value;" strings.  A ';' must show that format, because
# "password = getPassword();" in C-like code has one too, hence the extra shape checks below.
_ODBC_RE = re.compile(
    r"(?i)(?<![\w-])(?:password|pwd|accountkey|sharedaccesskey|sharedaccesssignature)(?P<sp>[ \t]{0,8})="
    r"[ \t]{0,8}" + NO_MARKER + r"(?P<v>\{[^}\r\n]{0,1024}\}|[^;\r\n\"']{1,1024})"
)
_ODBC_NEXT_RE = re.compile(r"[ \t]*(?:[A-Za-z][A-Za-z0-9 _]{0,40}=|[\"'\r\n]|$)")


def find_odbc(text: str, low: str) -> Iterator[Span]:
    for m in _ODBC_RE.finditer(text):
        value = m.group("v").strip()
        if not value or "(" in value or is_stand_in(value):
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


# ---- HTTP headers.

_AUTH_HEADER_RE = re.compile(
    r"(?i)(?<![\w-])(?:proxy-)?authorization[\"']?[ \t]{0,8}[:=,][ \t]{0,8}[\"']?"
    r"(?:(?P<scheme>bearer|basic|token|digest|bot|apikey|sso-key|key|otoken|dsn|splunk)[ \t]{1,8})?"
    + NO_MARKER
    + r"(?P<v>[^\s\"',;]{1,4096})"
)
_BEARER_RE = re.compile(r"(?<![\w-])[Bb]earer[ \t]{1,8}(?P<v>[A-Za-z0-9._~+/=-]{16,4096})")
_COOKIE_RE = re.compile(r"(?i)(?<![\w-])(?:set-)?cookie[\"']?[ \t]{0,8}[:=][ \t]{0,8}(?P<v>[^\r\n]{1,4096})")
_COOKIE_PAIR_RE = re.compile(
    r"(?:^|;)[ \t]{0,8}[\"']?[\w.$-]{1,80}=" + NO_MARKER + r"(?P<v>[^;\s\"',]{1,4096})"
)


def find_auth_headers(text: str, low: str) -> Iterator[Span]:
    for m in _AUTH_HEADER_RE.finditer(text):
        value = m.group("v")
        if is_stand_in(value):
            continue
        scheme = (m.group("scheme") or "").lower()
        if not scheme and not (len(value) >= 8 and any(c.isdigit() for c in value)):
            continue  # "Authorization: missing" is prose, not a credential
        if scheme and len(value) < 6 and not any(c.isdigit() for c in value):
            continue
        kind = {"bearer": "bearer-token", "basic": "basic-auth"}.get(scheme, "authorization")
        yield m.start("v"), m.end("v"), kind
    for m in _BEARER_RE.finditer(text):
        if any(c.isdigit() for c in m.group("v")):
            yield m.start("v"), m.end("v"), "bearer-token"
    if "cookie" in low:
        for m in _COOKIE_RE.finditer(text):
            offset = m.start("v")
            for pair in _COOKIE_PAIR_RE.finditer(m.group("v")):
                value = pair.group("v")
                mixed = any(c.islower() for c in value) and any(c.isupper() for c in value)
                hexish = len(value) >= 32 and all(c in "0123456789abcdefABCDEF" for c in value)
                if len(value) >= 16 and looks_random(value) and (mixed or hexish) and not is_stand_in(value):
                    yield offset + pair.start("v"), offset + pair.end("v"), "cookie"


# ---- .netrc, curl -u, docker/npm "auth" entries, .pgpass.

_WS = r"[ \t\r\n]{1,40}"
_NETRC_RE = re.compile(
    r"(?i)(?<![\w-])(?:machine" + _WS + r"\S{1,256}|default)"
    r"(?:"
    + _WS
    + r"(?:login|account|port|user)"
    + _WS
    + r"\S{1,256}){0,3}"
    + _WS
    + r"password"
    + _WS
    + NO_MARKER
    + r"(?P<v>\S{1,1024})"
)
_LOGIN_PAIR_RE = re.compile(
    r"(?i)(?<![\w-])login[ \t]{1,8}\S{1,256}[ \t]{1,8}password[ \t]{1,8}" + NO_MARKER + r"(?P<v>\S{1,1024})"
)
_CURL_USER_RE = re.compile(
    r"(?<![\w-])(?:-u|--user|-a|--auth|--proxy-user|-U)(?:[ \t]{1,8}|=)[\"']?(?P<user>[^\s:\"'$%]{1,256})[:%]"
    + NO_MARKER
    + r"(?P<v>[^\s\"']{1,1024})"
)
_HTTP_CLIENT_RE = re.compile(
    r"(?<![\w-])(?:curl|https?|wget|xh|hurl|ab|httpie|lftp|jf|jfrog|smbclient|rpcclient)\b"
)


def _anonymous(m: re.Match[str]) -> bool:
    # Anonymous FTP logs in with an e-mail address as its "password"; that is a convention, not a secret.
    return "anonymous" in m.group().lower() and "@" in m.group("v")


def find_login_pairs(text: str, low: str) -> Iterator[Span]:
    if "password" in low:
        for m in _NETRC_RE.finditer(text):
            if not is_stand_in(m.group("v")) and not _anonymous(m):
                yield m.start("v"), m.end("v"), "password"
        for m in _LOGIN_PAIR_RE.finditer(text):
            value = m.group("v")
            # "the login page's password field" is prose; a .netrc password is not a plain word.
            if not is_stand_in(value) and not is_plain_word(value.rstrip(".,;:")) and not _anonymous(m):
                yield m.start("v"), m.end("v"), "password"
    for m in _CURL_USER_RE.finditer(text):
        value = m.group("v")
        # "docker run -u 1000:1000" and "-u nobody:nogroup" are user:group pairs, not credentials.
        if value == m.group("user") or value.isdigit() or is_stand_in(value):
            continue
        line_start = line_before(text, m.start())
        by_client = _HTTP_CLIENT_RE.search(text, line_start, m.start()) is not None
        if (by_client and len(value) >= 4) or not (is_plain_word(value) or len(value) < 4):
            yield m.start("v"), m.end("v"), "password"


_AUTH_ENTRY_RE = re.compile(
    r"(?i)(?<![\w-])[\"']?(?:_auth|auth|basic_?auth|http_?auth|identitytoken)[\"']?[ \t]{0,8}[:=][ \t]{0,8}[\"']?"
    + NO_MARKER
    + r"(?P<v>[A-Za-z0-9+/]{4,4000}={0,2})(?![A-Za-z0-9+/=])"
)


def _decodes_to_pair(value: str) -> bool:
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return False
    return b":" in raw and all(32 <= b < 127 for b in raw)


def find_auth_entries(text: str, low: str) -> Iterator[Span]:
    """``"auth": "dXNlcjpwYXNz"`` in ~/.docker/config.json and ``_auth=`` in .npmrc: base64 user:password."""
    for m in _AUTH_ENTRY_RE.finditer(text):
        value = m.group("v")
        if _decodes_to_pair(value) or (len(value) >= 16 and looks_random(value)):
            yield m.start("v"), m.end("v"), "basic-auth"


_PGPASS_RE = re.compile(
    r"(?m)(?:^|(?<=[\s\"']))(?P<host>[A-Za-z0-9*][\w.*-]{0,252}):(?:[0-9]{1,5}|\*):[\w.*-]{1,63}:[\w.*@-]{1,63}:"
    + NO_MARKER
    + r"(?P<pw>[^\s\"']{1,512})"
)


def find_pgpass(text: str, low: str) -> Iterator[Span]:
    for m in _PGPASS_RE.finditer(text):
        pw = m.group("pw")
        if (
            any(c.isalpha() for c in m.group("host") + "*")
            and any(c.isalpha() for c in pw)
            and not is_stand_in(pw)
        ):
            yield m.start("pw"), m.end("pw"), "password"


# ---- SQL.

# CREATE USER ... IDENTIFIED [WITH plugin] BY '...', ... WITH [ENCRYPTED] PASSWORD '...', ALTER ROLE x
# PASSWORD '...', CREATE LOGIN x WITH PASSWORD = '...', SET PASSWORD FOR u = '...'.
_SQL_PASSWORD_RE = re.compile(
    r"(?i)\b(?:identified(?:[ \t]{1,8}with[ \t]{1,8}\w{1,40})?[ \t]{1,8}by(?:[ \t]{1,8}password)?"
    r"|(?<![\"'\w-])(?:encrypted[ \t]{1,8})?password(?:[ \t]{1,8}|[ \t]{0,8}=)(?:[ \t]{0,8}password[ \t]{0,8}\()?"
    r"|set[ \t]{1,8}password[ \t]{1,8}for[ \t]{1,8}[^=\r\n]{1,80}=(?:[ \t]{0,8}password[ \t]{0,8}\()?)"
    r"[ \t]{0,8}(?:N?'(?P<sq>[^'\r\n]{1,256})'|\"(?P<dq>[^\"\r\n]{1,256})\")"
)


def find_sql_passwords(text: str, low: str) -> Iterator[Span]:
    for m in _SQL_PASSWORD_RE.finditer(text):
        group = "sq" if m.group("sq") is not None else "dq"
        if not is_stand_in(m.group(group)):
            yield m.start(group), m.end(group), "password"


# ---- XML: <password>...</password>, <add key="Password" value="..."/>, <entry key="token">...</entry>.

_XML_ELEMENT_RE = re.compile(
    r"<(?P<key>[A-Za-z_][\w.:-]{0,60})>" + NO_MARKER + r"(?P<v>[^<>\r\n]{1,1024})</(?P=key)>"
)
_XML_ATTR_RE = re.compile(
    r"(?i)<(?P<tag>[\w:.-]{1,40})[ \t\r\n][^<>]{0,200}?\b(?:key|name|id|property)[ \t]{0,4}=[ \t]{0,4}"
    r"[\"'](?P<key>[^\"'<>]{1,80})[\"'](?P<rest>[^<>]{0,300})>"
)
_XML_VALUE_ATTR_RE = re.compile(
    r"(?i)\bvalue[ \t]{0,4}=[ \t]{0,4}(?:\"(?P<dq>[^\"<>]{1,1024})\"|'(?P<sq>[^'<>]{1,1024})')"
)
_XML_TEXT_RE = re.compile(r"(?P<v>[^<>\r\n]{1,1024})</")


def find_xml(text: str, low: str) -> Iterator[Span]:
    for m in _XML_ELEMENT_RE.finditer(text):
        kind = key_kind(m.group("key"))
        if kind is not None and value_is_secret(m.group("v"), "quoted", kind):
            yield m.start("v"), m.end("v"), kind
    for m in _XML_ATTR_RE.finditer(text):
        kind = key_kind(m.group("key"))
        if kind is None:
            continue
        rest_start = m.start("rest")
        v = _XML_VALUE_ATTR_RE.search(m.group("rest"))
        if v is not None:
            group = "dq" if v.group("dq") is not None else "sq"
            if value_is_secret(v.group(group), "quoted", kind):
                yield rest_start + v.start(group), rest_start + v.end(group), kind
        elif not m.group("rest").rstrip().endswith("/"):
            t = _XML_TEXT_RE.match(text, m.end())
            if t is not None and value_is_secret(t.group("v"), "quoted", kind):
                yield t.start("v"), t.end("v"), kind
