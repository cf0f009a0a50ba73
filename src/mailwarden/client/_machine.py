"""Who and where we are, for binding sealed files to one machine and one OS user.

``machine_id()``: ``/etc/machine-id`` or ``/var/lib/dbus/machine-id`` on Linux; ``IOPlatformUUID`` from
``ioreg`` on macOS; ``MachineGuid`` under ``HKLM\\SOFTWARE\\Microsoft\\Cryptography`` on Windows.
``user_id()``: the numeric uid on POSIX, the account SID on Windows. Both raise ``SecretStoreError`` when the
value cannot be read: binding to an empty id would silently weaken the seal.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from ._errors import SecretStoreError

__all__ = ["machine_id", "user_id"]

_LINUX_PATHS = (Path("/etc/machine-id"), Path("/var/lib/dbus/machine-id"))


def _linux_machine_id() -> str:
    for path in _LINUX_PATHS:
        try:
            value = path.read_text().strip()
        except OSError:
            continue
        if value:
            return value
    raise SecretStoreError("no machine id: neither /etc/machine-id nor /var/lib/dbus/machine-id is readable")


def _macos_machine_id() -> str:
    out = subprocess.run(
        ["/usr/sbin/ioreg", "-rd1", "-c", "IOPlatformExpertDevice"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    match = re.search(r'"IOPlatformUUID"\s*=\s*"([^"]+)"', out)
    if not match:
        raise SecretStoreError("no machine id: IOPlatformUUID not found")
    return match.group(1)


def _windows_machine_id() -> str:  # pragma: no cover - Windows only
    import winreg  # type: ignore[import-not-found,unused-ignore]

    with winreg.OpenKey(  # type: ignore[attr-defined,unused-ignore]
        winreg.HKEY_LOCAL_MACHINE,  # type: ignore[attr-defined,unused-ignore]
        r"SOFTWARE\Microsoft\Cryptography",
        0,
        winreg.KEY_READ | winreg.KEY_WOW64_64KEY,  # type: ignore[attr-defined,unused-ignore]
    ) as key:
        value, _ = winreg.QueryValueEx(key, "MachineGuid")  # type: ignore[attr-defined,unused-ignore]
    return str(value)


def machine_id() -> str:
    if sys.platform == "darwin":
        return _macos_machine_id()
    if sys.platform == "win32":  # pragma: no cover - Windows only
        return _windows_machine_id()
    return _linux_machine_id()


def user_id() -> str:
    if sys.platform == "win32":  # pragma: no cover - Windows only
        out = subprocess.run(
            ["whoami", "/user", "/fo", "csv", "/nh"], capture_output=True, text=True, check=False
        )
        sid = out.stdout.strip().split(",")[-1].strip('"')
        if not sid.startswith("S-"):
            raise SecretStoreError("cannot read the account SID")
        return sid
    return str(os.getuid())
