"""Classes of secrets that rb_mcp.redact once missed, and classes of code it once mangled (issue 12).

Each test builds its secrets from random bodies of the right shape (a seeded RNG or hypothesis), so
it checks the class, not one example; none of the strings in this file is a live-shaped credential.
"""

from __future__ import annotations

import base64
import random
import string

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rb_mcp.loop.gate import item_problems
from rb_mcp.redact import find_secrets, redact

_RNG = random.Random(1212)
ALNUM = string.ascii_letters + string.digits
URLSAFE = ALNUM + "-_"
HEX = "0123456789abcdef"
LOWER_DIGITS = string.ascii_lowercase + string.digits
PUNCT = "!*-_=+.~^#%&()@$"
DJANGO = string.ascii_lowercase + string.digits + "!@#$%^&*(-_=+)"
SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def rand(n: int, alphabet: str = ALNUM) -> str:
    body = [_RNG.choice(alphabet) for _ in range(n)]
    for i, pool in enumerate((string.digits, string.ascii_uppercase, string.ascii_lowercase)):
        if n > 6 and set(pool) & set(alphabet):
            body[i] = _RNG.choice([c for c in pool if c in alphabet])
    _RNG.shuffle(body)
    return "".join(body)


def password() -> str:
    return rand(12) + _RNG.choice("!*-_=+.~^") + rand(3)


def assert_redacted(text: str, *secrets: str) -> str:
    out = redact(text)
    for secret in secrets:
        assert secret not in out, f"leaked {secret!r}: {out!r}"
    assert redact(out) == out
    return out


# Passwords as hypothesis draws them: a letter and a digit somewhere, punctuation allowed, no blanks,
# and as varied as a chosen password ("aaaaaaaa1" is not one).
passwords = st.tuples(
    st.text(alphabet=ALNUM + "!*_=+.~^%@", min_size=8, max_size=24).filter(lambda s: len(set(s)) >= 6),
    st.sampled_from(string.ascii_letters),
    st.sampled_from(string.digits),
).map(lambda t: t[1] + t[0] + t[2])


# ---- Short password flags and --password forms.

SHORT_FLAG_TEMPLATES = [
    "mysql -h db -u root -p{pw} shop < schema.sql",
    "mysqldump -uroot -p'{pw}' --all-databases > all.sql",
    "docker login -u deployer -p {pw} registry.example.com",
    "podman login quay.io -u bot -p {pw}",
    "helm registry login registry.example.com -u ci -p {pw}",
    "sshpass -p '{pw}' ssh pi@192.0.2.10 uptime",
    "sshpass -p{pw} scp a.tar root@backup:/srv/",
    "redis-cli -h cache -a {pw} INFO",
    "ldapsearch -x -D cn=admin,dc=example,dc=com -w {pw} -b dc=example,dc=com",
    "sqlcmd -S db -U sa -P {pw} -Q 'select 1'",
    "mongosh mongodb://db/admin -u admin -p {pw}",
    "7z a -p{pw} backup.7z /srv/data",
    "zip -r -P {pw} out.zip reports/",
    "openssl pkcs12 -export -in c.pem -inkey k.pem -out b.p12 -passout pass:{pw}",
    "keytool -importkeystore -srckeystore b.p12 -destkeystore a.jks -deststorepass {pw}",
    "ssh-keygen -t ed25519 -N '{pw}' -f ./deploy_key",
    "xfreerdp /v:win01 /u:Administrator /p:{pw} /cert:ignore",
    "psql --password {pw} -h db",
    "mysqladmin --user=root --password={pw} status",
    "clickhouse-client --user default --password {pw} --query 'select 1'",
    "wget --user=mirror --password={pw} https://files.example.com/app.tar.gz",
    "curl -u jenkins:{pw} https://ci.example.com/job/build",
    "smbclient //fs/share -U 'CORP\\svc%{pw}' -c ls",
    "./gradlew publish -PsonatypePassword={pw}",
    "mvn deploy -Drepo.password={pw}",
]


