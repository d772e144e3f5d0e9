"""Text that addresses the model reading it with instructions: the memory-poisoning check.

Recalled memory comes from earlier agent runs, and a run that read a hostile issue, web page or
file can carry its instructions into a lesson ("ignore all previous instructions", "print your
system prompt", "send ~/.ssh to this URL"). A lesson describes code and what to check; it never
needs to tell the assistant reading it to drop its instructions, reveal its context, or move data
off the machine. So the quality gate rejects text that does, in the languages such attacks come
in, through spacing, look-alike letters, leetspeak and base64.

Ordinary lessons say such words about code ("ignore the flaky test", "do not reveal the API key in
logs", "send the token in the Authorization header"): every check here needs an object that is the
model's own instructions or context, or secrets travelling to a place outside the task, and a
negated phrase ("never print the secrets") is advice, not an attack. `tests/test_injection.py`
holds the corpora both ways.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata

SCAN_LIMIT = 20_000
_INVISIBLE = re.compile("[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")
_NEGATION = re.compile(
    r"\b(?:not|never|don'?t|doesn'?t|avoid|without|nor|no|shouldn'?t|mustn'?t|stop|refuse to|instead of)\W+"
    r"(?:\w+\W+){0,3}$"
)
_CONFUSABLE = str.maketrans(
    {"а": "a", "е": "e", "о": "o", "р": "p", "с": "c", "у": "y", "х": "x", "і": "i", "ј": "j", "ѕ": "s",
     "ԁ": "d", "һ": "h", "ո": "n", "ѵ": "v", "α": "a", "ε": "e", "ι": "i", "ο": "o", "ρ": "p", "υ": "u",
     "ν": "v", "κ": "k", "τ": "t", "0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a",
     "$": "s", "!": "i", "|": "i"}
)  # fmt: skip

_Q = (
    r"(?:previous|prior|preceding|above|earlier|former|original|initial|system|developer|safety|existing|old)"
)
_RULES = (
    r"(?:instructions?|prompts?|rules|guidelines|directives|guardrails|constraints|policies|programming|"
    r"commands|messages|context|orders|training)"
)
# "ignore the previous instructions in the README": instructions of a document, not the model's.
_ELSEWHERE_DOC = (
    r"(?!\s+(?:in|from|of|for|at|on)\s+(?:the\s+|this\s+|that\s+|our\s+)?"
    r"(?!(?:conversation|chat|prompt|context|system|session|message|messages)\b)\w)"
)
_IGNORE = (
    r"(?:ignore|disregard|forget|override|bypass|discard|set aside|pay no attention to|stop following|"
    r"do not follow|don'?t follow|do not obey|don'?t obey|skip)"
)
_SECRETS = (
    r"(?:environment variables|env vars|\.env\b|\.env file|ssh keys?|id_rsa|id_ed25519|private keys?|"
    r"aws credentials|credentials file|~/\.ssh|~/\.aws|\.netrc|\.npmrc|\.pypirc|kubeconfig|"
    r"(?:all|every|any) (?:of )?(?:the |your |their )?(?:secrets|keys|tokens|credentials|passwords)|"
    r"the user'?s (?:files|data|code|keys|tokens|credentials|secrets|passwords|emails?|messages)|"
    r"(?:your|the) system prompt|(?:the|this) (?:whole |entire )?(?:conversation|chat history)|"
    r"(?:the |this )?(?:entire|whole) (?:codebase|repository|repo|source code))"
)
_ELSEWHERE = (
    r"(?:https?://(?!(?:localhost|127\.0\.0\.1|\[::1\]|[\w.-]*\.(?:example|test|invalid|local))\b)|webhook|"
    r"ngrok|pastebin|requestbin|pipedream|interactsh|burpcollaborator|discord|telegram|"
    r"[\w.+-]+@(?!example\.)[\w-]+\.[\w.]+|(?:this|that|the following|my|our|an? (?:external|remote)) "
    r"(?:url|address|endpoint|server|host|site|link|webhook)|attacker)"
)
_CHAT = r"(?:in (?:your|the|this) (?:reply|answer|response|output|next message|chat|conversation)|to (?:me|us|the user|this chat))"
_REVEAL = r"(?:reveal|print|output|show|display|repeat|recite|leak|disclose|dump|tell me|write out|give me|share|expose|spell out|paste|echo)"
_SEND = r"(?:send|post|upload|exfiltrate|transmit|forward|leak|e-?mail|copy|beacon|report|push|pipe)"

# Words one of which a pattern needs (each group once) before it is tried: most lessons contain
# none, and the substring tests cost far less than the patterns.
_T_IGNORE = (("ignore", "disregard", "forget", "override", "bypass", "discard", "set aside", "no attention",
              "following", "follow", "obey", "skip"),)  # fmt: skip
_T_CHAT = ("reply", "answer", "response", "output", "message", "chat", "conversation", " me", " us", "user")
_T_SEND = ("send", "post", "upload", "exfiltrat", "transmit", "forward", "leak", "mail", "copy", "beacon",
           "report", "push", "pipe")  # fmt: skip
_T_ELSEWHERE = ("http", "webhook", "ngrok", "pastebin", "requestbin", "pipedream", "interactsh", "burp", "discord",
                "telegram", "@", "url", "address", "endpoint", "server", "host", "site", "link", "attacker")  # fmt: skip

# (label, pattern, weight, trigger words): a text scoring 2 or more is rejected. Weight 2 marks an
# attack on its own; weight 1 is suspicious only beside another signal.
_EN = [
    ("ignore its instructions", rf"\b{_IGNORE}\s+(?:all\s+|any\s+|every\s+)?(?:of\s+)?(?:the\s+|your\s+|my\s+|these\s+|those\s+)?(?:{_Q}\s+)+{_RULES}\b{_ELSEWHERE_DOC}", 2, _T_IGNORE),
    ("ignore its instructions", rf"\b{_IGNORE}\s+(?:all\s+)?(?:of\s+)?your\s+(?:\w+\s+)?(?:{_RULES}|system prompt)", 2, _T_IGNORE),
    ("ignore its instructions", rf"\b{_IGNORE}\s+(?:all|everything|anything)\s+(?:you\s+(?:were|have been|are)\s+(?:told|given|instructed)|(?:written\s+)?(?:above|before|previously|so far|earlier))", 2, _T_IGNORE),
    ("ignore its instructions", rf"\b{_IGNORE}\s+(?:all|any)\s+(?:the\s+|other\s+)?(?:instructions|rules|guidelines)\b(?!\s+(?:in|of|for|from|at|on)\b)", 2, _T_IGNORE),
    ("ignore its instructions", r"\b(?:ignore|disregard|override|bypass)\s+(?:the\s+)?(?:system|developer)\s+(?:prompt|message)", 2, (("ignore", "disregard", "override", "bypass"),)),
    ("ignore its instructions", r"\b(?:the\s+)?(?:above|previous|prior)\s+instructions\s+(?:are|were)\s+(?:void|cancelled|canceled|obsolete|no longer valid|fake|wrong)", 2, (("instructions",),)),
    ("ignore its instructions", r"\b(?:the\s+)?(?:above|previous|prior|earlier)\s+(?:guidance|rules|prompt|context)\s+(?:is|are|was|were)\s+(?:void|cancelled|canceled|obsolete|no longer valid|fake|wrong)", 1, (("guidance", "rules", "prompt", "context"),)),
    ("reveal its instructions", rf"\b{_REVEAL}\s+(?:me\s+|us\s+)?(?:back\s+)?(?:all\s+)?(?:of\s+)?(?:your|the)\s+(?:(?:full|entire|complete|original|initial|hidden|secret|internal|exact|verbatim)\s+)*(?:system\s+(?:prompt|message|instructions)|initial\s+(?:prompt|instructions)|developer\s+(?:message|prompt|instructions)|hidden\s+(?:prompt|instructions))", 2, (("system", "initial", "developer", "hidden"),)),
    ("reveal its instructions", rf"\b{_REVEAL}\s+(?:me\s+)?(?:all\s+)?(?:of\s+)?your\s+(?:(?:full|entire|complete|original|initial|hidden|secret|internal|exact)\s+)*(?:instructions|prompt|rules|guidelines|configuration|context)\b", 2, (("your",),)),
    ("reveal its instructions", r"\b(?:what|repeat)\s+(?:(?:are|were)\s+)?(?:the\s+)?(?:words|instructions|text)\s+(?:above|before this|you were given)", 1, (("above", "before this", "given"),)),
    ("reveal secrets", rf"\b(?:{_REVEAL}|include|put|give|send|post|write)\b[^.\n]{{0,60}}\b(?:api[ _-]?keys?|access tokens?|secret keys?|tokens?|passwords?|credentials|secrets|private keys?|ssh keys?|\.env\b|environment variables|env vars)\b[^.\n]{{0,60}}\b{_CHAT}", 2, (_T_CHAT,)),
    ("send data elsewhere", rf"\b{_SEND}\b[^.\n]{{0,80}}\b{_SECRETS}[^.\n]{{0,80}}\b(?:to|into|at|via)\b[^.\n]{{0,40}}{_ELSEWHERE}", 2, (_T_SEND, _T_ELSEWHERE)),
    ("send data elsewhere", r"\b(?:curl|wget|nc|ncat|netcat|invoke-webrequest)\b[^\n]{0,200}(?:\$\(|`)\s*(?:(?:env|printenv|set)\b|cat\s+[^)`\n]{0,60}(?:\.env|\.ssh|id_rsa|\.aws|credentials|\.netrc|\.npmrc|\.pypirc|/etc/passwd|/etc/shadow|kube))", 2, (("$(", "`"), ("curl", "wget", "nc", "invoke-webrequest"))),
    ("send data elsewhere", r"\b(?:env|printenv|cat\s+\S*(?:\.env|id_rsa|credentials|\.netrc|\.npmrc|\.ssh/\S*))\s*\|\s*(?:base64\s*\|\s*)?(?:curl|wget|nc|ncat|netcat)\b", 2, (("|",), ("curl", "wget", "nc"))),
    ("send data elsewhere", r"\b(?:curl|wget|invoke-webrequest|requests\.post)\b[^\n]{0,120}(?:-d|--data(?:-binary)?|-F|--form|--upload-file|-T|data=)\s*['\"]?@?\s*(?:~|\$HOME)?/?\.?(?:ssh|aws|env\b|netrc|npmrc|pypirc|kube|gnupg)", 2, (("curl", "wget", "invoke-webrequest", "requests.post"),)),
    ("send data elsewhere", r"!\[[^\]\n]*\]\(https?://[^)\s]*\?[^)\s]*=\s*(?:\{|\$|%7b|<|\[)", 2, (("![",),)),
    ("send data elsewhere", r"(?:^|[.!?:;]\s+|\b(?:then|and|please|now|silently|quietly)\s+)exfiltrate\b", 2, (("exfiltrat",),)),
    ("send data elsewhere", r"\b(?:append|add|encode|embed|include)\b[^.\n]{0,40}\b(?:secrets?|tokens?|keys?|conversation|system prompt|credentials|passwords?)\b[^.\n]{0,40}\b(?:to|in|into)\s+(?:the\s+|a\s+|this\s+)?(?:url|link|image|query string|request)\b", 1, (("url", "link", "image", "query", "request"),)),
    ("pose as the system", r"<\|(?:im_start|im_end|system|endoftext|start_header_id|eot_id)\|>|\[/?INST\]|<</?SYS>>|</?(?:system|system_prompt|sys)>", 2, (("<|", "inst]", "<<sys", "sys>", "system>"),)),
    ("pose as the system", r"(?:#{2,}|\*\*|\[)\s*(?:system|new instructions|instructions? override|admin override)\s*(?:\*\*|\]|:|\n|$)", 2, (("system", "instruction", "override"),)),
    ("pose as the system", r"(?m)^\s*(?:system|assistant)\s*(?:message|prompt)?\s*:\s", 1, (("system", "assistant"),)),
    ("pose as the system", r"\bnew\s+(?:system\s+)?instructions?\s*:", 1, (("new",), ("instruction",))),
    ("take over the agent", r"\byou\s+are\s+(?:now|no\s+longer)\b[^.\n]{0,30}\b(?:dan|jailbroken|unrestricted|unfiltered|free|evil|developer mode|not bound|without (?:any )?(?:rules|restrictions|limits)|a different)", 2, (("you are",),)),
    ("take over the agent", r"\b(?:do anything now|jailbreak mode|god mode|developer mode enabled|enter developer mode|act as dan)\b", 2, (("do anything now", "jailbreak", "god mode", "developer mode", "act as dan"),)),
    ("take over the agent", r"\bact\s+as\s+(?:an?\s+)?(?:unrestricted|unfiltered|jailbroken|evil|uncensored)\b", 2, (("act as",),)),
    ("take over the agent", r"\byou\s+are\s+now\b", 1, (("you are now",),)),
    ("take over the agent", r"\bfrom\s+now\s+on,?\s+(?:you|ignore|always|never|respond|answer)\b", 1, (("from now on",),)),
    ("address the model", r"\b(?:if\s+you\s+are|you\s+are|as)\s+an?\s+(?:ai|llm|large language model|language model|ai assistant|ai agent|ai model|chatbot)\b", 1, ((" an ai", " a ai", " an llm", "language model", "assistant", "ai agent", "ai model", "chatbot"),)),
    ("address the model", r"\b(?:note|message|attention|instructions?|important)\s+(?:to|for)\s+(?:the\s+|any\s+|all\s+)?(?:ai|llms?|assistants?|ai agents?|language models?|claude|chatgpt|gpt|copilot|gemini)\b", 1, (("note", "message", "attention", "instruction", "important"), ("ai", "llm", "assistant", "agent", "model", "claude", "gpt", "copilot", "gemini"))),
    ("address the model", r"\b(?:this|these)\s+(?:instructions?|message|rules?|note)\s+(?:take|takes|has|have|is of)\s+(?:the\s+)?(?:highest\s+|top\s+)?(?:priority|precedence)\b|\boverrides?\s+(?:all|any)\s+(?:other|previous|prior)\b", 1, (("priority", "precedence", "override"),)),
    ("hide it from the user", r"\b(?:do\s+not|don'?t|never)\s+(?:tell|inform|mention\s+(?:this|it)\s+to|alert|notify|warn|show\s+(?:this|it)\s+to)\s+the\s+user\b|\bwithout\s+(?:telling|informing|notifying|alerting|warning)\s+the\s+user\b|\bkeep\s+(?:this|it)\s+(?:a\s+)?secret\s+from\b", 1, (("user", "secret from"),)),
    ("hide it from the user", r"\b(?:secretly|covertly|quietly|silently)\s+(?:send|upload|post|run|execute|exfiltrate|add|insert|copy|forward|install|change|modify|delete)\b", 1, (("secretly", "covertly", "quietly", "silently"),)),
    ("run a downloaded script", r"\b(?:run|execute)\b[^.\n]{0,40}\b(?:curl|wget)\b[^|\n]{0,200}\|\s*(?:sudo\s+)?(?:ba|z)?sh\b", 1, (("curl", "wget"), ("|",))),
]  # fmt: skip

# Other languages: the override and reveal phrasings attacks are written in (with a qualifier, so a
# lesson that tells the reader to ignore a linter's rules in that language is not one).
_ML = [
    ("ignore its instructions", r"\b(?:ignorier\w*|vergiss|vergessen sie|missachte\w*)\b.{0,40}\b(?:vorherigen|bisherigen|obigen|vorigen|alle|allen|deine|ihre|ursprünglichen|system)\b.{0,30}\b(?:anweisungen|instruktionen|regeln|vorgaben|befehle|systemprompt)", 2, (("ignorier", "vergiss", "vergessen", "missacht"),)),
    ("ignore its instructions", r"\b(?:ignore[zr]?|oublie[zr]?|ne tiens pas compte|ne tenez pas compte)\b.{0,40}\b(?:précédentes|precedentes|antérieures|anterieures|ci-dessus|toutes|tes|vos)\b.{0,30}\b(?:instructions|consignes|règles|regles|directives)", 2, (("ignore", "oublie", "ne tiens", "ne tenez"),)),
    ("ignore its instructions", r"\b(?:ignora|ignore|ignoren|olvida|olvide|omite)\b.{0,40}\b(?:anteriores|previas|todas|tus|sus)\b.{0,30}\b(?:instrucciones|indicaciones|reglas|directrices)", 2, (("ignora", "ignore", "olvid", "omite"),)),
    ("ignore its instructions", r"\b(?:ignore|ignora|esqueça|esqueca|desconsidere)\b.{0,40}\b(?:anteriores|todas|suas|prévias|previas)\b.{0,30}\b(?:instruções|instrucoes|regras|diretrizes)", 2, (("ignor", "esque", "desconsider"),)),
    ("ignore its instructions", r"\b(?:ignora|dimentica)\b.{0,40}\b(?:precedenti|tutte|tue|sopra)\b.{0,30}\b(?:istruzioni|regole|direttive)", 2, (("ignora", "dimentica"),)),
    ("ignore its instructions", r"\b(?:negeer|vergeet)\b.{0,40}\b(?:vorige|eerdere|alle|je)\b.{0,30}\b(?:instructies|regels|aanwijzingen)", 2, (("negeer", "vergeet"),)),
    ("ignore its instructions", r"\b(?:zignoruj|ignoruj|zapomnij)\b.{0,40}\b(?:poprzednie|wszystkie|wcześniejsze|wczesniejsze)\b.{0,30}\b(?:instrukcje|polecenia|zasady)", 2, (("ignoruj", "zapomnij"),)),
    ("ignore its instructions", r"(?:игнорируй|проигнорируй|забудь|не обращай внимания на|ігноруй|забудь)\S*.{0,40}(?:предыдущие|прежние|все|свои|выше|попередні|всі)\S*.{0,30}(?:инструкци|указани|правил|інструкці)", 2, (("игнор", "забудь", "не обращай", "ігнор"),)),
    ("ignore its instructions", r"(?:忽略|无视|忽视|忘记|忘掉|不要理会|不要遵守)\s*.{0,12}(?:之前|以上|上面|先前|所有|全部|前面|原有|原来)\s*.{0,12}(?:指令|指示|提示|规则|要求|设定)", 2, (("忽略", "无视", "忽视", "忘记", "忘掉", "不要理会", "不要遵守"),)),
    ("ignore its instructions", r"(?:これまで|以前|上記|前の|すべて|全て).{0,16}(?:指示|命令|ルール|プロンプト).{0,12}(?:無視|忘れ)", 2, (("無視", "忘れ"),)),
    ("ignore its instructions", r"(?:이전|모든|위의|앞의).{0,16}(?:지시|명령|지침|규칙|프롬프트).{0,12}(?:무시|잊어)", 2, (("무시", "잊어"),)),
    ("ignore its instructions", r"\b(?:önceki|tüm|bütün)\b.{0,30}\b(?:talimatları|talimatlari|kuralları)\b.{0,20}\b(?:yok say|görmezden gel|unut)", 2, (("yok say", "görmezden", "unut"),)),
    ("reveal its instructions", r"\b(?:zeige?|gib|verrate|nenne|drucke)\b.{0,30}\b(?:deinen|deine|ihren|ihre|den)\s+(?:system-?prompt|systemanweisungen|anweisungen|instruktionen)", 2, (("zeig", "gib", "verrate", "nenne", "drucke"),)),
    ("reveal its instructions", r"\b(?:révèle|revele|affiche|montre|donne|dis)(?:-moi|\s+moi)?\b.{0,20}\b(?:ton|votre|tes|vos|le)\s+(?:prompt système|prompt systeme|message système|message systeme|instructions)", 2, (("révèle", "revele", "affiche", "montre", "donne", "dis"),)),
    ("reveal its instructions", r"\b(?:revela|muestra|dime|imprime|enseña)\b.{0,20}\b(?:tu|tus|el|las)\s+(?:prompt del sistema|mensaje del sistema|instrucciones)", 2, (("revela", "muestra", "dime", "imprime", "enseña"),)),
    ("reveal its instructions", r"(?:输出|显示|告诉我|泄露|打印|给我|展示|透露).{0,10}(?:系统提示|系统指令|初始指令|你的指令|提示词|你的规则)", 2, (("系统提示", "系统指令", "初始指令", "你的指令", "提示词", "你的规则"),)),
    ("reveal its instructions", r"(?:システムプロンプト|指示内容|初期指示).{0,10}(?:表示|出力|教えて|見せて)", 2, (("システムプロンプト", "指示内容", "初期指示"),)),
    ("reveal its instructions", r"(?:покажи|выведи|раскрой|скажи|напечатай).{0,20}(?:системный промпт|системные инструкции|свои инструкции|твои инструкции)", 2, (("промпт", "инструкци"),)),
    ("send data elsewhere", r"\b(?:sende|schicke|lade)\b.{0,60}\b(?:umgebungsvariablen|schlüssel|passwörter|zugangsdaten|ssh)\b.{0,60}\b(?:an|zu|hoch)\b", 2, (("sende", "schicke", "lade"),)),
    ("send data elsewhere", r"\b(?:envoie|envoyez|transmets|télécharge)\b.{0,60}\b(?:variables d'environnement|clés|cles|mots de passe|identifiants|ssh)\b.{0,60}\b(?:à|a|vers)\b", 2, (("envoi", "transmet", "télécharge"),)),
    ("send data elsewhere", r"\b(?:envía|envia|manda|sube)\b.{0,60}\b(?:variables de entorno|claves|contraseñas|credenciales|ssh)\b.{0,60}\b(?:a|al|hacia)\b", 2, (("env", "manda", "sube"),)),
    ("send data elsewhere", r"(?:发送|上传|发给|传给|提交).{0,20}(?:环境变量|密钥|密码|凭据|凭证|令牌|ssh)", 2, (("发送", "上传", "发给", "传给", "提交"),)),
    ("send data elsewhere", r"(?:環境変数|秘密鍵|パスワード|apiキー|トークン|認証情報).{0,20}(?:送信|送って|アップロード)", 2, (("送信", "送って", "アップロード"),)),
    ("send data elsewhere", r"(?:отправь|перешли|загрузи|отошли).{0,60}(?:переменные окружения|ключи|пароли|токены|учётные данные|учетные данные)", 2, (("отправь", "перешли", "загрузи", "отошли"),)),
]  # fmt: skip
_PATTERNS = [(label, re.compile(rx, re.IGNORECASE), weight, words) for label, rx, weight, words in _EN + _ML]

# Spacing, punctuation and look-alike tricks, checked on the text with only its letters left.
_COMPACT = re.compile(
    r"(?:ignore|disregard|forget|override)(?:all)?(?:the|your|of)*(?:previous|prior|above|earlier|preceding|original|system)"
    r"(?:instructions?|prompts?|rules|guidelines)|(?:reveal|print|show|output|repeat)(?:me)?(?:your|the)(?:full|entire)?"
    r"systemprompt|youarenow(?:dan|jailbroken|unrestricted)|doanythingnow|exfiltrate(?:the|all|your)"
)
_B64 = re.compile(r"[A-Za-z0-9+/]{24,}={0,2}")
# Signs of a disguise, which alone make the letters-only check worth running: spaced-out or dotted
# letters, digits standing in for letters, look-alike letters from other scripts, invisible characters.
_DISGUISE = re.compile(
    r"(?:\b\w[\s.\-_*]{1,3}){4,}\w\b|[a-z][013457@$][a-z]|[а-яіјѕԁһոѵα-ω][a-z]|[a-z][а-яіјѕԁһոѵα-ω]|"
    "[\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]",
    re.IGNORECASE,
)


def _normal(text: str) -> str:
    text = unicodedata.normalize("NFKC", text[:SCAN_LIMIT])
    text = _INVISIBLE.sub("", text).replace("’", "'").replace("‘", "'")
    return text


def _negated(text: str, start: int) -> bool:
    return bool(_NEGATION.search(text[max(0, start - 40) : start].lower()))


def _scan(text: str, disguised: bool = False) -> tuple[int, list[tuple[str, str]]]:
    score, found = 0, []
    lower = text.casefold()
    for label, rx, weight, words in _PATTERNS:
        if not all(any(w in lower for w in group) for group in words):
            continue
        for match in rx.finditer(text):
            if weight < 2 or not _negated(text, match.start()):
                score += weight
                found.append((label, match.group()))
                break
    if not disguised:
        return score, found
    letters = "".join(ch for ch in text.casefold().translate(_CONFUSABLE) if ch.isalpha())
    compact = _COMPACT.search(letters)
    if compact and not found:
        score += 2
        found.append(("ignore or reveal its instructions (disguised)", compact.group()))
    return score, found


def findings(text: str) -> list[tuple[str, str]]:
    """(what the text tries, the words that show it) when `text` addresses the model reading it with
    instructions to drop its instructions, reveal its context or send data away; [] for a lesson."""
    if not text or not text.strip():
        return []
    normal = _normal(text)
    score, found = _scan(normal, bool(_DISGUISE.search(text[:SCAN_LIMIT])))
    if score < 2:
        for blob in _B64.findall(normal)[:20]:
            try:
                decoded = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=False).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError, ValueError):
                continue
            if decoded.isprintable() and (inner := _scan(_normal(decoded)))[0] >= 2:
                return [(f"{label} (base64-encoded)", words) for label, words in inner[1]]
    return found if score >= 2 else []


def problems(field: str, text: str) -> list[str]:
    """The gate's message for a field that reads as instructions to the model, or []."""
    found = findings(text)
    if not found:
        return []
    label, words = found[0]
    snippet = " ".join(words.split())[:60]
    return [
        f"{field}: reads as instructions to the assistant that will recall it ({label}: '{snippet}'); "
        "memory is handed to future tasks as data, so write the lesson itself (the situation, what "
        "went wrong or worked, what to check) and leave out anything addressed to the model"
    ]
