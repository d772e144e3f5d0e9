"""Judgement shared by the rules: is a name secret-sounding, is a value a literal credential?

Rules find candidates with cheap regexes; these functions decide in Python, because telling
``password = hunter2`` from ``password = get_password()`` or ``PWD=/app`` needs a look at both sides.
"""

from __future__ import annotations

import functools
import math
import re
from collections.abc import Callable, Iterator

# (start, end, kind) as yielded by every finder.
Span = tuple[int, int, str]
# Finders get the text and its lowercase copy (for cheap needle checks).
Finder = Callable[[str, str], Iterator[Span]]

B = r"(?<![A-Za-z0-9_])"  # token boundary for alphabets without '-'
BD = r"(?<![A-Za-z0-9_-])"  # token boundary for alphabets that include '-'
# Placed in front of value groups so already-redacted values are skipped inside the regex engine;
# that keeps redact()'s verification pass cheap on text that is full of markers.
# Rules scan a copy of the text in which each existing marker is this one private-use character.
SENTINEL = "\ue000"
NO_MARKER = r"(?!\[REDACTED:|\ue000)"
NO_QUOTED_MARKER = r"(?!(?:\[REDACTED:[a-z0-9-]{1,40}\]|\ue000)[\"'])"


def wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def line_before(text: str, pos: int, limit: int = 300) -> int:
    """Start of the line holding ``pos``, but at most ``limit`` characters back (keeps scans linear)."""
    lo = max(0, pos - limit)
    return text.rfind("\n", lo, pos) + 1 or lo


def line_after(text: str, pos: int, limit: int = 300) -> int:
    """End of the line holding ``pos``, or -1 when it is further than ``limit`` characters away."""
    nl = text.find("\n", pos, pos + limit)
    if nl >= 0:
        return nl
    return len(text) if len(text) - pos <= limit else -1


# ---- Names.

_KEY_WORD_RE = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|[0-9]+")
_STRONG_SUBSTRINGS = ("password", "passwd", "passphrase", "secret", "credential")
_KEY_COMPOUNDS = wordset(
    "apikey accesskey privatekey secretkey accountkey signingkey encryptionkey masterkey authkey clientkey "
    "sessionkey appkey adminkey licensekey licencekey writekey readkey serverkey webhookkey hmackey "
    "decryptionkey deploykey userkey integrationkey ingestkey restkey"
)
# Names that mention a secret but hold metadata about it (a hash, a path, a length...).
_NEGATIVE_WORDS = wordset(
    "hash hashed hasher digest length len count num max min limit limits size type kind name names file "
    "files path paths dir url uri urls endpoint env var field header prompt policy expiry expires "
    "expiration expire expired ttl timeout id ids stdin format regex pattern label hint placeholder "
    "rotation version strength validator validation validators manager required enabled help description "
    "message msg error index idx position pos budget usage used cost rate provider backend class cls "
    "model service input output form page view mode scope scopes audience issuer algorithm alg template "
    "schema source location ref reference at lifetime store cache helper prefix offset start end public "
    "pub reset confirm confirmation changed change forgot sent generator gen mask masked placeholder "
    "widget length regexp ui button link icon label modal dialog column col table schema"
)
# Services whose name in a setting marks its value as their credential when the value looks random
# (x-honeycomb-team, TWITTER_CONSUMER, algolia_admin): the context rules of gitleaks, in short.
_VENDOR_WORDS = wordset(
    "adafruit adobe airtable algolia alibaba asana atlassian beamer bitbucket bittrex cloudflare codecov cohere "
    "coinbase confluent contentful datadog dd discord droneci dropbox etsy facebook fastly finicity finnhub "
    "flickr freshbooks gitter gocardless heroku honeycomb hubspot intercom jfrog kraken kucoin launchdarkly "
    "linear linkedin lob looker mailchimp mailgun mapbox mattermost messagebird netlify newrelic nytimes okta "
    "pagerduty plaid pusher rapidapi sendbird sentry shippo snyk sonar squarespace sumologic telegram travis "
    "twitch twitter typeform yandex zendesk vercel segment mixpanel amplitude algolia pinecone openai anthropic "
    "mistral groq replicate cohere weaviate qdrant pinecone elastic circleci buildkite render railway supabase "
    "firebase twilio vonage nexmo plivo sendgrid postmark mandrill sparkpost mailjet brevo stripe paypal "
    "braintree square razorpay adyen klarna shopify"
)
# A value under these names is only a secret when it looks random ("auth: required" is config).
_WEAK_WORDS = wordset(
    "auth session sessionid sid cookie seed mnemonic license licence pat psk otp totp hmac dsn"
)