@pytest.mark.parametrize("template", SHORT_FLAG_TEMPLATES)
@SETTINGS
@given(pw=passwords)
def test_password_flags(template: str, pw: str) -> None:
    assert_redacted(template.format(pw=pw), pw)


# Found by the search: a password holding "=" was read as an inner "name=value" pair, and one holding
# "..." as an elided mask. Both are passwords; real masks stay masks (they are not secrets).
@pytest.mark.parametrize(
    "template",
    [
        "DB_PASSWORD={pw}",
        "wget --user=mirror --password={pw} https://files.example.com/app.tar.gz",
        "redis-cli -h cache -a {pw} INFO",
        "keytool -importkeystore -srckeystore b.p12 -destkeystore a.jks -deststorepass {pw}",
    ],
)
@pytest.mark.parametrize("pw", ["ddA7j==+!WjndG6", "WI6~Qm0...6", "MDkI1bn25VzUR...tzO6", "aX9=b7Qz!kP2"])
def test_passwords_with_equals_or_dots(template: str, pw: str) -> None:
    assert_redacted(template.format(pw=pw), pw)


def test_found_by_the_search() -> None:
    # An upper-case password after --password is the password, not an env var's name.
    assert_redacted("psql --password AAAABCD_00 -h db", "AAAABCD_00")
    # An unclosed "$(" in a quoted key is part of the key, not a command substitution.
    assert_redacted("SECRET_KEY = '$(a0000000000000000000000000123456789=@^'", "a0000000000000000000")
    # ... while real command substitutions and user:group pairs stay as they are.
    for text in (
        "TOKEN=$(cat /run/secrets/token)",
        'API_KEY="$(op read op://vault/item/key)"',
        "docker run -u pass:a____- a_:latest",
        "chown pass:www /srv/app",
    ):
        assert redact(text) == text


@pytest.mark.parametrize("mask", ["sk-...", "ghp_ab12...wxyz", "eyJ...==", "hf_***", "****1234", "AKIA…"])
def test_masks_stay_masks(mask: str) -> None:
    for text in (f"OPENAI_API_KEY={mask}", f"docker login -u ci -p {mask} registry.example.com"):
        assert redact(text) == text


# ---- Base64 "auth" in Docker and npm configs.


@pytest.mark.parametrize(
    "template",
    [
        '{{"auths": {{"registry.example.com": {{"auth": "{auth}"}}}}}}',
        "registry=https://npm.example.com/\n_auth={auth}\nalways-auth=true",
        "_auth = {auth}",
    ],
)
@SETTINGS
@given(user=st.text(alphabet=string.ascii_lowercase + "$_", min_size=2, max_size=12), pw=passwords)
def test_base64_auth_entries(template: str, user: str, pw: str) -> None:
    auth = base64.b64encode(f"{user}:{pw}".encode()).decode()
    assert_redacted(template.format(auth=auth), auth)


# ---- Values with punctuation (Django, WordPress, Rails keys).


@pytest.mark.parametrize(
    "template",
    [
        "SECRET_KEY = '{v}'",
        'SECRET_KEY = "{v}"',
        "DJANGO_SECRET_KEY={v}",
        "secret_key: {v}",
        "define( 'AUTH_KEY',         '{v}' );",
        "app.config['SECRET_KEY'] = '{v}'",
    ],
)
@SETTINGS
@given(v=st.text(alphabet=DJANGO, min_size=40, max_size=60).filter(lambda v: len(set(v)) >= 16))
def test_values_with_punctuation(template: str, v: str) -> None:
    if "'" in template and "'" in v or '"' in template and '"' in v:
        return
    text = template.format(v=v)
    out = redact(text)
    # Every run of 6+ characters of the value is gone, not only its first piece.
    assert not any(v[i : i + 6] in out for i in range(len(v) - 5)), out


