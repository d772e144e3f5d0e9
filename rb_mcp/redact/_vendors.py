"""Fixed-shape tokens issued by well-known services, recognised by their prefix and alphabet.

The formats were taken from public rule lists (gitleaks, trufflehog, detect-secrets) and written
anew with looser lengths: a vendor that grows its tokens must not start leaking them.  Each rule
names lowercase needles, one of which must occur before its regex runs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator

from rb_mcp.redact._values import BD, B, Span, class_switches, looks_random

_Check = Callable[[str], bool] | None
_Rule = tuple[str, tuple[str, ...], re.Pattern[str], int, _Check]
_END = r"(?![A-Za-z0-9_])"
_ENDD = r"(?![A-Za-z0-9_-])"


def _tok(kind: str, needles: str, rx: str, group: int = 0, check: _Check = None) -> _Rule:
    return kind, tuple(needles.split()), re.compile(rx), group, check


def _mixed(v: str) -> bool:
    return any(c.isdigit() for c in v) and any(c.isalpha() for c in v)


_AWS_PREFIXES = "AKIA ASIA ABIA ACCA AGPA AIDA AIPA AKPA ANPA ANVA AROA APKA A3T"
_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"

RULES: list[_Rule] = [
    # Cloud providers.
    _tok(
        "aws-access-key",
        _AWS_PREFIXES.lower(),
        r"(?<![A-Za-z0-9])(?:" + _AWS_PREFIXES.replace(" ", "|") + r")[A-Z0-9]{16}(?![A-Za-z0-9])",
    ),
    _tok(
        "aws-secret-key",
        "aws",
        r"(?i)" + B + r"aws_?secret_?(?:access_?)?key[\"']?[ \t]{0,8}(?:=>|=|:)[ \t]{0,8}[\"']?"
        r"([A-Za-z0-9/+=]{40})(?![A-Za-z0-9/+=])",
        1,
    ),
    # STS session tokens start with the base64 of a protobuf header.
    _tok("aws-session-token", "iqoj fwog", B + r"(?:IQoJ|FwoG)[A-Za-z0-9/+=]{100,2000}"),
    _tok("aws-bedrock-key", "absk", B + r"ABSK[A-Za-z0-9+/]{100,300}={0,2}"),
    _tok("google-api-key", "aiza", BD + r"AIza[0-9A-Za-z_-]{35}"),
    _tok("google-oauth-secret", "gocspx-", BD + r"GOCSPX-[A-Za-z0-9_-]{24,40}"),
    _tok("google-oauth-token", "ya29.", B + r"ya29\.[A-Za-z0-9_-]{30,2000}"),
    _tok("google-refresh-token", "1//0", r"(?<![\w/])1//0[A-Za-z0-9_-]{30,500}"),
    _tok("firebase-server-key", ":apa91b", B + r"AAAA[A-Za-z0-9_-]{7}:APA91b[A-Za-z0-9_-]{100,200}"),
    _tok(
        "azure-client-secret",
        "q~",
        r"(?<![A-Za-z0-9_~.-])[A-Za-z0-9_~.]{3}[0-9]Q~[A-Za-z0-9_~.-]{31,34}(?![A-Za-z0-9_~.-])",
    ),
    _tok("alibaba-access-key", "ltai", B + r"LTAI[A-Za-z0-9]{12,24}" + _END),
    _tok("tencent-secret-id", "akid", B + r"AKID[A-Za-z0-9]{32}" + _END),
    _tok("digitalocean-token", "_v1_", B + r"do[opr]_v1_[a-f0-9]{64}"),
    _tok("cloudflare-origin-ca-key", "v1.0-", BD + r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}"),
    _tok("databricks-token", "dapi", B + r"dapi[a-f0-9]{32}(?:-[0-9])?" + _END),
    # Source hosting, CI and package registries.
    _tok("github-token", "ghp_ gho_ ghu_ ghs_ ghr_", B + r"gh[pousr]_[A-Za-z0-9]{30,255}"),
    _tok("github-token", "github_pat_", B + r"github_pat_[A-Za-z0-9_]{22,255}"),
    _tok(
        "gitlab-token",
        "gl",
        BD + r"gl(?:pat|dt|rt|ptt|soat|cbt|ffct|ft|imt|agent|oas|wt)-[A-Za-z0-9_.-]{20,300}",
    ),
    _tok("gitlab-token", "gr1348941", B + r"GR1348941[A-Za-z0-9_-]{20,64}"),
    _tok("bitbucket-token", "atbb", B + r"ATBB[A-Za-z0-9]{28,64}" + _END),
    _tok("atlassian-token", "atatt3 atctt3 atoa", B + r"AT(?:ATT|CTT)3[A-Za-z0-9_=-]{100,300}"),
    _tok("npm-token", "npm_", B + r"npm_[A-Za-z0-9]{36,255}"),
    _tok("pypi-token", "pypi-age", BD + r"pypi-AgE[A-Za-z0-9_-]{20,2000}"),
    _tok("rubygems-token", "rubygems_", B + r"rubygems_[a-f0-9]{48}"),
    _tok("clojars-token", "clojars_", r"(?i)" + B + r"CLOJARS_[a-z0-9]{60}"),
    _tok("dockerhub-token", "dckr_", B + r"dckr_(?:pat|oat)_[A-Za-z0-9_-]{20,64}"),
    _tok("artifactory-key", "akcp", B + r"AKCp[A-Za-z0-9]{60,80}" + _END),
    _tok("artifactory-key", "cmvmd", B + r"cmVmd[A-Za-z0-9]{50,70}" + _END),
    _tok("buildkite-token", "bkua_", B + r"bkua_[a-f0-9]{40}"),
    _tok("circleci-token", "ccipat_ cciprj_", B + r"CCIP(?:AT|RJ)_[A-Za-z0-9]{20,30}_[a-f0-9]{40}"),
    _tok("sourcegraph-token", "sgp_", B + r"sgp_(?:[a-f0-9]{16}_|local_)?[a-f0-9]{40}"),
    _tok("pulumi-token", "pul-", BD + r"pul-[a-f0-9]{40}"),
    _tok("terraform-token", "atlasv1", B + r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{50,90}"),
    _tok("octopus-key", "api-", BD + r"API-[A-Z0-9]{26,32}" + _ENDD, 0, _mixed),
    _tok("snyk-token", "snyk_", B + r"snyk_(?:uat|sat)\.[a-z0-9]{8}\.[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    _tok("sonar-token", "squ_ sqp_ sqa_", B + r"sq[upa]_[a-f0-9]{40}"),
    _tok("infracost-token", "ico-", BD + r"ico-[A-Za-z0-9]{32}"),
    _tok("prefect-token", "pnu_", B + r"pnu_[A-Za-z0-9]{36}"),
    _tok("readme-token", "rdme_", B + r"rdme_[a-z0-9]{70}"),
    _tok("scalingo-token", "tk-us-", BD + r"tk-us-[\w-]{48}"),
    _tok("docker-swarm-token", "swmtkn-", BD + r"SWMTKN-1-[a-z0-9]{40,60}-[a-z0-9]{20,30}"),
    # Secrets managers, infrastructure and hosting.
    _tok("vault-token", "hvs. hvb. hvr.", B + r"hv[sbr]\.[A-Za-z0-9_-]{20,400}"),
    _tok("vault-token", "s.", r"(?<![\w.-])s\.[A-Za-z0-9]{24}" + _ENDD, 0, lambda v: _mixed(v[2:])),
    _tok("age-secret-key", "age-secret-key-1", r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{50,70}"),
    _tok(
        "age-plugin-key",
        "age-plugin-",
        r"AGE-PLUGIN-[A-Z0-9-]{1,40}-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{20,200}",
    ),
    _tok("doppler-token", "dp.", B + r"dp\.(?:pt|st|sa|ct|scim|audit)\.[A-Za-z0-9]{40,44}"),
    _tok("dynatrace-token", "dt0c01.", B + r"dt0c01\.[A-Z0-9]{24}\.[A-Z0-9]{64}"),
    _tok("onepassword-token", "ops_eyj", B + r"ops_eyJ[A-Za-z0-9+/_-]{100,}={0,3}"),
    _tok(
        "onepassword-secret-key",
        "a3-",
        BD + r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})-[A-Z0-9]{5}-[A-Z0-9]{5}-[A-Z0-9]{5}",
    ),
    _tok(
        "tailscale-key",
        "tskey-",
        BD + r"tskey-(?:auth|api|client|scim|webhook)-[A-Za-z0-9]{6,20}-[A-Za-z0-9]{16,64}",
    ),
    _tok("heroku-key", "hrku-", BD + r"HRKU-[A-Za-z0-9_-]{40,80}"),
    _tok(
        "flyio-token", "fo1_ fm1 fm2_", B + r"(?:fo1_[\w-]{40,50}|fm[12][ar]?_[A-Za-z0-9+/_-]{60,2000}={0,3})"
    ),
    _tok("netlify-token", "nfp_", B + r"nfp_[A-Za-z0-9]{36,40}"),
    _tok("render-key", "rnd_", B + r"rnd_[A-Za-z0-9]{28,40}" + _END),
    _tok("neon-key", "napi_", B + r"napi_[a-z0-9]{60,70}"),
    _tok("supabase-key", "sbp_ sb_secret_", B + r"(?:sbp_[a-f0-9]{40}|sb_secret_[A-Za-z0-9_-]{20,80})"),
    _tok("planetscale-token", "pscale_", B + r"pscale_(?:tkn|oauth|pw)_[\w=.-]{32,64}"),
    _tok("openshift-token", "sha256~", r"(?<![\w~-])sha256~[\w-]{43}"),
    _tok("kubeadm-token", ".", r"(?<![\w.-])[a-z0-9]{6}\.[a-z0-9]{16}(?![\w.-])", 0, lambda v: _mixed(v[7:])),
    # AI providers.
    _tok("anthropic-key", "sk-ant-", BD + r"sk-ant-[A-Za-z0-9_-]{20,400}"),
    _tok("groq-key", "gsk_", B + r"gsk_[A-Za-z0-9]{48,56}"),
    _tok("replicate-token", "r8_", B + r"r8_[A-Za-z0-9]{37}"),
    _tok("xai-key", "xai-", BD + r"xai-[A-Za-z0-9]{70,90}"),
    _tok("perplexity-key", "pplx-", BD + r"pplx-[A-Za-z0-9]{40,56}"),
    _tok("langsmith-key", "lsv2_", B + r"lsv2_(?:pt|sk)_[a-f0-9]{32}_[a-f0-9]{10}"),
    _tok("huggingface-token", "hf_", B + r"hf_[A-Za-z0-9]{30,255}"),
    _tok("huggingface-token", "api_org_", B + r"api_org_[A-Za-z0-9]{30,40}"),
    # Payments and commerce.
    _tok("stripe-key", "_live_ _test_ _prod_", B + r"(?:sk|rk|pk)_(?:live|test|prod)_[0-9A-Za-z]{10,255}"),
    _tok("stripe-key", "whsec_", B + r"whsec_[0-9A-Za-z]{20,255}"),
    _tok("square-token", "sq0atp- sq0csp-", BD + r"sq0(?:atp|csp)-[\w-]{22,60}"),
    _tok("square-token", "eaaa", B + r"EAAA[\w-]{60}" + _ENDD),
    _tok(
        "braintree-token",
        "access_token$",
        r"access_token\$(?:production|sandbox)\$[a-z0-9]{16}\$[a-f0-9]{32}",
    ),
    _tok("shopify-token", "shp", B + r"shp(?:at|ca|pa|ss)_[a-fA-F0-9]{32}"),
    _tok("shippo-token", "shippo_", B + r"shippo_(?:live|test)_[a-fA-F0-9]{40}"),
    _tok("easypost-key", "ezak eztk", B + r"EZ[AT]K[A-Za-z0-9]{54}"),
    _tok("duffel-token", "duffel_", B + r"duffel_(?:test|live)_[A-Za-z0-9_=-]{43}"),
    _tok("flutterwave-key", "flwseck flwpubk", B + r"FLW(?:SECK|PUBK)(?:_TEST)?-[a-hA-H0-9]{12,32}(?:-X)?"),
    _tok("razorpay-key", "rzp_", B + r"rzp_(?:live|test)_[A-Za-z0-9]{14,}"),
    _tok("adyen-key", "aqe", B + r"AQE[a-z][A-Za-z0-9+/=._-]{90,300}", 0, lambda v: class_switches(v) > 0.3),
    # Messaging, email and collaboration.
    _tok("slack-token", "xox", BD + r"xox[abposre]-[A-Za-z0-9-]{10,255}"),
    _tok("slack-token", "xoxe.", BD + r"xoxe\.xox[bp]-[0-9]-[A-Za-z0-9]{100,200}"),
    _tok("slack-token", "xapp-", BD + r"xapp-[0-9]-[A-Za-z0-9-]{10,255}"),
    _tok(
        "slack-webhook",
        "hooks.slack.com",
        r"hooks\.slack\.com/(?:services|workflows|triggers)/([\w/-]{8,300})",
        1,
    ),
    _tok(
        "discord-webhook",
        "/api/webhooks/",
        r"(?:discord(?:app)?\.com|canary\.discord\.com|ptb\.discord\.com)/api/(?:v\d+/)?webhooks/"
        r"([0-9]{5,30}/[\w-]{20,200})",
        1,
    ),
    _tok(
        "discord-bot-token",
        ".",
        r"(?<![\w.-])[MNO][A-Za-z0-9_-]{23,27}\.[A-Za-z0-9_-]{6}\.[A-Za-z0-9_-]{27,40}(?![\w.-])",
        0,
        lambda v: _mixed(v),
    ),
    _tok(
        "telegram-bot-token",
        ":aa",
        r"(?:(?<![\w:])|(?<=bot))[0-9]{6,12}:AA[A-Za-z0-9_-]{30,40}(?![A-Za-z0-9_-])",
    ),
    _tok(
        "teams-webhook",
        "webhook.office.com",
        r"webhook\.office\.com/webhookb2/([\w@/-]{40,400})",
        1,
    ),
    _tok(
        "teams-webhook",
        "logic.azure.com",
        r"logic\.azure\.com[\w:/.-]{0,200}\?([\w=&%.-]{20,600}sig=[\w%-]{20,100})",
        1,
    ),
    _tok("zapier-webhook", "hooks.zapier.com", r"hooks\.zapier\.com/hooks/catch/([\w/-]{6,100})", 1),
    _tok("twilio-key", "sk ac", r"(?<![A-Za-z0-9])(?:SK|AC)[0-9a-f]{32}(?![A-Za-z0-9])"),
    _tok("sendgrid-key", "sg.", BD + r"SG\.[A-Za-z0-9_-]{16,64}\.[A-Za-z0-9_-]{16,128}"),
    _tok("sendinblue-key", "xkeysib- xsmtpsib-", BD + r"x(?:keysib|smtpsib)-[a-f0-9]{64}-[A-Za-z0-9]{16}"),
    _tok("mailgun-key", "key-", BD + r"key-[a-f0-9]{32}" + _ENDD),
    _tok("mailchimp-key", "-us", B + r"[a-f0-9]{32}-us[0-9]{1,2}" + _END),
    _tok("resend-key", "re_", B + r"re_[A-Za-z0-9]{8}_[A-Za-z0-9]{20,30}"),
    _tok("postman-key", "pmak-", BD + r"PMAK-[a-f0-9]{24}-[a-f0-9]{34}"),
    _tok("linear-key", "lin_api_ lin_oauth_", B + r"lin_(?:api|oauth)_[A-Za-z0-9]{32,64}"),
    _tok("notion-token", "secret_ ntn_", B + r"(?:secret_[A-Za-z0-9]{43}|ntn_[A-Za-z0-9]{40,50})" + _END),
    _tok("airtable-token", "pat", B + r"pat[A-Za-z0-9]{14}\.[a-f0-9]{64}"),
    _tok("asana-token", "/", r"(?<![\w/])[0-9]/[0-9]{10,20}(?:/[0-9]{10,20})?:[a-f0-9]{32}(?![\w])"),
    _tok("clickup-token", "pk_", B + r"pk_[0-9]{4,12}_[A-Z0-9]{32}"),
    _tok("figma-token", "figd_", B + r"figd_[A-Za-z0-9_-]{40,}"),
    _tok("contentful-token", "cfpat-", BD + r"CFPAT-[A-Za-z0-9_-]{43}"),
    _tok("typeform-token", "tfp_", B + r"tfp_[A-Za-z0-9_.=-]{40,64}"),
    _tok("frameio-token", "fio-u-", BD + r"fio-u-[A-Za-z0-9_=-]{64}"),
    _tok("mapbox-secret-token", "sk.eyj", B + r"sk\.eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}"),
    _tok("facebook-token", "eaa", B + r"EAA[A-Za-z0-9]{100,400}" + _END),
    _tok("twitter-bearer", "aaaaaaaaaaaaaaaaaaaaa", r"A{20,22}[A-Za-z0-9%]{60,120}"),
    # Observability.
    _tok("newrelic-key", "nrak- nrii- nrjs- nrra-", BD + r"NR(?:AK|II|JS|RA)-[A-Za-z0-9-]{19,40}"),
    _tok("newrelic-license-key", "nral", B + r"[a-f0-9]{36}NRAL" + _END),
    _tok("grafana-token", "glsa_", B + r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}"),
    _tok("grafana-token", "glc_", B + r"glc_[A-Za-z0-9+/]{32,400}={0,3}"),
    _tok("grafana-token", "eyjrijoi", B + r"eyJrIjoi[A-Za-z0-9]{50,400}={0,3}"),
    _tok("sentry-token", "sntrys_ sntryu_", B + r"sntry[su]_[A-Za-z0-9+/=_]{40,400}"),
    _tok("jwt", "eyj", BD + r"eyJ[\w-]{5,8000}\.eyJ[\w-]{5,8000}\.[\w-]{0,8000}"),
    # The base64 of a PEM private key ("-----BEGIN ... PRIVATE KEY"), as in kubeconfig and k8s secrets.
    _tok("private-key", "ls0tls1crudjti", B + r"LS0tLS1CRUdJTi[A-Za-z0-9+/]{20,20000}={0,2}", 0, None),
]

# OpenAI keys share the bare "sk-" prefix with many harmless slugs, so a digit is required too.
_OPENAI_RE = re.compile(BD + r"sk-(?:proj-|svcacct-|admin-|or-v1-)?([A-Za-z0-9_-]{20,400})")


def find_tokens(text: str, low: str) -> Iterator[Span]:
    for kind, needles, rx, group, check in RULES:
        if not any(n in low for n in needles):
            continue
        for m in rx.finditer(text):
            if check is None or check(m.group(group)):
                yield m.start(group), m.end(group), kind


def find_openai(text: str, low: str) -> Iterator[Span]:
    for m in _OPENAI_RE.finditer(text):
        body = m.group(1)
        if any(c.isdigit() for c in body) and any(c.isalpha() for c in body) and looks_random(body):
            yield m.start(), m.end(), "openai-key"
