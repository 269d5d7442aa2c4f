"""The object stores the bucket-source tests list: real servers on 127.0.0.1, ephemeral ports.

* S3: moto's server mode (``moto[server]``, the test extra): :class:`MotoS3` runs ``moto_server``
  as its own process, optionally with IAM authentication enforced (``INITIAL_NO_AUTH_ACTION_COUNT``),
  so boto3's signed requests are checked by the server;
* Azure Blob Storage: Azurite (npm, ``tests/oracles/azurite``, installed by tests/oracles/install.sh);
* Google Cloud Storage: ``gcp-storage-emulator`` (PyPI, the test extra); it serves the JSON API's
  objects.list, without paging.

None of them is a mock in this process: XPGEO reaches each over HTTP, as it reaches the real store.
The seeding is done with each store's own SDK (boto3, azure-storage-blob, google-cloud-storage).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional

import requests

from oracle_support import oracle_dir, unavailable

AZURITE_ACCOUNT = "devstoreaccount1"
AZURITE_KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
"""Azurite's well-known development account key (documented by Microsoft; not a secret)."""
SEED_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
SEED_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    found = Path(sys.executable).with_name(name)
    return str(found) if found.exists() else (shutil.which(name) or name)


def _wait(url: str, process: subprocess.Popen, what: str) -> None:
    for _ in range(300):
        if process.poll() is not None:
            raise AssertionError(f"{what} exited with {process.returncode}: {process.stdout.read()[-2000:]}")
        try:
            requests.get(url, timeout=1)
            return
        except requests.RequestException:
            time.sleep(0.05)
    raise AssertionError(f"{what} did not start")


class _Process:
    process: subprocess.Popen

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


class MotoS3(_Process):
    """moto's S3 server. ``auth``: IAM enforced after the set-up calls; :attr:`key_id`/:attr:`secret`
    are then an IAM user's keys that may do everything, which boto3 signs with."""

    def __init__(self, *, auth: bool = False) -> None:
        try:
            import boto3  # noqa: F401
        except ImportError:
            unavailable("boto3 is not installed (pip install -e '.[test]')")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        if auth:
            env["INITIAL_NO_AUTH_ACTION_COUNT"] = "3"  # the IAM set-up below; then every request is checked
        self.process = subprocess.Popen([_bin("moto_server"), "-H", "127.0.0.1", "-p", str(self.port)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait(self.endpoint + "/moto-api/", self.process, "moto_server")
        self.key_id, self.secret = SEED_KEY_ID, SEED_SECRET
        if auth:
            iam = self._client("iam")
            iam.create_user(UserName="lister")
            iam.put_user_policy(UserName="lister", PolicyName="all", PolicyDocument=json.dumps(
                {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]}))
            key = iam.create_access_key(UserName="lister")["AccessKey"]
            self.key_id, self.secret = key["AccessKeyId"], key["SecretAccessKey"]

    def _client(self, service: str):
        import boto3

        return boto3.session.Session().client(service, endpoint_url=self.endpoint, region_name="us-east-1",
                                              aws_access_key_id=self.key_id, aws_secret_access_key=self.secret)

    def bucket(self, name: str, objects: Dict[str, bytes], *, public: bool = True) -> None:
        s3 = self._client("s3")
        s3.create_bucket(Bucket=name)
        for key, body in objects.items():
            s3.put_object(Bucket=name, Key=key, Body=body, **({"ACL": "public-read"} if public else {}))

    def put(self, bucket: str, key: str, body: bytes) -> None:
        self._client("s3").put_object(Bucket=bucket, Key=key, Body=body, ACL="public-read")

    def aws_env(self) -> Dict[str, str]:
        """What boto3 reads its credentials and region from (its own variables)."""
        return {"AWS_ACCESS_KEY_ID": self.key_id, "AWS_SECRET_ACCESS_KEY": self.secret,
                "AWS_DEFAULT_REGION": "us-east-1"}


class Azurite(_Process):
    """Azurite's Blob service, in a temporary folder."""

    def __init__(self) -> None:
        binary = oracle_dir() / "azurite" / "node_modules" / ".bin" / "azurite-blob"
        if shutil.which("node") is None or not binary.exists():
            unavailable(f"Azurite is not installed: {binary} is missing")
        self.port = free_port()
        self.folder = tempfile.mkdtemp(prefix="xpgeo-azurite-")
        self.endpoint = f"http://127.0.0.1:{self.port}/{AZURITE_ACCOUNT}"
        self.process = subprocess.Popen(
            [str(binary), "--blobHost", "127.0.0.1", "--blobPort", str(self.port), "--location", self.folder,
             "--silent", "--skipApiVersionCheck", "--disableProductStyleUrl"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait(self.endpoint, self.process, "azurite-blob")
        self.connection_string = (f"DefaultEndpointsProtocol=http;AccountName={AZURITE_ACCOUNT};"
                                  f"AccountKey={AZURITE_KEY};BlobEndpoint={self.endpoint};")

    def container(self, name: str, objects: Dict[str, bytes], *, public: Optional[str] = "container") -> None:
        from azure.storage.blob import BlobServiceClient

        service = BlobServiceClient.from_connection_string(self.connection_string)
        container = service.create_container(name, public_access=public)
        for key, body in objects.items():
            container.upload_blob(key, body)

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        shutil.rmtree(self.folder, ignore_errors=True)


class GcsEmulator(_Process):
    """gcp-storage-emulator, in memory."""

    def __init__(self) -> None:
        binary = _bin("gcp-storage-emulator")
        if not Path(binary).exists() and shutil.which(binary) is None:
            unavailable("gcp-storage-emulator is not installed (pip install -e '.[test]')")
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen([binary, "start", "--host", "127.0.0.1", "--port", str(self.port),
                                         "--in-memory"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        _wait(self.endpoint, self.process, "gcp-storage-emulator")

    def bucket(self, name: str, objects: Dict[str, bytes]) -> None:
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import storage

        client = storage.Client(project="xpgeo-test", credentials=AnonymousCredentials(),
                                client_options={"api_endpoint": self.endpoint})
        bucket = client.create_bucket(name)
        for key, body in objects.items():
            bucket.blob(key).upload_from_string(body, content_type="image/jpeg")


def urls_in(texts: Iterable[str]) -> List[str]:
    return [t for t in texts if t.startswith("http")]