# ---- Multi-line .netrc.


@pytest.mark.parametrize(
    "template",
    [
        "machine {host}\n  login {user}\n  password {pw}\n",
        "machine {host}\n\tlogin {user}\n\taccount ops\n\tpassword {pw}",
        "machine {host} login {user} password {pw}",
        "default\n    login {user}\n    password {pw}",
    ],
)
def test_netrc(template: str) -> None:
    for _ in range(5):
        pw = password()
        assert_redacted(template.format(host="api.example.com", user="bot", pw=pw), pw)


# ---- Dotted tokens that look like identifiers.


def test_dotted_tokens() -> None:
    for _ in range(10):
        kubeadm = rand(6, LOWER_DIGITS) + "." + rand(16, LOWER_DIGITS)
        assert_redacted(
            f"kubeadm join 10.0.0.1:6443 --token {kubeadm} --discovery-token-unsafe-skip-ca-verification",
            kubeadm,
        )
        assert_redacted(f"bootstrapTokens:\n- token: {kubeadm}\n  ttl: 24h", kubeadm)
        tfc = rand(14) + ".atlas" + "v1." + rand(67, URLSAFE)
        assert_redacted(f'credentials "app.terraform.io" {{\n  token = "{tfc}"\n}}', tfc)
        assert_redacted(f"TF_TOKEN_app_terraform_io={tfc}", tfc)


# ---- Tokens passed positionally, piped in, or printed by a CLI.

POSITIONAL_TEMPLATES = [
    "vault login {t}",
    "cargo login {t}",
    "ngrok authtoken {t}",
    "ngrok config add-authtoken {t}",
    "wandb login {t}",
    "snyk auth {t}",
    "nuget setapikey {t} -Source https://api.nuget.org/v3/index.json",
    "rabbitmqctl add_user celery {t}",
    "rabbitmqctl change_password celery {t}",
    "htpasswd -bc /etc/nginx/.htpasswd admin {t}",
    "htpasswd -nb admin {t}",
    "net user svc_backup {t} /add",
    "mc alias set minio https://minio.example.com AKMINIO {t}",
    "aws configure set aws_secret_access_key {t} --profile staging",
    "npm config set //npm.pkg.github.com/:_authToken {t}",
    "yarn config set npmAuthToken {t}",
    "git config --global github.token {t}",
    "poetry config http-basic.internal deploy {t}",
    "poetry config pypi-token.pypi {t}",
    "gh secret set DEPLOY_KEY --body {t} --repo acme/web",
    "fly secrets set STRIPE_KEY={t} APP_ENV=prod",
    "vault kv put secret/billing user=billing pass={t}",
    "kubectl create secret generic db --from-literal=password={t} -n prod",
    "heroku config:set MAILER_API_KEY={t} -a acme",
    "echo {t} | gh auth login --with-token",
    "echo '{t}' | docker login ghcr.io -u bot --password-stdin",
    "printf '%s' '{t}' | helm registry login r.example.com -u ci --password-stdin",
    "gh auth login --with-token <<< '{t}'",
    "echo '{t}' | sudo -S systemctl restart nginx",
    "$ heroku auth:token\n{t}",
    "$ gcloud auth print-access-token\n{t}",
    "cache:6379> AUTH {t}",
    "requirepass {t}",
    'spawn ssh admin@sw1\nexpect "Password:"\nsend "{t}\\r"',
    'child.expect("password:")\nchild.sendline("{t}")',
]


@pytest.mark.parametrize("template", POSITIONAL_TEMPLATES)
def test_positional_and_piped_secrets(template: str) -> None:
    for make in (lambda: rand(32), password, lambda: rand(40, HEX)):
        t = make()
        assert_redacted(template.format(t=t), t)


# ---- Vendor formats: prefix + body of the documented alphabet and length.

