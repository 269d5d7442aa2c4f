"""Settings precedence, config files, the Windows USERNAME trap, secrets never shown."""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

import pytest

from xpgeo_core.errors import ConfigError
from xpgeo_core.settings import SETTINGS, Secret, find_config_file, load_settings, user_config_dir

SECRET = "CANARY-settings-4d2f"


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_without_anything():
    s = load_settings(environ={})
    assert s.backend == "auto" and s.max_image_list_size == 100 and s.disable_ssl_verification is False
    assert s.api_key is None and s.config_file is None
    assert all(s.source_of(spec.attr) == "default" for spec in SETTINGS)


def test_precedence_parameter_over_env_over_file_over_default(tmp_path):
    cfg = write(tmp_path / "xpgeo.env", "MAX_IMAGE_LIST_SIZE=10\nTIMEOUT_SECONDS=5\nXPGEO_REST_URL=https://file.example\n"
                                        "FETCH_CONCURRENCY=3\n")
    env = {"XPGEO_MAX_IMAGE_LIST_SIZE": "20", "XPGEO_TIMEOUT_SECONDS": "7"}
    s = load_settings({"max_image_list_size": 30}, search_dirs=[str(tmp_path)], environ=env)
    assert s.max_image_list_size == 30 and s.source_of("max_image_list_size") == "parameter"
    assert s.timeout_seconds == 7.0 and s.source_of("timeout_seconds") == "environment"
    assert s.rest_url == "https://file.example" and s.source_of("rest_url") == "config file"
    assert s.fetch_concurrency == 3
    assert s.retries == 3 and s.source_of("retries") == "default"
    assert s.config_file == str(cfg)


def test_empty_parameter_falls_through():
    s = load_settings({"rest_url": "", "api_key": None}, environ={"XPGEO_REST_URL": "https://env.example"})
    assert s.rest_url == "https://env.example"


def test_reference_client_names_in_the_config_file(tmp_path):
    write(tmp_path / "xpgeo.env", f"# reference client config\nCLIENT_ESRI_API_KEY={SECRET}\nUSERNAME=gis_admin\n"
                                  "PASSWORD='p@ss word'\nDISABLE_SSL_VERIFICATION=false\nESRI_API_KEY=server-side\n")
    s = load_settings(search_dirs=[str(tmp_path)], environ={})
    assert isinstance(s.api_key, Secret) and s.api_key.reveal() == SECRET
    assert s.username == "gis_admin" and s.password.reveal() == "p@ss word"


def test_windows_username_is_never_read_from_the_environment(tmp_path):
    env = {"USERNAME": "jdoe", "PASSWORD": "nope", "USER": "jdoe"}
    s = load_settings(environ=env)
    assert s.username is None and s.password is None
    s = load_settings(environ={**env, "XPGEO_USERNAME": "publisher"})
    assert s.username == "publisher"


def test_user_config_folder(tmp_path):
    home = tmp_path / "h"
    cfg = write(home / ".config" / "xpgeo" / "xpgeo.env", "XPGEO_BACKEND=local\n")
    s = load_settings(environ={"HOME": str(home)})
    assert s.backend == "local" and s.config_file == str(cfg)
    beside = write(tmp_path / "toolbox" / "xpgeo.env", "XPGEO_BACKEND=portal\n")
    s = load_settings(search_dirs=[str(tmp_path / "toolbox")], environ={"HOME": str(home)})
    assert s.backend == "portal" and s.config_file == str(beside)
    assert user_config_dir({"XDG_CONFIG_HOME": "/x"}) == Path("/x/xpgeo")


def test_explicit_config_must_exist(tmp_path):
    with pytest.raises(ConfigError, match="was not found"):
        find_config_file(str(tmp_path / "nope.env"), [], {})
    with pytest.raises(ConfigError, match="nope2.env"):
        load_settings(environ={"XPGEO_CONFIG": str(tmp_path / "nope2.env")})


