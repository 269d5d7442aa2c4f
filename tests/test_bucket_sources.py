"""Bucket sources (--source): listed with each store's own API from real servers the suite starts.

S3 is moto's server, Azure is Azurite, GCS is gcp-storage-emulator (tests/storage_servers.py); the
photos are read back from them by the pipeline as any photo URL is, so an object whose URL is wrong
fails the run. The credentialed paths go through boto3 and azure-storage-blob against the same
servers (moto with IAM enforced checks boto3's signatures).
"""

from __future__ import annotations

import http.server
import json
import logging
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Dict, List

import pytest

from local_support import photo
from portal_support import run_cli
from storage_servers import GcsEmulator, MotoS3, Azurite
from xpgeo_core.buckets import BucketListing, parse_since, parse_source
from xpgeo_core.errors import AuthError, ServerError, ValidationError
from xpgeo_core.image_lists import filter_patterns, name_matches
from xpgeo_core.results import TICK
from xpgeo_core.settings import load_settings


def photos(names: List[str]) -> Dict[str, bytes]:
    return {name: photo(45.76 + i * 1e-4, 4.835 + i * 5e-5, heading=i * 20.0) for i, name in enumerate(names)}


@pytest.fixture(autouse=True)
def _no_cloud_credentials(monkeypatch):
    """No test sees the developer's cloud credentials, and no SDK asks a metadata server off the machine."""
    import os

    for key in list(os.environ):
        if key.startswith(("AWS_", "AZURE_", "GOOGLE_", "STORAGE_EMULATOR")):
            monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("NO_PROXY", "*")


def local_env(tmp_path: Path, **extra: str) -> Dict[str, str]:
    env = {"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers"), "XPGEO_RETRY_BACKOFF": "0",
           "AWS_EC2_METADATA_DISABLED": "true"}
    env.update(extra)
    return env


def layer_paths(tmp_path: Path, name: str) -> List[str]:
    document = json.loads((tmp_path / "layers" / name / "features.geojson").read_text(encoding="utf-8"))
    return sorted(f["properties"]["ImagePath"] for f in document["features"])


def new_layer(env: Dict[str, str], name: str = "site") -> None:
    code, out, err = run_cli(["create-oi-layer", "--name", name], env)
    assert code == 0, out + err


def settings(**values):
    return load_settings(values, environ={})


# -- what a source names, and the URL each object gets (no network) ------------------------

@pytest.mark.parametrize("text, store, bucket, prefix, first_url", [
    ("s3://drone-photos/site A/", "s3", "drone-photos", "site A/", "https://drone-photos.s3.amazonaws.com/x.jpg"),
    ("s3://my.dotted.bucket", "s3", "my.dotted.bucket", "", "https://s3.amazonaws.com/my.dotted.bucket/x.jpg"),
    ("https://drone-photos.s3.eu-west-1.amazonaws.com/2024/", "s3", "drone-photos", "2024/",
     "https://drone-photos.s3.eu-west-1.amazonaws.com/x.jpg"),
    ("https://s3.eu-west-1.amazonaws.com/drone-photos/2024%20may/", "s3", "drone-photos", "2024 may/",
     "https://drone-photos.s3.eu-west-1.amazonaws.com/x.jpg"),
    ("https://drone-photos.s3.amazonaws.com", "s3", "drone-photos", "", "https://drone-photos.s3.amazonaws.com/x.jpg"),
    ("gs://survey-2024/roads/", "gcs", "survey-2024", "roads/", "https://storage.googleapis.com/survey-2024/x.jpg"),
    ("https://storage.googleapis.com/survey-2024/roads/", "gcs", "survey-2024", "roads/",
     "https://storage.googleapis.com/survey-2024/x.jpg"),
    ("https://acme.blob.core.windows.net/photos/site/", "azure", "photos", "site/",
     "https://acme.blob.core.windows.net/photos/x.jpg"),
])
def test_a_source_names_its_store_bucket_and_prefix(text, store, bucket, prefix, first_url):
    source = parse_source(text, settings())
    assert (source.store, source.bucket, source.prefix) == (store, bucket, prefix)
    assert source.object_url("x.jpg") == first_url


