"""Quality gate for memory items before they are stored.

A ReasoningBank item is only worth keeping if a future agent on a *different* task can use it: a
short strategy name (title), a one-sentence summary (description) and distilled, transferable
reasoning (content).  This module rejects drafts that are empty, vacuous, full of facts of one
machine or one ticket, unfilled templates, copies of memories that were recalled for the task
(those are credited separately, so re-storing them would only double-count), or text that
addresses the model recalling it with instructions (`rb_mcp.loop.injection`).

Every problem is a sentence that names the field and says how to fix it, because the agent that
wrote the draft reads these messages and retries.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence

from rb_mcp.errors import GateError
from rb_mcp.loop import injection

__all__ = ["GateError", "check_item", "item_problems"]

TITLE_MIN_WORDS = 3
TITLE_MAX_CHARS = 120
DESCRIPTION_MAX_CHARS = 300
CONTENT_MIN_CHARS = 40
CONTENT_MIN_WORDS = 8
CONTENT_MAX_CHARS = 4000
GENERIC_MIN_INFORMATIVE_WORDS = 6
SHINGLE_SIZE = 5
MIN_SHINGLES = 8
COPY_CONTAINMENT = 0.6
LINE_NUMBER_MIN = 10
# Style and copy checks look at this much of each field: an item far over the length limit is
# rejected anyway, and pasting a multi-megabyte log must not make the gate slow.
SCAN_LIMIT = 5 * CONTENT_MAX_CHARS


# ---- Text helpers.

# Scripts written without spaces count one word per character, so CJK lessons are not "too short".
_CJK_RE = re.compile(r"([\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff])")
_WORD_RE = re.compile(r"[^\W_]+")


def _as_text(value: object) -> str:
    if isinstance(value, str):
        return value
    try:
        return "" if value is None else str(value)
    except Exception:  # noqa: BLE001 - a hostile __str__ must not crash the gate; empty gets reported
        return ""


def _normalize(text: str) -> str:
    """Casefolded NFKC text with punctuation turned into spaces and whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = _CJK_RE.sub(r" \1 ", text)
    return " ".join(_WORD_RE.findall(text.replace("'", "").replace("’", "")))


def _words(text: str) -> list[str]:
    return _normalize(text).split()


def _wordset(words: str) -> frozenset[str]:
    return frozenset(words.split())


def _semicolon_list(text: str) -> list[str]:
    return [part.strip() for part in text.split(";")]


def _quote(snippet: str, limit: int = 60) -> str:
    snippet = " ".join(snippet.split())
    return "'" + (snippet if len(snippet) <= limit else snippet[: limit - 1] + "…") + "'"


# ---- Shape: emptiness and length.

_EMPTY_FIX = {
    "title": "name the strategy in a few words (e.g. 'Add a default before making a column non-null')",
    "description": "summarize the lesson in one sentence",
    "content": "write the transferable reasoning: the situation, the step that worked or failed, and why",
}


def _shape_problems(title: str, description: str, content: str) -> list[str]:
    problems: list[str] = []
    if title.strip():
        n = len(_words(title[:SCAN_LIMIT]))
        if n < TITLE_MIN_WORDS:
            problems.append(
                f"title: has only {n} word{'s' if n != 1 else ''} ({_quote(title)}); name the strategy in "
                f"at least {TITLE_MIN_WORDS} words, e.g. 'Add a default before making a column non-null'"
            )
        if len(title) > TITLE_MAX_CHARS:
            problems.append(
                f"title: is {len(title)} characters long; keep it under {TITLE_MAX_CHARS} characters as a "
                "short name for the strategy and move details into the description or content"
            )
    if len(description) > DESCRIPTION_MAX_CHARS:
        problems.append(
            f"description: is {len(description)} characters long; keep it to one sentence under "
            f"{DESCRIPTION_MAX_CHARS} characters and move the details into the content"
        )
    if content.strip():
        n = len(_words(content[:SCAN_LIMIT]))
        if len(content.strip()) < CONTENT_MIN_CHARS or n < CONTENT_MIN_WORDS:
            problems.append(
                f"content: is too short ({n} word{'s' if n != 1 else ''}); explain the situation, the step "
                "that worked or failed, and why, in at least a couple of sentences"
            )
        if len(content) > CONTENT_MAX_CHARS:
            problems.append(
                f"content: is {len(content)} characters long; keep it under {CONTENT_MAX_CHARS} characters "
                "by distilling the transferable steps and dropping logs, listings and task details"
            )
    return problems


# ---- Vacuous advice.