@functools.lru_cache(maxsize=8192)
def key_kind(key: str) -> str | None:
    """Kind of secret a variable/flag name suggests, or None when it is not secret-sounding.

    A dotted name is judged by its last part: ``settings.SECRET_KEY`` is a secret, ``token.type`` not.
    """
    if key.startswith("BUNDLE_") and "__" in key:
        return "password"  # Bundler's per-host credentials: BUNDLE_GEMS__EXAMPLE__COM=user:password
    key = key.rsplit(".", 1)[-1] if "." in key.strip(".") else key
    words = [w.lower() for w in _KEY_WORD_RE.findall(key)]
    if not words or any(w in _NEGATIVE_WORDS for w in words) or words[0] == "no":
        return None
    joined = "".join(words)
    if any(s in w for w in words for s in ("password", "passwd", "passphrase")) or any(
        w in ("pass", "pwd", "pw", "passcode") for w in words
    ):
        return "password"
    if any(c in joined for c in _KEY_COMPOUNDS):
        return "api-key" if "apikey" in joined else "secret"
    if any(w.endswith("token") or w == "bearer" for w in words):
        return "token"
    if any(w in ("signature", "sig") for w in words):
        return "signature"
    if any(s in w for w in words for s in _STRONG_SUBSTRINGS) or any(
        w in ("creds", "cred", "salt") for w in words
    ):
        return "secret"
    if words[-1] == "key" and len(words) > 1:
        return "key"
    if any(w in _WEAK_WORDS for w in words):
        return "auth" if "auth" in words else "key"
    if any(w in _VENDOR_WORDS for w in words) and len(words) > 1:
        return "key"
    return None


# Kinds whose values must also look random: these names are common in lexers, crypto code and config.
WEAK_KINDS = frozenset({"token", "signature", "key", "auth"})


# ---- Stand-ins: references, templates, masks and example values.

_REFERENCE_FULL = re.compile(
    r"\$\{[^{}]*\}?|\$[A-Za-z_][A-Za-z0-9_]*|\$\([A-Za-z][\w.-]{0,30}(?:[ \t][^\n]*)?\)?|\$\{\{.*\}\}|\{\{.*\}\}|%[A-Za-z_][\w]*%|<[^<>]{0,80}>"
    r"|\{[A-Za-z_][\w.]*\}?|%\(\w+\)s|%[sdr]|\*+|[xX•.\-]{3,}|REDACTED|\[REDACTED.*|\ue000.*"
    # YAML tags (!vault, !Ref) and openssl-style indirections (env:NAME, file:path)
    r"|!{1,2}[A-Za-z][A-Za-z]{1,30}|(?:env|file|fd):\S{1,200}",
    re.DOTALL,
)
_REFERENCE_PART = re.compile(
    r"\$\{\{[^{}]*\}\}|\$\{[^{}]*\}|\$[A-Za-z_][A-Za-z0-9_]*\b|\{\{[^{}]*\}\}|\{[A-Za-z_][\w.]*\}|<[^<>\n]{1,80}>"
)
_AUTH_SCHEME_WORDS = re.compile(r"(?i)\b(?:bearer|basic|token|digest)\b")
# Values that only name the concept ("user:pass@host", api_key="your-api-key") are documentation.
_EXAMPLE_WORDS = wordset(
    "pass password passwd pwd pw secret secrets token key api apikey access client my your the value here "
    "example dummy placeholder fake sample test changeme redacted hidden masked none null"
)
_EXAMPLE_SPLIT_RE = re.compile(r"[-_.\s]+")


# A mask keeps a token's prefix or a few of its characters ("sk-...", "ghp_ab12...wxyz", "eyJ...==");
# a password that happens to hold "..." has a password's punctuation, or a long random run beside it.
_MASK_SPLIT_RE = re.compile(r"\.{3,}|\*{3,}|…+")
_PASSWORD_PUNCT = frozenset("~!^+#&|?")


