"""No traffic leaves the machine: every socket connection to anything but 127.0.0.1 / ::1
is refused, and proxies are off. Imported first by every scenario script."""

from __future__ import annotations

import ipaddress
import os
import socket

for _name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
    os.environ.pop(_name, None)
os.environ["NO_PROXY"] = os.environ["no_proxy"] = "*"

_connect = socket.socket.connect
_connect_ex = socket.socket.connect_ex
_getaddrinfo = socket.getaddrinfo


class NonLoopbackRefused(ConnectionRefusedError):
    pass


def _check(host: object) -> None:
    text = str(host)
    if text == "localhost":
        return
    try:
        if ipaddress.ip_address(text).is_loopback:
            return
    except ValueError:
        pass
    raise NonLoopbackRefused(f"the oracle may only talk to 127.0.0.1, not {text}")


def _guarded_connect(self: socket.socket, address: object) -> None:
    if isinstance(address, tuple):
        _check(address[0])
    return _connect(self, address)


def _guarded_connect_ex(self: socket.socket, address: object) -> int:
    if isinstance(address, tuple):
        _check(address[0])
    return _connect_ex(self, address)


def _guarded_getaddrinfo(host, *args, **kwargs):  # type: ignore[no-untyped-def]
    if host is not None:
        _check(host.decode() if isinstance(host, bytes) else host)
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect = _guarded_connect  # type: ignore[method-assign]
socket.socket.connect_ex = _guarded_connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _guarded_getaddrinfo