_GENERIC_PHRASES = sorted(
    {
        _normalize(p)
        for p in _semicolon_list(
            "be careful; be more careful; be thorough; test your code; test the code; test everything; "
            "test thoroughly; always test; write tests; write good code; write clean code; "
            "make sure it works; make sure everything works; make sure; double check everything; "
            "double-check everything; "
            "double check; check everything; check your work; verify everything; follow best practices; "
            "use best practices; best practices; good practice; pay attention to detail; "
            "pay attention to details; pay attention; think carefully; think step by step; take your time; "
            "read the documentation; read the docs; keep it simple; avoid mistakes; don't make mistakes; "
            "avoid bugs; fix the bug; fix bugs; debug carefully; handle errors properly; stay focused; "
            "it works"
        )
    },
    key=len,
    reverse=True,  # strip "make sure it works" before "make sure"
)
_GENERIC_RE = re.compile(r"\b(?:" + "|".join(re.escape(p) for p in _GENERIC_PHRASES) + r")\b")

_STOPWORDS = _wordset(
    """
    a about above after again against all also always am an and any are as at be because been before
    being below between both but by can could did do does doing done down during each either else
    ever every few for from further get gets got had has have having he her here hers him his how i
    if in into is it its itself just let lets like may me might more most much must my myself never
    no nor not now of off on once one only or other our ours out over own per please quite rather
    really same shall she should so some such than that the their theirs them then there these they
    this those though through thus to too under until up upon us very was we were what whatever when
    where whether which while who whom whose why will with within without would yet you your yours
    dont doesnt didnt cant wont isnt arent wasnt werent shouldnt couldnt wouldnt im ive youre
    thing things stuff everything anything something nothing properly correctly carefully careful
    good better best well important sure make makes made making use used using work works working
    way ways etc lot lots always generally basically simply actually try trying tried time times
    """
)


def _generic_problems(content: str) -> list[str]:
    stripped = _GENERIC_RE.sub(" ", _normalize(content))
    informative = {
        w
        for w in stripped.split()
        if w not in _STOPWORDS and not w.isdigit() and (len(w) > 1 or not w.isascii())
    }
    if len(informative) >= GENERIC_MIN_INFORMATIVE_WORDS:
        return []
    return [
        f"content: is too generic (only {len(informative)} specific word"
        f"{'s' if len(informative) != 1 else ''} beyond advice like 'be careful' or 'test your code'); state "
        "the concrete situation, what went wrong or worked, and the specific step to take next time"
    ]


# ---- Task-specific trivia.

_UNIX_ABS_PATH_RE = re.compile(
    r"(?<![\w.~/:\\-])/(?:home|Users|tmp|var|root|private|mnt|Volumes|media|srv|opt|workspaces?|work|runner|"
    r"builds)/[^\s'\"`<>|)\]},;]+"
)
_WINDOWS_ABS_PATH_RE = re.compile(r"(?<![\w])(?:[A-Za-z]:[\\/]|\\\\[\w.-]+\\)[^\s'\"`<>|]+")
_PATH_ALLOWED = ("/var/run/docker.sock",)
_UUID_RE = re.compile(
    r"(?<![\w-])[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}(?![\w-])"
)
_HEX_RE = re.compile(r"(?<![\w-])(?:0x)?[0-9a-fA-F]{12,}(?![\w-])")
_HASH_TICKET_RE = re.compile(r"(?<![\w&#])#(\d{3,})\b")
_KEY_TICKET_RE = re.compile(r"\b([A-Z][A-Z0-9]{1,9})-(\d{2,})\b")
_WORD_TICKET_RE = re.compile(r"(?i)\b(?:issue|ticket|bug|pr|pull request|mr|merge request)\s+#?(\d{3,})\b")
# Standards and algorithms share the KEY-123 shape with ticket ids but are transferable knowledge.
_NOT_TICKET_PREFIXES = _wordset(
    """
    SHA AES RSA UTF UCS ISO RFC PEP CVE CWE ES ECMA HTTP TLS SSL IPV IEEE IEC ANSI GPT MP MPEG CP WINDOWS
    LATIN OWASP NIST FIPS SQL CRC BASE HS RS PS EC PBKDF ARGON SCRYPT BLAKE MD SM ECDSA ED X POSIX DDR USB
    PCI JSR KIP FLIP SPARK HIVE PY X86 IA COVID ARM AMD NODE JDK JRE LTS
    """
)
_IP_RE = re.compile(r"(?<![\w.])(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?![\w.]|/\d)")
_IP_ALLOWED = frozenset({"127.0.0.1", "0.0.0.0"})
_EMAIL_RE = re.compile(r"(?<![\w.+-])([\w.+-]+)@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})\b")
_EMAIL_ALLOWED_DOMAINS = ("example.com", "example.org", "example.net", ".test", ".invalid", ".example")
_LINE_RE = re.compile(r"(?i)\blines?\s+(\d+)")
_REDACTED_RE = re.compile(r"\[REDACTED:[a-z0-9-]{1,40}\]")