def test_object_urls_are_percent_encoded_utf8_with_slashes_kept():
    source = parse_source("s3://b-1/", settings())
    assert source.object_url("a b/c+d#e?f%g/Ünïcode é.JPG") == (
        "https://b-1.s3.amazonaws.com/a%20b/c%2Bd%23e%3Ff%25g/%C3%9Cn%C3%AFcode%20%C3%A9.JPG")


def test_a_source_under_a_configured_endpoint_is_that_store_path_style():
    s = settings(s3_endpoint_url="http://127.0.0.1:9000", azure_blob_endpoint_url="http://127.0.0.1:10000/dev1")
    source = parse_source("http://127.0.0.1:9000/photos/2024/", s)
    assert (source.store, source.bucket, source.prefix) == ("s3", "photos", "2024/")
    assert source.object_url("a.jpg") == "http://127.0.0.1:9000/photos/a.jpg"
    assert parse_source("s3://photos/x", s).object_url("x/a.jpg") == "http://127.0.0.1:9000/photos/x/a.jpg"
    azure = parse_source("http://127.0.0.1:10000/dev1/box/p/", s)
    assert (azure.store, azure.account, azure.bucket, azure.prefix) == ("azure", "dev1", "box", "p/")


@pytest.mark.parametrize("text, words", [
    ("https://photos.example.com/2024/", "not a bucket URL XPGEO recognises"),
    ("ftp://bucket/x", "not a store XPGEO can list"),
    ("drone-photos", "not a URL"),
    ("s3://Bad_Bucket!/x", "not a valid bucket name"),
    ("https://acme.blob.core.windows.net/photos/?sv=2022&sig=SECRETSIG", "carries credentials"),
    ("https://user:pa55word@drone.s3.amazonaws.com/", "carries credentials"),
])
def test_a_source_that_names_no_bucket_says_what_to_give(text, words):
    with pytest.raises(ValidationError) as caught:
        parse_source(text, settings())
    assert words in caught.value.message and caught.value.hint
    assert "SECRETSIG" not in str(caught.value) and "pa55word" not in str(caught.value)


def test_modified_since_reads_dates_with_and_without_time_zones():
    assert parse_since("2024-05-01T12:00:00Z") == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert parse_since("2024-05-01T14:00:00+02:00") == datetime(2024, 5, 1, 12, tzinfo=timezone.utc)
    assert parse_since("2024-05-01").tzinfo is timezone.utc  # local midnight, in UTC
    assert parse_since(None) is None and parse_since(" ") is None
    with pytest.raises(ValidationError, match="not a date"):
        parse_since("last tuesday")


def test_the_file_name_filter_matches_names_or_paths_in_any_case():
    patterns = filter_patterns("*.jpg;2024/*/*.TIF")
    assert name_matches("flight/P001.JPG", patterns)
    assert name_matches("2024/may/a.tif", patterns)
    assert not name_matches("2023/may/a.tif", patterns) and not name_matches("a.png", patterns)


# -- S3 (moto's server) ----------------------------------------------------------------------

@pytest.fixture(scope="module")
def s3():
    with MotoS3() as server:
        yield server


def test_s3_listing_pages_through_continuation_tokens(s3):
    s3.bucket("paged", {f"p/{i:03d}.jpg": b"x" for i in range(7)} | {"p/readme.txt": b"x", "other/1.jpg": b"x"})
    s = settings(s3_endpoint_url=s3.endpoint)
    ticks = []
    listing = BucketListing(s, "s3://paged/p/", progress=ticks.append, page_size=3)
    urls = [url for _, url in listing]
    assert urls == [f"{s3.endpoint}/paged/p/{i:03d}.jpg" for i in range(7)]
    assert (listing.pages, listing.listed, listing.matched) == (3, 8, 7)
    assert [t.kind for t in ticks] == [TICK] * 3 and ticks[-1].done == 7  # progress per page, while listing


