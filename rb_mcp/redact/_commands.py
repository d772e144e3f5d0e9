"""Secrets on shell command lines that no ``--name value`` rule sees.

* short flags that mean "password" only for some programs (``mysql -pXXX``, ``sshpass -p XXX``,
  ``redis-cli -a XXX``, ``ldapsearch -w XXX``), while ``-p`` is a port for ssh and a path for mkdir;
* positional arguments of commands that take a secret (``vault login TOKEN``, ``cargo login TOKEN``,
  ``rabbitmqctl add_user NAME PASSWORD``, ``aws configure set aws_secret_access_key VALUE``);
* every value given to a command that stores secrets (``kubectl create secret ... --from-literal``,
  ``fly secrets set K=V``, ``vault kv put path k=v``, ``gh secret set NAME --body V``);
* a value echoed into a command that reads its secret from stdin (``echo X | docker login
  --password-stdin``, ``gh auth login --with-token <<< X``);
* the output line of a command that prints a credential (``heroku auth:token``);
* the reply an expect script sends to a password prompt.

A command is read from its name to the end of its line (or the next ``|``, ``;``, ``&&``), and at
most 64 words, so a line of a million command names costs a constant per name.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from rb_mcp.redact._cli_tables import (
    CONFIG_SET as _CONFIG_SET,
)
from rb_mcp.redact._cli_tables import (
    LOGIN_FLAGS as _LOGIN_FLAGS,
)
from rb_mcp.redact._cli_tables import (
    LOGIN_PROGRAMS as _LOGIN_PROGRAMS,
)
from rb_mcp.redact._cli_tables import (
    LOGIN_WORDS as _LOGIN_WORDS,
)
from rb_mcp.redact._cli_tables import (
    POSITIONAL as _POSITIONAL,
)
from rb_mcp.redact._cli_tables import (
    SECRET_FLAGS as _SECRET_FLAGS,
)
from rb_mcp.redact._cli_tables import (
    SECRET_STORE as _SECRET_STORE,
)
from rb_mcp.redact._cli_tables import (
    STORE_VALUE_FLAGS as _STORE_VALUE_FLAGS,
)
from rb_mcp.redact._cli_tables import (
    WRITE_VERBS as _WRITE_VERBS,
)
from rb_mcp.redact._values import (
    ENV_NAME_RE,
    Span,
    is_flag,
    is_plain_word,
    is_stand_in,
    key_kind,
    line_before,
    looks_like_path,
    looks_random,
    names_a_secret,
)

_MAX_WORDS = 64
_WORD_RE = re.compile(
    r"\"(?:[^\"\\\r\n]|\\.){0,2048}\"|'[^'\r\n]{0,2048}'|(?:[^\s\"'|;&<>]|\\[ \t]){1,2048}|<<<|[|;&<>\n]"
)

_STDIN_READERS_RE = re.compile(
    r"(?:--password-stdin|--with-token|--token-stdin|--passwd-on-stdin|--stdin|(?<![\w-])-S(?![\w-])|"
    r"(?<![\w-])chpasswd\b|(?<![\w-])passwd\b|(?<![\w-])login[ \t]{1,8}-(?![\w-])|/dev/stdin|secret[ \t].{0,80}[ \t]-(?![\w-])|"
    r"secrets?[ \t]{1,8}(?:set|put|create)|--from-file=[\w-]{1,40}=/dev/stdin|(?<![\w-])docker[ \t]{1,8}login|"
    r"auth[ \t]{1,8}login|(?<![\w-])sudo[ \t]{1,8}-S|(?<![\w-])(?:vault|cargo|npm|ngrok|wandb)[ \t]{1,8}login)"
)
_ECHO_RE = re.compile(
    r"(?<![\w-])(?:echo|printf)(?:[ \t]{1,8}-[neE]{1,3})*(?:[ \t]{1,8}(?:'%s\\?n?'|\"%s\\?n?\"))?[ \t]{1,8}"
    r"(?P<v>\"(?:[^\"\\\r\n]|\\.){1,1024}\"|'[^'\r\n]{1,1024}'|[^\s|;&>'\"]{1,1024})[ \t]{0,8}\|(?P<rest>[^\r\n]{1,400})"
)
_HERESTRING_RE = re.compile(
    r"<<<[ \t]{0,8}(?P<v>\"(?:[^\"\\\r\n]|\\.){1,1024}\"|'[^'\r\n]{1,1024}'|[^\s|;&>]{1,1024})"
)
_PRINTERS_RE = re.compile(
    r"(?<![\w-])(?:heroku[ \t]{1,8}auth:token|gh[ \t]{1,8}auth[ \t]{1,8}token|"
    r"gcloud[ \t]{1,8}auth[ \t]{1,8}(?:application-default[ \t]{1,8})?print-(?:access|identity)-token|"
    r"az[ \t]{1,8}account[ \t]{1,8}get-access-token|kubectl[ \t]{1,8}create[ \t]{1,8}token|"
    r"aws[ \t]{1,8}ecr[ \t]{1,8}get-login-password|vault[ \t]{1,8}print[ \t]{1,8}token|"
    r"npm[ \t]{1,8}token[ \t]{1,8}create|kubeadm[ \t]{1,8}token[ \t]{1,8}(?:create|generate)|"
    r"openssl[ \t]{1,8}rand|pwgen|op[ \t]{1,8}read|doctl[ \t]{1,8}auth[ \t]{1,8}token|"
    r"docker[ \t]{1,8}swarm[ \t]{1,8}join-token|flyctl?[ \t]{1,8}auth[ \t]{1,8}token|"
    r"heroku[ \t]{1,8}authorizations:create|secrets\.token_(?:hex|urlsafe|bytes)|"
    r"tailscale[ \t]{1,8}(?:debug[ \t]{1,8})?(?:authkey|create-authkey)|az[ \t]{1,8}ad[ \t]{1,8}sp[ \t]{1,8}credential)"
    r"[^\r\n]{0,300}\r?\n(?P<out>[^\r\n]{1,2000})"
)
_OUT_WORD_RE = re.compile(r"[^\s\"',;{}()\[\]]{8,2000}")
_PROMPT_RE = re.compile(
    r"(?i)(?<![\w])(?:expect|expect_exact|waitfor|wait_for|expect_prompt)[ \t]{0,4}\(?[ \t]{0,4}(?:-re[ \t]{1,4})?[\"']"
    r"[^\"'\r\n]{0,60}?(?:assword|passphrase|token|secret|pin)"
)
_SEND_RE = re.compile(
    r"(?<![\w])(?:send|sendline|send_keys|write|type)[ \t]{0,4}\(?[ \t]{0,4}(?:--[ \t]{1,4})?"
    r"(?:\"(?P<dq>[^\"\r\n]{1,256})\"|'(?P<sq>[^'\r\n]{1,256})')"
)


def _unquote(word: str, start: int) -> tuple[str, int, int]:
    if len(word) >= 2 and word[0] in "\"'" and word[-1] == word[0]:
        return word[1:-1], start + 1, start + len(word) - 1
    return word, start, start + len(word)


_KEY_EQ_RE = re.compile(r"(?:[a-z_][a-z0-9_.-]{2,40}|[A-Z_][A-Z0-9_]{2,40})=")


def _is_value(word: str) -> bool:
    return bool(word) and not is_stand_in(word) and not is_flag(word)


def _words(text: str, start: int) -> list[tuple[str, int, int]]:
    out: list[tuple[str, int, int]] = []
    for m in _WORD_RE.finditer(text, start):
        w = m.group()
        if w in ("|", ";", "\n", "&", "<", ">") or len(out) >= _MAX_WORDS:
            break
        if out and w.lower() in _PROGRAMS:
            break  # the next command starts here and is read on its own
        out.append(_unquote(w, m.start()))
    return out


_PROGRAMS = frozenset(
    {
        *_SECRET_FLAGS,
        *_LOGIN_PROGRAMS,
        *(k[0] for k in _POSITIONAL),
        *(k[0] for k in _CONFIG_SET),
        *(k[0] for k in _SECRET_STORE),
        "env",
    }
)
# Every word followed by a blank is a candidate program name; a set lookup decides (an alternation of
# a hundred names would be tried at every offset).
_PROGRAM_RE = re.compile(r"(?<![\w.-])[A-Za-z0-9][\w.:-]{0,30}(?=[ \t])")


def _flag_value(words: list[tuple[str, int, int]], i: int, flag: str) -> tuple[int, int, str] | None:
    word, start, end = words[i]
    name = flag.rstrip("+")
    glued = flag.endswith("+") or name.endswith(":")
    if word == name and not name.endswith(":") and i + 1 < len(words):
        value, v_start, v_end = words[i + 1]
        return v_start, v_end, value
    if word.startswith(name + "=") or (glued and word.startswith(name) and len(word) > len(name)):
        cut = len(name) + (1 if word[len(name) : len(name) + 1] == "=" else 0)
        value, v_start, v_end = _unquote(word[cut:], start + cut)
        return v_start, v_end, value
    return None


def _short_flag_hits(
    words: list[tuple[str, int, int]], flags: tuple[str, ...], spaced_plain_ok: bool
) -> Iterator[Span]:
    longest_first = sorted(flags, key=len, reverse=True)
    for i, (word, _, _) in enumerate(words):
        if not word.startswith(("-", "/")):
            continue
        for flag in longest_first:
            found = _flag_value(words, i, flag)
            if found is None:
                continue
            start, end, value = found
            if value.startswith("pass:"):
                start, value = start + 5, value[5:]
            elif value.startswith(("env:", "file:", "fd:", "stdin")):
                continue
            spaced = words[i][0] == flag.rstrip("+")
            if _is_value(value) and not (
                spaced and not spaced_plain_ok and (is_plain_word(value) or value.isdigit())
            ):
                yield start, end, "password"
            break


def _positionals(words: list[tuple[str, int, int]]) -> list[tuple[str, int, int]]:
    out = []
    skip_next = False
    for w in words:
        if skip_next:
            skip_next = False
            continue
        if is_flag(w[0]):
            # "--opt value" consumes the value unless the value is glued on with '='.
            skip_next = (
                w[0].startswith("--")
                and "=" not in w[0]
                and w[0] not in ("--global", "--local", "--system", "--user")
            )
            continue
        out.append(w)
    return out


def _key_value_hits(words: list[tuple[str, int, int]], every: bool) -> Iterator[Span]:
    """K=V words (and --flag=K=V), V redacted when K is secret-sounding or ``every`` value is secret."""
    for i, (word, start, _) in enumerate(words):
        body, offset = word, start
        if word.startswith("-"):
            flag, eq, rest = word.partition("=")
            if flag not in _STORE_VALUE_FLAGS:
                continue
            if not eq:
                if i + 1 < len(words) and every:
                    value, v_start, v_end = words[i + 1]
                    if _is_value(value) and not looks_like_path(value):
                        yield v_start, v_end, "secret"
                continue
            body, offset = rest, start + len(flag) + 1
            if "=" not in body:
                value, v_start, v_end = _unquote(body, offset)
                if _is_value(value) and every:
                    yield v_start, v_end, "secret"
                continue
        key, eq, value = body.partition("=")
        if not eq or not re.fullmatch(r"[A-Za-z_][\w.:-]{0,80}", key):
            continue
        value, v_start, v_end = _unquote(value, offset + len(key) + 1)
        kind = key_kind(key)
        if (
            _is_value(value)
            and (every or kind is not None)
            and not value.startswith(("@", "file://", "fileb://"))
            and (every or looks_random(value) or kind == "password")
        ):
            yield v_start, v_end, kind or "secret"


def _command_hits(text: str, prog: str, words: list[tuple[str, int, int]]) -> Iterator[Span]:
    sub = words[0][0] if words else ""
    if prog in _SECRET_FLAGS:
        yield from _short_flag_hits(
            words, _SECRET_FLAGS[prog], spaced_plain_ok=prog not in ("mysql", "mariadb")
        )
    if prog in _LOGIN_PROGRAMS and any(w[0].lower() in _LOGIN_WORDS or w[0] == "source" for w in words[:3]):
        yield from _short_flag_hits(words[1:], _LOGIN_FLAGS, spaced_plain_ok=True)
    if prog == "htpasswd":
        args = _positionals(words)
        opts = "".join(w[0][1:] for w in words if is_flag(w[0]) and not w[0].startswith("--"))
        if "b" in opts:
            index = 1 if "n" in opts else 2
            if len(args) > index and _is_value(args[index][0]):
                yield args[index][1], args[index][2], "password"
    indexes = _POSITIONAL.get((prog, sub))
    if indexes:
        args = _positionals(words[1:])
        if prog == "mc" and args and args[0][0] in ("set", "add", "host"):
            args = args[1:] if sub == "alias" else args[2:]
            indexes = (2, 3)
        if prog == "net" and sub == "use" and args and args[0][0].endswith(":"):
            args = args[1:]
        for index in indexes:
            if index < len(args):
                value, start, end = args[index]
                named = _KEY_EQ_RE.match(value) or ENV_NAME_RE.fullmatch(value)
                if _is_value(value) and not named and not (prog == "net" and value.startswith("/")):
                    yield start, end, "token" if index == 0 else "password"
    if (prog, sub) in _CONFIG_SET:
        args = _positionals(words[1:])
        for i, (word, _, _) in enumerate(args[:-1]):
            name = word.rsplit("/", 1)[-1].lstrip(":")
            if key_kind(name.replace(".", "_")) is not None and "=" not in word:
                value, start, end = args[i + 1]
                if _is_value(value) and not names_a_secret(value) and not looks_like_path(value):
                    yield start, end, key_kind(name.replace(".", "_")) or "secret"
                if key_kind(name.replace(".", "_")) == "password" or name.startswith("http-basic"):
                    break
        yield from _key_value_hits(words[1:], every=False)
    if prog == "bundle" and sub == "config":
        args = _positionals(words[1:])
        for i, (word, _, _) in enumerate(args[:-1]):
            if "." in word or word.startswith("BUNDLE_"):
                value, start, end = args[i + 1]
                user, colon, password = value.partition(":")
                if colon and _is_value(password):
                    yield start + len(user) + 1, end, "password"
    if prog == "poetry" and sub == "config":
        args = _positionals(words[1:])
        if len(args) >= 3 and args[0][0].startswith("http-basic."):
            value, start, end = args[2]
            if _is_value(value):
                yield start, end, "password"
    if (prog, sub) in _SECRET_STORE and any(w[0] in _WRITE_VERBS for w in words[:4]):
        every = not (prog in ("kubectl", "oc") and "secret" not in [w[0] for w in words[:3]])
        yield from _key_value_hits(words[1:], every=every)
    if prog in ("docker", "podman") and sub in ("run", "exec", "create") or prog == "env":
        yield from _key_value_hits(words[1:], every=False)


def find_commands(text: str, low: str) -> Iterator[Span]:
    for m in _PROGRAM_RE.finditer(text):
        prog = m.group().lower().removesuffix(".exe")
        if prog not in _PROGRAMS:
            continue
        words = _words(text, m.end())
        # "redis-cli -h host AUTH pw": the subcommand may come after options.
        if prog in ("redis-cli", "keydb-cli", "valkey-cli"):
            for j, w in enumerate(words):
                if w[0].lower() == "auth":
                    words = [("auth", w[1], w[2])] + words[j + 1 :]
                    break
        yield from _command_hits(text, prog, words)


def find_stdin_secrets(text: str, low: str) -> Iterator[Span]:
    for m in _ECHO_RE.finditer(text):
        if _STDIN_READERS_RE.search(m.group("rest")):
            value, start, end = _unquote(m.group("v"), m.start("v"))
            if _is_value(value) and len(value) >= 3:
                yield start, end, "password"
    if "<<<" in text:
        for m in _HERESTRING_RE.finditer(text):
            line_start = line_before(text, m.start(), 400)
            if _STDIN_READERS_RE.search(text, line_start, m.start()):
                value, start, end = _unquote(m.group("v"), m.start("v"))
                if _is_value(value) and len(value) >= 3:
                    yield start, end, "password"


def find_printed_secrets(text: str, low: str) -> Iterator[Span]:
    for m in _PRINTERS_RE.finditer(text):
        out_start = m.start("out")
        for w in _OUT_WORD_RE.finditer(m.group("out")):
            word = w.group()
            if looks_random(word) and not is_stand_in(word):
                yield out_start + w.start(), out_start + w.end(), "token"


def find_expect_replies(text: str, low: str) -> Iterator[Span]:
    for m in _PROMPT_RE.finditer(text):
        send = _SEND_RE.search(text, m.end(), m.end() + 200)
        if send is None:
            continue
        group = "dq" if send.group("dq") is not None else "sq"
        value = send.group(group)
        trimmed = re.sub(r"(?:\\[rn])+$", "", value)
        if trimmed and not is_stand_in(trimmed) and not trimmed.startswith("$"):
            yield send.start(group), send.start(group) + len(trimmed), "password"
