"""The command-line tables behind _commands: which programs take a secret where.

Each entry names a program as it is typed; the reasons are in _commands' docstring.
"""

from __future__ import annotations

# name -> flags whose argument is a password.  A flag ending in ":" or marked "+" also takes the value
# glued on (mysql -pXXX, xfreerdp /p:XXX); others only as the next word.
SECRET_FLAGS: dict[str, tuple[str, ...]] = {
    **dict.fromkeys(
        (
            "mysql",
            "mysqldump",
            "mysqladmin",
            "mysqlimport",
            "mysqlcheck",
            "mysqlpump",
            "mysqlsh",
            "mariadb",
            "mariadb-dump",
            "mariadb-admin",
            "mydumper",
            "myloader",
        ),
        ("-p+",),
    ),
    **dict.fromkeys(("sshpass",), ("-p+",)),
    **dict.fromkeys(
        (
            "mongo",
            "mongosh",
            "mongodump",
            "mongorestore",
            "mongoexport",
            "mongoimport",
            "mongostat",
            "mongotop",
            "cqlsh",
            "rabbitmqadmin",
            "expo",
            "mosquitto_pub",
            "mosquitto_sub",
            "influx",
            "nzsql",
        ),
        ("-p", "-P", "-password", "--password"),
    ),
    **dict.fromkeys(("redis-cli", "keydb-cli", "valkey-cli"), ("-a+", "--pass", "--askpass")),
    **dict.fromkeys(
        (
            "ldapsearch",
            "ldapadd",
            "ldapmodify",
            "ldapdelete",
            "ldapwhoami",
            "ldappasswd",
            "ldapmodrdn",
            "ldapcompare",
            "ldapexop",
        ),
        ("-w+",),
    ),
    **dict.fromkeys(("sqlcmd", "bcp", "osql", "isql", "isql-fb", "sqsh"), ("-P+",)),
    **dict.fromkeys(
        ("psexec", "psexec.py", "paexec", "winexe", "crackmapexec", "nxc", "evil-winrm"), ("-p", "-H")
    ),
    **dict.fromkeys(("zip", "unzip", "zipcloak", "funzip"), ("-P",)),
    **dict.fromkeys(("7z", "7za", "7zr", "rar", "unrar", "winrar"), ("-p+",)),
    **dict.fromkeys(("ssh-keygen",), ("-N", "-P")),
    **dict.fromkeys(
        ("keytool", "jarsigner", "apksigner"),
        (
            "-storepass",
            "-keypass",
            "-srcstorepass",
            "-deststorepass",
            "-srckeypass",
            "-destkeypass",
            "-new",
            "--ks-pass",
            "--key-pass",
        ),
    ),
    **dict.fromkeys(("openssl",), ("-passin", "-passout", "-pass", "-k", "-password")),
    **dict.fromkeys(("xfreerdp", "wlfreerdp", "sdl-freerdp"), ("/p:+",)),
    **dict.fromkeys(("rdesktop", "vncviewer", "tigervnc"), ("-p", "-passwd")),
    **dict.fromkeys(
        (
            "snmpwalk",
            "snmpget",
            "snmpset",
            "snmpbulkwalk",
            "snmpbulkget",
            "snmpgetnext",
            "snmptrap",
            "snmptable",
            "onesixtyone",
        ),
        ("-c", "-A", "-X"),
    ),
    **dict.fromkeys(("twine",), ("-p",)),
    **dict.fromkeys(("doctl", "codecov", "codecovcli", "hcloud", "linode-cli", "scw"), ("-t",)),
    **dict.fromkeys(("consul", "nomad", "vault", "boundary", "terraform", "packer"), ("-token", "-password")),
    **dict.fromkeys(("mc", "s3cmd", "rclone"), ("--secret_key", "--secret-key")),
    **dict.fromkeys(("hydra", "medusa", "ncrack", "wfuzz"), ("-p",)),
    **dict.fromkeys(("lftp",), ("-p",)),
    **dict.fromkeys(("gpg", "gpg2"), ("--passphrase",)),
    **dict.fromkeys(("smbclient", "rpcclient", "smbmap", "mount.cifs"), ("-p", "--password")),
    **dict.fromkeys(("net",), ("/p:+",)),
    **dict.fromkeys(("vpnc", "openconnect", "nmcli"), ("--passwd-on-stdin",)),
    **dict.fromkeys(("nuget", "nuget.exe"), ("-ApiKey", "-Password", "-k")),
    **dict.fromkeys(("htpasswd",), ()),
}
# Programs whose -p/-P/--password is a password once a login word ("login", "auth") comes among the
# first words: "docker login -p X", "helm registry login -p X" (docker's -p alone is a port).
LOGIN_PROGRAMS = frozenset(
    "docker podman buildah nerdctl skopeo helm oras crane regctl oc az cf jf argocd expo eas npm pnpm yarn mc "
    "rancher tkn kubectl sfdx sf balena gcloud heroku spin cloudsmith dotnet nuget git-credential flux harbor "
    "quay jfrog vault consul nomad boundary openstack gh glab hub terraform packer".split()
)
LOGIN_WORDS = frozenset({"login", "auth", "signin", "sign-in", "authenticate", "add-source", "update-source"})
LOGIN_FLAGS = ("-p", "--password", "-P", "-k", "--api-key")
# "<program> <subcommand>" -> index (among the words that follow, flags skipped) of a secret argument.
POSITIONAL: dict[tuple[str, str], tuple[int, ...]] = {
    ("vault", "login"): (0,),
    ("vault", "unseal"): (0,),
    ("cargo", "login"): (0,),
    ("ngrok", "authtoken"): (0,),
    ("wandb", "login"): (0,),
    ("snyk", "auth"): (0,),
    ("nuget", "setapikey"): (0,),
    ("nuget.exe", "setapikey"): (0,),
    ("rabbitmqctl", "add_user"): (1,),
    ("rabbitmqctl", "change_password"): (1,),
    ("rabbitmqctl", "authenticate_user"): (1,),
    ("net", "user"): (1,),
    ("net", "use"): (1,),  # shifted past a drive letter below
    ("cf", "auth"): (1,),
    ("mc", "alias"): (3, 4),  # mc alias set NAME URL ACCESS SECRET
    ("mc", "config"): (4, 5),  # mc config host add NAME URL ACCESS SECRET
    ("redis-cli", "auth"): (0, 1),
    ("keydb-cli", "auth"): (0, 1),
    ("hf", "login"): (0,),
    ("huggingface-cli", "login"): (0,),
    ("sentry-cli", "login"): (0,),
    ("railway", "login"): (0,),
    ("ansible-vault", "encrypt_string"): (0,),
}
# Subcommands that set a named configuration value: the value after a secret-sounding name is a secret.
CONFIG_SET: frozenset[tuple[str, str]] = frozenset(
    {
        ("npm", "config"),
        ("yarn", "config"),
        ("pnpm", "config"),
        ("git", "config"),
        ("aws", "configure"),
        ("poetry", "config"),
        ("gcloud", "config"),
        ("pip", "config"),
        ("conda", "config"),
        ("dotnet", "user-secrets"),
        ("heroku", "config:set"),
        ("redis-cli", "config"),
        ("az", "config"),
        ("gh", "config"),
        ("rclone", "config"),
        ("wp", "config"),
        ("pulumi", "config"),
        ("nx", "config"),
        ("bundle", "config"),
        ("composer", "config"),
        ("yarn", "npm"),
        ("ngrok", "config"),
        ("doppler", "secrets"),
        ("dokku", "config:set"),
        ("netlify", "env:set"),
        ("vercel", "env"),
        ("railway", "variables"),
        ("supabase", "secrets"),
        ("fly", "secrets"),
        ("flyctl", "secrets"),
        ("heroku", "config:add"),
    }
)
# Subcommands that store every value they are given as a secret, once a write verb comes among the
# first words ("kubectl create secret", "vault kv put"; "gcloud secrets versions access" reads).
SECRET_STORE: frozenset[tuple[str, str]] = frozenset(
    {
        ("kubectl", "create"),
        ("oc", "create"),
        ("fly", "secrets"),
        ("flyctl", "secrets"),
        ("vault", "kv"),
        ("vault", "write"),
        ("doppler", "secrets"),
        ("supabase", "secrets"),
        ("gh", "secret"),
        ("wrangler", "secret"),
        ("az", "keyvault"),
        ("aws", "secretsmanager"),
        ("aws", "ssm"),
        ("gcloud", "secrets"),
        ("docker", "secret"),
        ("op", "item"),
        ("bw", "create"),
        ("infisical", "secrets"),
        ("eas", "secret:create"),
        ("glab", "variable"),
        ("kubectl", "patch"),
        ("sops", "set"),
    }
)
WRITE_VERBS = frozenset(
    "create put set write add update patch import put-secret-value create-secret update-secret put-parameter "
    "secret:create edit upload".split()
)
# Flags under a secret-store command whose value is the secret itself.
STORE_VALUE_FLAGS = frozenset(
    {
        "--from-literal",
        "--body",
        "-b",
        "--value",
        "--secret-string",
        "--secret-binary",
        "--data",
        "--docker-password",
        "--password",
        "--value-from",
        "--secret",
        "--string",
    }
)