def _mask_shaped(v: str) -> bool:
    sides = [s for s in _MASK_SPLIT_RE.split(v) if s]
    if any(_PASSWORD_PUNCT & set(s) or "=" in s.rstrip("=") for s in sides):
        return False
    return not any(len(s) >= 13 and looks_random(s) for s in sides)


@functools.lru_cache(maxsize=8192)
def is_stand_in(value: str) -> bool:
    """True for env-var references, template slots, masks and example values: not secrets themselves."""
    v = value.strip()
    if not v or _REFERENCE_FULL.fullmatch(v):
        return True
    # Already masked or elided ("sk-...", "hf_***"); a long random value can hold "..." by chance, so
    # only short or mostly-masked ones are masks.
    masked = "..." in v or "***" in v or "…" in v
    if masked and (len(v) < 24 or sum(c in ".*…" for c in v) * 4 >= len(v)) and _mask_shaped(v):
        return True
    if len(v) <= 80 and all(p in _EXAMPLE_WORDS for p in _EXAMPLE_SPLIT_RE.split(v.lower()) if p):
        return True
    if "$" in v or "{" in v or "<" in v or "%" in v:
        rest = _AUTH_SCHEME_WORDS.sub("", _REFERENCE_PART.sub("", v)).strip(" :@/\"'")
        return len(rest) < 3 and rest != v
    return False


# ---- What a value looks like.

CODE_WORDS = wordset(
    "none null nil true false undefined self this str string bytes int integer bool boolean number any "
    "unknown object optional dict list required yes no on off env os secretstr char void"
)
IDENT_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_DOTTED_RE = re.compile(r"[A-Za-z_$][A-Za-z0-9_$]*(?:\.[A-Za-z_$][A-Za-z0-9_$]*)+")
# A call or subscript: a name, then brackets; a random key's "(" or "!@#%^&*~" are not code.
_CALL_RE = re.compile(r"[A-Za-z_$][\w.$]{1,60}(?:\(.*\)|\[.*\]|[(\[])[\w.()\[\]]*")
_NOT_CODE_CHARS = frozenset("!@#%^&*~|")
_SNAKE_RE = re.compile(r"_?[a-z][a-z0-9]*(?:_[a-z0-9]+)+_?")


def _is_snake_name(v: str) -> bool:
    return bool(_SNAKE_RE.fullmatch(v)) and sum(c.isdigit() for c in v) <= 2


_CAMEL_RE = re.compile(r"[a-z]{2,}(?:[A-Z][a-z]{2,})+[0-9]{0,3}|(?:[A-Z][a-z]{2,}){2,}[0-9]{0,3}")
# Words that follow a flag in prose ("use the --token flag instead") rather than a real value.
PROSE_WORDS = wordset(
    "a an and are as at be but by flag flags for from if in instead into is it not of on option options or "
    "argument arguments arg args parameter param switch the then this that to value was when which while "
    "with without you your must should can will requires required is are does did do has have here there "
    "missing invalid wrong expired empty set unset given provided supplied"
)
_ENV_NAME_SHAPE_RE = re.compile(r"[A-Z][A-Z_]*|[A-Z][A-Z0-9]*_[A-Z0-9_]*")


class _EnvName:
    """``HF_TOKEN``, ``DB_PASSWORD``: an environment variable's name (letters, few digits), not a value."""

    @staticmethod
    def fullmatch(v: str) -> bool:
        digits = sum(c.isdigit() for c in v)
        return bool(_ENV_NAME_SHAPE_RE.fullmatch(v)) and digits <= 2 and len(v) - digits - v.count("_") >= 3


ENV_NAME_RE = _EnvName()
_RANDOMISH_RE = re.compile(r"[A-Za-z0-9_\-.+/=:~%!#$&*@^]{8,}")
_CLASS_OF = {**dict.fromkeys("0123456789", 0), **dict.fromkeys("abcdefghijklmnopqrstuvwxyz", 1)}
_CLASS_OF.update(dict.fromkeys("ABCDEFGHIJKLMNOPQRSTUVWXYZ", 2))
_SECRET_NAME_PARTS = ("password", "passwd", "secret", "token", "apikey", "api_key", "api-key", "credential")


def entropy(v: str) -> float:
    """Shannon entropy in bits per character."""
    if not v:
        return 0.0
    counts: dict[str, int] = {}
    for c in v:
        counts[c] = counts.get(c, 0) + 1
    n = len(v)
    return -sum(k / n * math.log2(k / n) for k in counts.values())


