#!/usr/bin/env python3
"""Write the secrets and the .env of compose.yaml once; never overwrite one that exists.

    python3 config/make_secrets.py --hmi-host hmi.example.com --mqtt-host broker.example.com

Run it on the Docker host before the first `docker compose up` (standard library and the
openssl command only: the host needs no Django). Every file it finds is kept as it is, so a
second run changes nothing: the SECRET_KEY (and with it everyone's session) and the database
passwords stay those of the first start, which the database volume keeps anyway.

It writes, under secrets/ (git ignores it):
- one random password or key per file, read by the containers as compose `secrets:`
  (config/settings.py's NAME_FILE variables, POSTGRES_PASSWORD_FILE);
- a private CA for the broker's TLS listener (mqtt-ca.crt, and mqtt-ca.key, which no
  container gets) and the broker's certificate for `mqtt` (the containers' name for it),
  localhost, 127.0.0.1 and every --mqtt-host; devices trust mqtt-ca.crt for mqtts://.

The folder is 0700, so no other user of the host can reach a file in it. The files themselves
are 0644 (the CA's key 0600): Compose bind-mounts a secret file with its mode and owner as
they are on the host (uid, gid and mode of the long syntax do not apply to files), and the
containers read them as their own unprivileged users (the app's 10001, Mosquitto's 1883).
"""

from __future__ import annotations

import argparse
import ipaddress
import os
import secrets
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Random secrets, one per file; the names are those compose.yaml's `secrets:` section reads.
PASSWORDS = [
    "secret_key",  # Django's SECRET_KEY (check --deploy wants 50 characters or more)
    "db_owner_password",  # PostgreSQL's superuser: migrations, create_app_role
    "db_app_password",  # scada_app, the role the application runs as
    "admin_password",  # the first superuser (manage.py ensure_admin)
    "demo_password",  # the demo users, with --profile demo
    "mqtt_ingest_password",  # the broker identity of ingest, its worker and writer (MQTT_URL)
    "mqtt_simulator_password",  # the demo devices' identity (SIMULATOR_MQTT_URL)
]
CA_DAYS = 3650
SERVER_DAYS = 825  # the longest validity clients such as Apple's accept for a server certificate


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=ROOT, help="Where compose.yaml lives.")
    parser.add_argument(
        "--hmi-host",
        default="localhost",
        help="The host name browsers use for the HMI (HMI_HOST in .env).",
    )
    parser.add_argument(
        "--mqtt-host",
        action="append",
        default=[],
        help="A name or address devices use for the broker (repeatable).",
    )
    args = parser.parse_args(argv)
    folder = args.dir / "secrets"
    folder.mkdir(mode=0o700, exist_ok=True)
    folder.chmod(0o700)
    for name in PASSWORDS:
        # token_urlsafe: letters, digits, - and _; 64 bytes make an 86-character key.
        write_once(folder / name, secrets.token_urlsafe(64 if name == "secret_key" else 32))
    make_certificates(folder, ["mqtt", "localhost", "127.0.0.1", *args.mqtt_host])
    write_once(args.dir / ".env", dot_env(args.hmi_host), mode=0o644)
    print(f"The first superuser is 'superuser'; its password is in {folder / 'admin_password'}.")
    return 0


def write_once(path: Path, text: str, mode: int = 0o644) -> None:
    """Create the file with `text` unless it exists (then say so, and keep it)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        print(f"kept    {path}")
        return
    with os.fdopen(fd, "w") as file:
        file.write(text)
    os.chmod(path, mode)  # whatever the umask
    print(f"created {path}")


def dot_env(hmi_host: str) -> str:
    return (
        "# compose.yaml's settings, written once by config/make_secrets.py; edit freely.\n"
        "# The host name browsers use: Caddy's site and certificate, Django's ALLOWED_HOSTS.\n"
        f"HMI_HOST={hmi_host}\n"
        "# Caddy's certificate: 'internal' (its own CA) or an e-mail address for ACME.\n"
        "HMI_TLS=internal\n"
    )


def make_certificates(folder: Path, names: list[str]) -> None:
    """A private CA and the broker's certificate signed by it, unless they exist."""
    ca_key, ca_crt = folder / "mqtt-ca.key", folder / "mqtt-ca.crt"
    key, crt = folder / "mqtt-server.key", folder / "mqtt-server.crt"
    if not ca_crt.exists():
        if ca_key.exists() or key.exists() or crt.exists():
            sys.exit(
                f"{ca_crt} is missing beside the other certificate files: remove them all "
                "to make a new CA (every device must then trust the new mqtt-ca.crt)"
            )
        openssl(
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            ca_key,
            "-out",
            ca_crt,
            "-days",
            CA_DAYS,
            "-subj",
            "/CN=scada-lite broker CA",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign",
        )
        ca_key.chmod(0o600)  # signs certificates: for no container
        ca_crt.chmod(0o644)
        print(f"created {ca_crt} (and its key)")
    else:
        print(f"kept    {ca_crt}")
    if key.exists() and crt.exists():
        print(f"kept    {crt}")
        return
    alt_names = ",".join(f"IP:{n}" if is_address(n) else f"DNS:{n}" for n in dict.fromkeys(names))
    with tempfile.TemporaryDirectory() as scratch:
        csr, ext = Path(scratch) / "server.csr", Path(scratch) / "server.ext"
        ext.write_text(
            f"subjectAltName={alt_names}\nextendedKeyUsage=serverAuth\n"
            "keyUsage=critical,digitalSignature\nbasicConstraints=CA:FALSE\n"
        )
        openssl(
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            key,
            "-out",
            csr,
            "-subj",
            f"/CN={names[0]}",
        )
        openssl(
            "x509",
            "-req",
            "-in",
            csr,
            "-CA",
            ca_crt,
            "-CAkey",
            ca_key,
            "-CAcreateserial",
            "-CAserial",
            Path(scratch) / "ca.srl",
            "-out",
            crt,
            "-days",
            SERVER_DAYS,
            "-extfile",
            ext,
        )
    key.chmod(0o644)  # read by Mosquitto's uid through a bind mount (see the docstring)
    crt.chmod(0o644)
    print(f"created {crt} for {alt_names}")


def is_address(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


def openssl(*args: object) -> None:
    result = subprocess.run(["openssl", *map(str, args)], capture_output=True, text=True)
    if result.returncode:
        sys.exit(f"openssl {args[0]} failed:\n{result.stderr}")


if __name__ == "__main__":
    sys.exit(main())