def test_an_s3_bucket_appends_its_photos_then_a_rerun_only_the_new_ones(s3, tmp_path):
    names = [f"flight 1/P{i:03d}.jpg" for i in range(4)] + ["flight 1/Ünï+code #1.JPG"]
    s3.bucket("drone", photos(names) | {"flight 1/log.csv": b"t,lat\n"})
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://drone/flight 1/"], env)
    assert code == 0, out + err
    assert "Appended 5, skipped 0" in out
    assert "Listed s3://drone/flight 1/: 6 object(s) listed (1 page(s)), 5 match '*.jpg;*.jpeg'" in err
    assert f"{s3.endpoint}/drone/flight%201/%C3%9Cn%C3%AF%2Bcode%20%231.JPG" in layer_paths(tmp_path, "site")

    s3.put("drone", "flight 1/P100.jpg", photo(45.77, 4.84))
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://drone/flight 1/"], env)
    assert code == 0, out + err
    assert "Appended 1, skipped 5 (already in the layer)" in out
    assert len(layer_paths(tmp_path, "site")) == 6


def test_the_filters_choose_by_name_and_by_modification_time(s3, tmp_path):
    s3.bucket("filters", photos(["a/one.jpg", "a/two.JPG", "b/three.jpg"]) | {"a/four.tif": b"x"})
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://filters/", "--filter", "a/*.jpg"],
                             env)
    assert code == 0, out + err
    assert layer_paths(tmp_path, "site") == [f"{s3.endpoint}/filters/a/one.jpg", f"{s3.endpoint}/filters/a/two.JPG"]
    tomorrow = (datetime.now(timezone.utc) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://filters/",
                              "--modified-since", tomorrow], env)
    assert code == 2
    assert "has no photo to append" in err and "3 older left out" in err and "modified-since" in err
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://filters/",
                              "--modified-since", "2020-01-01"], env)
    assert code == 0 and "Appended 1, skipped 2" in out


def test_a_missing_bucket_is_named_with_what_to_do(s3, tmp_path):
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://no-such-bucket/x/"], env)
    assert code == 2
    assert "Bucket 's3://no-such-bucket/x/' was not found on Amazon S3 (NoSuchBucket)" in err
    assert "Check the bucket name" in err and "Traceback" not in err


def test_a_bucket_of_no_photos_says_what_it_listed(s3, tmp_path):
    s3.bucket("docs-only", {"a.txt": b"x", "b.pdf": b"x"})
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://docs-only"], env)
    assert code == 2 and "2 object(s) listed (1 page(s)), 0 match '*.jpg;*.jpeg'" in err


# -- S3 with credentials: boto3 against moto with IAM enforced -----------------------------------

def test_a_private_s3_bucket_is_listed_through_boto3_and_no_key_shows(tmp_path, monkeypatch):
    # moto checks boto3's signatures here; it cannot serve anonymous reads in this mode (it answers 500),
    # so the photos are not read: the listing is what is proved (the Azure test below reads them too)
    with MotoS3(auth=True) as private:
        private.bucket("private-photos", photos(["p/a.jpg", "p/b.jpg"]))
        for name, value in private.aws_env().items():  # boto3 reads its own variables from the process
            monkeypatch.setenv(name, value)
        records = []
        handler = logging.Handler()
        handler.emit = records.append
        logging.getLogger().addHandler(handler)
        try:
            listing = BucketListing(settings(s3_endpoint_url=private.endpoint, bucket_access="sdk"),
                                    "s3://private-photos/p/", page_size=1)
            urls = [url for _, url in listing]
        finally:
            logging.getLogger().removeHandler(handler)
        assert urls == [f"{private.endpoint}/private-photos/p/a.jpg", f"{private.endpoint}/private-photos/p/b.jpg"]
        assert listing.pages == 2 and listing.through_sdk
        logged = " ".join(str(r.getMessage()) for r in records)
        assert private.secret not in logged and all(private.secret not in u and "X-Amz" not in u for u in urls)

        env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=private.endpoint, XPGEO_BUCKET_ACCESS="sdk")
        new_layer(env)
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all-0000")
        code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://private-photos/p/"], env)
        assert code == 3, out + err
        assert "Amazon S3 refused to list 's3://private-photos/p/' with the AWS credentials boto3 found" in err
        assert "not-the-secret-at-all-0000" not in out + err


def test_boto3_without_credentials_says_where_it_looks(s3, tmp_path):
    s3.bucket("creds-needed", photos(["a.jpg"]))
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint, XPGEO_BUCKET_ACCESS="sdk")
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "s3://creds-needed"], env)
    assert code == 3 and "no AWS credentials were found" in err and "AWS_PROFILE" in err