VENDOR_SHAPES = [
    ("/bot", lambda: rand(10, string.digits) + ":AA" + rand(33, URLSAFE)),  # Telegram bot URL
    ("AGE-SECRET-KEY-1", lambda: "AGE-SECRET-KEY-1" + rand(58, "QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L")),
    ("discord", lambda: "M" + rand(25) + "." + rand(6, URLSAFE) + "." + rand(38, URLSAFE)),
    (
        "webhook",
        lambda: "https://discord.com/api/webhooks/" + rand(18, string.digits) + "/" + rand(68, URLSAFE),
    ),
    ("hvs", lambda: "hv" + "s." + rand(90, URLSAFE)),
    ("hvb", lambda: "hv" + "b." + rand(140, URLSAFE)),
    ("glsa", lambda: "gl" + "sa_" + rand(32) + "_" + rand(8, HEX)),
    ("glc", lambda: "gl" + "c_" + rand(80)),
    ("linear", lambda: "lin" + "_api_" + rand(40)),
    ("postman", lambda: "PM" + "AK-" + rand(24, HEX) + "-" + rand(34, HEX)),
    ("newrelic", lambda: "NR" + "AK-" + rand(27, string.ascii_uppercase + string.digits)),
    ("heroku", lambda: "HR" + "KU-AA" + rand(58, URLSAFE)),
    ("google", lambda: "AI" + "za" + rand(35, URLSAFE)),
    ("gcp-oauth", lambda: "GOC" + "SPX-" + rand(28, URLSAFE)),
    ("mailgun", lambda: "ke" + "y-" + rand(32, HEX)),
    ("azure", lambda: rand(3) + "8Q~" + rand(34, URLSAFE)),
    ("groq", lambda: "gs" + "k_" + rand(52)),
    ("replicate", lambda: "r8" + "_" + rand(37)),
    ("xai", lambda: "xa" + "i-" + rand(80)),
    ("perplexity", lambda: "pp" + "lx-" + rand(48)),
    ("langsmith", lambda: "lsv2" + "_pt_" + rand(32, HEX) + "_" + rand(10, HEX)),
    ("databricks", lambda: "da" + "pi" + rand(32, HEX)),
    ("doppler", lambda: "dp" + ".st." + rand(40)),
    ("tailscale", lambda: "tsk" + "ey-auth-" + rand(10) + "-" + rand(32)),
    ("dockerhub", lambda: "dck" + "r_pat_" + rand(27, URLSAFE)),
    ("atlassian", lambda: "ATA" + "TT3" + rand(180, URLSAFE)),
    ("bitbucket", lambda: "AT" + "BB" + rand(32)),
    ("sentry", lambda: "sntr" + "yu_" + rand(64, HEX)),
    ("sendinblue", lambda: "xkey" + "sib-" + rand(64, HEX) + "-" + rand(16)),
    ("shopify", lambda: "shp" + "at_" + rand(32, HEX)),
    ("square", lambda: "sq0" + "csp-" + rand(43, URLSAFE)),
    ("pulumi", lambda: "pu" + "l-" + rand(40, HEX)),
    ("supabase", lambda: "sb" + "p_" + rand(40, HEX)),
    ("notion", lambda: "nt" + "n_" + rand(46)),
    ("airtable", lambda: "pa" + "t" + rand(14) + "." + rand(64, HEX)),
    ("figma", lambda: "fi" + "gd_" + rand(40, URLSAFE)),
    ("openshift", lambda: "sha256" + "~" + rand(43, URLSAFE)),
    ("swarm", lambda: "SWM" + "TKN-1-" + rand(50, LOWER_DIGITS) + "-" + rand(25, LOWER_DIGITS)),
    ("onepassword", lambda: "op" + "s_eyJ" + rand(300)),
    (
        "dynatrace",
        lambda: (
            "dt0"
            + "c01."
            + rand(24, string.ascii_uppercase + string.digits)
            + "."
            + rand(64, string.ascii_uppercase + string.digits)
        ),
    ),
]
VENDOR_CONTEXTS = [
    "2024-05-01 ERROR upstream rejected {t} (401)",
    "curl -s https://api.telegram.org/bot{t}/getMe",
    'client = Client("{t}")',
    "  credential: {t}\n",
    "./run.sh {t}",
]