@pytest.mark.parametrize("line, words", [
    ("MAX_IMAGE_LIST_SIZE=lots", ["MAX_IMAGE_LIST_SIZE", "line 1"]),
    ("MAX_IMAGE_LIST_SIZE=0", ["at least 1"]),
    ("DISABLE_SSL_VERIFICATION=maybe", ["true or false"]),
    ("XPGEO_REST_URL=server.local:3000", ["http://"]),
    ("XPGEO_BACKEND=cloud", ["auto, xpgeo, portal, local"]),
    ("just some text", ["KEY=VALUE"]),
])
def test_malformed_config_is_a_clear_error(tmp_path, line, words):
    write(tmp_path / "xpgeo.env", line + "\n")
    with pytest.raises(ConfigError) as info:
        load_settings(search_dirs=[str(tmp_path)], environ={})
    for word in words:
        assert word in str(info.value)


def test_bad_secret_value_is_not_echoed(tmp_path):
    with pytest.raises(ConfigError) as info:
        load_settings({"max_image_list_size": "x"}, environ={"XPGEO_API_KEY": SECRET})
    assert SECRET not in str(info.value)


def test_unknown_keys_warn_and_bom_crlf_quotes_are_fine(tmp_path, caplog):
    path = tmp_path / "xpgeo.env"
    path.write_bytes(b"\xef\xbb\xbfexport MAX_IMAGE_LIST_SIZE = \"42\"\r\nUSE_API_KEY_AUTH=true\r\n"
                     b"TIMEOUT_SECONDS=9 # seconds\r\n")
    with caplog.at_level(logging.WARNING, logger="xpgeo"):
        s = load_settings(search_dirs=[str(tmp_path)], environ={})
    assert s.max_image_list_size == 42 and s.timeout_seconds == 9.0
    assert "USE_API_KEY_AUTH" in caplog.text


def test_missing_ca_bundle_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="CA_BUNDLE"):
        load_settings(environ={"XPGEO_CA_BUNDLE": str(tmp_path / "none.pem")})


def test_secrets_never_show(tmp_path):
    s = load_settings(environ={"XPGEO_API_KEY": SECRET, "XPGEO_PASSWORD": SECRET + "pw"})
    shown = [repr(s), str(s), repr(s.api_key), str(s.api_key), f"{s.api_key}", "%s" % s.api_key,
             str(s.describe()), repr(s.values)]
    for text in shown:
        assert SECRET not in text
    assert s.secrets() == [SECRET, SECRET + "pw"]
    with pytest.raises(TypeError):
        pickle.dumps(s.api_key)


def test_replace_keeps_secrets_wrapped():
    s = load_settings(environ={}).replace(api_key=SECRET, output_dir="/tmp/x")
    assert isinstance(s.api_key, Secret) and s.source_of("output_dir") == "parameter"
    with pytest.raises(ConfigError):
        s.replace(nonsense=1)


def test_every_setting_is_typed_for_the_type_checker():
    """Settings declares each setting's type (under TYPE_CHECKING, read by mypy): one line per setting
    of SETTINGS, in its order, and each default is a value of the declared type."""
    import ast
    import typing
    from pathlib import Path

    import xpgeo_core.settings as module

    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    cls = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "Settings")
    block = next(n for n in cls.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING")
    declared = {n.target.id: ast.unparse(n.annotation) for n in block.body if isinstance(n, ast.AnnAssign)}
    assert list(declared) == [spec.attr for spec in module.SETTINGS]
    namespace = dict(vars(typing), **vars(module))
    for spec in module.SETTINGS:
        annotation = declared[spec.attr]
        assert annotation.startswith("ClassVar[") and annotation.endswith("]"), annotation
        kind = eval(annotation[len("ClassVar["):-1], namespace)  # noqa: S307 (our own source)
        allowed = typing.get_args(kind) or (kind,)
        assert isinstance(spec.default, tuple(t for t in allowed if isinstance(t, type))), (spec.attr, spec.default)