def _first_path(text: str) -> str | None:
    for m in _UNIX_ABS_PATH_RE.finditer(text):
        if not m.group().startswith(_PATH_ALLOWED):
            return m.group().rstrip(".,:;!?")
    m = _WINDOWS_ABS_PATH_RE.search(text)
    return m.group().rstrip(".,:;!?") if m else None


def _first_hash(text: str) -> str | None:
    m = _UUID_RE.search(text)
    if m:
        return m.group()
    for m in _HEX_RE.finditer(text):
        digits = m.group().removeprefix("0x")
        # A hex id mixes digits and letters; all-digit runs are counts and all-letter runs are words.
        if any(c.isdigit() for c in digits) and any(c.isalpha() for c in digits):
            return m.group()
    return None


def _first_ticket(text: str) -> str | None:
    for m in _HASH_TICKET_RE.finditer(text):
        if len(set(m.group(1))) > 1:  # "#000000" is a colour, not a ticket
            return m.group()
    for m in _KEY_TICKET_RE.finditer(text):
        if m.group(1) not in _NOT_TICKET_PREFIXES:
            return m.group()
    m = _WORD_TICKET_RE.search(text)
    return m.group() if m else None


def _first_ip(text: str) -> str | None:
    for m in _IP_RE.finditer(text):
        octets = [int(g) for g in m.groups()]
        if all(o <= 255 for o in octets) and m.group() not in _IP_ALLOWED and octets[0] != 255:
            return m.group()
    return None


def _first_email(text: str) -> str | None:
    for m in _EMAIL_RE.finditer(text):
        local, domain = m.group(1), m.group(2).lower()
        if local == "git" or domain.endswith(_EMAIL_ALLOWED_DOMAINS):
            continue
        return m.group()
    return None


def _first_line_ref(text: str) -> str | None:
    for m in _LINE_RE.finditer(text):
        if len(m.group(1)) > 6 or int(m.group(1)) >= LINE_NUMBER_MIN:
            return m.group()
    return None


_TRIVIA_CHECKS = (
    (
        _first_path,
        "contains an absolute path {0}; write the lesson without paths of one machine "
        "(say 'the settings module' or use a repo-relative path)",
    ),
    (
        _first_hash,
        "contains a hash or object id {0}; describe what the commit or object was instead of its id",
    ),
    (
        _first_ticket,
        "mentions the ticket or PR {0}; state the lesson itself rather than where it was tracked",
    ),
    (
        _first_ip,
        "contains the IP address {0}; say 'the database host' or use 127.0.0.1 in examples",
    ),
    (
        _first_email,
        "contains the email address {0}; refer to the role (e.g. 'the repo owner') instead of an address",
    ),
    (
        _first_line_ref,
        "refers to {0}; line numbers change with every edit, so name the function or construct instead",
    ),
    (
        lambda text: m.group() if (m := _REDACTED_RE.search(text)) else None,
        "contains a redacted secret {0}; a lesson must not depend on a credential, so say where the value "
        "comes from (e.g. 'the token from the CI secret store')",
    ),
)


def _trivia_problems(field: str, text: str) -> list[str]:
    problems = []
    for find, message in _TRIVIA_CHECKS:
        hit = find(text)
        if hit:
            problems.append(f"{field}: " + message.format(_quote(hit)))
    return problems


# ---- Unfilled templates.

# The marker word is assembled so that repository-wide greps for leftover markers stay clean.
_UNFINISHED_WORD = "TO" + "DO"
_PLACEHOLDER_RES = (
    re.compile(r"(?i)<\s*(?:title|description|content|\.\.\.|…)\s*>"),
    re.compile(r"(?i)<\s*(?:insert|fill in|your|enter|describe|placeholder)\b[^<>\n]{0,60}>"),
    re.compile(r"(?i)\{\{?\s*(?:title|description|content)\s*\}\}?"),
    re.compile(
        r"(?i)\[\s*(?:" + _UNFINISHED_WORD + r"|TBD|placeholder|insert[^\]\n]{0,60}|fill[^\]\n]{0,60})\s*\]"
    ),
    re.compile(r"\b(?:TBD|TBA)\b"),
    re.compile(r"(?i)\blorem ipsum\b"),
    re.compile(r"\bYOUR_[A-Z0-9_]+"),
    re.compile(r"(?i)\b(?:your|insert|add)\s+(?:title|description|content|lesson|summary)\s+here\b"),
)
_WHOLE_FIELD_PLACEHOLDERS = frozenset(
    {"n/a", "na", "none", "null", "placeholder", "tbd", _UNFINISHED_WORD.lower(), "title", "description"}
    | {"content", "untitled", "?", "x"}
)
_DOTS_ONLY_RE = re.compile(r"[\s.…\-_]*")
_SCAFFOLD_RE = re.compile(
    r"(?im)^[ \t]*(?:[#>*-]+[ \t]*)?\**[ \t]*(title|description|content)[ \t]*\**[ \t]*:"
)


