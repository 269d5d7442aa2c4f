"""URL lists as people make them (Notepad's Unicode, Excel CSVs, quoted URLs) and local photos where the
layer can reach them; through the reader, the CLI and the toolbox."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from emulators.xpgeo_server import FakeXpgeoServer
from toolbox_harness import arcpy, load_toolbox, run_tool, validate
from test_xpgeo_cli import run
from xpgeo_core.errors import ValidationError
from xpgeo_core.image_lists import is_local_photo, photo_files, read_list_file, split_lines
from xpgeo_core.sample_photos import make_jpeg

URLS = [f"https://photos.example.com/site/IMG_{i:04d}.jpg" for i in range(4)]


def _write(tmp_path: Path, name: str, data: bytes) -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


@pytest.mark.parametrize("encoding, bom", [("utf-16-le", b"\xff\xfe"), ("utf-16-be", b"\xfe\xff"),
                                           ("utf-16-le", b""), ("utf-8", b"\xef\xbb\xbf")])
def test_unicode_lists(tmp_path, encoding, bom):
    text = "\r\n".join(["# crew 7", URLS[0], "", f'"{URLS[1]}"', f"'{URLS[2]}'"]) + "\r\n"
    path = _write(tmp_path, "urls.txt", bom + text.encode(encoding))
    assert read_list_file(path) == [(2, URLS[0]), (4, URLS[1]), (5, URLS[2])]


def test_only_lf_crlf_cr_end_a_line():
    assert split_lines("a\x0cb\rc\r\nd\u2028e\nf") == ["a\x0cb", "c", "d\u2028e", "f"]


def test_csv_finds_the_url_column_by_name(tmp_path):
    rows = ["site,ImagePath,heading", f"A,{URLS[0]},90", f'B,"{URLS[1]}",180', "C,,0", f"D,{URLS[2]},270"]
    path = _write(tmp_path, "photos.csv", ("\n".join(rows) + "\n").encode("utf-8-sig"))
    assert read_list_file(path) == [(2, URLS[0]), (3, URLS[1]), (4, "C,,0"), (5, URLS[2])]


def test_a_csv_row_without_its_url_fails_with_its_line_number(tmp_path):
    from xpgeo_core.pipeline import gather
    rows = ["site,url", f"A,{URLS[0]}", "B,", ","]
    gathered = gather(read_list_file(_write(tmp_path, "p.csv", ("\n".join(rows) + "\n").encode("utf-8"))))
    assert [i.line for i in gathered.images] == [2]
    assert [(image.line, image.display) for image, _ in gathered.malformed] == [(3, "B,")]


def test_csv_with_unknown_header_takes_the_column_of_urls(tmp_path):
    rows = ["id;where;link to the photo", f"1;north;{URLS[0]}", f"2;south;{URLS[1]}"]
    path = _write(tmp_path, "export.txt", ("\n".join(rows) + "\n").encode("utf-8"))
    assert read_list_file(path) == [(2, URLS[0]), (3, URLS[1])]


def test_excel_unicode_text_is_tab_separated_utf16(tmp_path):
    rows = ["Name\tImage_URL", f"one\t{URLS[0]}", f"two\t{URLS[3]}"]
    path = _write(tmp_path, "photos.txt", b"\xff\xfe" + ("\r\n".join(rows) + "\r\n").encode("utf-16-le"))
    assert read_list_file(path) == [(2, URLS[0]), (3, URLS[3])]


def test_a_table_without_a_url_column_is_one_clear_error(tmp_path):
    path = _write(tmp_path, "t.csv", b"a,b\n1,2\n")
    with pytest.raises(ValidationError, match="no column holds the image URLs"):
        read_list_file(path)


def test_a_one_column_list_with_a_heading(tmp_path):
    path = _write(tmp_path, "urls.txt", ("url\n" + "\n".join(URLS) + "\n").encode())
    assert [t for _, t in read_list_file(path)] == URLS


def test_what_counts_as_a_local_photo():
    assert is_local_photo("C:\\photos\\a.jpg") and is_local_photo("photos/a.jpg") and is_local_photo("a.JPG")
    assert is_local_photo("file:///data/a.jpg")
    assert not is_local_photo("https://h/a.jpg") and not is_local_photo("not a url")
    assert not is_local_photo("htp:/x y.jpg")


def _photos(folder: Path, count: int, prefix: str = "p") -> list:
    paths = []
    for i in range(count):
        path = folder / f"{prefix}{i}.JPG"
        path.write_bytes(make_jpeg(lat=47.6 + i * 0.001, lon=-122.3, alt=30.0, heading=10.0 * i, seed=i))
        paths.append(path)
    return paths


def test_photo_folder_is_read_recursively_with_a_filter(tmp_path):
    _photos(tmp_path, 2)
    (tmp_path / "day2").mkdir()
    _photos(tmp_path / "day2", 2, "q")
    (tmp_path / "notes.txt").write_text("x")
    (tmp_path / "._p0.JPG").write_bytes(b"apple double")
    found = photo_files(str(tmp_path))
    assert [Path(p).name for p in found] == ["p0.JPG", "p1.JPG", "q0.JPG", "q1.JPG"]
    assert [Path(p).name for p in photo_files(str(tmp_path), "q*.jpg")] == ["q0.JPG", "q1.JPG"]
    with pytest.raises(ValidationError, match="holds no file matching"):
        photo_files(str(tmp_path), "*.tif")


def test_cli_appends_a_utf16_csv_to_the_xpgeo_server(tmp_path):
    rows = ["Name\tURL", f"one\t{URLS[0]}", f"two\t\"{URLS[1]}\"", "bad\tftp://x/y.jpg"]
    path = _write(tmp_path, "photos.csv", b"\xff\xfe" + ("\r\n".join(rows) + "\r\n").encode("utf-16-le"))
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url, "XPGEO_RETRY_BACKOFF": "0"}
        run(["create-oi-layer", "--name=lyr"], env)
        code, out, _ = run(["append-images", "--name=lyr", f"--file={path}"], env)
        assert code == 1
        assert server.state.layers["lyr"] == URLS[:2]
        assert "failed line 4: ftp://x/y.jpg" in out


def test_cli_local_photos_with_the_local_backend(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    paths = _photos(photos, 3)
    env = {"XPGEO_BACKEND": "local", "XPGEO_OUTPUT_DIR": str(tmp_path / "layers")}
    assert run(["create-oi-layer", "--name=site"], env)[0] == 0
    code, out, err = run(["--json", "append-images", "--name=site", "--photo-folder", str(photos),
                          "--filter", "*.jpg"], env)
    assert code == 0, err
    doc = json.loads(out)
    assert doc["appended"] == 3
    code, out, _ = run(["append-images", "--name=site", "--folder", str(photos)], env)
    assert out.splitlines()[0] == f"Appending images from {photos} to layer site..."
    assert "Reading photos from folder" in out and "skipped 3" in out
    features = json.loads((tmp_path / "layers" / "site" / "features.geojson").read_text())["features"]
    assert sorted(f["properties"]["ImagePath"] for f in features) == sorted(str(p) for p in paths)
    listing = tmp_path / "list.txt"
    listing.write_text(f"{paths[0]}\n{photos / 'missing.jpg'}\n", encoding="utf-8")
    code, out, _ = run(["--json", "append-images", "--name=site", f"--file={listing}"], env)
    doc = json.loads(out)
    assert (doc["skipped"], doc["failed"]) == (1, 1)
    assert run(["append-image", "--name=site", f"--image-url={paths[1]}"], env)[0] == 0


def test_local_photos_are_refused_where_viewers_cannot_reach_them(tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    _photos(photos, 1)
    with FakeXpgeoServer() as server:
        env = {"XPGEO_REST_URL": server.url}
        code, _, err = run(["append-images", "--name=lyr", "--photo-folder", str(photos)], env)
        assert code == 2 and "local files" in err and "could not reach a file on this machine" in err
        code, _, err = run(["append-image", "--name=lyr", f"--image-url={photos / 'p0.JPG'}"], env)
        assert code == 2 and "could not reach a file on this machine" in err
        assert not [r for r in server.state.requests if r.path.startswith("/append")]
    code, _, err = run(["--backend", "portal", "--portal-url", "https://gis.example.com/portal",
                        "append-images", "--name=lyr", "--photo-folder", str(photos)])
    assert code == 2 and "a portal" in err


def test_cli_needs_a_list_or_a_folder():
    code, _, err = run(["append-images", "--name", "x"])
    assert code == 2 and "give --file, --photo-folder or --source" in err


def test_toolbox_photo_folder_with_the_local_backend(tmp_path):
    arcpy.reset()
    pyt = load_toolbox()
    photos = tmp_path / "photos"
    photos.mkdir()
    _photos(photos, 2)
    common = {"backend": "Local folder", "output_folder": str(tmp_path / "layers")}
    run_tool(pyt, "CreateOrientedImageryLayer", dict(common, layer_name="site"))
    out = run_tool(pyt, "AppendImages", dict(common, layer_name="site", photo_folder=str(photos)))
    assert out["out_appended_count"] == 2
    flagged = validate(pyt, "AppendImages", {"layer_name": "site", "photo_folder": str(photos),
                                             "backend": "XPGEO server", "server_url": "https://x.example.com"})[2]
    assert "work with the Local folder backend, or with a portal layer made with Photos as attachments" in flagged["photo_folder"]
