"""``zhili serve`` as deployed: its access log (uvicorn's, in its own format and handler) writes no full ID number or
mobile number from a query string, and does not take the client address from ``X-Forwarded-For`` (only
``core.netaddr`` judges that header, against ``ZHILI_TRUSTED_PROXIES``)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

BIN = Path(sys.executable).parent
ID = "33052219530323642X"
PHONE = "13812345678"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.parametrize("workers", [1, 2])
def test_the_servers_access_log_masks_query_strings_and_ignores_a_forwarded_for(tmp_path: Path, workers: int) -> None:
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "TMPDIR", "PYTHONPATH")}
    env.update({"ZHILI_DATABASE_URL": f"sqlite:///{tmp_path / 'zhili.db'}", "ZHILI_VAR_DIR": str(tmp_path / "var"),
                "ZHILI_SWEEP_INTERVAL_S": "0", "ZHILI_ENV": "dev", "ZHILI_LOG_LEVEL": "INFO"})
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(BIN / "zhili"), "serve", "--port", str(port), "--workers", str(workers)],
                                env=env, stdout=out, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            deadline = time.monotonic() + 60
            while True:
                assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
                try:
                    if httpx.get(f"{base}/api/v1/health", timeout=2).status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
            spoof = {"X-Forwarded-For": "198.51.100.9"}
            httpx.get(f"{base}/api/v1/registry/persons?id_number={ID}", headers=spoof)
            httpx.get(f"{base}/console/registry/persons?q={PHONE}", headers=spoof)
            time.sleep(1.0)  # let the workers write their lines
        finally:
            proc.terminate()
            proc.wait(30)
    text = log.read_text(encoding="utf-8", errors="replace")
    lines = [ln for ln in text.splitlines() if "/registry/persons" in ln]
    assert len(lines) >= 2, text
    assert ID not in text and PHONE not in text, text
    assert any("id_number=3305**********642X" in ln for ln in lines) and any("138****5678" in ln for ln in lines)
    assert "198.51.100.9" not in text and all("127.0.0.1:" in ln for ln in lines), text