def class_switches(v: str) -> float:
    """Share of neighbouring characters in different classes (digit, lower, upper, other).

    Random tokens switch often (about 0.6 for base62); words and camelCase names rarely (under 0.2).
    """
    if len(v) < 2:
        return 0.0
    classes = [_CLASS_OF.get(c, 3) for c in v]
    return sum(a != b for a, b in zip(classes, classes[1:])) / (len(v) - 1)


_NAME_PART_RE = re.compile(
    r"[a-z_$][a-z0-9_]*|[A-Z_][A-Z0-9_]*|(?:[A-Z][a-z]+)+[0-9]*|[a-z]+(?:[A-Z][a-z]*)+[0-9]*|[A-Z][a-z]*(?:[A-Z][a-z]+)+"
)


def is_dotted_name(v: str) -> bool:
    """``settings.API_KEY`` or ``os.environ``: a dotted name whose parts read as names."""
    if not _DOTTED_RE.fullmatch(v):
        return False
    return all(
        _NAME_PART_RE.fullmatch(p)
        and sum(c.isdigit() for c in p) <= 2
        and not looks_random(p, dotted_ok=True)
        for p in v.split(".")
    )


def looks_random(v: str, *, dotted_ok: bool = False) -> bool:
    """A token-like value: no spaces, and digits, length or mixed case that words do not have."""
    if not _RANDOMISH_RE.fullmatch(v) or (not dotted_ok and is_dotted_name(v)):
        return False
    has_digit = any(c.isdigit() for c in v)
    has_alpha = any(c.isalpha() for c in v)
    mixed_case = any(c.isupper() for c in v) and any(c.islower() for c in v)
    if has_digit and has_alpha:
        # "v2", "utf8", "sha256" and "x86_64" have a digit too; a token has more than a couple.
        return len(v) >= 12 or sum(c.isdigit() for c in v) >= 2 or class_switches(v) >= 0.3
    if has_digit:
        return len(v) >= 16 and not v.isdigit()
    return (len(v) >= 24 and class_switches(v) >= 0.2) or (
        mixed_case and len(v) >= 16 and class_switches(v) >= 0.3
    )


def looks_like_path(v: str) -> bool:
    """A filesystem path of readable names; a base64 secret may start with "/" but its parts are random."""
    if not v.startswith(("/", "./", "../", "~/", "~")) or "//" in v:
        return False
    segments = [seg for seg in v.split("/") if seg not in ("", ".", "..", "~")]
    if not segments or any(looks_random(seg) for seg in segments):
        return False
    return len(segments) >= 2 or bool(re.fullmatch(r"[A-Za-z0-9_.-]{1,40}", segments[0]))


def names_a_secret(v: str) -> bool:
    """``db-password``, ``prod/api_token``: a name or reference that mentions a secret, not its value."""
    low = v.lower()
    if any(c.isdigit() for c in v) and not re.search(r"[a-z][-_/.]", low):
        return False
    return any(p in low for p in _SECRET_NAME_PARTS) and bool(re.fullmatch(r"[A-Za-z_./:-]+", v))


def is_plain_word(v: str) -> bool:
    """One ordinary lowercase word or slug: a database, user or group name rather than a password."""
    return bool(re.fullmatch(r"[a-z][a-z_-]{0,23}", v))


_CODE_RE = re.compile(r"\w[(\[]")
# camelCase names, Capitalised words, snake_case names, numbers, versions
_NOT_PASSWORD_RE = re.compile(
    r"[a-z]+(?:[A-Z][a-z]+)+[0-9]{0,3}|[A-Z][a-z]+|[a-z_]+_[a-z_]+|[\d.,:]+|v?\d+(?:\.\d+)+[\w-]*"
)


def is_code_name(name: str) -> bool:
    """``os.getenv``, ``[]byte``, ``Buffer.from``: the callee of a call, made of names, not random."""
    parts = [p for p in name.replace("[]", "").split(".") if p]
    return bool(parts) and all(
        _NAME_PART_RE.fullmatch(p.lstrip("$")) and sum(c.isdigit() for c in p) <= 2 for p in parts
    )


def _is_call(v: str) -> bool:
    if not _CALL_RE.fullmatch(v) or _NOT_CODE_CHARS & set(v):
        return False
    return is_code_name(re.split(r"[(\[]", v, maxsplit=1)[0])