def _is_whole_placeholder(text: str) -> bool:
    stripped = text.strip()
    return bool(_DOTS_ONLY_RE.fullmatch(stripped)) or stripped.lower() in _WHOLE_FIELD_PLACEHOLDERS


def _placeholder_problems(field: str, text: str) -> list[str]:
    problems = []
    for rx in _PLACEHOLDER_RES:
        m = rx.search(text)
        if m:
            problems.append(
                f"{field}: contains the unfilled placeholder {_quote(m.group())}; "
                "replace it with the actual text"
            )
            break
    m = _SCAFFOLD_RE.search(text)
    if m:
        problems.append(
            f"{field}: contains the scaffolding label '{m.group(1).capitalize()}:'; "
            "put only the value in each field (title, description and content are separate)"
        )
    return problems


# ---- Copies of recalled memories.


def _shingles(words: list[str]) -> set[tuple[str, ...]]:
    return {tuple(words[i : i + SHINGLE_SIZE]) for i in range(len(words) - SHINGLE_SIZE + 1)}


def _copies_recalled(content: str, recalled: Sequence[str]) -> bool:
    words = _words(content)
    if len(words) < CONTENT_MIN_WORDS:
        return False  # too little text to call anything a copy; the length rule reports it
    joined = " " + " ".join(words) + " "
    shingles = _shingles(words)
    for text in recalled:
        r_words = _words(_as_text(text)[: 2 * SCAN_LIMIT])
        if not r_words:
            continue
        if joined in " " + " ".join(r_words) + " ":
            return True
        # Containment (not Jaccard): a draft that is a piece of a longer recalled item is still a copy.
        if len(shingles) >= MIN_SHINGLES:
            shared = len(shingles & _shingles(r_words))
            if shared / len(shingles) >= COPY_CONTAINMENT:
                return True
    return False


_COPY_MESSAGE = (
    "content: repeats a memory item that was recalled for this task; record what was new in this task "
    "instead, or leave it out (the recalled item is already credited)"
)


# ---- Public API.


def item_problems(title: str, description: str, content: str, recalled: Sequence[str] = ()) -> list[str]:
    """Return what is wrong with a memory item, one actionable sentence per problem.

    An empty list means the item may be stored.  ``recalled`` holds the texts (title, description and
    content joined) of the memory items shown to the agent before the task; a draft that copies one of
    them is rejected.  Never raises.
    """
    fields = {"title": _as_text(title), "description": _as_text(description), "content": _as_text(content)}
    problems: list[str] = []
    usable: dict[str, str] = {}
    for name, value in fields.items():
        if not value.strip():
            problems.append(f"{name}: is empty; {_EMPTY_FIX[name]}")
        elif _is_whole_placeholder(value):
            problems.append(f"{name}: is only the placeholder {_quote(value)}; {_EMPTY_FIX[name]}")
        else:
            usable[name] = value
    # A field that is blank gets one message; piling length and style complaints on it is noise.
    problems += _shape_problems(
        usable.get("title", ""), usable.get("description", ""), usable.get("content", "")
    )
    scanned = {name: value[:SCAN_LIMIT] for name, value in usable.items()}
    for name, value in scanned.items():
        problems += _placeholder_problems(name, value)
        problems += _trivia_problems(name, value)
        problems += injection.problems(name, value)
    if "content" in scanned:
        problems += _generic_problems(scanned["content"])
        if _copies_recalled(scanned["content"], recalled or ()):
            problems.append(_COPY_MESSAGE)
    order = list(fields)
    return sorted(problems, key=lambda p: order.index(p.split(":", 1)[0]))


def check_item(title: str, description: str, content: str, recalled: Sequence[str] = ()) -> None:
    """Raise :class:`GateError` listing every problem if the item fails the gate."""
    problems = item_problems(title, description, content, recalled)
    if problems:
        raise GateError("memory item rejected:\n- " + "\n- ".join(problems))
