"""An append killed at any point leaves a readable layer, and a rerun completes it.

The kill is simulated in process: an exception that nothing catches (like Ctrl+C)
raised at the k-th file write, either before the temporary file replaces the old one
or just after. A subprocess test then kills a real ``xpgeo append-images`` process
midway, at a point chosen by an environment hook of this test only.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from local_support import local_settings, photo_server, read_layer  # noqa: F401 (fixture)
from xpgeo_core import operations
from xpgeo_core.backends.local import backend as local
from xpgeo_core.results import APPENDED, SKIPPED


class Killed(BaseException):
    """Stands for the process dying: not an Exception, so no handler in the code catches it."""


def _writes_in_one_append(monkeypatch, tmp_path, photo_server) -> int:
    calls = []
    real = local.atomic_write
    monkeypatch.setattr(local, "atomic_write", lambda path, text: (calls.append(path.name), real(path, text)))
    settings = local_settings(tmp_path / "count", max_image_list_size=2)
    operations.create_layer(settings, "count")
    calls.clear()
    operations.append_images(settings, "count", urls=_urls(photo_server))
    monkeypatch.setattr(local, "atomic_write", real)
    assert calls[:3] == ["features.geojson"] * 3, "features.geojson is committed first, after each chunk"
    return len(calls)


def _urls(server):
    return [server.url_for(n) for n in server.names if n.startswith("street/")]


@pytest.mark.parametrize("when", ["before_replace", "after_replace"])
def test_killed_append_leaves_layer_intact_and_rerun_completes(monkeypatch, tmp_path, photo_server, when):
    total_writes = _writes_in_one_append(monkeypatch, tmp_path, photo_server)
    urls = _urls(photo_server)
    for kill_at in range(1, total_writes + 1):
        root = tmp_path / f"{when}-{kill_at}"
        settings = local_settings(root, max_image_list_size=2)
        operations.create_layer(settings, "walk")
        operations.append_images(settings, "walk", urls=urls[:1])
        folder = root / "layers" / "walk"
        before = read_layer(folder)

        count = {"n": 0}
        real_replace = os.replace

        def dying_replace(src, dst):
            count["n"] += 1
            if count["n"] == kill_at and when == "before_replace":
                raise Killed()
            real_replace(src, dst)
            if count["n"] == kill_at and when == "after_replace":
                raise Killed()

        monkeypatch.setattr(local.os, "replace", dying_replace)
        with pytest.raises(Killed):
            operations.append_images(settings, "walk", urls=urls)
        monkeypatch.setattr(local.os, "replace", real_replace)

        # Every file still parses, and the layer holds the old photos plus whole chunks.
        after_kill = read_layer(folder)
        paths = [f["properties"]["ImagePath"] for f in after_kill["features"]]
        assert paths == urls[:len(paths)] and len(paths) >= len(before["features"])
        assert len(set(paths)) == len(paths)
        assert after_kill["csv"][0] == before["csv"][0]
        assert len(after_kill["csv"]) - 1 in (len(before["features"]), len(paths))

        # The rerun finishes the job without duplicating anything.
        report = operations.append_images(settings, "walk", urls=urls)
        assert {r.status for r in report.results} <= {APPENDED, SKIPPED}
        assert report.skipped == len(paths) and report.appended == len(urls) - len(paths)
        final = read_layer(folder)
        assert [f["properties"]["ImagePath"] for f in final["features"]] == urls
        assert len(final["csv"]) == len(urls) + 1
        assert len(final["preview_data"]["rows"]) == len(urls)
        assert final["layer"]["item"] == before["layer"]["item"]
        assert not [p.name for p in folder.iterdir() if p.name.endswith(local.TEMP_SUFFIX)]


_KILLER = textwrap.dedent("""
    import os, signal, sys
    from xpgeo_core.backends.local import backend as local
    real = local.atomic_write
    calls = {"n": 0}
    def write(path, text):
        real(path, text)
        calls["n"] += 1
        if path.name == "features.geojson" and calls["n"] == 2:
            os.kill(os.getpid(), signal.SIGKILL)  # a real, uncatchable death after two committed chunks
    local.atomic_write = write
    from xpgeo_core.cli import main
    sys.exit(main(sys.argv[1:]))
""")


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_a_really_killed_process_leaves_a_layer_a_rerun_completes(tmp_path, photo_server):
    urls = _urls(photo_server)
    url_file = tmp_path / "urls.txt"
    url_file.write_text("\n".join(urls) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("XPGEO_")}
    env.update({"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers"),
                "PYTHONPATH": str(Path(__file__).resolve().parents[1])})
    base = [sys.executable, "-c", _KILLER]
    subprocess.run(base + ["create-oi-layer", "--name", "killed"], env=env, check=True, capture_output=True)
    args = ["append-images", "--name", "killed", "--file", str(url_file), "--max-image-list-size", "2"]
    died = subprocess.run(base + args, env=env, capture_output=True, text=True)
    assert died.returncode == -signal.SIGKILL
    folder = tmp_path / "layers" / "killed"
    half = read_layer(folder)
    assert [f["properties"]["ImagePath"] for f in half["features"]] == urls[:4]  # two chunks of two

    rerun = subprocess.run([sys.executable, "-m", "xpgeo_core", "--json"] + args, env=env, capture_output=True,
                           text=True)
    assert rerun.returncode == 0, rerun.stderr
    document = json.loads(rerun.stdout)
    assert (document["skipped"], document["appended"], document["failed"]) == (4, 2, 0)
    final = read_layer(folder)
    assert [f["properties"]["ImagePath"] for f in final["features"]] == urls
    assert len(final["csv"]) == len(urls) + 1