def looks_like_password(v: str) -> bool:
    """A word-free literal a person would choose as a password: "hunter2x", "Tr0ub4dor&3", not "field"."""
    if (
        len(v) < 6
        or is_stand_in(v)
        or v.lower() in CODE_WORDS
        or names_a_secret(v)
        or any(c.isspace() for c in v)
    ):
        return False
    if v[0] in "-([{<" or is_plain_word(v.rstrip(".:!?")) or looks_like_path(v) or "://" in v:
        return False
    if is_dotted_name(v.rstrip(".")) or _CODE_RE.search(v) or _NOT_PASSWORD_RE.fullmatch(v):
        return False
    return any(c.isdigit() for c in v) or any(not c.isalnum() for c in v.rstrip(".:!?")) or looks_random(v)


_FLAG_RE = re.compile(r"--?[A-Za-z][\w-]{0,40}(?:=.*)?|-")


def is_flag(word: str) -> bool:
    """``-p``, ``--user=x``; not ``-VL7UOn+ak0ErrY5``, a password that happens to start with a dash."""
    return bool(_FLAG_RE.fullmatch(word)) and not looks_random(word.split("=", 1)[0].lstrip("-"))


_INNER_ASSIGN_RE = re.compile(r"(?P<key>[A-Za-z_][\w.-]{0,80})(?:[\"']?[ \t]{0,8})(?::=|=>|=|:)")


def _name_like(key: str) -> bool:
    """An inner pair's key reads as a name (``DB_PASSWORD``, ``id``, ``src``, ``repo.password``)."""
    return bool(ENV_NAME_RE.fullmatch(key) or key == key.lower() or _CAMEL_RE.fullmatch(key)) and (
        sum(c.isdigit() for c in key) <= 2
    )


def value_is_secret(value: str, style: str, kind: str) -> bool:
    """Whether an assigned value looks like a literal credential rather than code or prose.

    ``style`` is ``quoted``, ``env`` (``UPPER_NAME=value``), ``cli`` (``--flag value``), ``line``
    (``name: value`` alone on its line, as in YAML or INI) or ``code`` (every other unquoted form,
    where identifiers and calls are common).
    """
    v = value.strip()
    inner = _INNER_ASSIGN_RE.match(v) if style != "quoted" else None
    if inner and not _name_like(inner.group("key")):
        inner = None  # "ddA7j==+!x9": a password with "=" in it, not a pair
    spec = style == "cli" and kind != "password" and len(inner.group("key")) >= 2 if inner else False
    if inner and (
        key_kind(inner.group("key")) or kind in WEAK_KINDS or (spec and is_plain_word(inner.group("key")))
    ):
        return False  # "credential: DB_PASSWORD=..." or "--secret id=x,src=y": the inner pair decides
    min_len = {"quoted": 3 if kind == "password" else 6, "env": 3, "cli": 1, "line": 3}.get(style, 6)
    if len(v) < min_len or is_stand_in(v):
        return False
    if kind in WEAK_KINDS and style != "env" and not looks_random(v):
        return False
    if kind == "key" and not (len(v) >= 16 and looks_random(v)):
        return False
    if style == "quoted":
        return not names_a_secret(v) and (kind == "password" or not any(c.isspace() for c in v))
    if style == "cli":
        # An upper-case name after a flag ("--secrets HF_TOKEN") names an env var, not a value.
        if is_flag(v) or v.lower() in PROSE_WORDS or names_a_secret(v):
            return False
        if ENV_NAME_RE.fullmatch(v) and kind != "password":  # "--password ABC_00" is the password
            return False
        return kind == "password" or not (is_plain_word(v) or _is_snake_name(v))
    bracketed = v[0] in "([{<" and style != "env" and not _NOT_CODE_CHARS & set(v)
    if bracketed or v.lower() in CODE_WORDS or "://" in v or looks_like_path(v):
        return False
    if _is_call(v) or is_dotted_name(v) or names_a_secret(v):
        return False
    if style == "env":
        return True
    if _is_snake_name(v) or _CAMEL_RE.fullmatch(v):
        return False
    if style == "line":
        return not (IDENT_RE.fullmatch(v) and len(v) < 6)
    # Bare words and identifiers without digits ("response", "accessToken") are almost always code.
    return not (IDENT_RE.fullmatch(v) and not any(c.isdigit() for c in v) and not looks_random(v))