@pytest.mark.parametrize(("name", "make"), VENDOR_SHAPES, ids=[v[0] for v in VENDOR_SHAPES])
def test_vendor_formats(name: str, make) -> None:
    for context in VENDOR_CONTEXTS:
        token = make()
        if name == "/bot" or "bot{t}" not in context:
            assert_redacted(context.format(t=token), token)


# ---- A label before an assignment.


@pytest.mark.parametrize(
    "template",
    [
        "invalid credential: DB_PASSWORD='{pw}'",
        "ERROR config: invalid credential: DB_PASSWORD='{pw}' rejected",
        "Deploy failed: SMTP_PASSWORD={pw} was refused",
        "hint: token: {tok}",
        'msg="api_key={tok}"',
        "warning - secret: password={pw}",
    ],
)
@SETTINGS
@given(label=st.text(alphabet=string.ascii_letters + " :-", max_size=30))
def test_label_before_assignment(template: str, label: str) -> None:
    pw, tok = password(), rand(32)
    text = label + template.format(pw=pw, tok=tok)
    assert_redacted(text, pw, tok)


# ---- Prose and random-looking runs no rule names.


def test_prose_and_unknown_tokens() -> None:
    for _ in range(10):
        pw = password()
        assert_redacted(f"The staging database password is {pw} until we rotate it.", pw)
        token = rand(48)
        assert_redacted(f"./deploy.sh --region eu-west-1 {token}", token)
        vendor = "zq_live_" + rand(40)
        assert_redacted(f"provider rejected credentials {vendor} (HTTP 401)", vendor)


# ---- False positives: code and prose that name secrets without holding one.

BENIGN = [
    "docker run -u nobody:nogroup --read-only alpine:3.19 ls",
    "docker run --user www-data:www-data -p 8080:80 nginx",
    "docker build --secret id=npmrc,src=.npmrc -t web .",
    "docker build --secret id=aws,src=$HOME/.aws/credentials .",
    "pg_dump --no-password -h db -U app appdb > app.sql",
    "psql --password -h localhost -U postgres mydb",
    "The e2e test clicks the login page's password field before typing.",
    "Open the login form; the password field is below the username.",
    "PWD=/app",
    "PWD=/home/runner/work/web/web",
    'password = os.environ["DB_PASSWORD"]',
    "password=None",
    "password = getpass()",
    'password = getpass.getpass("Password: ")',
    "echo $TOKEN | docker login ghcr.io -u bot --password-stdin",
    "token: ${{ secrets.GITHUB_TOKEN }}",
    "password: ${{ secrets.REGISTRY_PASSWORD }}",
    'api_key: str = Field(..., env="OPENAI_API_KEY")',
    "stripe.api_key = settings.STRIPE_SECRET_KEY",
    "r = requests.get(url, auth=(username, password))",
    'kubectl create secret generic db --from-literal=password="$DB_PASSWORD"',
    "gcloud secrets versions access latest --secret=db-password",
    "aws secretsmanager get-secret-value --secret-id prod/db/password",
    "heroku config:set DEBUG=false LOG_LEVEL=info -a acme",
    "mysql -u root -p",
    "mysql -h db -u app -p shop < dump.sql",
    "ssh -p 2222 deploy@bastion.example.com",
    "mkdir -p /app/logs && pytest -p no:cacheprovider",
    "openssl req -new -key server.key -out server.csr",
    "openssl enc -aes-256-cbc -in a -out b -pass env:ENC_PASS",
    "machine example.com login anonymous password guest@example.com",
    'expect "Password:" { send_user "prompted for password\\n" }',
    '<input type="password" name="password" autocomplete="current-password">',
    "WARN login failed for user alice: invalid password (attempt 3 of 5)",
    'MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"',
    "golang.org/x/crypto v0.21.0 h1:X31++rzVUdKhX5sWmSOFZxx8UW/ldWx55cbf08iNAMA=",
    '"integrity": "sha512-v2kDEe57lecTulaDIuNTPy3Ry4gLGJ6Z1O3vE1krgXZNrsQ+LFTGHVxVjcXPs17LhbZVGedAJv8XZ1tvj5FvSg=="',
    "https://docs.google.com/spreadsheets/d/1BxiMVs0XRA5nFMdKvBdBZjgmUUqptlbs74OgvE2upms/edit",
    "Cookie: _ga=GA1.2.1234567890.1700000000; lang=en",
    "api_key: !vault |",
]