# -- Azure (Azurite) ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def azurite():
    with Azurite() as server:
        yield server


def test_a_public_azure_container_is_listed_anonymously_page_by_page(azurite, tmp_path):
    azurite.container("public-photos", photos([f"site/{i}.jpg" for i in range(5)]) | {"site/x.txt": b"x"})
    s = settings(azure_blob_endpoint_url=azurite.endpoint)
    listing = BucketListing(s, f"{azurite.endpoint}/public-photos/site/", page_size=2)
    urls = [url for _, url in listing]
    assert urls == [f"{azurite.endpoint}/public-photos/site/{i}.jpg" for i in range(5)]
    assert listing.pages == 3 and not listing.through_sdk

    env = local_env(tmp_path, XPGEO_AZURE_BLOB_ENDPOINT_URL=azurite.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source",
                              f"{azurite.endpoint}/public-photos/site/"], env)
    assert code == 0 and "Appended 5" in out, out + err


def test_a_private_azure_container_refused_anonymously_says_what_to_do(azurite, tmp_path):
    azurite.container("private-box", photos(["a.jpg"]), public=None)
    env = local_env(tmp_path, XPGEO_AZURE_BLOB_ENDPOINT_URL=azurite.endpoint, XPGEO_BUCKET_ACCESS="anonymous")
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", f"{azurite.endpoint}/private-box/"], env)
    assert code == 3
    assert f"Azure Blob Storage refused to list '{azurite.endpoint}/private-box/'" in err
    assert "pip install xpgeo[azure]" in err and "AZURE_STORAGE_CONNECTION_STRING" in err


def test_auto_access_lists_a_container_through_the_azure_sdk_when_anonymous_listing_is_refused(azurite, tmp_path):
    # blobs public, listing not: the viewer can open each photo, only the listing needs the key
    azurite.container("blobs-public", photos(["p/a.jpg", "p/b.jpg", "p/c.jpg"]), public="blob")
    env = local_env(tmp_path, XPGEO_AZURE_BLOB_ENDPOINT_URL=azurite.endpoint,
                    AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", f"{azurite.endpoint}/blobs-public/p/"],
                             env)
    assert code == 0 and "Appended 3" in out, out + err
    assert "listing it through the Azure Blob Storage SDK" in err
    key = azurite.connection_string.split("AccountKey=")[1].split(";")[0]
    written = "".join(p.read_text(encoding="utf-8", errors="replace")
                      for p in (tmp_path / "layers").rglob("*") if p.is_file())
    assert key not in out + err + written and "AccountKey" not in out + err + written


def test_a_missing_azure_container_through_the_sdk_is_named(azurite, tmp_path):
    env = local_env(tmp_path, XPGEO_AZURE_BLOB_ENDPOINT_URL=azurite.endpoint, XPGEO_BUCKET_ACCESS="sdk",
                    AZURE_STORAGE_CONNECTION_STRING=azurite.connection_string)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", f"{azurite.endpoint}/no-such-box/"],
                             env)
    assert code == 2 and "was not found on Azure Blob Storage" in err, out + err


# -- Google Cloud Storage (gcp-storage-emulator) ---------------------------------------------------

@pytest.fixture(scope="module")
def gcs():
    with GcsEmulator() as server:
        yield server


def test_a_gcs_bucket_is_listed_with_the_json_api(gcs, tmp_path):
    gcs.bucket("survey", photos(["roads/a.jpg", "roads/b.jpeg", "rivers/c.jpg"]) | {"roads/n.txt": b"x"})
    env = local_env(tmp_path, XPGEO_GCS_ENDPOINT_URL=gcs.endpoint)
    new_layer(env)
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "gs://survey/roads/"], env)
    assert code == 0 and "Appended 2" in out, out + err
    assert layer_paths(tmp_path, "site") == [f"{gcs.endpoint}/survey/roads/a.jpg", f"{gcs.endpoint}/survey/roads/b.jpeg"]
    code, out, err = run_cli(["append-images", "--name", "site", "--source", "gs://no-such-survey/"], env)
    assert code == 2 and "was not found on Google Cloud Storage" in err


def test_a_gcs_bucket_is_listed_through_google_cloud_storage(gcs, tmp_path, monkeypatch):
    gcs.bucket("survey-sdk", photos(["a.jpg", "b.jpg"]))
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)  # the SDK's own switch: anonymous, no metadata server
    listing = BucketListing(settings(gcs_endpoint_url=gcs.endpoint, bucket_access="sdk"), "gs://survey-sdk/")
    assert [url for _, url in listing] == [f"{gcs.endpoint}/survey-sdk/a.jpg", f"{gcs.endpoint}/survey-sdk/b.jpg"]
    assert listing.through_sdk


# -- answers that are not a listing ---------------------------------------------------------------

class _Answer(http.server.BaseHTTPRequestHandler):
    status = 200
    body = b""

    def do_GET(self):  # noqa: N802
        self.send_response(self.status)
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args):
        pass


@pytest.fixture
def answering():
    servers = []

    def start(status: int, body: bytes) -> str:
        handler = type("Handler", (_Answer,), {"status": status, "body": body})
        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_an_xml_answer_with_a_doctype_is_refused_not_parsed(answering):
    bomb = (b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]>'
            b"<ListBucketResult><Contents><Key>&lol2;</Key></Contents></ListBucketResult>")
    endpoint = answering(200, bomb)
    with pytest.raises(ServerError, match="refused for safety"):
        list(BucketListing(settings(s3_endpoint_url=endpoint), "s3://bucket/"))


def test_a_store_that_says_more_follows_without_a_token_stops(answering):
    endpoint = answering(200, b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>")
    with pytest.raises(ServerError, match="no new continuation token"):
        list(BucketListing(settings(s3_endpoint_url=endpoint), "s3://bucket/"))


def test_an_anonymous_refusal_without_the_sdk_extra_names_it(answering, monkeypatch):
    from xpgeo_core.buckets import sdk

    monkeypatch.setattr(sdk, "available", lambda store: False)
    endpoint = answering(403, b"<Error><Code>AccessDenied</Code><Message>Access Denied</Message></Error>")
    with pytest.raises(AuthError) as caught:
        list(BucketListing(settings(s3_endpoint_url=endpoint), "s3://locked/photos/"))
    assert "refused to list 's3://locked/photos/' (HTTP 403 (AccessDenied))" in caught.value.message
    assert "pip install xpgeo[s3]" in caught.value.hint


# -- the documented commands, and Pro's validation --------------------------------------------------

def test_the_getting_started_bucket_commands_work_as_written(s3, tmp_path):
    import shlex

    text = (Path(__file__).resolve().parents[1] / "docs" / "getting-started.md").read_text(encoding="utf-8")
    block = text.split("## 5. From a bucket", 1)[1].split("```", 2)[1]
    commands = [shlex.split(line)[1:] for line in block.splitlines() if line.startswith("xpgeo ")]
    assert len(commands) == 2 and "--source" in commands[1]
    s3.bucket("drone-photos", photos([f"2024-05-site-a/DJI_{i:04d}.JPG" for i in range(3)]))
    env = local_env(tmp_path, XPGEO_S3_ENDPOINT_URL=s3.endpoint)  # the one difference: where the store is
    for argv in commands:
        code, out, err = run_cli(argv, env)
        assert code == 0, out + err
    assert "Appended 3, skipped 0" in out
    code, out, err = run_cli(commands[1], env)
    assert code == 0 and "Appended 0, skipped 3 (already in the layer)" in out


def test_the_toolbox_checks_the_bucket_and_the_date_before_the_run():
    from xpgeo_core.toolbox import validate_tool

    errors = validate_tool("AppendImages", {"layer_name": "site", "source": "ftp://drone/x"}, environ={})
    assert "not a store XPGEO can list" in errors["source"]
    errors = validate_tool("AppendImages", {"layer_name": "site", "source": "s3://drone/x",
                                            "modified_since": "soon"}, environ={})
    assert "not a date" in errors["modified_since"] and "source" not in errors
    assert validate_tool("AppendImages", {"layer_name": "site", "source": "gs://survey/roads/",
                                          "modified_since": datetime(2024, 5, 1)}, environ={}) == {}