@pytest.mark.parametrize("text", BENIGN)
def test_code_naming_secrets_is_unchanged(text: str) -> None:
    assert redact(text) == text
    assert find_secrets(text) == []


names = st.text(alphabet=string.ascii_lowercase + "-_", min_size=2, max_size=12).filter(
    lambda s: s[0].isalpha()
)


@SETTINGS
@given(user=names, group=names, flag=st.sampled_from(["-u", "--user"]), image=names)
def test_user_group_pairs_are_kept(user: str, group: str, flag: str, image: str) -> None:
    text = f"docker run {flag} {user}:{group} {image}:latest"
    assert redact(text) == text


@SETTINGS
@given(
    parts=st.lists(
        st.text(alphabet=string.ascii_lowercase + "_-", min_size=1, max_size=10), min_size=1, max_size=4
    )
)
def test_working_directory_is_kept(parts: list[str]) -> None:
    text = "PWD=/" + "/".join(parts)
    assert redact(text) == text


@SETTINGS
@given(
    name=st.sampled_from(["password", "DB_PASSWORD", "api_key", "token", "secret", "client_secret"]),
    ref=st.sampled_from(
        [
            'os.environ["{N}"]',
            "os.getenv('{N}')",
            "None",
            "${{ secrets.{N} }}",
            "${N}",
            "$({cmd})",
            "settings.{N}",
        ]
    ),
    op=st.sampled_from([" = ", "=", ": "]),
)
def test_references_to_secrets_are_kept(name: str, ref: str, op: str) -> None:
    text = name + op + ref.format(N=name.upper(), cmd="vault read -field=value secret/x")
    assert redact(text) == text


# ---- The gate: a good lesson that quotes such code is stored, not refused.

LESSON = (
    "Pass the registry credential through stdin instead of the command line: {snippet} keeps it out of the "
    "process list and the shell history, and the CI secret store provides the value at run time."
)


@pytest.mark.parametrize("snippet", BENIGN[:12])
def test_gate_accepts_lessons_quoting_benign_code(snippet: str) -> None:
    content = redact(LESSON.format(snippet=snippet))
    assert "[REDACTED:" not in content
    problems = item_problems("Pipe registry credentials through stdin", "Keep secrets off argv.", content)
    assert not [p for p in problems if "redacted secret" in p], problems


# ---- Linear time on adversarial shapes of the new rules.

N = 1_000_000
ADVERSARIAL = {
    "programs": "mysql -p " * (N // 9),
    "echo-pipes": "echo x | " * (N // 9),
    "call-args": "login('a', " * (N // 11),
    "netrc": "machine a login b " * (N // 18),
    "pgpass": "a:1:b:c:" * (N // 8),
    "random-runs": ("aB3dE5gH7jK9mN1pQ" * 3 + " ") * (N // 52),
    "flags": "--a --b " * (N // 8),
    "prompts": 'expect "password" ' * (N // 18),
}


@pytest.mark.timeout(20)
@pytest.mark.parametrize("name", sorted(ADVERSARIAL))
def test_adversarial_new_rules_finish(name: str) -> None:
    assert isinstance(redact(ADVERSARIAL[name]), str)
